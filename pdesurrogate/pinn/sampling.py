"""Uniform points in the unit ball and on the unit sphere.

A uniform point of the ball ``B^d`` is ``r g / ‖g‖`` with ``g ~ N(0, I_d)`` (a uniform direction)
and ``r = U^{1/d}``, ``U ~ U(0, 1)`` (the volume inside radius r is r^d). In high dimension almost
all the volume is near the sphere: ``1 - ‖x‖²`` is about ``2 / d`` on average.

Apart from :mod:`.points` (the Lightning DataModule) so that sampling needs torch alone.
"""

from __future__ import annotations

import torch

from pdesurrogate.models._checks import check_int


def sample_sphere(n: int, dim: int, generator: torch.Generator | None = None,
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``n`` points uniform on the unit sphere ``{‖x‖ = 1}`` in ``dim`` dimensions: ``(n, dim)``."""
    check_int("n", n, 0)
    check_int("dim", dim, 1)
    g = torch.randn(n, dim, generator=generator, dtype=torch.float64)
    return (g / g.norm(dim=1, keepdim=True)).to(dtype)


def sample_ball(n: int, dim: int, generator: torch.Generator | None = None,
                dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``n`` points uniform in the unit ball in ``dim`` dimensions: ``(n, dim)``."""
    direction = sample_sphere(n, dim, generator, torch.float64)
    r = torch.rand(n, 1, generator=generator, dtype=torch.float64) ** (1.0 / dim)
    return (r * direction).to(dtype)
