"""PseudoSpectral1D.solve: float32 ETDRK4 steps that differ only in their last bits (frame
intervals of evenly spaced times) share one build of the step factors, and the frames stay
those of the exact steps to float32 round-off (Cole–Hopf, frame-by-frame advances)."""

import numpy as np
import torch

from pdesurrogate.solvers.burgers import Burgers1D
from tests.solvers.test_burgers import cole_hopf

# 20 frame intervals that are 0.05 on paper and 5 different floats in fact
TIMES = np.linspace(0.0, 1.0, 21)


def recorded_builds(solver: Burgers1D) -> list[float]:
    """The step of each factor build ``solver`` does from now on."""
    built: list[float] = []
    make = solver._operators
    solver._operators = lambda *a, **k: built.append(a[1]) or make(*a, **k)
    return built


def frame_by_frame(solver: Burgers1D, u0: torch.Tensor, params: dict) -> torch.Tensor:
    """The frames at TIMES from one ``advance`` per interval, outside ``solve``: each at the
    exact split of its own interval, as every solve stepped before steps were shared."""
    frames = [u0]
    for t0, t1 in zip(TIMES, TIMES[1:], strict=False):
        frames.append(solver.advance(frames[-1], params, t1 - t0))
    return torch.stack(frames, dim=1)


def test_float32_etdrk4_solve_builds_the_factors_of_a_step_once():
    """Fixed step bound 0.01, a batch of four viscosities (one repeated) from Cole–Hopf states:
    every interval is 5 steps of 0.01 up to its rounding, and the float32 ETDRK4 solve builds the
    factors once (an exact cache key built them for each of the 5 roundings). Its frames match
    the frame-by-frame advances at the exact steps to 1e-6 (|u| <= 0.6) and Cole–Hopf to 1e-5;
    a second solve on the now warm solver and a fresh solver give the same bits. float64 and
    IMEX solves keep the exact steps: one build per rounding, frames bit for bit."""
    nu = torch.tensor([0.02, 0.05, 0.1, 0.05], dtype=torch.float64)
    s = Burgers1D(n_points=64, dt=1e-2)
    x = s.grid[0]
    u0 = cole_hopf(x, 0.0, nu).float()
    p = {"nu": nu.float()}
    built = recorded_builds(s)
    out = s.solve(u0, p, TIMES)
    assert len(built) == 1, built

    exact = torch.stack([cole_hopf(x, float(t), nu) for t in TIMES], dim=1)
    assert (out.double() - exact).abs().max() < 1e-5
    assert (out - frame_by_frame(Burgers1D(n_points=64, dt=1e-2), u0, p)).abs().max() < 1e-6
    assert torch.equal(s.solve(u0, p, TIMES), out)
    assert torch.equal(Burgers1D(n_points=64, dt=1e-2).solve(u0, p, TIMES), out)

    rounded = len(set(np.diff(TIMES).tolist()))
    assert rounded > 1
    for dtype, scheme in ((torch.float64, "etdrk4"), (torch.float32, "imex")):
        s = Burgers1D(n_points=64, dt=1e-2, scheme=scheme)
        q = {"nu": nu.to(dtype)}
        u = cole_hopf(x, 0.0, nu).to(dtype)
        built = recorded_builds(s)
        out = s.solve(u, q, TIMES)
        assert len(built) == rounded, (dtype, scheme, built)
        assert torch.equal(out, frame_by_frame(s, u, q)), (dtype, scheme)


def test_burgers_cfl_solve_builds_no_step_twice():
    """The generation setting in small (grf states, four ν in [0.01, 0.1], CFL step,
    128 points, float32): the step grows as max|u| decays and several frames split their
    intervals into the same number of steps; no two factor builds of the solve are within
    1e-11 of one another (an exact cache key built 15 for 12 steps), and its frames match the
    frame-by-frame advances at the exact steps to 1e-6 of max|u0|."""
    s = Burgers1D(n_points=128)
    u0, p = s.sample(4, seed=0)
    built = recorded_builds(s)
    out = s.solve(u0, p, TIMES)
    assert len(set(built)) > 3
    for i, a in enumerate(built):
        for b in built[:i]:
            assert abs(a - b) > 1e-11 * a, (a.hex(), b.hex())
    ref = frame_by_frame(Burgers1D(n_points=128), u0, p)
    assert (out - ref).abs().max() < 1e-6 * u0.abs().max()
