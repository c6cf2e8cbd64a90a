"""scOT: the scalable operator transformer of Poseidon (Herde et al., NeurIPS 2024), in torch.

A U-shaped (encoder / decoder) transformer over 2-D fields, conditioned on a lead time ``t``::

    u (B, C_in, H, W) [+ params as channels]
      -> patch embedding        conv p x p, stride p           -> tokens (B, H/p, W/p, D)
      -> encoder level 0..L-1   SwinV2 blocks, then patch merging (2x2 -> 1, D -> 2D)
      -> decoder level L-1..0   patch unmerging (1 -> 2x2, 2D -> D), + skip, SwinV2 blocks
      -> patch recovery         transposed conv p x p, stride p (D -> D), GELU, 5x5 conv to C_out
    -> (B, C_out, H, W)

Poseidon's recovery differs: its transposed conv goes to ``C_out`` at once, then a bias-free
5x5 conv mixes those channels, with no GELU between; kept here as it is so that saved models load.

* SwinV2 blocks: attention inside non-overlapping windows of w x w tokens, every second block
  on windows shifted by w/2 (so neighbouring windows exchange information), *cosine* attention
  (softmax of ``cos(q, k) * s_h`` with a learnt per-head scale ``s_h <= 100``) plus a
  *continuous* relative position bias (a small MLP of log-spaced relative coordinates, so the
  window size may change), residual post-norm: ``x = x + LN(attn(x)); x = x + LN(mlp(x))``.
* Skip connections: the encoder's output at level ``l`` passes through ``skip_blocks[l]``
  ConvNeXt blocks (7x7 depth-wise conv, LN, MLP, layer scale) and is *added* to the decoder's
  tokens at the same level (the bottleneck level has no skip: it is the same tensor).
* Time-conditioned LayerNorm everywhere (every norm above): ``LN(x; t) = a(t) * (x - mean) /
  std + b(t)`` with ``a(t) = a0 + a1 t`` and ``b(t) = b0 + b1 t``, per channel. This is the
  only way the lead time enters, so one network predicts the state at any lead time.

The lead time is divided by ``time_scale`` first (e.g. the longest lead time in training), so
the conditioning sees numbers of order one. The model is resolution-agnostic (no absolute
position embedding): ``H`` and ``W`` must be multiples of ``patch_size * 2 ** (L - 1)``, and a
window larger than a level's token grid shrinks to the grid (then that level has no shift);
a window that neither covers nor divides a level's token grid is a ValueError (Poseidon pads
the grid instead). The shifted-window mask treats every field as non-periodic, as Swin does.

:data:`SCOT_PRESETS` holds Poseidon's sizes; :meth:`ScOT.from_preset` builds one.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import append_params, check_int, check_params

# tiny/base/large are Poseidon's T/B/L (parameter counts for 4 channels in and out, no params;
# they hardly depend on the channels). "small" sits between T and B.
SCOT_PRESETS: dict[str, dict] = {
    "tiny": {"embed_dim": 48, "depths": [4, 4, 4, 4], "num_heads": [3, 6, 12, 24],
             "skip_blocks": [2, 2, 2], "window_size": 16, "patch_size": 4},     # 20.8 M
    "small": {"embed_dim": 64, "depths": [6, 6, 6, 6], "num_heads": [4, 8, 16, 32],
              "skip_blocks": [2, 2, 2], "window_size": 16, "patch_size": 4},    # 54 M
    "base": {"embed_dim": 96, "depths": [8, 8, 8, 8], "num_heads": [3, 6, 12, 24],
             "skip_blocks": [2, 2, 2], "window_size": 16, "patch_size": 4},     # 158 M
    "large": {"embed_dim": 192, "depths": [8, 8, 8, 8], "num_heads": [6, 12, 24, 48],
              "skip_blocks": [2, 2, 2], "window_size": 16, "patch_size": 4},    # 629 M
}

# SwinV2: the cosine-attention temperature is learnt in log space and capped at 100
_MAX_LOGIT_SCALE = math.log(100.0)
# SwinV2: relative coordinates are scaled to [-8, 8] before the log-spacing
_CPB_RANGE = 8.0


class TimeLayerNorm(nn.Module):
    """LayerNorm over the last axis whose scale and shift are linear in the lead time.

    ``forward(x: (B, ..., D), t: (B,)) -> (B, ..., D)``: ``(a0 + a1 t) * x_hat + (b0 + b1 t)``.
    ``a0 = 1, b0 = 0`` as in a plain LayerNorm; ``a1, b1`` start small and random, so the lead
    time already changes the output of an untrained network (and its gradient is not zero).
    """

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.dim, self.eps = dim, eps
        self.scale = nn.Parameter(torch.ones(dim))
        self.shift = nn.Parameter(torch.zeros(dim))
        self.scale_t = nn.Parameter(0.02 * torch.randn(dim))
        self.shift_t = nn.Parameter(0.02 * torch.randn(dim))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = t.to(x.dtype).reshape(-1, *(1,) * (x.ndim - 1))
        y = F.layer_norm(x, (self.dim,), eps=self.eps)
        return (self.scale + self.scale_t * t) * y + (self.shift + self.shift_t * t)


def _partition(x: torch.Tensor, wh: int, ww: int) -> torch.Tensor:
    """``(B, H, W, D) -> (B * nW, wh * ww, D)``: non-overlapping windows, row-major."""
    b, h, w, d = x.shape
    x = x.view(b, h // wh, wh, w // ww, ww, d).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, wh * ww, d)


def _unpartition(x: torch.Tensor, wh: int, ww: int, b: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`_partition`: ``(B * nW, wh * ww, D) -> (B, H, W, D)``."""
    x = x.view(b, h // wh, w // ww, wh, ww, -1).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, -1)


@torch.inference_mode(False)
def _relative_offsets(wh: int, ww: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """``((2wh-1)(2ww-1), 2)`` log-spaced relative offsets (float32) and the ``(N, N)`` row of
    that table each pair of tokens in a ``wh x ww`` window uses.

    Made outside inference mode even when the first forward runs in it (Lightning's
    ``validate``/``test``): the cached tensors feed a Linear and an index, which save them for
    backward, and an inference tensor cannot be saved, so a later training step would fail."""
    dy = torch.arange(-(wh - 1), wh, dtype=torch.float32, device=device)
    dx = torch.arange(-(ww - 1), ww, dtype=torch.float32, device=device)
    table = torch.stack(torch.meshgrid(dy, dx, indexing="ij"), dim=-1)  # (2wh-1, 2ww-1, 2)
    table[..., 0] /= max(wh - 1, 1)
    table[..., 1] /= max(ww - 1, 1)
    table = table * _CPB_RANGE
    # log-spacing: small offsets are resolved finely, large ones coarsely
    table = torch.sign(table) * torch.log2(table.abs() + 1.0) / math.log2(_CPB_RANGE)
    ys, xs = torch.meshgrid(torch.arange(wh, device=device),
                            torch.arange(ww, device=device), indexing="ij")
    ys, xs = ys.reshape(-1), xs.reshape(-1)
    rel_y = ys[:, None] - ys[None, :] + wh - 1
    rel_x = xs[:, None] - xs[None, :] + ww - 1
    return table.reshape(-1, 2), rel_y * (2 * ww - 1) + rel_x


class WindowAttention(nn.Module):
    """SwinV2 multi-head attention inside windows: cosine similarity with a learnt per-head
    temperature, plus a continuous relative position bias.

    ``forward(x: (B*nW, N, D), window: (wh, ww), mask: (nW, N, N) | None) -> (B*nW, N, D)``
    with ``N = wh * ww``; ``mask`` holds 0 (attend) or -inf (tokens of different regions after
    a cyclic shift).
    """

    def __init__(self, dim: int, num_heads: int, cpb_hidden: int = 512):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.logit_scale = nn.Parameter(torch.full((num_heads,), math.log(10.0)))
        # continuous position bias: relative offset (dy, dx) -> one bias per head
        self.cpb = nn.Sequential(nn.Linear(2, cpb_hidden), nn.ReLU(),
                                 nn.Linear(cpb_hidden, num_heads, bias=False))
        self._index_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def _offsets(self, wh: int, ww: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        """The log-spaced table of the ``(2wh-1)(2ww-1)`` relative offsets and, for each pair
        of tokens in a window, the row of the table it uses (``(N, N)``)."""
        key = (wh, ww, str(device))
        if key not in self._index_cache:
            self._index_cache[key] = _relative_offsets(wh, ww, device)
        return self._index_cache[key]

    def position_bias(self, wh: int, ww: int, device) -> torch.Tensor:
        """``(heads, N, N)`` bias in ``(0, 16)`` (SwinV2's ``16 sigmoid``)."""
        table, index = self._offsets(wh, ww, device)
        # the table is float32; a model cast whole (64-true, bf16-true) has other weights
        bias = self.cpb(table.to(self.cpb[0].weight.dtype))[index]  # (N, N, heads)
        return 16.0 * torch.sigmoid(bias).permute(2, 0, 1)

    def forward(self, x: torch.Tensor, window: tuple[int, int],
                mask: torch.Tensor | None) -> torch.Tensor:
        bw, n, d = x.shape
        h = self.num_heads
        q, k, v = self.qkv(x).view(bw, n, 3, h, d // h).permute(2, 0, 3, 1, 4)
        # cosine attention: unit q and k, the per-head temperature folded into q
        scale = torch.clamp(self.logit_scale, max=_MAX_LOGIT_SCALE).exp().view(1, h, 1, 1)
        q = F.normalize(q, dim=-1) * scale
        k = F.normalize(k, dim=-1)
        bias = self.position_bias(*window, x.device).to(x.dtype)[None]  # (1, h, N, N)
        if mask is not None:
            nw = mask.shape[0]
            bias = (bias.view(1, 1, h, n, n) + mask.view(1, nw, 1, n, n).to(x.dtype))
            bias = bias.expand(bw // nw, nw, h, n, n).reshape(bw, h, n, n)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=1.0)
        return self.proj(out.transpose(1, 2).reshape(bw, n, d))


def _shift_mask(h: int, w: int, wh: int, ww: int, sy: int, sx: int, device) -> torch.Tensor:
    """``(nW, N, N)``: -inf between tokens that a cyclic shift by ``(sy, sx)`` brought into one
    window from different places of the (non-periodic) field, 0 elsewhere."""
    region = torch.zeros(h, w, device=device)
    label = 0
    for ys in ((0, h - wh), (h - wh, h - sy), (h - sy, h)):
        for xs in ((0, w - ww), (w - ww, w - sx), (w - sx, w)):
            region[ys[0]: ys[1], xs[0]: xs[1]] = label
            label += 1
    r = _partition(region[None, :, :, None], wh, ww)[..., 0]  # (nW, N)
    same = r[:, :, None] == r[:, None, :]
    return torch.zeros(same.shape, device=device).masked_fill(~same, float("-inf"))


class SwinBlock(nn.Module):
    """SwinV2 block with time-conditioned post-norms, on tokens ``(B, H, W, D)``.

    ``shifted`` blocks move the windows by half a window (cyclic roll plus a mask). A window
    larger than the token grid shrinks to the grid, and then there is nothing to shift.
    """

    def __init__(self, dim: int, num_heads: int, window_size: int, shifted: bool,
                 mlp_ratio: float):
        super().__init__()
        self.window_size, self.shifted = window_size, shifted
        self.attn = WindowAttention(dim, num_heads)
        self.norm1 = TimeLayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.norm2 = TimeLayerNorm(dim)
        self._mask_cache: dict[tuple, torch.Tensor] = {}

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        b, h, w, _ = x.shape
        wh, ww = min(self.window_size, h), min(self.window_size, w)
        if h % wh or w % ww:
            raise ValueError(f"ScOT: a {h}x{w} token grid cannot be cut into {wh}x{ww} windows; "
                             "choose a window_size that divides every level's token grid")
        sy = wh // 2 if self.shifted and h > wh else 0
        sx = ww // 2 if self.shifted and w > ww else 0
        y = torch.roll(x, (-sy, -sx), (1, 2)) if sy or sx else x
        mask = None
        if sy or sx:
            key = (h, w, wh, ww, sy, sx, str(x.device))
            if key not in self._mask_cache:
                # cached for later training steps: never an inference tensor (_relative_offsets)
                with torch.inference_mode(False):
                    self._mask_cache[key] = _shift_mask(h, w, wh, ww, sy, sx, x.device)
            mask = self._mask_cache[key]
        y = self.attn(_partition(y, wh, ww), (wh, ww), mask)
        y = _unpartition(y, wh, ww, b, h, w)
        if sy or sx:
            y = torch.roll(y, (sy, sx), (1, 2))
        x = x + self.norm1(y, t)
        return x + self.norm2(self.mlp(x), t)


class ConvNeXtBlock(nn.Module):
    """ConvNeXt block on tokens ``(B, H, W, D)``: 7x7 depth-wise conv, time-conditioned LN,
    MLP (4x), layer scale (starts at 1e-6, so a new block is nearly the identity), residual."""

    def __init__(self, dim: int):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = TimeLayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return x + self.gamma * self.mlp(self.norm(y, t))


class PatchMerging(nn.Module):
    """``(B, H, W, D) -> (B, H/2, W/2, 2D)``: each 2x2 group of tokens concatenated (4D),
    linearly reduced to 2D, then normalised (SwinV2 order)."""

    def __init__(self, dim: int):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = TimeLayerNorm(2 * dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]],
                      dim=-1)
        return self.norm(self.reduction(x), t)


class PatchUnmerging(nn.Module):
    """``(B, H, W, 2D) -> (B, 2H, 2W, D)``: each token expanded linearly to four tokens of
    half the width (the inverse of :class:`PatchMerging`'s grouping), then normalised."""

    def __init__(self, dim: int):
        super().__init__()
        self.expand = nn.Linear(2 * dim, 4 * dim, bias=False)
        self.norm = TimeLayerNorm(dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        b, h, w, _ = x.shape
        x = self.expand(x).view(b, h, w, 2, 2, -1)  # (..., dx, dy, D): PatchMerging's order
        x = x.permute(0, 1, 4, 2, 3, 5).reshape(b, 2 * h, 2 * w, -1)
        return self.norm(x, t)


class ScOT(nn.Module):
    """Poseidon's scalable operator transformer on 2-D fields, conditioned on a lead time.

    Args:
        in_channels: ``C_in``; out_channels: ``C_out``.
        embed_dim: token width ``D`` at the finest level; level ``l`` has ``D * 2 ** l``.
        depths: SwinV2 blocks per level (encoder; the decoder mirrors it). ``L = len(depths)``.
        num_heads: attention heads per level (each must divide that level's width).
        skip_blocks: ConvNeXt blocks on the skip connection of levels ``0 .. L-2`` (0: the
            skip is added unchanged).
        window_size: attention window ``w`` in tokens (shrinks to a smaller token grid).
        patch_size: ``p``, pixels per token side in the patch embedding and recovery.
        mlp_ratio: hidden width of the block MLPs over the token width.
        n_params: ``P``, PDE parameters appended as constant input channels (0: ignored).
        time_scale: lead times are divided by it before they condition the norms.

    ``forward(u: (B, C_in, H, W), params: (B, P) | None, lead_time: (B,) | float) ->
    (B, C_out, H, W)``; ``H`` and ``W`` must be multiples of ``p * 2 ** (L - 1)``, lead times
    finite and ``>= 0`` (a ValueError otherwise; not checked for GPU tensors).
    """

    #: the numbers of spatial axes it takes (a model without the attribute takes any), and
    #: why: a file on another grid is refused with it before training starts
    grid_dims: tuple[int, ...] = (2,)
    grid_dims_reason = "its patches and attention windows are 2-D"

    def __init__(self, in_channels: int, out_channels: int, embed_dim: int = 48,
                 depths: list[int] = (4, 4, 4, 4), num_heads: list[int] = (3, 6, 12, 24),
                 skip_blocks: list[int] = (2, 2, 2), window_size: int = 16, patch_size: int = 4,
                 mlp_ratio: float = 4.0, n_params: int = 0, time_scale: float = 1.0):
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, 1)
        self.out_channels = check_int("out_channels", out_channels, 1)
        self.embed_dim = check_int("embed_dim", embed_dim, 1)
        self.depths = _int_list("depths", depths, 1)
        n_levels = len(self.depths)
        self.num_heads = _int_list("num_heads", num_heads, 1, n_levels)
        self.skip_blocks = _int_list("skip_blocks", skip_blocks, 0, n_levels - 1)
        self.window_size = check_int("window_size", window_size, 1)
        self.patch_size = check_int("patch_size", patch_size, 1)
        if isinstance(mlp_ratio, bool) or not isinstance(mlp_ratio, (int, float)) \
                or not mlp_ratio > 0 or int(embed_dim * mlp_ratio) < 1:
            raise ValueError(f"mlp_ratio must be a number > 0 (hidden width >= 1), got "
                             f"{mlp_ratio!r}")
        self.mlp_ratio = float(mlp_ratio)
        self.n_params = check_int("n_params", n_params, 0)
        if isinstance(time_scale, bool) or not isinstance(time_scale, (int, float)) \
                or not math.isfinite(time_scale) or time_scale <= 0:
            raise ValueError(f"time_scale must be a finite number > 0, got {time_scale!r}")
        self.time_scale = float(time_scale)
        widths = [embed_dim * 2**i for i in range(n_levels)]
        for i, (wd, nh) in enumerate(zip(widths, self.num_heads, strict=True)):
            if wd % nh:
                raise ValueError(f"num_heads[{i}] = {nh} must divide the width of level {i} "
                                 f"(embed_dim * 2**{i} = {wd})")
        self.dim = 2  # spatial axes (check_params)

        def stage(level: int) -> nn.ModuleList:
            return nn.ModuleList(
                SwinBlock(widths[level], self.num_heads[level], window_size, j % 2 == 1,
                          self.mlp_ratio) for j in range(self.depths[level]))

        self.embed = nn.Conv2d(in_channels + n_params, embed_dim, patch_size, stride=patch_size)
        self.embed_norm = TimeLayerNorm(embed_dim)
        self.encoder = nn.ModuleList(stage(i) for i in range(n_levels))
        self.merges = nn.ModuleList(PatchMerging(widths[i]) for i in range(n_levels - 1))
        self.skips = nn.ModuleList(
            nn.ModuleList(ConvNeXtBlock(widths[i]) for _ in range(self.skip_blocks[i]))
            for i in range(n_levels - 1))
        self.unmerges = nn.ModuleList(PatchUnmerging(widths[i]) for i in range(n_levels - 1))
        self.decoder = nn.ModuleList(stage(i) for i in range(n_levels))
        self.recover = nn.ConvTranspose2d(embed_dim, embed_dim, patch_size, stride=patch_size)
        self.mix = nn.Conv2d(embed_dim, out_channels, 5, padding=2)

    @classmethod
    def from_preset(cls, name: str, in_channels: int, out_channels: int, **overrides) -> ScOT:
        """A model of the size ``name`` in :data:`SCOT_PRESETS` (``overrides`` win)."""
        if name not in SCOT_PRESETS:
            raise ValueError(f"unknown scOT preset {name!r}; choose one of {list(SCOT_PRESETS)}")
        return cls(in_channels, out_channels, **{**SCOT_PRESETS[name], **overrides})

    @property
    def multiple(self) -> int:
        """Grid sizes must be multiples of this: ``patch_size * 2 ** (L - 1)``."""
        return self.patch_size * 2 ** (len(self.depths) - 1)

    def _lead(self, lead_time, u: torch.Tensor) -> torch.Tensor:
        if lead_time is None:
            raise ValueError("ScOT needs lead_time: a number or a (B,) tensor of lead times")
        # trained on lead times t_j - t_i >= 0; a NaN would give NaN fields. Checked here for
        # numbers and CPU tensors only: checking a GPU tensor would stall every training step
        # on a device sync (a loaded Surrogate checks its lead times before they get here)
        if not isinstance(lead_time, torch.Tensor) or lead_time.device.type == "cpu":
            lt = torch.as_tensor(lead_time, dtype=torch.float64)
            bad = lt[~torch.isfinite(lt) | (lt < 0)]
            if bad.numel():
                raise ValueError(f"ScOT: lead_time must be finite and >= 0, got "
                                 f"{bad.reshape(-1)[0].item()}")
        t = torch.as_tensor(lead_time, dtype=u.dtype, device=u.device).reshape(-1)
        if t.numel() == 1:
            t = t.expand(u.shape[0])
        if t.shape != (u.shape[0],):
            raise ValueError(f"ScOT expects lead_time of shape ({u.shape[0]},) or a scalar, got "
                             f"{tuple(t.shape)}")
        return t / self.time_scale

    def check_grid(self, grid: tuple[int, ...]) -> None:
        """A ValueError unless ``grid`` ``(H, W)`` is a grid this model takes (multiples of
        :attr:`multiple`); the check of :meth:`forward`, for a data module's set-up."""
        if len(grid) != 2:
            raise ValueError(f"ScOT works on 2-D grids (H, W), got {tuple(grid)}")
        h, w = grid
        if h % self.multiple or w % self.multiple:
            raise ValueError(f"ScOT with patch_size={self.patch_size} and {len(self.depths)} "
                             f"levels needs H and W that are multiples of {self.multiple}, got "
                             f"{h}x{w}")

    def forward(self, u: torch.Tensor, params: torch.Tensor | None = None,
                lead_time: torch.Tensor | float | None = None) -> torch.Tensor:
        check_params(self, u, params)
        self.check_grid(u.shape[2:])
        t = self._lead(lead_time, u)
        x = self.embed(append_params(u, params, self.n_params)).permute(0, 2, 3, 1)
        x = self.embed_norm(x, t)
        skips = []
        for level, blocks in enumerate(self.encoder):
            for block in blocks:
                x = block(x, t)
            if level < len(self.merges):
                skips.append(x)
                x = self.merges[level](x, t)
        for level in reversed(range(len(self.decoder))):
            if level < len(self.unmerges):
                s = skips[level]
                for block in self.skips[level]:
                    s = block(s, t)
                x = self.unmerges[level](x, t) + s
            for block in self.decoder[level]:
                x = block(x, t)
        y = F.gelu(self.recover(x.permute(0, 3, 1, 2)))
        return self.mix(y)


def _int_list(name: str, value, low: int, length: int | None = None) -> list[int]:
    """``value`` as a list of ints ``>= low`` (of ``length`` items if given), else ValueError."""
    items = list(value) if isinstance(value, (list, tuple)) else None
    if items is None or (length is None and not items) or (length is not None
                                                           and len(items) != length):
        want = f"{length} ints" if length is not None else "a non-empty list of ints"
        raise ValueError(f"{name} must be {want} (one per level), got {value!r}")
    return [check_int(f"{name}[{i}]", v, low) for i, v in enumerate(items)]
