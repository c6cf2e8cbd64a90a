"""A modern U-Net for 1-D or 2-D fields with optional conditioning on a scalar (e.g. a noise
level), in the style of the diffusion-model U-Nets that PDEArena and PDE-Refiner use.

Compared with :class:`~pdesurrogate.models.unet.UNet`: pre-activation residual blocks
(``GroupNorm -> GELU -> conv``, twice, plus a 1x1 shortcut when the width changes), several
blocks per level, widths ``hidden_channels * channel_mults[l]``, a middle of two residual
blocks, and a skip connection from every down-path block to its mirror on the up path.

Conditioning (``cond=True``): a scalar per sample ``c`` (B,) goes through sinusoidal features
(as for diffusion time steps) and a 2-layer MLP; every residual block turns that embedding
into a per-channel scale and shift of its second normalisation, ``h = GN(h) (1 + s) + b``.

Going down halves every axis (stride-2 conv), going up resizes to the skip's exact size
(nearest) before a conv, so any grid size works, not only powers of two.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import append_params, check_int, check_params

_CONV = {1: nn.Conv1d, 2: nn.Conv2d}
_PADDING = ("zeros", "circular", "reflect", "replicate")


def _groups(channels: int) -> int:
    # GroupNorm with up to 8 groups that divide the channel count
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


class _GroupNorm(nn.GroupNorm):
    """``nn.GroupNorm`` that also takes a group of a single value per sample.

    Such a group (one channel per group on a 1-point map, e.g. a width of 8 at the coarsest
    level of the minimum grid) normalises to ``x - mean = 0``, so the output is the bias.
    Torch computes that at batch 2 or more but raises at batch 1 ("Expected more than 1 value
    per channel"), which made a one-sample prediction fail where a batch of two works; this
    returns the same values at every batch size.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.num_groups or math.prod(x.shape[2:]) != 1:
            return super().forward(x)
        shape = (1, -1, *(1,) * (x.ndim - 2))
        # (x - x): the normalised value group_norm gives (0, NaN for inf/NaN input, zero grad)
        return (x - x) * self.weight.reshape(shape) + self.bias.reshape(shape)


def sinusoidal_embedding(c: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """``(B,) -> (B, dim)``: ``[cos(c f_i), sin(c f_i)]`` with frequencies ``f_i`` from 1 down
    to ``1 / max_period`` (geometric), as for diffusion time steps; integers stay distinct."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=c.device) / half)
    args = c.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, dim - 2 * half))


class ResidualBlock(nn.Module):
    """``x + conv(GELU(GN(conv(GELU(GN(x))))))`` with an optional FiLM of the second norm.

    ``forward(x: (B, c_in, *grid), emb: (B, emb_dim) | None) -> (B, c_out, *grid)``.
    """

    def __init__(self, dim: int, c_in: int, c_out: int, emb_dim: int | None, padding_mode: str):
        super().__init__()
        conv = _CONV[dim]
        self.norm1 = _GroupNorm(_groups(c_in), c_in)
        self.conv1 = conv(c_in, c_out, 3, padding=1, padding_mode=padding_mode)
        self.norm2 = _GroupNorm(_groups(c_out), c_out)
        self.conv2 = conv(c_out, c_out, 3, padding=1, padding_mode=padding_mode)
        self.film = nn.Linear(emb_dim, 2 * c_out) if emb_dim else None
        self.shortcut = conv(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None) -> torch.Tensor:
        h = self.conv1(F.gelu(self.norm1(x)))
        h = self.norm2(h)
        if self.film is not None:
            scale, shift = self.film(emb).reshape(*emb.shape[:1], -1, *(1,) * (x.ndim - 2)
                                                  ).chunk(2, dim=1)
            h = h * (1 + scale) + shift
        return self.shortcut(x) + self.conv2(F.gelu(h))


class ModernUNet(nn.Module):
    """Residual U-Net with optional scalar conditioning (module docstring).

    Args:
        dim: number of spatial axes (1 or 2).
        in_channels: ``C_in``; out_channels: ``C_out``.
        hidden_channels: width of the stem; level ``l`` has ``hidden_channels * channel_mults[l]``.
        channel_mults: width multipliers, one per level (``len`` = number of resolutions).
        n_blocks: residual blocks per level on the way down (``n_blocks + 1`` on the way up).
        n_params: ``P``, PDE parameters appended as constant channels (0: ``params`` ignored).
        cond: condition on a scalar per sample (``forward(..., cond=c)``, e.g. a noise level).
        padding_mode: ``"zeros"``, ``"circular"`` (periodic domains), ``"reflect"`` or
            ``"replicate"``.

    ``forward(u: (B, C_in, *grid), params: (B, P) | None, cond: (B,) | None) ->
    (B, C_out, *grid)``; ``cond`` is required when built with ``cond=True`` and refused
    otherwise. Every grid axis needs at least ``2 ** (len(channel_mults) - 1)`` points, one
    more with ``"reflect"`` padding (it needs 2 points at the coarsest level).
    """

    def __init__(self, dim: int, in_channels: int, out_channels: int, hidden_channels: int = 64,
                 channel_mults: list[int] = (1, 2, 2, 4), n_blocks: int = 2, n_params: int = 0,
                 cond: bool = False, padding_mode: str = "circular"):
        super().__init__()
        if dim not in (1, 2):
            # a user of 3-D data (The Well's MHD_64, say) learns here, before any data is
            # read, which model to take instead
            raise ValueError(f"ModernUNet: dim must be 1 or 2 (its convolutions are 1-D or "
                             f"2-D, 3-D fields are not supported), got {dim!r}; for a "
                             "3-D grid use an FNO with three n_modes")
        self.dim = dim
        self.in_channels = check_int("in_channels", in_channels, 1)
        self.out_channels = check_int("out_channels", out_channels, 1)
        self.hidden_channels = check_int("hidden_channels", hidden_channels, 1)
        mults = list(channel_mults) if isinstance(channel_mults, (list, tuple)) else None
        if not mults:
            raise ValueError(f"channel_mults must be a non-empty list of ints >= 1 (one per "
                             f"level), got {channel_mults!r}")
        self.channel_mults = [check_int(f"channel_mults[{i}]", m, 1) for i, m in enumerate(mults)]
        self.n_blocks = check_int("n_blocks", n_blocks, 1)
        self.n_params = check_int("n_params", n_params, 0)
        if not isinstance(cond, bool):
            raise ValueError(f"cond must be true or false, got {cond!r}")
        self.cond = cond
        if padding_mode not in _PADDING:
            raise ValueError(f"padding_mode must be one of {_PADDING}, got {padding_mode!r}")
        self.padding_mode = padding_mode
        conv = _CONV[dim]
        emb_dim = 4 * hidden_channels if cond else None
        if cond:
            self.embed = nn.Sequential(nn.Linear(hidden_channels, emb_dim), nn.GELU(),
                                       nn.Linear(emb_dim, emb_dim))

        def block(a: int, b: int) -> ResidualBlock:
            return ResidualBlock(dim, a, b, emb_dim, padding_mode)

        widths = [hidden_channels * m for m in self.channel_mults]
        self.stem = conv(in_channels + n_params, hidden_channels, 3, padding=1,
                         padding_mode=padding_mode)
        # down path: every block's output is a skip (plus the stem's and each downsample's)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        skip_widths, c = [hidden_channels], hidden_channels
        for level, wd in enumerate(widths):
            blocks = nn.ModuleList()
            for _ in range(n_blocks):
                blocks.append(block(c, wd))
                c = wd
                skip_widths.append(c)
            self.down.append(blocks)
            if level < len(widths) - 1:
                self.downsample.append(conv(c, c, 3, stride=2, padding=1,
                                            padding_mode=padding_mode))
                skip_widths.append(c)
        self.middle = nn.ModuleList([block(c, c), block(c, c)])
        # up path: n_blocks + 1 blocks per level, each eating one skip
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for level, wd in reversed(list(enumerate(widths))):
            blocks = nn.ModuleList()
            for _ in range(n_blocks + 1):
                blocks.append(block(c + skip_widths.pop(), wd))
                c = wd
            self.up.append(blocks)
            if level > 0:
                self.upsample.append(conv(c, c, 3, padding=1, padding_mode=padding_mode))
        self.out_norm = _GroupNorm(_groups(c), c)
        self.out = conv(c, out_channels, 3, padding=1, padding_mode=padding_mode)

    def check_grid(self, grid: tuple[int, ...]) -> None:
        """A ValueError unless every axis of ``grid`` has the points this model needs; the
        check of :meth:`forward`, for a data module's set-up."""
        # each level halves (rounding up); reflect padding needs 2 points at the coarsest
        need = 2 ** (len(self.channel_mults) - 1) + (self.padding_mode == "reflect")
        if min(grid) < need:
            raise ValueError(f"ModernUNet with {len(self.channel_mults)} levels and padding_mode="
                             f"{self.padding_mode!r} needs at least {need} points per axis, got "
                             f"a grid of {tuple(grid)}")

    def forward(self, u: torch.Tensor, params: torch.Tensor | None = None,
                cond: torch.Tensor | None = None) -> torch.Tensor:
        check_params(self, u, params)
        self.check_grid(u.shape[2:])
        if self.cond:
            if cond is None:
                raise ValueError("this ModernUNet was built with cond=True: give cond, (B,)")
            c = torch.as_tensor(cond, device=u.device).reshape(-1)
            if c.numel() == 1:
                c = c.expand(u.shape[0])
            if c.shape != (u.shape[0],):
                raise ValueError(f"cond must have shape ({u.shape[0]},), got {tuple(c.shape)}")
            emb = self.embed(sinusoidal_embedding(c, self.hidden_channels).to(u.dtype))
        elif cond is not None:
            raise ValueError("this ModernUNet was built with cond=False; it takes no cond")
        else:
            emb = None
        x = self.stem(append_params(u, params, self.n_params))
        skips = [x]
        for level, blocks in enumerate(self.down):
            for blk in blocks:
                x = blk(x, emb)
                skips.append(x)
            if level < len(self.downsample):
                x = self.downsample[level](x)
                skips.append(x)
        for blk in self.middle:
            x = blk(x, emb)
        for i, blocks in enumerate(self.up):
            for blk in blocks:
                x = blk(torch.cat([x, skips.pop()], dim=1), emb)
            if i < len(self.upsample):
                # nearest resize to the next skip's size: exact for odd sizes too
                x = F.interpolate(x, size=skips[-1].shape[2:], mode="nearest")
                x = self.upsample[i](x)
        return self.out(F.gelu(self.out_norm(x)))
