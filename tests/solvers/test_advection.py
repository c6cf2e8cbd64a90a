"""Advection1D: exact Fourier shift, dtypes, sampling, argument checks."""

import math

import pytest
import torch

from pdesurrogate.solvers.advection import Advection1D


def sines(x: torch.Tensor, length: float) -> torch.Tensor:
    w = 2 * math.pi / length
    return 0.8 * torch.sin(w * x + 0.4) - 0.3 * torch.cos(3 * w * x) + 0.2 * torch.sin(7 * w * x)


def test_exact_shift_float64_batch():
    """u(t) = u0(x − βt) for a sine sum, batch of three β (negative, non-integer shifts,
    several periods), on L = 2.5: max error < 1e-10 in float64, dtype kept."""
    length, t = 2.5, 3.37
    s = Advection1D(n_points=64, length=length)
    x = s.grid[0]
    beta = torch.tensor([0.37, -0.81, 1.234], dtype=torch.float64)
    u0 = sines(x, length).expand(3, 1, -1).clone()
    u = s.advance(u0, {"beta": beta}, t)
    exact = sines(x[None, None, :] - beta[:, None, None] * t, length)
    assert u.dtype == torch.float64
    assert (u - exact).abs().max() < 1e-10


def test_float32_in_float32_out_and_substeps():
    """float32 input gives float32 output within 1e-5 of the exact shift; a fixed dt (17 equal
    substeps) gives the same result to 1e-12 in float64."""
    s = Advection1D(n_points=32)
    x = s.grid[0]
    beta = torch.tensor([0.3, 0.9])
    u0 = sines(x, 1.0).expand(2, 1, -1).clone()
    u = s.advance(u0.float(), {"beta": beta}, 0.77)
    assert u.dtype == torch.float32
    exact = sines(x[None, None, :] - beta.double()[:, None, None] * 0.77, 1.0)
    assert (u.double() - exact).abs().max() < 1e-5
    one = s.advance(u0, {"beta": beta.double()}, 0.77)
    many = Advection1D(n_points=32, dt=0.77 / 16.5).advance(u0, {"beta": beta.double()}, 0.77)
    assert (one - many).abs().max() < 1e-12


def test_sample_and_solve_shapes():
    """sample is deterministic per seed, differs across seeds, β lies in beta_range, both ICs
    have shape (n, 1, nx); solve returns (n, T, 1, nx) with the t = 0 frame equal to u0."""
    for ic in ("sines", "grf"):
        s = Advection1D(n_points=16, beta_range=(0.2, 0.5), ic=ic)
        u0, p = s.sample(4, seed=3)
        u1, p1 = s.sample(4, seed=3)
        u2, _ = s.sample(4, seed=4)
        assert u0.shape == (4, 1, 16) and u0.dtype == torch.float32
        assert torch.equal(u0, u1) and torch.equal(p["beta"], p1["beta"])
        assert not torch.equal(u0, u2)
        assert ((p["beta"] >= 0.2) & (p["beta"] <= 0.5)).all()
        traj = s.solve(u0, p, [0.0, 0.1, 0.5])
        assert traj.shape == (4, 3, 1, 16)
        assert torch.equal(traj[:, 0], u0)
    u64, _ = Advection1D(n_points=16).sample(2, seed=3, dtype=torch.float64)
    assert u64.dtype == torch.float64
    assert torch.equal(u64.float(), Advection1D(n_points=16).sample(2, seed=3)[0])


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"n_points": 7}, "n_points"),
        ({"n_points": 6}, "n_points"),
        ({"n_points": 33}, "n_points"),
        ({"length": 0.0}, "length"),
        ({"beta_range": (1.0, 0.5)}, "beta_range"),
        ({"ic": "gauss"}, "ic"),
        ({"dt": -0.1}, "dt"),
    ],
)
def test_bad_arguments(kwargs, word):
    """Invalid constructor arguments raise ValueError naming the argument."""
    with pytest.raises(ValueError, match=word):
        Advection1D(**kwargs)


def test_bad_advance_inputs():
    """Wrong state shape, missing beta and negative duration raise ValueError naming them."""
    s = Advection1D(n_points=8)
    u = torch.zeros(2, 1, 8)
    with pytest.raises(ValueError, match="shape"):
        s.advance(torch.zeros(2, 8), {"beta": torch.ones(2)}, 0.1)
    with pytest.raises(ValueError, match="beta"):
        s.advance(u, {}, 0.1)
    with pytest.raises(ValueError, match="duration"):
        s.advance(u, {"beta": torch.ones(2)}, -0.1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    """On CUDA the result stays on the device and matches the CPU one to 1e-12 (float64)."""
    s = Advection1D(n_points=64)
    u0, p = s.sample(3, seed=0, dtype=torch.float64)
    cpu = s.advance(u0, p, 0.3)
    gpu = s.advance(u0.cuda(), {"beta": p["beta"].cuda()}, 0.3)
    assert gpu.is_cuda and (gpu.cpu() - cpu).abs().max() < 1e-12
