"""The box ``{name: (low, high)}`` the scheduler draws each simulation's PDE parameters from:
the config's ``parameters``, checked against the solver's own parameter checks, or the solver's
``<name>_range``."""

from __future__ import annotations

import math

import torch

from pdesurrogate.online.errors import UsageError


def _parameter_box(cfg, solver) -> dict[str, tuple[float, float]]:
    names = tuple(solver.param_names)
    if cfg.parameters is not None:
        box = {k: tuple(float(x) for x in v) for k, v in cfg.parameters.items()}
        if set(box) != set(names) or any(len(v) != 2 for v in box.values()):
            raise UsageError(f"online config: parameters must give [low, high] for exactly "
                             f"{list(names)}, got {cfg.parameters}")
        for k, (lo, hi) in box.items():
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
                raise UsageError(f"online config: parameters.{k} must be [low, high] with "
                                 f"low <= high, got {list(cfg.parameters[k])}")
        box = {k: box[k] for k in names}
        _check_box_with_solver(box, solver)
        return box
    box = {}
    for n in names:
        rng = getattr(solver, f"{n}_range", None)
        if rng is None:
            raise UsageError(f"online config: {solver.name} has no {n}_range; give "
                             f"parameters: {{{n}: [low, high]}}")
        box[n] = (float(rng[0]), float(rng[1]))
    return box


def _check_box_with_solver(box: dict[str, tuple[float, float]], solver) -> None:
    """Each parameter's low and high through the solver's own parameter checks, the others at
    the midpoints of the solver's own ranges (else of the box): else a value out of the
    solver's range fails inside the MPI job, in the held-out trajectories, listing all of
    their values. The checks: ``check_params`` (if the solver has one), and ``advance`` by 0
    time units from a state of ``sample``, which validates the parameters before it returns
    (heat2d's kappa, navier_stokes2d's nu, ...); the latter only where ``advance`` by 0 takes
    the midpoints of the solver's own ``<name>_range`` (a solver whose ``advance`` refuses a
    zero duration is not probed)."""
    check = getattr(solver, "check_params", None)
    probe = _zero_advance(solver)
    # the others at a point the solver admits (its own range's midpoint where it has one):
    # the user's midpoint may be out of range itself, and the error would name the wrong key
    mid = {}
    for k, (lo, hi) in box.items():
        own = getattr(solver, f"{k}_range", None)
        mid[k] = (float(own[0]) + float(own[1])) / 2 if own is not None else (lo + hi) / 2
    for k, (lo, hi) in box.items():
        rows = {n: [lo, hi] if n == k else [mid[n]] * 2 for n in box}
        try:
            if check is not None:
                check({n: torch.tensor(v, dtype=torch.float64) for n, v in rows.items()})
            if probe is not None:
                probe(rows)
        except ValueError as e:
            raise UsageError(f"online config: parameters.{k} = [{lo:g}, {hi:g}] is out of the "
                             f"solver's range: {e}") from None


def _zero_advance(solver):
    """``probe(rows)``: ``solver.advance`` by 0 of two states of ``solver.sample`` with the
    parameter values ``rows`` ({name: [a, b]}); None where that does not work with the
    solver's own ranges' midpoints (a steady solver, one without ``<name>_range``, one whose
    ``advance`` refuses a zero duration), so that only the values are checked."""
    if getattr(solver, "steady", False):
        return None
    names = tuple(solver.param_names)
    ranges = {n: getattr(solver, f"{n}_range", None) for n in names}
    if any(r is None for r in ranges.values()):
        return None
    try:
        u0, _ = solver.sample(1, 0)
        u0 = u0.expand(2, *u0.shape[1:]).clone()

        def probe(rows: dict[str, list[float]]) -> None:
            params = {n: torch.tensor(rows[n], dtype=u0.dtype, device=u0.device)
                      for n in names}
            solver.advance(u0, params, 0.0)

        probe({n: [(float(r[0]) + float(r[1])) / 2] * 2 for n, r in ranges.items()})
    except Exception:  # not this solver's way: its values go unchecked here
        return None
    return probe
