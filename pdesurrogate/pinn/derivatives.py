"""Second directional derivatives ``∂²_v u = vᵀ (∇²u) v`` of any network ``u: (N, d) -> (N,)``.

:func:`second_derivatives` uses the network's own forward mode (``net.taylor2``, e.g.
:class:`~pdesurrogate.pinn.PINNMLP`) when it has one and :func:`func_second_derivatives`
otherwise: ``torch.func.jvp`` of a ``jvp`` along each direction, vmapped over directions and
points. Neither forms a Hessian; both are differentiable with respect to the parameters.
"""

from __future__ import annotations

import torch
from torch import nn


def _directions(dim: int, dims: torch.Tensor | None, dirs: torch.Tensor | None,
                like: torch.Tensor) -> torch.Tensor:
    if (dims is None) == (dirs is None):
        raise ValueError("give exactly one of dims (K,) or dirs (K, dim) / (N, K, dim)")
    if dims is not None:
        eye = torch.zeros(dims.shape[0], dim, dtype=like.dtype, device=like.device)
        return eye.scatter_(1, dims.to(like.device).unsqueeze(1), 1.0)
    return dirs.to(like.dtype)


def func_second_derivatives(net: nn.Module, x: torch.Tensor, dims: torch.Tensor | None = None,
                            dirs: torch.Tensor | None = None, reduce: bool = True
                            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Same contract as :meth:`~pdesurrogate.pinn.mlp.PINNMLP.taylor2`, for any ``net`` built
    from torch operations.

    ``x`` ``(N, d)``; ``dims`` ``(K,)`` coordinate indices or ``dirs`` ``(K, d)`` /
    ``(N, K, d)``. Returns ``u`` ``(N,)``, ``∂_v u`` ``(N, K)`` and ``Σ_k ∂²_{v_k} u`` ``(N,)``
    (or ``(N, K)`` with ``reduce=False``). Costs K forward passes over all d inputs per point.
    """
    if x.ndim != 2:
        raise ValueError(f"expected points of shape (N, d), got {tuple(x.shape)}")
    v = _directions(x.shape[1], dims, dirs, x)

    def value(y):                                            # (d,) -> ()
        return net(y.unsqueeze(0)).squeeze(0)

    def along(y, d):                                         # u, ∂_d u, ∂²_d u at one point
        (u, du), (_, ddu) = torch.func.jvp(
            lambda z: torch.func.jvp(value, (z,), (d,)), (y,), (d,))
        return u, du, ddu

    per_dir = torch.func.vmap(along, in_dims=(None, 0))     # over the K directions
    per_point = torch.func.vmap(per_dir, in_dims=(0, 0 if v.ndim == 3 else None))
    u, du, ddu = per_point(x, v)                             # (N, K) each
    return u[:, 0], du, ddu.sum(1) if reduce else ddu


def second_derivatives(net: nn.Module, x: torch.Tensor, dims: torch.Tensor | None = None,
                       dirs: torch.Tensor | None = None, reduce: bool = True
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``net.taylor2`` if the network has it, else :func:`func_second_derivatives`."""
    taylor = getattr(net, "taylor2", None)
    if taylor is not None:
        return taylor(x, dims=dims, dirs=dirs, reduce=reduce)
    return func_second_derivatives(net, x, dims=dims, dirs=dirs, reduce=reduce)
