"""A plain U-Net for 1-D or 2-D fields (Ronneberger et al. 2015, adapted to regression).

Each level: two ``conv -> GroupNorm -> GELU`` blocks; going down halves every spatial axis
(stride-2 convolution), going up doubles it (interpolation) and concatenates the skip of the
same level. Grids whose sizes are not powers of two work: the upsampled tensor is resized to
its skip's exact size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import append_params, check_int, check_params

_CONV = {1: nn.Conv1d, 2: nn.Conv2d}
_PADDING = ("zeros", "circular", "reflect", "replicate")


def _groups(channels: int) -> int:
    # GroupNorm with up to 8 groups that divide the channel count
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


class _Block(nn.Module):
    def __init__(self, dim: int, c_in: int, c_out: int, padding_mode: str):
        super().__init__()
        conv = _CONV[dim]
        self.body = nn.Sequential(
            conv(c_in, c_out, 3, padding=1, padding_mode=padding_mode),
            nn.GroupNorm(_groups(c_out), c_out), nn.GELU(),
            conv(c_out, c_out, 3, padding=1, padding_mode=padding_mode),
            nn.GroupNorm(_groups(c_out), c_out), nn.GELU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class UNet(nn.Module):
    """U-Net with ``n_levels`` resolutions; channels double at each level down.

    Args:
        dim: number of spatial axes (1 or 2).
        in_channels: ``C_in``; out_channels: ``C_out``.
        hidden_channels: channels at the finest level.
        n_levels: resolutions, including the finest (1: no down-sampling).
        n_params: ``P``, PDE parameters appended as constant channels (0: ``params`` ignored).
        padding_mode: ``"zeros"``, ``"circular"`` (periodic domains), ``"reflect"`` or
            ``"replicate"``.

    ``forward(u: (B, C_in, *grid), params: (B, P) | None) -> (B, C_out, *grid)``; every grid
    axis needs at least ``2 ** (n_levels - 1)`` points, one more with ``"reflect"`` padding
    (it needs 2 points at the coarsest level).
    """

    def __init__(self, dim: int, in_channels: int, out_channels: int, hidden_channels: int = 16,
                 n_levels: int = 3, n_params: int = 0, padding_mode: str = "zeros"):
        super().__init__()
        if dim not in (1, 2):
            # a user of 3-D data (The Well's MHD_64, say) learns here, before any data is
            # read, which model to take instead
            raise ValueError(f"UNet: dim must be 1 or 2 (its convolutions are 1-D or "
                             f"2-D, 3-D fields are not supported), got {dim!r}; for a "
                             "3-D grid use an FNO with three n_modes")
        self.dim = dim
        self.in_channels = check_int("in_channels", in_channels, 1)
        self.out_channels = check_int("out_channels", out_channels, 1)
        self.hidden_channels = check_int("hidden_channels", hidden_channels, 1)
        self.n_levels = check_int("n_levels", n_levels, 1)
        self.n_params = check_int("n_params", n_params, 0)
        if padding_mode not in _PADDING:
            raise ValueError(f"padding_mode must be one of {_PADDING}, got {padding_mode!r}")
        self.padding_mode = padding_mode
        conv = _CONV[dim]
        widths = [hidden_channels * 2**i for i in range(n_levels)]
        self.inc = _Block(dim, in_channels + n_params, widths[0], padding_mode)
        self.down = nn.ModuleList()
        self.enc = nn.ModuleList()
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            self.down.append(conv(a, a, 3, stride=2, padding=1, padding_mode=padding_mode))
            self.enc.append(_Block(dim, a, b, padding_mode))
        self.dec = nn.ModuleList(
            _Block(dim, b + a, a, padding_mode)
            for a, b in zip(reversed(widths[:-1]), reversed(widths[1:]), strict=True)
        )
        self.out = conv(widths[0], out_channels, 1)

    def check_grid(self, grid: tuple[int, ...]) -> None:
        """A ValueError unless every axis of ``grid`` has the points this model needs; the
        check of :meth:`forward`, for a data module's set-up."""
        # each level halves (rounding up); reflect padding needs 2 points at the coarsest
        need = 2 ** (self.n_levels - 1) + (self.padding_mode == "reflect")
        if min(grid) < need:
            raise ValueError(f"UNet with n_levels={self.n_levels} and padding_mode="
                             f"{self.padding_mode!r} needs at least {need} points per axis, got "
                             f"a grid of {tuple(grid)}")

    def forward(self, u: torch.Tensor, params: torch.Tensor | None = None) -> torch.Tensor:
        check_params(self, u, params)
        self.check_grid(u.shape[2:])
        x = self.inc(append_params(u, params, self.n_params))
        skips = []
        for down, enc in zip(self.down, self.enc, strict=True):
            skips.append(x)
            x = enc(down(x))
        mode = "linear" if self.dim == 1 else "bilinear"
        for dec, skip in zip(self.dec, reversed(skips), strict=True):
            x = F.interpolate(x, size=skip.shape[2:], mode=mode, align_corners=False)
            x = dec(torch.cat([x, skip], dim=1))
        return self.out(x)
