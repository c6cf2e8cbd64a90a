"""Red-black SOR against a sparse direct solve, and its convergence behaviour."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from pdesurrogate.solvers.linear.redblack import RedBlackResult, Stencil, redblack_sor
from pdesurrogate.solvers.linear.sor import DIVERGENCE_GROWTH


def assemble(st: Stencil, shape: tuple[int, int, int], k: int) -> sp.csr_matrix:
    """CSR matrix of system ``k`` of the batch; unknowns numbered row-major (i * nx + j)."""
    _, ny, nx = shape
    coef = {name: getattr(st, name).expand(shape)[k].numpy() for name in
            ("center", "west", "east", "south", "north")}
    rows, cols, vals = [], [], []
    for i in range(ny):
        for j in range(nx):
            p = i * nx + j
            rows.append(p), cols.append(p), vals.append(coef["center"][i, j])
            for name, di, dj in (("west", 0, -1), ("east", 0, 1),
                                 ("south", -1, 0), ("north", 1, 0)):
                ii, jj = i + di, j + dj
                if 0 <= ii < ny and 0 <= jj < nx:
                    rows.append(p), cols.append(ii * nx + jj), vals.append(coef[name][i, j])
    return sp.csr_matrix((vals, (rows, cols)), shape=(ny * nx, ny * nx))


def random_diffusion(batch: int, ny: int, nx: int, seed: int = 0, shift: float = 0.0) -> Stencil:
    g = torch.Generator().manual_seed(seed)
    kx = 0.5 + torch.rand(batch, ny, nx + 1, generator=g, dtype=torch.float64)
    ky = 0.5 + torch.rand(batch, ny + 1, nx, generator=g, dtype=torch.float64)
    return Stencil.diffusion(kx, ky, 1.0 / (max(nx, ny) + 1)).shifted(1.0, shift)


def poisson(n: int) -> Stencil:
    one = torch.ones(1, n, n + 1, dtype=torch.float64)
    return Stencil.diffusion(one, one.transpose(-1, -2), 1.0 / (n + 1))


def test_matches_sparse_direct_solve():
    """Variable-coefficient operator on a non-square grid, per-sample omega: relative error
    to scipy's spsolve below 1e-9 at rtol 1e-12."""
    b_shape = (3, 7, 9)
    st = random_diffusion(*b_shape, shift=0.0)
    b = torch.randn(b_shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    res = redblack_sor(st, b, omega=torch.tensor([1.0, 1.4, 1.7]), rtol=1e-12)
    assert isinstance(res, RedBlackResult)
    assert res.converged.all() and (res.residual <= 1e-12).all()
    assert res.iterations.dtype == torch.long and res.iterations.shape == (3,)
    for k in range(3):
        ref = spla.spsolve(assemble(st, b_shape, k), b[k].numpy().ravel())
        err = np.linalg.norm(res.x[k].numpy().ravel() - ref) / np.linalg.norm(ref)
        assert err < 1e-9, (k, err)


def test_apply_matches_assembled_matrix():
    """Stencil.apply equals the assembled CSR mat-vec to round-off (1e-12), including a
    non-symmetric general stencil."""
    g = torch.Generator().manual_seed(3)
    shape = (2, 5, 6)
    st = Stencil(*(torch.randn(shape, generator=g, dtype=torch.float64) for _ in range(5)))
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    y = st.apply(x)
    for k in range(2):
        ref = assemble(st, shape, k) @ x[k].numpy().ravel()
        assert np.allclose(y[k].numpy().ravel(), ref, rtol=0, atol=1e-12)


def test_optimal_omega_beats_gauss_seidel():
    """Poisson on 32x32: SOR at omega = 2/(1+sin(pi h)) needs < 1/8 of Gauss-Seidel's sweeps
    (theory: O(n) vs O(n^2), about 1/20 here)."""
    n = 32
    st = poisson(n)
    b = torch.ones(1, n, n, dtype=torch.float64)
    w_opt = 2 / (1 + math.sin(math.pi / (n + 1)))
    opt = redblack_sor(st, b, omega=w_opt, rtol=1e-8)
    gs = redblack_sor(st, b, omega=1.0, rtol=1e-8)
    assert opt.converged.all() and gs.converged.all()
    assert int(opt.iterations) * 8 < int(gs.iterations), (int(opt.iterations), int(gs.iterations))


def test_not_converged_when_max_iter_tiny():
    """max_iter = 5 on Poisson: converged False, iterations == 5, residual the true one."""
    st = poisson(16)
    b = torch.ones(2, 16, 16, dtype=torch.float64)
    res = redblack_sor(st, b, omega=1.5, rtol=1e-10, max_iter=5)
    assert not res.converged.any()
    assert res.iterations.tolist() == [5, 5]
    true = torch.linalg.vector_norm((b - st.apply(res.x)).flatten(1), dim=1) / 16.0
    assert torch.allclose(res.residual, true, rtol=1e-12)
    assert (res.residual > 1e-3).all()


def test_iterations_exact_and_independent_of_batch():
    """Per-sample counts and solutions do not depend on check_every or on batch neighbours:
    solving an easy and a hard system together equals solving each alone (to 1e-14)."""
    n = 12
    easy = random_diffusion(1, n, n, seed=4, shift=50.0)  # strongly diagonally dominant
    hard = random_diffusion(1, n, n, seed=5, shift=0.0)
    both = Stencil(*(torch.cat([getattr(easy, f), getattr(hard, f)]) for f in
                     ("center", "west", "east", "south", "north")))
    b = torch.randn(2, n, n, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    batch = redblack_sor(both, b, omega=1.3, rtol=1e-10, check_every=7)
    alone = [redblack_sor(s, b[k:k + 1], omega=1.3, rtol=1e-10, check_every=1)
             for k, s in enumerate((easy, hard))]
    assert batch.iterations.tolist() == [int(a.iterations) for a in alone]
    assert batch.iterations[0] < batch.iterations[1]
    for k in range(2):
        assert torch.allclose(batch.x[k], alone[k].x[0], rtol=0, atol=1e-14)


def test_zero_rhs_and_initial_guess():
    """b = 0 with x0 = 0 is solved in 0 sweeps; a converged x0 is returned unchanged."""
    st = poisson(8)
    res = redblack_sor(st, torch.zeros(1, 8, 8, dtype=torch.float64))
    assert int(res.iterations) == 0 and bool(res.converged) and float(res.residual) == 0.0
    b = torch.ones(1, 8, 8, dtype=torch.float64)
    x = redblack_sor(st, b, rtol=1e-12).x
    again = redblack_sor(st, b, x0=x, rtol=1e-10)
    assert int(again.iterations) == 0 and torch.equal(again.x, x)


def test_float32_keeps_dtype():
    """float32 input gives a float32 solution with relative residual <= 1e-5."""
    st = poisson(10)
    b = torch.ones(2, 10, 10)
    res = redblack_sor(st, b, omega=1.6, rtol=1e-5)
    assert res.x.dtype == torch.float32 and res.converged.all()


@pytest.mark.parametrize("omega", [0.0, 2.0, -1.0, 2.5, torch.tensor([1.0, 2.0])])
def test_rejects_bad_omega(omega):
    """omega outside (0, 2) is a ValueError that says so."""
    with pytest.raises(ValueError, match=r"\(0, 2\)"):
        redblack_sor(poisson(4), torch.ones(2, 4, 4, dtype=torch.float64), omega=omega)


def test_rejects_bad_shapes():
    """Mismatched b, x0, stencil or omega shapes are ValueErrors naming the culprit."""
    st = poisson(4)
    with pytest.raises(ValueError, match="b must be"):
        redblack_sor(st, torch.ones(4, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="stencil.center"):
        redblack_sor(st, torch.ones(1, 5, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="x0"):
        redblack_sor(st, torch.ones(1, 4, 4, dtype=torch.float64), x0=torch.zeros(1, 4, 3))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        redblack_sor(st, torch.ones(3, 4, 4, dtype=torch.float64), omega=torch.ones(2))
    with pytest.raises(ValueError, match="ky must"):
        Stencil.diffusion(torch.ones(1, 4, 5), torch.ones(1, 4, 4), 0.2)


def test_hopeless_systems_stop_at_once():
    """NaN in b or x0 stops that system before any sweep (it used to run all max_iter sweeps):
    converged False, diverged True; its neighbour in the batch is solved as if alone."""
    st = poisson(8)
    b = torch.ones(2, 8, 8, dtype=torch.float64)
    alone = redblack_sor(st, b[:1], rtol=1e-10)
    b_nan = b.clone()
    b_nan[1, 3, 3] = math.nan
    x0 = torch.zeros(2, 8, 8, dtype=torch.float64)
    x0[1, 2, 2] = math.nan
    for res in (redblack_sor(st, b_nan, rtol=1e-10, max_iter=100_000),
                redblack_sor(st, b, x0=x0, rtol=1e-10, max_iter=100_000)):
        assert res.iterations.tolist() == [int(alone.iterations), 0]
        assert res.converged.tolist() == [True, False]
        assert res.diverged.tolist() == [False, True]
        assert torch.equal(res.x[0], alone.x[0])


def test_diverging_stencil_stops_early():
    """An indefinite stencil (centre 1, neighbours -1), on which SOR diverges, is stopped once
    its residual has grown DIVERGENCE_GROWTH-fold: far below max_iter, x still finite."""
    one = torch.ones(1, 12, 12, dtype=torch.float64)
    res = redblack_sor(Stencil(one, -one, -one, -one, -one), one, omega=1.5, max_iter=100_000)
    assert not res.converged.any() and res.diverged.all()
    assert int(res.iterations) < 200 and torch.isfinite(res.x).all()
    # stopped by the growth test (x0 = 0 starts at relative residual 1), not by overflow
    assert DIVERGENCE_GROWTH < float(res.residual) < math.inf
    ok = redblack_sor(poisson(8), one[:, :8, :8])
    assert ok.converged.all() and not ok.diverged.any()


@pytest.mark.parametrize("rtol", [0.0, -1.0, 1.0, float("inf"), True])
def test_rtol_as_sor_solve(rtol):
    """rtol must lie in (0, 1), as sor_solve requires (0 used to be accepted here and then
    never reached)."""
    with pytest.raises(ValueError, match=r"rtol must be a number in \(0, 1\)"):
        redblack_sor(poisson(4), torch.ones(1, 4, 4, dtype=torch.float64), rtol=rtol)


def test_float32_cannot_reach_tiny_rtol():
    """float32 b with the default rtol 1e-8 (below float32's epsilon) is refused in one line
    saying why (it used to sweep max_iter times and return converged=False)."""
    with pytest.raises(ValueError, match=r"rtol 1e-08 is below torch.float32's machine epsilon"):
        redblack_sor(poisson(4), torch.ones(1, 4, 4))


def test_numpy_scalars_are_numbers():
    """omega, rtol, max_iter as numpy scalars work like Python numbers."""
    res = redblack_sor(poisson(6), torch.ones(1, 6, 6, dtype=torch.float64),
                       omega=np.float32(1.5), rtol=np.float64(1e-8), max_iter=np.int64(500),
                       check_every=np.int32(5))
    assert res.converged.all()
    with pytest.raises(ValueError, match="max_iter must be an int >= 0, got True"):
        redblack_sor(poisson(6), torch.ones(1, 6, 6, dtype=torch.float64), max_iter=True)


def test_diffusion_stencil_is_the_flux_form_of_its_face_coefficients():
    """Stencil.diffusion(kx, ky, h).apply(u) equals the finite-volume flux balance written out
    face by face, sum over faces of k_face (u_node - u_neighbour) / h^2 with u = 0 outside,
    for random face coefficients on a non-square 5 x 7 grid (1e-12): ky[i] is the face south of
    row i and ky[i + 1] the face north of it, kx[:, j] west and kx[:, j + 1] east."""
    g = torch.Generator().manual_seed(5)
    ny, nx, h = 5, 7, 0.125
    kx = 0.5 + torch.rand(2, ny, nx + 1, generator=g, dtype=torch.float64)
    ky = 0.5 + torch.rand(2, ny + 1, nx, generator=g, dtype=torch.float64)
    u = torch.randn(2, ny, nx, generator=g, dtype=torch.float64)
    p = torch.nn.functional.pad(u, (1, 1, 1, 1))  # p[i + 1, j + 1] = u[i, j]
    flux = torch.zeros_like(u)
    for i in range(ny):
        for j in range(nx):
            c = p[:, i + 1, j + 1]
            flux[:, i, j] = (kx[:, i, j] * (c - p[:, i + 1, j])
                             + kx[:, i, j + 1] * (c - p[:, i + 1, j + 2])
                             + ky[:, i, j] * (c - p[:, i, j + 1])
                             + ky[:, i + 1, j] * (c - p[:, i + 2, j + 1])) / h**2
    got = Stencil.diffusion(kx, ky, h).apply(u)
    assert torch.allclose(got, flux, rtol=0, atol=1e-12 * float(flux.abs().max()))


def test_float32_residual_floor_is_the_documented_one():
    """float32 on Poisson with b = 1 (16²): the residual stops falling near a third of
    eps ||(|A| |x|)|| / ||b|| (x the float64 solution), as redblack_sor's docstring says,
    about 1e-5 here: rtol = 3 x that estimate is reached, rtol = 1/30 of it is not within 2000
    sweeps."""
    n = 16
    st = poisson(n)
    b = torch.ones(1, n, n, dtype=torch.float64)
    x = redblack_sor(st, b, omega=1.5, rtol=1e-13).x
    abs_st = Stencil(*(getattr(st, f).abs() for f in ("center", "west", "east", "south",
                                                       "north")))
    estimate = torch.finfo(torch.float32).eps * float(abs_st.apply(x.abs()).norm() / b.norm())
    assert 5e-6 < estimate < 5e-5
    st32 = Stencil(*(getattr(st, f).float() for f in ("center", "west", "east", "south",
                                                       "north")))
    assert redblack_sor(st32, b.float(), omega=1.5, rtol=3 * estimate).converged.all()
    stuck = redblack_sor(st32, b.float(), omega=1.5, rtol=estimate / 30, max_iter=2000)
    assert not stuck.converged.any() and float(stuck.residual) > estimate / 30
