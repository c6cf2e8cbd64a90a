"""CAPE: channel-attention-based PDE parameter embedding (Takamoto, Alesiani and Niepert,
ICML 2023, "Learning Neural PDE Solvers with Parameter-Guided Channel Attention").

:class:`CAPEModule` turns the state ``u_t`` and the PDE parameters ``p`` into a field of the
same shape that is trained (auxiliary loss) to approximate ``u_{t+1}``. Three convolutions act
on a lifted copy of the state: a spectral convolution (global, low Fourier modes), a 1x1
convolution (pointwise channel mixing) and a depth-wise convolution (local stencil per channel,
periodic by default like the spectral one).
Small MLPs map ``p`` to one weight per path and hidden channel. By default (``gate="linear"``)
these weights are used as they come, so a parameter can scale a path the way a diffusivity or a
speed scales its term of the PDE; ``gate="softmax"`` normalises them over the three paths, so
the parameters only choose, channel by channel, which operator dominates. On
``benchmarks/cape.py`` the linear gate generalised better to unseen advection speeds (relative
L2 one step at the held-out speeds between the training ones: 0.020 against 0.028) and was no
worse on Burgers. The weighted sum goes through GELU and a 1x1 projection that is *added* to
``u_t``; the projection starts at zero, so an untrained module returns ``u_t`` (the persistence
guess).

:class:`CAPEWrapper` feeds ``concat([u_t, CAPE(u_t, p)])`` to any base model of our interface
(FNO, UNet; base ``in_channels = 2 C``; the base may also take ``p`` as its own input channels)
and keeps the last CAPE output in ``cape_output`` for the auxiliary loss
``|| CAPE(u_t, p) - u_{t+1} ||`` (see ``NextStepModule``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_grid, check_int, check_params, warn_unresolved_modes

_CONV = {1: nn.Conv1d, 2: nn.Conv2d}
GATES = ("softmax", "linear")
PADDINGS = ("circular", "zeros")


class SpectralConv(nn.Module):
    """Channel-mixing convolution in Fourier space on the lowest ``modes`` frequencies per axis.

    ``(B, C_in, *grid) -> (B, C_out, *grid)``, periodic. In 2-D the positive and negative
    frequencies of the first axis get separate weights (the last axis is the rFFT half-axis):
    ``weight[0]`` holds first-axis frequencies ``0 .. modes - 1``, ``weight[1]`` holds
    ``-modes .. -1`` (index ``modes + k``). ``n`` rows resolve first-axis frequencies
    ``0 .. (n - 1) // 2`` and ``-(n // 2) .. -1`` (an even ``n``'s Nyquist row counts as
    negative); frequencies beyond those are dropped, so any grid size works, and a frequency
    has the same weight on every grid.
    """

    # the complex weights are read with view_as_complex, which has no bfloat16
    weight_dtypes = (torch.float16, torch.float32, torch.float64)

    def __init__(self, dim: int, in_channels: int, out_channels: int, modes: int):
        super().__init__()
        self.dim, self.modes = dim, modes
        blocks = 1 if dim == 1 else 2
        scale = 1.0 / (in_channels * out_channels)
        # complex weights stored as (..., 2) real pairs: plain float tensors in every format
        self.weight = nn.Parameter(
            scale * torch.randn(blocks, in_channels, out_channels, *(modes,) * dim, 2))

    def _mix(self, x: torch.Tensor, block: int, index: tuple[slice, ...]) -> torch.Tensor:
        w = torch.view_as_complex(self.weight[block])[(...,) + index]
        # float32 weights with a float64 input (or the reverse) compute in the input's precision
        w = w.to(x.dtype)
        return torch.einsum("bi...,io...->bo...", x, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grid = x.shape[2:]
        # FFT in float32 at least (half-precision FFTs need power-of-two sizes); a float64
        # model keeps float64
        xf = torch.fft.rfftn(x if x.dtype == torch.float64 else x.float(),
                             dim=tuple(range(2, x.ndim)))
        out = torch.zeros(x.shape[0], self.weight.shape[2], *xf.shape[2:], dtype=xf.dtype,
                          device=x.device)
        mx = min(self.modes, xf.shape[-1])
        if self.dim == 1:
            out[..., :mx] = self._mix(xf[..., :mx], 0, (slice(0, mx),))
        else:
            # n rows hold frequencies 0 .. (n - 1) // 2 and -(n // 2) .. -1 (an even n's Nyquist
            # row n / 2 counts as negative): an odd n resolves one more positive frequency than
            # n // 2, and a single row only the zero frequency
            py, ny = min(self.modes, (grid[0] + 1) // 2), min(self.modes, grid[0] // 2)
            out[..., :py, :mx] = self._mix(xf[..., :py, :mx], 0, (slice(0, py), slice(0, mx)))
            if ny:
                # rows -ny .. -1 are frequencies -ny .. -1: the last ny weights of block 1
                # (its first ones, -modes .. -ny - 1, are those a coarse grid cannot resolve)
                out[..., -ny:, :mx] = self._mix(xf[..., -ny:, :mx], 1,
                                                (slice(self.modes - ny, self.modes), slice(0, mx)))
        y = torch.fft.irfftn(out, s=tuple(grid), dim=tuple(range(2, x.ndim)))
        return y.to(x.dtype)


# what a user of 3-D data is pointed to instead of CAPE
_FOR_3D = "for a 3-D grid use an FNO with three n_modes (without CAPE)"


class CAPEModule(nn.Module):
    """Parameter-guided channel attention over three convolution paths.

    Args:
        dim: spatial axes (1 or 2).
        channels: ``C``, channels of the state.
        n_params: ``P >= 1``, number of PDE parameters.
        modes: Fourier modes per axis of the spectral path: frequencies ``0 .. modes - 1`` on
            the last axis (at most ``n // 2 + 1`` are resolved by ``n`` grid points) and, in 2-D,
            ``modes`` positive and ``modes`` negative ones on the first (at most ``(n + 1) // 2``
            and ``n // 2``).
            More warns once, at the first forward on such a grid.
        kernel_size: odd kernel size of the depth-wise path.
        padding_mode: what the depth-wise path sees beyond the grid's edges: ``"circular"``
            (default) wraps around, for periodic domains (advection, Burgers, KS, Navier–Stokes
            here), where the spectral path and an FNO base are periodic too and the module
            then commutes with shifts of the grid; ``"zeros"`` for a zero Dirichlet boundary
            that the grid does not store (heat).
        hidden: hidden channels of the three paths (and of the parameter MLPs).
        gate: how the MLP outputs weight the paths: ``"linear"`` (default), the raw MLP
            outputs (the parameters also scale each path, as a diffusivity or a speed scales
            its term of the PDE), or ``"softmax"`` over the three paths per channel (the weights
            sum to 1: the parameters choose which operator dominates, not how strongly it acts).

    ``forward(u: (B, C, *grid), params: (B, P)) -> (B, C, *grid)``, an estimate of the next
    state.
    """

    def __init__(self, dim: int, channels: int, n_params: int, modes: int = 8,
                 kernel_size: int = 5, hidden: int = 32, gate: str = "linear",
                 padding_mode: str = "circular"):
        super().__init__()
        if gate not in GATES:
            raise ValueError(f"gate must be one of {GATES}, got {gate!r}")
        self.gate = gate
        if padding_mode not in PADDINGS:
            raise ValueError(f"padding_mode must be one of {PADDINGS}, got {padding_mode!r}")
        self.padding_mode = padding_mode
        if dim not in (1, 2):
            raise ValueError(f"CAPEModule: dim must be 1 or 2 (its spectral and depth-wise "
                             f"convolutions are 1-D or 2-D, 3-D fields are not supported), got "
                             f"{dim!r}; {_FOR_3D}")
        self.dim = dim
        self.channels = check_int("channels", channels, 1)
        self.n_params = check_int("n_params", n_params, 1)
        self.modes = check_int("modes", modes, 1)
        self.kernel_size = check_int("kernel_size", kernel_size, 1)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (same-size output), got {kernel_size}")
        self.hidden = check_int("hidden", hidden, 1)
        # our model interface: CAPEModule maps a state to a state
        self.in_channels = self.out_channels = channels
        conv = _CONV[dim]
        self.lift = conv(channels, hidden, 1)
        self.paths = nn.ModuleList([
            SpectralConv(dim, hidden, hidden, modes),
            conv(hidden, hidden, 1),
            conv(hidden, hidden, kernel_size, padding=kernel_size // 2, groups=hidden,
                 padding_mode=padding_mode),
        ])
        self.attention = nn.ModuleList(
            nn.Sequential(nn.Linear(n_params, hidden), nn.GELU(), nn.Linear(hidden, hidden))
            for _ in self.paths
        )
        self.proj = conv(hidden, channels, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def attention_weights(self, params: torch.Tensor) -> torch.Tensor:
        """``(B, P) -> (B, 3, hidden)``: per-channel weights of the three paths (summing to 1
        over the paths with ``gate="softmax"``)."""
        logits = torch.stack([mlp(params) for mlp in self.attention], dim=1)
        return torch.softmax(logits, dim=1) if self.gate == "softmax" else logits

    def check_grid(self, grid: tuple[int, ...]) -> None:
        """A ValueError unless the depth-wise path can pad ``grid``; the check of
        :meth:`forward`, for a data module's set-up."""
        pad = self.kernel_size // 2
        if self.padding_mode == "circular" and min(grid) < pad:
            # torch's own error ("wrapping around more than once") names neither CAPE nor a fix
            raise ValueError(f"CAPEModule: a grid of shape {tuple(grid)} has an axis shorter than "
                             f"the depth-wise path's periodic padding ({pad} = kernel_size // 2 "
                             f"with kernel_size={self.kernel_size}): use a smaller kernel_size "
                             f"or padding_mode='zeros'")

    def forward(self, u: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        check_params(self, u, params)
        grid = u.shape[2:]
        self.check_grid(grid)
        # what SpectralConv.forward can use: a single row still has its zero frequency
        limit = [max(n // 2, 1) for n in grid[:-1]] + [grid[-1] // 2 + 1]
        warn_unresolved_modes(self, f"modes={self.modes}", limit, grid,
                              any(self.modes > k for k in limit))
        z = self.lift(u)
        a = self.attention_weights(params.to(u.dtype))
        a = a.reshape(*a.shape, *(1,) * self.dim)
        h = sum(a[:, i] * path(z) for i, path in enumerate(self.paths))
        return u + self.proj(F.gelu(h))


class CAPEWrapper(nn.Module):
    """A base model fed with ``concat([u, CAPE(u, p)])``.

    Args:
        base: a model of our interface with ``in_channels = 2 C`` and ``out_channels = C``
            (its own ``n_params`` may be 0: the parameters then reach it only through CAPE).
        cape: the :class:`CAPEModule` (``channels = C``).

    ``forward(u: (B, C, *grid), params: (B, P)) -> (B, C, *grid)``; afterwards
    ``cape_output`` holds ``CAPE(u, params)`` ``(B, C, *grid)`` of that call.
    """

    def __init__(self, base: nn.Module, cape: CAPEModule):
        super().__init__()
        if not isinstance(cape, CAPEModule):
            raise ValueError(f"cape must be a CAPEModule, got {type(cape).__name__}")
        if not isinstance(base, nn.Module):
            raise ValueError(f"base must be an nn.Module, got {type(base).__name__}")
        c = cape.channels
        b_in, b_out = getattr(base, "in_channels", None), getattr(base, "out_channels", None)
        if b_in is not None and b_in != 2 * c:
            raise ValueError(f"base.in_channels must be 2 * cape.channels = {2 * c} (state and "
                             f"CAPE output), got {b_in}")
        if b_out is not None and b_out != c:
            raise ValueError(f"base.out_channels must equal cape.channels = {c}, got {b_out}")
        b_dim = getattr(base, "dim", cape.dim)
        if b_dim not in (1, 2):
            # a 3-D FNO base is legitimate; CAPE beside it is what cannot be had
            raise ValueError(f"CAPEWrapper: its CAPE is 1-D or 2-D (3-D fields are not "
                             f"supported), but base works in {b_dim}-D; {_FOR_3D}")
        if b_dim != cape.dim:
            raise ValueError(f"base works in {b_dim}-D but cape in {cape.dim}-D")
        b_params = getattr(base, "n_params", 0)
        if b_params not in (0, cape.n_params):
            raise ValueError(f"base.n_params must be 0 or cape.n_params = {cape.n_params}, got "
                             f"{b_params}")
        self.base, self.cape = base, cape
        self.dim, self.n_params = cape.dim, cape.n_params
        self.in_channels = self.out_channels = c
        self.cape_output: torch.Tensor | None = None

    def check_grid(self, grid: tuple[int, ...]) -> None:
        """A ValueError unless CAPE and the base model both take ``grid``."""
        self.cape.check_grid(grid)
        check_grid(self.base, grid)

    def forward(self, u: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        c = self.cape(u, params)
        self.cape_output = c
        return self.base(torch.cat([u, c], dim=1), params)
