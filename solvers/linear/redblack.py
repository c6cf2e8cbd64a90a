"""Batched red-black SOR for 5-point stencils on a 2-D interior grid with zero Dirichlet boundary.

The unknowns of one system live on the ``(ny, nx)`` interior nodes of a rectangle (axis -2 is y,
axis -1 is x); the boundary values are zero, so they drop out of the stencil. A batch is
``(B, ny, nx)``: ``B`` independent systems solved together, fully vectorised (checkerboard masks,
no loop over points or samples).

The operator is described by its five coefficient arrays, which are the matrix entries of each
row: for the node ``p = (i, j)``::

    (A x)[i, j] = center[i, j] x[i, j]
                + west[i, j] x[i, j-1] + east[i, j] x[i, j+1]
                + south[i, j] x[i-1, j] + north[i, j] x[i+1, j]

with ``x`` outside the grid taken as zero. :meth:`Stencil.diffusion` builds ``-div(k grad u)``
from face coefficients, which is what the heat (``I + theta dt L``) and Darcy (``L``) solvers use.

Red-black ordering colours node ``(i, j)`` red when ``i + j`` is even. Red nodes only couple to
black ones, so each half-sweep updates one colour at once:
``x <- x + omega * mask * (b - A x) / center``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..base import check_int
from .sor import DIVERGENCE_GROWTH, check_omega, check_rtol


@dataclass(frozen=True)
class Stencil:
    """Five coefficient arrays of a 5-point operator, each ``(B, ny, nx)`` or broadcastable.

    Entries on the grid's edge that point outside (``west[..., :, 0]`` etc.) multiply the zero
    boundary value and are ignored.
    """

    center: Tensor
    west: Tensor
    east: Tensor
    south: Tensor
    north: Tensor

    @classmethod
    def diffusion(cls, kx: Tensor, ky: Tensor, h: float) -> Stencil:
        """The stencil of ``-div(k grad u)`` on a uniform grid of spacing ``h``.

        ``kx`` ``(..., ny, nx + 1)``: ``k`` on the x-faces, ``kx[..., i, j]`` between x-nodes
        ``j - 1`` and ``j`` (node ``-1`` and ``nx`` are the boundary). ``ky`` ``(..., ny + 1, nx)``:
        ``k`` on the y-faces likewise. Flux differences over face values give the standard
        second-order, symmetric finite-volume operator.
        """
        if kx.shape[-1] < 2 or ky.shape[-2] < 2:
            raise ValueError(
                "kx must be (..., ny, nx + 1) and ky (..., ny + 1, nx) with nx, ny >= 1")
        ny, nx = kx.shape[-2], kx.shape[-1] - 1
        if ky.shape[-2:] != (ny + 1, nx):
            raise ValueError(
                f"face coefficients disagree: kx {tuple(kx.shape)} implies a ({ny}, {nx}) grid, "
                f"so ky must end in ({ny + 1}, {nx}), got {tuple(ky.shape)}"
            )
        s = 1.0 / (h * h)
        west, east = -s * kx[..., :, :-1], -s * kx[..., :, 1:]
        south, north = -s * ky[..., :-1, :], -s * ky[..., 1:, :]
        center = -(west + east + south + north)
        return cls(center, west, east, south, north)

    def shifted(self, scale: Tensor | float, shift: Tensor | float = 1.0) -> Stencil:
        """The stencil of ``shift * I + scale * A`` (scalars or ``(B, 1, 1)`` tensors)."""
        return Stencil(shift + scale * self.center, scale * self.west, scale * self.east,
                       scale * self.south, scale * self.north)

    def to(self, like: Tensor) -> Stencil:
        """The coefficients on ``like``'s device and dtype."""
        f = lambda t: torch.as_tensor(t).to(device=like.device, dtype=like.dtype)  # noqa: E731
        return Stencil(f(self.center), f(self.west), f(self.east), f(self.south), f(self.north))

    def apply(self, x: Tensor) -> Tensor:
        """``A x`` for ``x`` ``(B, ny, nx)``."""
        xp = F.pad(x, (1, 1, 1, 1))
        out = self.center * x
        out = out + self.west * xp[..., 1:-1, :-2]
        out = out + self.east * xp[..., 1:-1, 2:]
        out = out + self.south * xp[..., :-2, 1:-1]
        return out + self.north * xp[..., 2:, 1:-1]


@dataclass
class RedBlackResult:
    """Outcome of :func:`redblack_sor` for a batch of ``B`` systems.

    ``x`` ``(B, ny, nx)``: the solution; ``iterations`` ``(B,)`` long: full (red + black) sweeps
    done on each system, exact even though the loop only stops at multiples of ``check_every``;
    ``converged`` ``(B,)`` bool; ``residual`` ``(B,)``: the final relative residual
    ``||b - A x|| / ||b||`` (absolute where ``b = 0``); ``diverged`` ``(B,)`` bool: the system
    was stopped because its residual was not finite (NaN/Inf in ``b`` or ``x0``) or grew
    :data:`~.sor.DIVERGENCE_GROWTH`-fold over the initial one (SOR diverges: ``A`` not SPD);
    its ``x`` is then the last iterate, not a solution, and ``converged`` is False.
    """

    x: Tensor
    iterations: Tensor
    converged: Tensor
    residual: Tensor
    diverged: Tensor


def checkerboard(ny: int, nx: int, device: torch.device | str = "cpu") -> Tensor:
    """Bool ``(ny, nx)``: True on red nodes (``i + j`` even)."""
    i = torch.arange(ny, device=device).reshape(-1, 1)
    j = torch.arange(nx, device=device).reshape(1, -1)
    return (i + j) % 2 == 0


def _omega_tensor(omega: float | Tensor, batch: int, like: Tensor) -> Tensor:
    if isinstance(omega, Tensor):
        w = omega.to(device=like.device, dtype=like.dtype)
        if w.ndim == 0:
            w = w.expand(batch)
        if w.shape != (batch,):
            raise ValueError(
                f"omega must be a float or a tensor of shape ({batch},), got {tuple(w.shape)}")
        if not bool(((w > 0) & (w < 2)).all()):  # also refuses NaN
            raise ValueError(f"omega must lie in (0, 2) for SOR to converge, got {w.tolist()}")
        return w.reshape(batch, 1, 1)
    try:
        w = check_omega(omega)
    except ValueError:
        raise ValueError(f"omega must lie in (0, 2) for SOR to converge, got {omega!r}") from None
    return torch.full((batch, 1, 1), w, device=like.device, dtype=like.dtype)


def redblack_sor(
    stencil: Stencil,
    b: Tensor,
    x0: Tensor | None = None,
    omega: float | Tensor = 1.5,
    rtol: float = 1e-8,
    max_iter: int = 10000,
    check_every: int = 10,
) -> RedBlackResult:
    """Solve ``A x = b`` for a batch of 5-point systems by red-black SOR.

    ``stencil``: the coefficients of ``A`` (see :class:`Stencil`), broadcastable to ``b``;
    ``b`` ``(B, ny, nx)`` floating; ``x0`` initial guess (zeros when None); ``omega`` relaxation
    factor in (0, 2), a number or one per system ``(B,)``; ``rtol`` a number in (0, 1) (as
    :func:`~.sor.sor_solve`), at least the machine epsilon of ``b``'s dtype (float32 cannot
    reach the default 1e-8: rounding in ``b - A x`` puts its residual floor at about a third of
    ``eps ||(|A| |x|)|| / ||b||``, which grows with the grid and with the smoothness of ``b``:
    for the Poisson stencil about 2e-7 (random ``b``) to 1e-6 (``b = 1``) on an 8² grid, 2e-6
    to 1e-4 on 64²; use float64 or a larger ``rtol``); ``max_iter`` an int >= 0;
    ``check_every`` an int >= 1.

    Each system stops on its own once ``||b - A x|| / ||b|| <= rtol`` (2-norm; absolute when
    ``b = 0``) or after ``max_iter`` sweeps: a converged system is frozen while the others go on,
    so results and iteration counts do not depend on the rest of the batch. A system whose
    residual is not finite (NaN in ``b`` or ``x0``) or has grown ``DIVERGENCE_GROWTH``-fold
    (SOR diverges on it) is frozen likewise and reported ``converged=False, diverged=True``.
    The residual is a by-product of the red half-sweep, so it is known every sweep at no extra
    cost; only the host-side "all done?" test, which synchronises a GPU, happens every
    ``check_every`` sweeps.
    """
    if not isinstance(b, Tensor) or b.ndim != 3 or not b.is_floating_point():
        raise ValueError(f"b must be a floating tensor of shape (B, ny, nx), got "
                         f"{tuple(b.shape) if isinstance(b, Tensor) else type(b).__name__}")
    max_iter = check_int("max_iter", max_iter, 0)
    check_every = check_int("check_every", check_every, 1)
    rtol = check_rtol(rtol)
    eps = torch.finfo(b.dtype).eps
    if rtol < eps:
        raise ValueError(f"rtol {rtol:g} is below {b.dtype}'s machine epsilon {eps:.2g}: b's "
                         f"dtype cannot reach it; pass float64 b or rtol >= {eps:.2g}")
    st = stencil.to(b)
    for name in ("center", "west", "east", "south", "north"):
        coef = getattr(st, name)
        # numpy's, not torch.broadcast_shapes: that one's first call imports sympy (0.7-2 s in
        # every generate worker process)
        try:
            shape = np.broadcast_shapes(tuple(coef.shape), tuple(b.shape))
        except ValueError:
            shape = None
        if shape != tuple(b.shape):
            raise ValueError(f"stencil.{name} of shape {tuple(coef.shape)} does not broadcast to "
                             f"b's shape {tuple(b.shape)}")
    if not bool((st.center != 0).all()):
        raise ValueError("stencil.center must be non-zero everywhere (SOR divides by it)")
    batch, ny, nx = b.shape
    # x lives inside a zero-padded buffer so neighbours are plain views (no copy per sweep)
    xp = b.new_zeros(batch, ny + 2, nx + 2)
    x = xp[:, 1:-1, 1:-1]
    if x0 is not None:
        if x0.shape != b.shape:
            raise ValueError(f"x0 must have b's shape {tuple(b.shape)}, got {tuple(x0.shape)}")
        x.copy_(x0)

    w = _omega_tensor(omega, batch, b)
    red = checkerboard(ny, nx, b.device).to(b.dtype)
    inv_red = red / st.center
    inv_black = (1 - red) / st.center
    c, west, east = st.center.expand(b.shape), st.west, st.east
    south, north = st.south, st.north
    views = (xp[:, 1:-1, :-2], xp[:, 1:-1, 2:], xp[:, :-2, 1:-1], xp[:, 2:, 1:-1])

    def residual() -> Tensor:
        r = torch.mul(c, x)
        for coef, nb in zip((west, east, south, north), views, strict=True):
            r.addcmul_(coef, nb)
        return torch.sub(b, r, out=r)

    bnorm = torch.linalg.vector_norm(b.reshape(batch, -1), dim=1)
    bnorm = torch.where(bnorm > 0, bnorm, torch.ones_like(bnorm))
    iterations = torch.zeros(batch, dtype=torch.long, device=b.device)
    active = torch.ones(batch, dtype=torch.bool, device=b.device)
    diverged = torch.zeros(batch, dtype=torch.bool, device=b.device)
    limit = None
    k = 0
    while True:
        r = residual()
        rel = torch.linalg.vector_norm(r.reshape(batch, -1), dim=1) / bnorm
        if limit is None:
            limit = DIVERGENCE_GROWTH * rel
        # NaN never counts as converged; a non-finite or exploding residual stops the system
        diverged = diverged | (active & ~(rel <= rtol) & (~torch.isfinite(rel) | (rel > limit)))
        active = active & ~(rel <= rtol) & ~diverged
        if k == max_iter or (k % check_every == 0 and not bool(active.any())):
            break
        # a stopped system gets omega 0, i.e. is frozen, so it does not depend on the batch
        w_active = w * active.to(b.dtype).reshape(batch, 1, 1)
        x.addcmul_(r.mul_(inv_red), w_active)
        x.addcmul_(residual().mul_(inv_black), w_active)
        iterations += active
        k += 1
    converged = rel <= rtol
    return RedBlackResult(x=x.clone(), iterations=iterations, converged=converged, residual=rel,
                          diverged=diverged & ~converged)
