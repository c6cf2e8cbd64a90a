"""The unit-ball problems: the exact solution satisfies each PDE (autograd Laplacian vs the
closed-form source), vanishes on the sphere, and bad input is refused by name."""

import pytest
import torch

from pdesurrogate.pinn import PROBLEMS, AllenCahn, Poisson, SineGordon, sample_ball, sample_sphere
from pdesurrogate.pinn.problems import build_problem


def _autograd_laplacian(fn, x: torch.Tensor) -> torch.Tensor:
    """Σ_i ∂²fn/∂x_i² by double backward, one coordinate at a time (independent of the
    closed form used by the problems)."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(fn(x).sum(), x, create_graph=True)
    lap = torch.zeros(x.shape[0], dtype=x.dtype)
    for i in range(x.shape[1]):
        (h,) = torch.autograd.grad(grad[:, i].sum(), x, retain_graph=True)
        lap = lap + h[:, i]
    return lap.detach()


@pytest.mark.parametrize("cls", [Poisson, AllenCahn, SineGordon])
@pytest.mark.parametrize("dim", [2, 7])
def test_exact_solution_satisfies_the_pde(cls, dim):
    problem = cls(dim, seed=3).double()
    x = sample_ball(64, dim, torch.Generator().manual_seed(1), torch.float64)
    u = problem.exact(x)
    lap = _autograd_laplacian(problem.exact, x)
    g = problem.source(x)
    r = problem.residual(u, lap, g)
    assert g.abs().max() > 1.0  # a non-trivial source
    assert r.abs().max() < 1e-11 * g.abs().max()
    # the residual can fail: a slightly different function does not satisfy the PDE
    bump = lambda y: problem.exact(y) + 0.01 * (1 - (y * y).sum(-1))  # noqa: E731
    r_bad = problem.residual(bump(x), _autograd_laplacian(bump, x), g)
    assert r_bad.abs().max() > 0.01


def test_closed_form_laplacian_matches_autograd_in_higher_dimension():
    problem = Poisson(40, seed=0).double()
    x = sample_ball(8, 40, torch.Generator().manual_seed(2), torch.float64)
    torch.testing.assert_close(problem.exact_laplacian(x), _autograd_laplacian(problem.exact, x),
                               rtol=1e-11, atol=1e-9)


def test_reactions():
    u = torch.tensor([-0.5, 0.0, 0.3, 2.0], dtype=torch.float64)
    torch.testing.assert_close(Poisson(3).reaction(u), torch.zeros_like(u))
    torch.testing.assert_close(AllenCahn(3).reaction(u), u - u ** 3)
    torch.testing.assert_close(SineGordon(3).reaction(u), torch.sin(u))


def test_zero_on_the_sphere_and_seeded_coefficients():
    p = SineGordon(12, seed=5)
    xb = sample_sphere(50, 12, torch.Generator().manual_seed(0), torch.float64)
    assert p.double().exact(xb).abs().max() < 1e-12
    assert torch.equal(p.boundary_value(xb), torch.zeros(50, dtype=torch.float64))
    assert p.c.shape == (11,)
    assert torch.equal(SineGordon(12, seed=5).c, SineGordon(12, seed=5).c)
    assert not torch.equal(SineGordon(12, seed=5).c, SineGordon(12, seed=6).c)


def test_chunked_evaluation_matches_one_pass(monkeypatch):
    import pdesurrogate.pinn.problems as mod

    p = AllenCahn(30, seed=1).double()
    x = sample_ball(20, 30, torch.Generator().manual_seed(0), torch.float64)
    whole = p.source(x)
    u_whole = p.exact(x)
    monkeypatch.setattr(mod, "_CHUNK_ELEMENTS", 100)  # 3 points per chunk
    torch.testing.assert_close(p.source(x), whole, rtol=1e-13, atol=1e-12)
    u, g = p.exact_and_source(x)
    torch.testing.assert_close(u, u_whole, rtol=1e-13, atol=1e-12)
    torch.testing.assert_close(g, whole, rtol=1e-13, atol=1e-12)


@pytest.mark.parametrize("cls", [Poisson, AllenCahn, SineGordon])
def test_exact_and_source_is_exact_plus_laplacian_plus_reaction(cls):
    """The fused pass (what a training step uses) agrees with the separate closed forms."""
    p = cls(9, seed=4).double()
    x = sample_ball(16, 9, torch.Generator().manual_seed(3), torch.float64)
    u, g = p.exact_and_source(x)
    torch.testing.assert_close(u, p.exact(x), rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(g, p.exact_laplacian(x) + p.reaction(p.exact(x)),
                               rtol=1e-14, atol=1e-13)


def test_spec_round_trip_and_bad_input():
    for name, cls in PROBLEMS.items():
        p = build_problem(cls(9, seed=2).spec())
        assert type(p) is cls and p.name == name and p.dim == 9 and p.seed == 2
    with pytest.raises(ValueError, match="dim must be an int >= 2, got 1"):
        Poisson(1)
    with pytest.raises(ValueError, match="seed must be an int >= 0, got -1"):
        Poisson(3, seed=-1)
    with pytest.raises(ValueError, match=r"points \(N, 4\), got \(2, 5\)"):
        Poisson(4).exact(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="unknown problem 'heat'"):
        build_problem({"name": "heat", "dim": 3, "seed": 0})
