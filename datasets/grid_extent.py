"""A grid's physical extent: what an export records of its training file's grid (config.json's
``grid_extent``, :func:`grid_extent`) and whether another file's grid covers the same domain
(:func:`domain_differences`), which ``pdesurrogate predict`` checks.

The record is one object per spatial axis, in the states' axis order: ``first`` and ``last``,
the axis's first and last coordinates (in the file's length units), and ``step``, the mean
spacing ``(last - first) / (n - 1)`` (null for one point); the number of points ``n`` is the
export's ``grid_shape``.

Which interval a grid's points sample is not stored in any format we read, so the domain is
decided from the points and the ways writers place them. Ours put a periodic interval's points
at its left ends, ``x_j = j L / n`` on ``[0, L)`` (Burgers, advection, KS, Navier-Stokes),
and a Dirichlet problem's at its interior nodes, ``x_j = (j + 1) h`` with ``h = 1 / (n + 1)``
(heat, Darcy); PDEBench at cell centres ``(j + 1/2) dx`` (its cell edges read as their
midpoints); others at nodes with both ends. A grid of ``n`` points and spacing ``dx`` thus
samples ``[first - a dx, last + b dx]`` for its writer's placement ``(a, b)``, one of
:data:`PLACEMENTS`. Two grids cover the same domain when a placement of each gives both the same
interval, to :data:`REL_TOL`: the same interval sampled more or less finely, or by another
writer (ours and PDEBench's grids of [0, 1)), while a grid over a longer interval, or one
shifted by other than a writer's half or whole step, differs under every pair. So two grids whose
domains differ by at most one step can pass as the same: no file says which it is.
A file without coordinates reads ``0, 1, .., n - 1`` (:func:`~pdesurrogate.datasets.open_dataset`):
its domain is that of its indices, which only a file of the same shape without coordinates shares.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: config.json's key for the record, and the keys of each axis's object in it
EXTENT_KEY = "grid_extent"
AXIS_KEYS = ("first", "last", "step")
#: where a grid's points sit in the interval it samples, ``(a, b)``: the interval is
#: ``[first - a * step, last + b * step]``. Nodes with both ends, left ends of a periodic
#: interval (ours), right ends, cell centres (PDEBench), interior nodes (ours, Dirichlet)
PLACEMENTS = ((0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (0.5, 0.5), (1.0, 1.0))
#: two intervals' ends agree to this fraction of the larger of their lengths and ends'
#: magnitudes: float32 coordinates (PDEBench, The Well) differ from float64 ones by ~6e-8 of
#: that, and two placements a grid of up to ~5,000 points could be under by a half spacing
REL_TOL = 1e-4


def grid_extent(grid: Sequence[np.ndarray]) -> list[dict]:
    """The record of ``grid`` (one 1-D coordinate array per spatial axis, a
    :class:`~pdesurrogate.datasets.FieldData`'s ``grid``): ``[{"first", "last", "step"}]``,
    plain floats (``step`` None for an axis of one point)."""
    out = []
    for coords in grid:
        c = np.asarray(coords, np.float64).reshape(-1)
        first, last = float(c[0]), float(c[-1])
        out.append({"first": first, "last": last,
                    "step": (last - first) / (c.size - 1) if c.size > 1 else None})
    return out


def check_extent(value, shape: Sequence[int] | None, where: str) -> None:
    """config.json's ``grid_extent``: null, or (with ``grid_shape`` ``shape`` known) one object
    per axis with exactly :data:`AXIS_KEYS`, finite numbers, ``step`` null for one point and
    else ``(last - first) / (n - 1)``. One ValueError naming ``where`` and what was expected."""
    if value is None:
        return
    expected = (f"null or a list of one object per axis of grid_shape {shape}, each with keys "
                f"{list(AXIS_KEYS)}: finite numbers, step (last - first) / (points - 1) or "
                "null for one point")
    if shape is None or not isinstance(value, list) or len(value) != len(shape):
        raise ValueError(f"{where!r}: {EXTENT_KEY} must be {expected}, got {value!r}")
    for n, axis in zip(shape, value, strict=True):
        if not isinstance(axis, dict) or sorted(axis) != sorted(AXIS_KEYS) or not all(
                _finite(axis[k]) for k in ("first", "last")):
            raise ValueError(f"{where!r}: {EXTENT_KEY} must be {expected}, got {value!r}")
        step = axis["step"]
        ok = step is None if n == 1 else _finite(step) and math.isclose(
            step * (n - 1), axis["last"] - axis["first"], rel_tol=1e-9,
            abs_tol=1e-12 * max(abs(axis["first"]), abs(axis["last"])))
        if not ok:
            raise ValueError(f"{where!r}: {EXTENT_KEY} must be {expected}, got {value!r}")


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def domain_differences(recorded: Sequence[dict], shape: Sequence[int],
                       grid: Sequence[np.ndarray]) -> list[int]:
    """The axes (positions) along which ``grid`` (a file's coordinates) covers another domain
    than the record ``recorded`` of a ``shape`` grid (module docstring); ``[]``: the same
    domain, at any resolution. ``grid`` has as many axes as ``recorded``."""
    now = grid_extent(grid)
    return [i for i, (a, n, b, c) in enumerate(zip(recorded, shape, now, grid, strict=True))
            if not _same_interval(a, int(n), b, np.asarray(c).size)]


def _same_interval(a: dict, n_a: int, b: dict, n_b: int) -> bool:
    """Whether the records ``a`` (of ``n_a`` points) and ``b`` (``n_b``) sample one interval,
    each under one of :data:`PLACEMENTS`: not necessarily the same one, since the two files may
    come from different writers (a model trained on our Burgers, ``j / n`` on [0, 1), meets
    PDEBench's cell centres ``(j + 1/2) / n`` on the same interval)."""
    da, db = a["step"] or 0.0, b["step"] or 0.0
    scale = max(abs(a["first"]), abs(a["last"]), abs(b["first"]), abs(b["last"]),
                abs(da) * n_a, abs(db) * n_b)
    tol = REL_TOL * scale
    return any(abs((a["first"] - lo_a * da) - (b["first"] - lo_b * db)) <= tol
               and abs((a["last"] + hi_a * da) - (b["last"] + hi_b * db)) <= tol
               for lo_a, hi_a in PLACEMENTS for lo_b, hi_b in PLACEMENTS)


def axis_text(axis: dict, n: int) -> str:
    """An axis's record as text: ``0 .. 0.984375 (64 points, step 0.015625)``."""
    if n == 1 or axis["step"] is None:
        return f"{axis['first']:.6g} (1 point)"
    return (f"{axis['first']:.6g} .. {axis['last']:.6g} ({n} points, step "
            f"{axis['step']:.6g})")
