"""``PINNMLP``: the fully connected network of a PINN, with second-order forward mode.

``u(x) = q(x) n(x)`` with ``n`` an MLP ``R^d -> R`` and ``q(x) = 1 - ‖x‖²`` when the boundary
condition ``u = 0`` on the unit sphere is hard-enforced (``q = 1`` otherwise).

:meth:`PINNMLP.taylor2` pushes second-order Taylor coefficients along K directions ``v_k``
through the network (forward mode, the ``jvp`` of a ``jvp``, written out per layer)::

    z = W a + b:   ż = W ȧ,            z̈ = W ä
    a = σ(z):      ȧ = σ'(z) ż,        ä = σ'(z) z̈ + σ''(z) ż²

giving ``u``, ``∂_v u`` and ``∂²_v u = vᵀ (∇²u) v`` without ever forming a Hessian. The second
order coefficients enter every later layer linearly, so when only their sum over the K
directions is wanted (a Laplacian estimate) it is carried as one ``(N, width)`` tensor instead of
``(N, K, width)``. For coordinate directions ``v_k = e_{i_k}`` the first layer's ``ż`` is just
the columns ``W_1[:, i_k]``: the cost of K sampled dimensions is O(N K width²), independent of d
except for the plain forward pass.
"""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = ("tanh", "sin")


def _act(name: str, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``σ(z), σ'(z), σ''(z)``."""
    if name == "tanh":
        t = torch.tanh(z)
        d1 = 1 - t * t
        return t, d1, -2 * t * d1
    s = torch.sin(z)
    return s, torch.cos(z), -s


class PINNMLP(nn.Module):
    """MLP ``(N, dim) -> (N,)`` for a PINN on the unit ball.

    Args:
        dim: input dimension ``d``.
        width: neurons per hidden layer.
        depth: number of hidden layers (>= 1).
        activation: ``"tanh"`` or ``"sin"`` (smooth: second derivatives are taken).
        hard_boundary: multiply the output by ``1 - ‖x‖²`` so ``u = 0`` on the unit sphere
            exactly; otherwise the boundary condition must be learnt (a boundary loss).
    """

    def __init__(self, dim: int, width: int = 128, depth: int = 4, activation: str = "tanh",
                 hard_boundary: bool = True):
        super().__init__()
        for name, v in (("dim", dim), ("width", width), ("depth", depth)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {list(ACTIVATIONS)}, got {activation!r}")
        if not isinstance(hard_boundary, bool):
            raise ValueError(f"hard_boundary must be true or false, got {hard_boundary!r}")
        self.dim, self.width, self.depth = dim, width, depth
        self.activation, self.hard_boundary = activation, hard_boundary
        self.hidden = nn.ModuleList(
            [nn.Linear(dim, width)] + [nn.Linear(width, width) for _ in range(depth - 1)])
        self.out = nn.Linear(width, 1)

    def _check(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != self.dim:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"expected points of shape (N, {self.dim}), got {shape}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``u(x)``: ``(N, dim) -> (N,)``."""
        self._check(x)
        a = x
        sigma = torch.tanh if self.activation == "tanh" else torch.sin
        for layer in self.hidden:
            a = sigma(layer(a))
        n = self.out(a).squeeze(-1)
        return (1 - (x * x).sum(-1)) * n if self.hard_boundary else n

    def taylor2(self, x: torch.Tensor, dims: torch.Tensor | None = None,
                dirs: torch.Tensor | None = None, reduce: bool = True
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Value, first and second directional derivatives of ``u`` at ``x`` ``(N, dim)``.

        Give exactly one of:
            dims: ``(K,)`` coordinate indices: ``v_k = e_{dims[k]}`` (repeats allowed).
            dirs: ``(K, dim)`` directions shared by all points, or ``(N, K, dim)`` per point.

        Returns ``u`` ``(N,)``, ``∂_{v_k} u`` ``(N, K)`` and ``Σ_k ∂²_{v_k} u`` ``(N,)``
        (``reduce=True``) or ``∂²_{v_k} u`` ``(N, K)`` (``reduce=False``).
        """
        self._check(x)
        if (dims is None) == (dirs is None):
            raise ValueError("give exactly one of dims (K,) or dirs (K, dim) / (N, K, dim)")
        w1 = self.hidden[0].weight                                   # (width, dim)
        if dims is not None:
            if dims.ndim != 1 or dims.dtype not in (torch.int64, torch.int32):
                raise ValueError(f"dims must be a 1-D integer tensor, got {tuple(dims.shape)} "
                                 f"{dims.dtype}")
            zd = w1.t()[dims]                                        # (K, width)
        else:
            if dirs.ndim not in (2, 3) or dirs.shape[-1] != self.dim or (
                    dirs.ndim == 3 and dirs.shape[0] != x.shape[0]):
                raise ValueError(f"dirs must be (K, {self.dim}) or ({x.shape[0]}, K, "
                                 f"{self.dim}), got {tuple(dirs.shape)}")
            zd = dirs @ w1.t()                                       # (K, width) or (N, K, width)
        z = self.hidden[0](x)
        a, d1, d2 = _act(self.activation, z)
        ad = d1.unsqueeze(1) * zd                                    # (N, K, width)
        # the first layer is linear in x: z̈ = 0, so ä = σ''(z) ż²
        if reduce:
            add = d2 * (zd * zd).sum(-2)                             # (N, width)
        else:
            add = d2.unsqueeze(1) * (zd * zd)                        # (N, K, width)
        for layer in self.hidden[1:]:
            z = layer(a)
            zd = ad @ layer.weight.t()
            zdd = add @ layer.weight.t()
            a, d1, d2 = _act(self.activation, z)
            ad = d1.unsqueeze(1) * zd
            if reduce:
                add = d1 * zdd + d2 * (zd * zd).sum(1)
            else:
                add = d1.unsqueeze(1) * zdd + d2.unsqueeze(1) * (zd * zd)
        w_out = self.out.weight.squeeze(0)
        n = self.out(a).squeeze(-1)                                  # (N,)
        nd = ad @ w_out                                              # (N, K)
        ndd = add @ w_out                                            # (N,) or (N, K)
        if not self.hard_boundary:
            return n, nd, ndd
        # u = q n, q = 1 - ‖x‖²: ∂_v q = -2 x·v, ∂²_v q = -2 ‖v‖²
        q = 1 - (x * x).sum(-1)
        if dims is not None:
            qd = -2 * x[:, dims]                                     # (N, K)
            qdd = torch.full_like(qd, -2.0)
        else:
            xv = dirs @ x.unsqueeze(-1) if dirs.ndim == 3 else (x @ dirs.t()).unsqueeze(-1)
            qd = -2 * xv.squeeze(-1)                                 # (N, K)
            qdd = (-2 * (dirs * dirs).sum(-1)).expand_as(qd)
        ud = qd * n.unsqueeze(1) + q.unsqueeze(1) * nd
        second = qdd * n.unsqueeze(1) + 2 * qd * nd
        if reduce:
            udd = second.sum(1) + q * ndd
        else:
            udd = second + q.unsqueeze(1) * ndd
        return q * n, ud, udd
