"""Semilinear elliptic test problems on the unit ball ``B^d`` with a known exact solution.

Every problem reads ``Δu + f(u) = g`` in ``B^d = {x : ‖x‖ < 1}``, ``u = 0`` on the sphere, with
the exact solution of Hu, Shukla, Karniadakis and Kawaguchi (Neural Networks 2024)::

    u*(x) = (1 - ‖x‖²) s(x),   s(x) = Σ_{i=1..d-1} c_i sin(φ_i),
    φ_i   = x_i + cos(x_{i+1}) + x_{i+1} cos(x_i),   c_i ~ N(0, 1) (drawn from ``seed``)

and the source ``g = Δu* + f(u*)`` in closed form, so the PDE holds exactly. With
``q = 1 - ‖x‖²``, ``a_i = ∂φ_i/∂x_i = 1 - x_{i+1} sin x_i`` and
``b_i = ∂φ_i/∂x_{i+1} = cos x_i - sin x_{i+1}``::

    Δu* = -2d s - 4 x·∇s + q Δs
    x·∇s = Σ c_i cos φ_i (x_i a_i + x_{i+1} b_i)
    Δs   = Σ c_i [-sin φ_i (a_i² + b_i²) - cos φ_i (x_{i+1} cos x_i + cos x_{i+1})]

Problems: :class:`Poisson` (``f = 0``), :class:`AllenCahn` (``f(u) = u - u³``),
:class:`SineGordon` (``f(u) = sin u``). All quantities are dimensionless; points are ``(N, d)``
tensors, values ``(N,)``. Everything is O(N d) and chunked over points, so d = 100,000 is fine.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn

from pdesurrogate.models._checks import check_int

# points per chunk are chosen so a chunk holds about this many coordinates (bounds temporaries)
_CHUNK_ELEMENTS = 1 << 21


class BallProblem(nn.Module, ABC):
    """``Δu + f(u) = g`` on the unit ball in ``dim`` dimensions, ``u = 0`` on its boundary.

    Args:
        dim: the dimension ``d`` (>= 2: the solution couples neighbouring coordinates).
        seed: seed of the coefficients ``c_i ~ N(0, 1)``, ``i = 1..d-1``.

    The coefficients are the buffer ``c`` ``(d - 1,)`` (saved with the module and exported).
    """

    name: str = ""

    def __init__(self, dim: int, seed: int = 0):
        super().__init__()
        self.dim = check_int("dim", dim, 2)
        self.seed = check_int("seed", seed, 0)
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("c", torch.randn(dim - 1, generator=gen, dtype=torch.float64).float())

    # -- the PDE ---------------------------------------------------------------------------------
    @abstractmethod
    def reaction(self, u: torch.Tensor) -> torch.Tensor:
        """``f(u)``, elementwise (the non-Laplacian part of the operator)."""

    def residual(self, u: torch.Tensor, lap: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """``Δu + f(u) - g`` from ``u``, (an estimate of) ``Δu`` and the source, all ``(N,)``."""
        return lap + self.reaction(u) - g

    def spec(self) -> dict:
        """Plain-JSON description, rebuilt by :func:`build_problem`."""
        return {"name": self.name, "dim": self.dim, "seed": self.seed}

    # -- exact solution and source ---------------------------------------------------------------
    def check_points(self, x: torch.Tensor, what: str = "x") -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != self.dim:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{what} must be a tensor of points (N, {self.dim}), got {shape}")
        return x

    def _chunked(self, fn, x: torch.Tensor) -> torch.Tensor:
        step = max(1, _CHUNK_ELEMENTS // self.dim)
        if x.shape[0] <= step:
            return fn(x)
        return torch.cat([fn(x[i: i + step]) for i in range(0, x.shape[0], step)])

    def _terms(self, x: torch.Tensor, laplacian: bool):
        """``(u*, Δu*)`` (``Δu*`` None unless ``laplacian``) of one chunk, with the four
        transcendental functions evaluated once per coordinate and shared."""
        c = self.c.to(x.dtype)
        xi, xj = x[:, :-1], x[:, 1:]
        cos_x = torch.cos(x)
        ci, cj = cos_x[:, :-1], cos_x[:, 1:]
        phi = xi + cj + xj * ci
        sin_p = torch.sin(phi)
        s = sin_p @ c
        q = 1 - (x * x).sum(-1)
        if not laplacian:
            return q * s, None
        sin_x = torch.sin(x)
        cos_p = torch.cos(phi)
        a = 1 - xj * sin_x[:, :-1]
        b = ci - sin_x[:, 1:]
        x_grad_s = (cos_p * (xi * a + xj * b)) @ c
        lap_s = (-sin_p * (a * a + b * b) - cos_p * (xj * ci + cj)) @ c
        return q * s, -2 * self.dim * s - 4 * x_grad_s + q * lap_s

    def exact(self, x: torch.Tensor) -> torch.Tensor:
        """``u*(x)``: ``(N, d) -> (N,)``."""
        self.check_points(x)
        return self._chunked(lambda y: self._terms(y, False)[0], x)

    def exact_laplacian(self, x: torch.Tensor) -> torch.Tensor:
        """``Δu*(x)`` in closed form: ``(N, d) -> (N,)``."""
        self.check_points(x)
        return self._chunked(lambda y: self._terms(y, True)[1], x)

    def exact_and_source(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(u*(x), g(x))`` in one pass over the coordinates (what a training step needs)."""
        self.check_points(x)

        def fn(y):
            u, lap = self._terms(y, True)
            return torch.stack([u, lap + self.reaction(u)])

        both = self._chunked(lambda y: fn(y).t(), x)
        return both[:, 0], both[:, 1]

    def source(self, x: torch.Tensor) -> torch.Tensor:
        """``g(x) = Δu*(x) + f(u*(x))``: ``(N, d) -> (N,)``."""
        return self.exact_and_source(x)[1]

    def boundary_value(self, x: torch.Tensor) -> torch.Tensor:
        """``u`` on the unit sphere: 0 (the factor ``1 - ‖x‖²`` of ``u*`` vanishes there)."""
        return x.new_zeros(self.check_points(x, "boundary points").shape[0])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, seed={self.seed}"


class Poisson(BallProblem):
    """``Δu = g`` on the unit ball (``f = 0``)."""

    name = "poisson"

    def reaction(self, u: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(u)


class AllenCahn(BallProblem):
    """``Δu + u - u³ = g`` on the unit ball."""

    name = "allen_cahn"

    def reaction(self, u: torch.Tensor) -> torch.Tensor:
        return u - u ** 3


class SineGordon(BallProblem):
    """``Δu + sin(u) = g`` on the unit ball."""

    name = "sine_gordon"

    def reaction(self, u: torch.Tensor) -> torch.Tensor:
        return torch.sin(u)


PROBLEMS: dict[str, type[BallProblem]] = {
    cls.name: cls for cls in (Poisson, AllenCahn, SineGordon)
}


def build_problem(spec: dict, where: str = "problem") -> BallProblem:
    """Rebuild a problem from :meth:`BallProblem.spec`; ``where`` names it in errors."""
    if not isinstance(spec, dict) or set(spec) != {"name", "dim", "seed"}:
        keys = sorted(spec) if isinstance(spec, dict) else type(spec).__name__
        raise ValueError(f"{where}: expected keys ['dim', 'name', 'seed'], got {keys}")
    if spec["name"] not in PROBLEMS:
        raise ValueError(f"{where}.name: unknown problem {spec['name']!r}; choose one of "
                         f"{sorted(PROBLEMS)}")
    return PROBLEMS[spec["name"]](dim=spec["dim"], seed=spec["seed"])
