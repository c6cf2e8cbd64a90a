"""Laplacian estimators: exact (all d dimensions), SDGD (a random subset), Hutchinson (probes).

Each estimator returns ``(u, L)`` at points ``x`` ``(N, d)``: the network value ``u`` ``(N,)``
and ``L`` ``(N,)`` with ``E[L] = Δu`` over the estimator's random draw, differentiable with
respect to the network's parameters.

* :class:`FullLaplacian`: ``Σ_{i=1..d} ∂²u/∂x_i²``, optionally ``chunk`` dimensions at a time.
* :class:`SDGD` (stochastic dimension gradient descent, Hu et al. 2024): a uniformly random
  subset ``I`` of ``|I| = dim_batch`` distinct dimensions, ``L = (d / |I|) Σ_{i∈I} ∂²u/∂x_i²``.
  Every dimension is in ``I`` with probability ``|I| / d``, so ``E[L] = Δu``. Only the sampled
  second derivatives are computed.
* :class:`Hutchinson`: ``L = (1/K) Σ_k v_kᵀ (∇²u) v_k`` with ``E[v vᵀ] = I`` (Rademacher or
  Gaussian probes), so ``E[L] = tr ∇²u = Δu``.

How a trainer turns these into unbiased gradients of the squared residual (the paper's two
variants) is in :mod:`pdesurrogate.pinn.module`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn

from pdesurrogate.models._checks import check_int

from .derivatives import second_derivatives


class LaplacianEstimator(ABC):
    """An unbiased estimator of ``Δu``; see the module docstring."""

    name: str = ""

    @abstractmethod
    def estimate(self, net: nn.Module, x: torch.Tensor,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``u`` ``(N,)`` and an estimate of ``Δu`` ``(N,)`` at ``x`` ``(N, d)``; the random
        draw comes from ``generator`` (a CPU generator; None: torch's default)."""

    @property
    @abstractmethod
    def stochastic(self) -> bool:
        """False when the estimate is exact (no draw)."""

    def exact_for(self, dim: int) -> bool:
        """Whether the estimate is the exact Laplacian (no draw) in ``dim`` dimensions."""
        return not self.stochastic

    def spec(self) -> dict:
        """Plain-JSON description, rebuilt by :func:`build_estimator`."""
        return {"name": self.name, "init_args": dict(self._args())}

    @abstractmethod
    def _args(self) -> dict:
        """The constructor arguments."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._args().items())
        return f"{type(self).__name__}({args})"


class FullLaplacian(LaplacianEstimator):
    """The exact Laplacian: all ``d`` second derivatives.

    Args:
        chunk: dimensions per forward-mode pass (None: all at once). Chunking bounds the
            temporaries; with gradients on, the graph of every chunk is still kept.
    """

    name = "full"

    def __init__(self, chunk: int | None = None):
        self.chunk = None if chunk is None else check_int("chunk", chunk, 1)

    @property
    def stochastic(self) -> bool:
        return False

    def _args(self) -> dict:
        return {"chunk": self.chunk}

    def estimate(self, net, x, generator=None):
        d = x.shape[1]
        step = d if self.chunk is None else self.chunk
        u, lap = None, None
        for start in range(0, d, step):
            dims = torch.arange(start, min(start + step, d), device=x.device)
            u_c, _, s = second_derivatives(net, x, dims=dims)
            u, lap = (u_c, s) if lap is None else (u, lap + s)
        return u, lap


class SDGD(LaplacianEstimator):
    """Stochastic dimension sampling: ``(d / |I|) Σ_{i∈I} ∂²u/∂x_i²`` over a random subset.

    Args:
        dim_batch: ``|I|``, dimensions sampled per estimate, without replacement. When it is at
            least ``d`` the estimate is the exact Laplacian.
    """

    name = "sdgd"

    def __init__(self, dim_batch: int = 100):
        self.dim_batch = check_int("dim_batch", dim_batch, 1)

    @property
    def stochastic(self) -> bool:
        return True

    def _args(self) -> dict:
        return {"dim_batch": self.dim_batch}

    def exact_for(self, dim: int) -> bool:
        return self.dim_batch >= dim

    def sample(self, dim: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """A uniformly random subset of ``min(dim_batch, dim)`` of the ``dim`` dimensions."""
        if self.dim_batch >= dim:
            return torch.arange(dim)
        return torch.randperm(dim, generator=generator)[: self.dim_batch]

    def estimate(self, net, x, generator=None):
        d = x.shape[1]
        dims = self.sample(d, generator).to(x.device)
        u, _, s = second_derivatives(net, x, dims=dims)
        return u, s * (d / dims.shape[0])


class Hutchinson(LaplacianEstimator):
    """Hutchinson's trace estimator ``(1/K) Σ_k v_kᵀ (∇²u) v_k``.

    Args:
        n_probes: ``K``, probe vectors per estimate.
        distribution: ``"rademacher"`` (entries ±1; the lower variance) or ``"gaussian"``.
        per_point: draw separate probes for every point (costs ``N K d width`` in the first
            layer); by default the K probes are shared by the points of a batch (``K d width``).
    """

    name = "hutchinson"
    DISTRIBUTIONS = ("rademacher", "gaussian")

    def __init__(self, n_probes: int = 16, distribution: str = "rademacher",
                 per_point: bool = False):
        self.n_probes = check_int("n_probes", n_probes, 1)
        if distribution not in self.DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {list(self.DISTRIBUTIONS)}, got "
                             f"{distribution!r}")
        if not isinstance(per_point, bool):
            raise ValueError(f"per_point must be true or false, got {per_point!r}")
        self.distribution, self.per_point = distribution, per_point

    @property
    def stochastic(self) -> bool:
        return True

    def _args(self) -> dict:
        return {"n_probes": self.n_probes, "distribution": self.distribution,
                "per_point": self.per_point}

    def sample(self, n: int, dim: int, generator: torch.Generator | None = None,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Probes ``(K, dim)`` (or ``(n, K, dim)`` with ``per_point``)."""
        shape = (n, self.n_probes, dim) if self.per_point else (self.n_probes, dim)
        if self.distribution == "gaussian":
            return torch.randn(shape, generator=generator, dtype=dtype)
        return torch.randint(0, 2, shape, generator=generator).to(dtype) * 2 - 1

    def estimate(self, net, x, generator=None):
        v = self.sample(x.shape[0], x.shape[1], generator, x.dtype).to(x.device)
        u, _, s = second_derivatives(net, x, dirs=v)
        return u, s / self.n_probes


ESTIMATORS: dict[str, type[LaplacianEstimator]] = {
    cls.name: cls for cls in (FullLaplacian, SDGD, Hutchinson)
}


def build_estimator(spec: dict, where: str = "estimator") -> LaplacianEstimator:
    """Rebuild an estimator from :meth:`LaplacianEstimator.spec`."""
    if not isinstance(spec, dict) or set(spec) != {"name", "init_args"}:
        keys = sorted(spec) if isinstance(spec, dict) else type(spec).__name__
        raise ValueError(f"{where}: expected keys ['init_args', 'name'], got {keys}")
    if spec["name"] not in ESTIMATORS:
        raise ValueError(f"{where}.name: unknown estimator {spec['name']!r}; choose one of "
                         f"{sorted(ESTIMATORS)}")
    if not isinstance(spec["init_args"], dict):
        raise ValueError(f"{where}.init_args must be a dict, got {spec['init_args']!r}")
    try:
        return ESTIMATORS[spec["name"]](**spec["init_args"])
    except TypeError as e:
        raise ValueError(f"{where}.init_args: {e}") from None
