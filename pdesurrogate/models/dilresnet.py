"""A dilated ResNet ("Dil-ResNet") for 1-D or 2-D fields: the encode-process-decode CNN of
Stachenfeld et al., "Learned coarse models for efficient turbulence simulation" (ICLR 2022),
as PDEArena (Gupta & Brandstetter 2022) runs it as a baseline ("DilResNet").

Everything happens at the input's resolution (no down-sampling), so any grid size works:

    u (B, C_in, *grid), params (B, P)
      -> P constant channels appended                        (B, C_in + P, *grid)
      -> encoder: 1x1 conv, act, 1x1 conv, act               (B, hidden, *grid)
      -> n_blocks processor blocks, each
             h = x; for d in dilations: h = act(conv_d(norm(h)))
             x = x + h                                       (B, hidden, *grid)
      -> decoder: 1x1 conv, act, 1x1 conv                    (B, C_out, *grid)

``conv_d`` has ``kernel_size`` points per axis spaced ``d`` apart. With the dilations
1, 2, 4, 8, 4, 2, 1 a block's 7 layers reach 22 points either side (``kernel_size=3``; 7
undilated layers reach 7) and, a dilation of 1 being among them, every offset in between.
An output point thus depends on the input within ``R = n_blocks * sum(dilations) *
(kernel_size - 1) / 2`` points along each axis (:attr:`DilatedResNet.receptive_field`; 88 by
default), unless ``norm=True``: a normalisation's statistics are taken over the whole grid.

Defaults are PDEArena's "DilResNet-128" (its model registry): 128 channels, 4 blocks, GELU, no
normalisation (``norm=True`` is its "DilResNet-128-norm": a one-group GroupNorm before every
dilated convolution). Stachenfeld et al.'s own model was narrower (48 channels) with ReLU:
``hidden_channels=48, activation="relu"``. Padding: periodic by default (PDEArena pads with
zeros; periodic domains want ``"circular"``), wrapped as often as needed, so dilations longer
than the grid are still exact periodic convolutions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import append_params, check_int, check_params
from .modern_unet import _GroupNorm  # takes one value per group at batch 1 too

_CONV = {1: nn.Conv1d, 2: nn.Conv2d}
_PADDING = ("circular", "zeros", "reflect", "replicate")
_ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU}


def pad(x: torch.Tensor, width: int, mode: str) -> torch.Tensor:
    """``(B, C, *grid) -> (B, C, *(n + 2 width))``: ``width`` points added at both ends of every
    spatial axis. ``"circular"`` wraps around as many times as ``width`` needs (torch's circular
    padding refuses a width beyond the axis); the others are ``F.pad``'s modes (``"reflect"``
    needs ``width`` < the axis)."""
    if width == 0:
        return x
    if mode != "circular":
        return F.pad(x, (width,) * (2 * (x.ndim - 2)),
                     mode="constant" if mode == "zeros" else mode)
    for axis in range(2, x.ndim):
        n = x.shape[axis]
        x = x.index_select(axis, torch.arange(-width, n + width, device=x.device) % n)
    return x


class DilatedConv(nn.Module):
    """One processor layer, ``act(conv(norm(x)))``: a ``kernel_size``-point convolution per
    axis with dilation ``dilation``, padded by ``padding_mode`` to keep the grid.
    ``(B, C, *grid) -> (B, C, *grid)``."""

    def __init__(self, dim: int, channels: int, kernel_size: int, dilation: int,
                 padding_mode: str, activation: str, norm: bool):
        super().__init__()
        self.width = dilation * (kernel_size - 1) // 2
        self.padding_mode = padding_mode
        self.norm = _GroupNorm(1, channels) if norm else nn.Identity()
        self.conv = _CONV[dim](channels, channels, kernel_size, dilation=dilation)
        self.act = _ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(pad(self.norm(x), self.width, self.padding_mode)))


class DilatedBlock(nn.Module):
    """``x + layers(x)``: one :class:`DilatedConv` per dilation, in order.
    ``(B, C, *grid) -> (B, C, *grid)``."""

    def __init__(self, dim: int, channels: int, dilations: list[int], kernel_size: int,
                 padding_mode: str, activation: str, norm: bool):
        super().__init__()
        self.layers = nn.Sequential(*(
            DilatedConv(dim, channels, kernel_size, d, padding_mode, activation, norm)
            for d in dilations))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


class DilatedResNet(nn.Module):
    """Encoder, ``n_blocks`` residual blocks of dilated convolutions, decoder (module docstring).

    Args:
        dim: number of spatial axes (1 or 2).
        in_channels: ``C_in``; out_channels: ``C_out``.
        hidden_channels: width of every hidden layer.
        n_blocks: residual blocks in the processor.
        dilations: the dilation of each convolution of a block, in order.
        kernel_size: points per axis of each dilated convolution (odd, so it is centred).
        n_params: ``P``, PDE parameters appended as constant channels (0: ``params`` ignored).
        padding_mode: ``"circular"`` (periodic domains), ``"zeros"``, ``"reflect"`` or
            ``"replicate"``.
        activation: ``"gelu"``, ``"relu"`` or ``"silu"``, after every convolution but the last.
        norm: a one-group GroupNorm before each dilated convolution.

    ``forward(u: (B, C_in, *grid), params: (B, P) | None) -> (B, C_out, *grid)`` for any grid
    size; with ``"reflect"`` padding every axis needs more points than the widest padding,
    ``max(dilations) * (kernel_size - 1) / 2``.
    """

    def __init__(self, dim: int, in_channels: int, out_channels: int,
                 hidden_channels: int = 128, n_blocks: int = 4,
                 dilations: list[int] = (1, 2, 4, 8, 4, 2, 1), kernel_size: int = 3,
                 n_params: int = 0, padding_mode: str = "circular", activation: str = "gelu",
                 norm: bool = False):
        super().__init__()
        if isinstance(dim, bool) or dim not in (1, 2):
            raise ValueError(f"dim must be 1 or 2, got {dim!r}")
        self.dim = dim
        self.in_channels = check_int("in_channels", in_channels, 1)
        self.out_channels = check_int("out_channels", out_channels, 1)
        self.hidden_channels = check_int("hidden_channels", hidden_channels, 1)
        self.n_blocks = check_int("n_blocks", n_blocks, 1)
        if not isinstance(dilations, (list, tuple)) or not dilations:
            raise ValueError(f"dilations must be a non-empty list of ints >= 1 (one per "
                             f"convolution of a block), got {dilations!r}")
        self.dilations = [check_int(f"dilations[{i}]", d, 1) for i, d in enumerate(dilations)]
        self.kernel_size = check_int("kernel_size", kernel_size, 1)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (a centred stencil keeps the grid), "
                             f"got {kernel_size}")
        self.n_params = check_int("n_params", n_params, 0)
        if padding_mode not in _PADDING:
            raise ValueError(f"padding_mode must be one of {_PADDING}, got {padding_mode!r}")
        self.padding_mode = padding_mode
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {tuple(_ACTIVATIONS)}, "
                             f"got {activation!r}")
        self.activation = activation
        if not isinstance(norm, bool):
            raise ValueError(f"norm must be true or false, got {norm!r}")
        self.norm = norm

        conv, act, h = _CONV[dim], _ACTIVATIONS[activation], hidden_channels
        self.encoder = nn.Sequential(conv(in_channels + n_params, h, 1), act(),
                                     conv(h, h, 1), act())
        self.blocks = nn.ModuleList(
            DilatedBlock(dim, h, self.dilations, kernel_size, padding_mode, activation, norm)
            for _ in range(n_blocks))
        self.decoder = nn.Sequential(conv(h, h, 1), act(), conv(h, out_channels, 1))

    @property
    def receptive_field(self) -> int:
        """Points along each axis, either side, that an output point depends on (the whole
        grid with ``norm=True``, whose statistics span it): ``n_blocks * sum(dilations) *
        (kernel_size - 1) / 2``."""
        return self.n_blocks * sum(self.dilations) * (self.kernel_size - 1) // 2

    def check_grid(self, grid: tuple[int, ...]) -> None:
        """A ValueError if ``grid`` cannot be padded: only ``"reflect"`` padding limits it
        (every axis longer than the widest padding); the check of :meth:`forward`, for a data
        module's set-up."""
        need = max(self.dilations) * (self.kernel_size - 1) // 2 + 1
        if self.padding_mode == "reflect" and min(grid) < need:
            raise ValueError(f"DilatedResNet with padding_mode='reflect', dilations "
                             f"{self.dilations} and kernel_size={self.kernel_size} needs at "
                             f"least {need} points per axis, got a grid of {tuple(grid)}; "
                             "'circular', 'zeros' and 'replicate' take any grid")

    def forward(self, u: torch.Tensor, params: torch.Tensor | None = None) -> torch.Tensor:
        check_params(self, u, params)
        self.check_grid(u.shape[2:])
        x = self.encoder(append_params(u, params, self.n_params))
        for block in self.blocks:
            x = block(x)
        return self.decoder(x)
