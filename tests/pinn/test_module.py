"""PINNModule: both SDGD variants give unbiased gradients of the mean squared residual,
Lightning trains it, checkpoints rebuild it, and bad settings are refused by name."""

import math

import pytest
import torch
from lightning.pytorch import Trainer

from pdesurrogate.pinn import (
    SDGD,
    AllenCahn,
    BallPoints,
    FullLaplacian,
    Hutchinson,
    PINNModule,
    Poisson,
    sample_ball,
    sample_sphere,
)


def _grad(module, x):
    obj, _ = module.objective(x)
    return torch.cat([g.flatten() for g in torch.autograd.grad(obj, list(module.parameters()))])


@pytest.mark.parametrize("variant", ["forward_backward", "backward"])
@pytest.mark.parametrize("estimator", [SDGD(2), Hutchinson(1)], ids=repr)
def test_stochastic_gradients_are_unbiased(variant, estimator):
    """mean over m draws of the objective's gradient vs the exact gradient of mean r²:
    ‖mean - exact‖ <= 4 sqrt(Σ_j Var_j / m) (the expected norm is sqrt(Σ Var / m))."""
    torch.manual_seed(0)
    kw = dict(width=8, depth=2, boundary="hard")
    exact_m = PINNModule(AllenCahn(8, seed=1), FullLaplacian(), **kw).double()
    module = PINNModule(AllenCahn(8, seed=1), estimator, variant=variant, **kw).double()
    module.load_state_dict(exact_m.state_dict())
    x = sample_ball(6, 8, torch.Generator().manual_seed(0), torch.float64)
    exact = _grad(exact_m, x)
    m = 300
    grads = torch.stack([_grad(module, x) for _ in range(m)])
    err = (grads.mean(0) - exact).norm()
    scale = math.sqrt(grads.var(0).sum() / m)
    assert scale > 0
    assert err <= 4 * scale, (float(err), float(scale))
    # the bound is tight enough to fail: a gradient 10% too large would be rejected
    assert (grads.mean(0) - 1.1 * exact).norm() > 4 * scale


def test_lightning_fit_validate_and_checkpoint(tmp_path):
    torch.manual_seed(0)
    module = PINNModule(Poisson(6), SDGD(3), width=16, depth=2, lr=3e-3)
    dm = BallPoints(batch_size=32, steps_per_epoch=20, val_points=200)
    trainer = Trainer(max_epochs=2, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False,
                      default_root_dir=tmp_path)
    trainer.fit(module, dm)
    assert dm.dim == 6  # taken from the model
    rel = float(trainer.callback_metrics["val/rel_l2"])
    assert 0 < rel < 0.8  # learning: starts near 1
    ckpt = tmp_path / "m.ckpt"
    trainer.save_checkpoint(ckpt)
    loaded = PINNModule.load_from_checkpoint(ckpt, weights_only=True)
    assert isinstance(loaded.problem, Poisson) and loaded.problem.dim == 6
    assert isinstance(loaded.estimator, SDGD) and loaded.estimator.dim_batch == 3
    x = sample_ball(10, 6)
    torch.testing.assert_close(loaded(x), module(x))
    out = trainer.test(module, dm, verbose=False)
    assert 0 < out[0]["test/rel_l2"] < 0.8


def test_boundary_loss_needs_boundary_points():
    module = PINNModule(Poisson(4), SDGD(2), width=8, depth=1, boundary="loss")
    x = sample_ball(5, 4)
    with pytest.raises(ValueError, match="boundary_batch_size > 0"):
        module.objective(x)
    obj, logs = module.objective(x, sample_ball(3, 4))
    assert "boundary" in logs and obj.requires_grad


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="variant must be one of"):
        PINNModule(Poisson(3), variant="forward")
    with pytest.raises(ValueError, match="boundary must be one of"):
        PINNModule(Poisson(3), boundary="soft")
    with pytest.raises(ValueError, match="lr must be a finite number > 0, got 0"):
        PINNModule(Poisson(3), lr=0)
    with pytest.raises(ValueError, match="give a problem"):
        PINNModule()
    with pytest.raises(ValueError, match=r"points \(N, 3\)"):
        PINNModule(Poisson(3), width=4, depth=1).objective(torch.zeros(2, 4))


def _loss(module, x, xb=None):
    """mean r² with the exact Laplacian (+ the boundary loss)."""
    with torch.no_grad():
        u, lap = FullLaplacian().estimate(module.net, x)
        r = module.problem.residual(u, lap, module.problem.source(x))
        loss = (r * r).mean()
        if xb is not None:
            loss = loss + module.boundary_weight * (module.net(xb) ** 2).mean()
    return float(loss)


@pytest.mark.parametrize("problem", [Poisson(12, seed=2), AllenCahn(12, seed=2)],
                         ids=lambda p: p.name)
def test_init_output_bias_minimises_the_residual_over_the_bias(problem):
    """After the fit, moving the output bias either way raises the mean squared residual at
    the fitting points (the fit is the minimiser in b), and the loss dropped."""
    torch.manual_seed(0)
    module = PINNModule(problem.double(), FullLaplacian(), width=16, depth=2).double()
    gen = torch.Generator().manual_seed(5)
    x = sample_ball(200, 12, torch.Generator().manual_seed(5), torch.float64)
    before = _loss(module, x)
    b = module.init_output_bias(n_points=200, chunk=64, generator=gen)
    assert b != 0
    # the points drawn inside init_output_bias are those of sample_ball with the same
    # generator, in chunks of 64: redraw them to evaluate the loss where it was fitted
    gen = torch.Generator().manual_seed(5)
    x = torch.cat([sample_ball(min(64, 200 - s), 12, gen, torch.float64)
                   for s in range(0, 200, 64)])
    at = _loss(module, x)
    assert at < before
    eps = 1e-3 * max(1.0, abs(b))
    for sign in (1, -1):
        module.net.out.bias.data += sign * eps
        assert _loss(module, x) > at
        module.net.out.bias.data -= sign * eps


def test_init_output_bias_with_a_boundary_loss_and_in_fit():
    """boundary='loss', Poisson: the interior residual does not see a constant, so the bias
    zeroes the mean of u on the sphere; fit_output_bias=True applies the fit at step 0."""
    torch.manual_seed(0)
    module = PINNModule(Poisson(6), SDGD(3), width=8, depth=2, boundary="loss",
                        fit_output_bias=True)
    module.init_output_bias(n_points=300)
    xb = sample_sphere(2000, 6, torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert abs(float(module.net(xb).mean())) < 0.05
    torch.manual_seed(0)
    fresh = PINNModule(Poisson(6), SDGD(3), width=8, depth=2, fit_output_bias=True)
    b0 = fresh.net.out.bias.detach().clone()
    trainer = Trainer(max_steps=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False,
                      limit_val_batches=0)
    with torch.no_grad():
        expected = PINNModule(Poisson(6), SDGD(3), width=8, depth=2)
        expected.load_state_dict(fresh.state_dict())
        b = expected.init_output_bias()
    trainer.fit(fresh, BallPoints(batch_size=8, steps_per_epoch=1))
    # one Adam step moves the bias by at most ~lr past the fitted value
    assert abs(float(fresh.net.out.bias.detach() - b0) - b) < 2 * fresh.lr + 1e-6
    with pytest.raises(ValueError, match="fit_output_bias must be true or false"):
        PINNModule(Poisson(3), fit_output_bias=1)


def test_logged_hparams_hold_the_problem_and_estimator_specs(tmp_path):
    """hparams.yaml (the logger's copy, from hparams_initial) has problem_spec and
    estimator_spec, not null, as the checkpoint does."""
    import yaml
    from lightning.pytorch.loggers import CSVLogger

    module = PINNModule(Poisson(4, seed=3), SDGD(2), width=8, depth=1)
    specs = {"problem_spec": {"name": "poisson", "dim": 4, "seed": 3},
             "estimator_spec": {"name": "sdgd", "init_args": {"dim_batch": 2}}}
    for key, value in specs.items():
        assert module.hparams_initial[key] == value and module.hparams[key] == value
    logger = CSVLogger(tmp_path)
    trainer = Trainer(max_steps=1, logger=logger, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False,
                      limit_val_batches=0)
    trainer.fit(module, BallPoints(batch_size=4, steps_per_epoch=1))
    saved = yaml.safe_load((tmp_path / "lightning_logs" / "version_0" / "hparams.yaml")
                           .read_text())
    for key, value in specs.items():
        assert saved[key] == value, saved


@pytest.mark.parametrize("boundary", ["hard", "loss"])
def test_objective_and_u_are_float32_under_autocast(boundary):
    """Under bfloat16 autocast (Lightning's bf16-mixed) the objective, its gradient and u are
    those of float32: in bfloat16 u and Δu would be off by about 3e-3 relative, and the
    residual Δu - g cancels them against a source as large."""
    torch.manual_seed(0)
    module = PINNModule(Poisson(20, seed=2), FullLaplacian(), width=32, depth=3,
                        boundary=boundary)
    x = sample_ball(64, 20, torch.Generator().manual_seed(0))
    xb = sample_sphere(16, 20, torch.Generator().manual_seed(1))
    obj, logs = module.objective(x, xb)
    grad = torch.autograd.grad(obj, list(module.parameters()))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        obj_m, logs_m = module.objective(x, xb)
        u_m = module(x)
    # backward outside autocast, as Lightning runs it
    grad_m = torch.autograd.grad(obj_m, list(module.parameters()))
    assert obj_m.dtype == u_m.dtype == torch.float32
    torch.testing.assert_close(obj_m, obj, rtol=1e-6, atol=0)
    torch.testing.assert_close(logs_m["rel_l2"], logs["rel_l2"], rtol=1e-6, atol=0)
    for a, b in zip(grad_m, grad, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(u_m, module(x), rtol=1e-6, atol=0)


def test_bf16_mixed_fit_matches_float32(tmp_path):
    """Trainer(precision="bf16-mixed") trains and validates the PINN as 32-true does: the
    same seed gives the same val/rel_l2."""
    rel = {}
    for precision in ("32-true", "bf16-mixed"):
        torch.manual_seed(0)
        module = PINNModule(Poisson(8, seed=0), SDGD(4), width=16, depth=2, lr=3e-3)
        dm = BallPoints(batch_size=32, steps_per_epoch=10, val_points=200)
        trainer = Trainer(max_epochs=1, precision=precision, logger=False,
                          enable_checkpointing=False, enable_progress_bar=False,
                          enable_model_summary=False, default_root_dir=tmp_path)
        trainer.fit(module, dm)
        rel[precision] = float(trainer.callback_metrics["val/rel_l2"])
    assert math.isfinite(rel["32-true"]) and 0 < rel["32-true"] < 1.5
    assert rel["bf16-mixed"] == pytest.approx(rel["32-true"], rel=1e-6)


def test_objective_forward_and_validation_run_without_tf32():
    """After ``torch.set_float32_matmul_precision("high")`` (TF32 matrix products on a GPU,
    relative errors about 5e-4) the MLP still runs with full float32 products in the
    objective, ``forward`` and validation; the setting is back afterwards. (The setting is
    readable on a CPU-only torch; the MLP records it at each call.)"""
    module = PINNModule(Poisson(4, seed=0), FullLaplacian(), width=8, depth=2)
    seen = []
    module.net.register_forward_pre_hook(
        lambda mod, args: seen.append(torch.get_float32_matmul_precision()))
    x = sample_ball(8, 4, torch.Generator().manual_seed(0))
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        module.objective(x)
        module(x)
        module.validation_step({"x": x}, 0)
        after = torch.get_float32_matmul_precision()
    finally:
        torch.set_float32_matmul_precision(before)
    assert seen and set(seen) == {"highest"}, seen
    assert after == "high"


def test_fit_output_bias_broadcasts_plain_numbers():
    """Under DDP rank 0's fitted bias reaches the other ranks through
    ``strategy.broadcast``, which pickles its object: a device tensor would be unpickled on
    rank 0's GPU in every rank, so plain Python numbers go instead, and the value received
    is what lands in the bias, exactly."""
    from types import SimpleNamespace

    module = PINNModule(Poisson(4, seed=0), SDGD(2), width=8, depth=2, fit_output_bias=True)
    sent = []
    rank0 = [0.25]

    def broadcast(obj, src):
        sent.append((obj, src))
        return torch.tensor(rank0) if isinstance(obj, torch.Tensor) else rank0

    module._trainer = SimpleNamespace(world_size=2, global_rank=1, global_step=0,
                                      strategy=SimpleNamespace(broadcast=broadcast))
    module.on_fit_start()
    (obj, src), = sent
    assert src == 0 and not isinstance(obj, torch.Tensor)
    assert isinstance(obj, list) and all(isinstance(v, float) for v in obj)
    assert module.net.out.bias.tolist() == rank0


@pytest.mark.parametrize(("precision", "why"), [("bf16-true", "relative errors of about 3e-3"),
                                                ("16-true", "Adam's eps")])
def test_half_weights_are_refused_by_name(tmp_path, precision, why):
    """Weights cast whole to bfloat16 (u and Δu too coarse for the residual, which mixed
    precision avoids by running the PINN in float32) or float16 (Adam's updates NaN) are
    refused at setup, naming the setting and what works; before, bf16-true trained quietly
    in bfloat16 and 16-true on NaN."""
    module = PINNModule(Poisson(4, seed=0), SDGD(2), width=8, depth=2)
    trainer = Trainer(max_epochs=1, precision=precision, logger=False, accelerator="cpu",
                      enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, default_root_dir=tmp_path)
    with pytest.raises(ValueError, match=rf"trainer.precision='{precision}' cannot run PINNMLP"
                       ) as err:
        trainer.fit(module, BallPoints(batch_size=16, steps_per_epoch=2, val_points=50))
    assert why in str(err.value)
    assert str(err.value).endswith("Use one of ['32-true', 'bf16-mixed', '16-mixed', '64-true']")


def test_float64_weights_train(tmp_path):
    """64-true trains the PINN in float64 (and is not refused)."""
    torch.manual_seed(0)
    module = PINNModule(Poisson(4, seed=0), SDGD(2), width=8, depth=2)
    trainer = Trainer(max_epochs=1, precision="64-true", logger=False, accelerator="cpu",
                      enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(module, BallPoints(batch_size=16, steps_per_epoch=2, val_points=50))
    assert module.net.out.weight.dtype == torch.float64
    assert math.isfinite(float(trainer.callback_metrics["val/rel_l2"]))


@pytest.mark.parametrize("estimator", [SDGD(2), Hutchinson(1)], ids=repr)
def test_forward_backward_factors_come_from_two_draws(estimator):
    """forward_backward's objective is 2 mean r̂_a r̂_b with r̂_a (no graph) from the
    generator's first draw and r̂_b (graph) from its second, so its gradient 2 mean r̂_a ∇r̂_b
    is unbiased. One draw in both factors, 2 mean r̂ ∇r̂ = ∇ mean r̂², would average to
    ∇ mean (r² + Var r̂): a bias that test_stochastic_gradients_are_unbiased cannot see at its
    300 draws (there r ∇r̂ is large and noisy), so this checks the draws themselves."""
    torch.manual_seed(0)
    module = PINNModule(Poisson(8, seed=1), estimator, variant="forward_backward", width=8,
                        depth=2).double()
    x = sample_ball(6, 8, torch.Generator().manual_seed(0), torch.float64)
    params = list(module.parameters())
    module._generator.manual_seed(5)
    obj, _ = module.objective(x)
    got = torch.autograd.grad(obj, params)
    gen = torch.Generator().manual_seed(5)
    g = module.problem.source(x)
    r_a = (estimator.estimate(module.net, x, gen)[1] - g).detach()
    r_b = estimator.estimate(module.net, x, gen)[1] - g
    assert (r_a - r_b.detach()).abs().max() > 1e-3  # two different draws
    want = 2 * (r_a * r_b).mean()
    torch.testing.assert_close(obj, want)
    for a, b in zip(got, torch.autograd.grad(want, params), strict=True):
        torch.testing.assert_close(a, b)


def test_boundary_loss_is_weighted_mean_square_on_the_sphere():
    """boundary='loss' with the exact Laplacian: the objective is mean r² over x plus
    boundary_weight · mean (u - 0)² over the sphere points, as the module docstring says."""
    torch.manual_seed(0)
    module = PINNModule(AllenCahn(5, seed=2), FullLaplacian(), width=8, depth=2,
                        boundary="loss", boundary_weight=2.5).double()
    x = sample_ball(7, 5, torch.Generator().manual_seed(0), torch.float64)
    xb = sample_sphere(4, 5, torch.Generator().manual_seed(1), torch.float64)
    obj, logs = module.objective(x, xb)
    with torch.no_grad():
        u, lap = FullLaplacian().estimate(module.net, x)
        r = module.problem.residual(u, lap, module.problem.source(x))
        bc = (module.net(xb) ** 2).mean()
    assert bc > 1e-3  # the boundary term is not negligible: a wrong weight shows
    torch.testing.assert_close(logs["boundary"], bc)
    torch.testing.assert_close(obj.detach(), (r * r).mean() + 2.5 * bc)


def test_each_training_batch_draws_its_own_sdgd_dimensions(monkeypatch):
    """In a fit, batch i of epoch e draws its SDGD dimensions (two draws: forward_backward)
    from batch_seed(seed, rank, e, i): every batch of the run gets other dimensions, and they
    are the ones a resumed fit recomputes. Seeding from the epoch alone would give every
    batch of an epoch the same dimensions (still unbiased per step, but the steps of an epoch
    would then never see the other dimensions' second derivatives)."""
    from pdesurrogate.training.draw_seeds import batch_seed

    est = SDGD(4)
    drawn = []
    sample = est.sample

    def recording(dim, generator=None):
        dims = sample(dim, generator)
        drawn.append(dims.tolist())
        return dims

    monkeypatch.setattr(est, "sample", recording)
    torch.manual_seed(0)
    module = PINNModule(Poisson(12, seed=0), est, width=8, depth=1, seed=7)
    trainer = Trainer(max_epochs=2, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False,
                      limit_val_batches=0)
    trainer.fit(module, BallPoints(batch_size=4, steps_per_epoch=3))
    expected = []
    for epoch in range(2):
        for i in range(3):
            gen = torch.Generator().manual_seed(batch_seed(7, 0, epoch, i))
            expected += [sample(12, gen).tolist(), sample(12, gen).tolist()]
    assert drawn == expected
    assert len({tuple(d) for d in drawn[::2]}) == 6  # six batches, six different draws


def test_init_output_bias_weighs_the_boundary_loss():
    """boundary='loss', Allen–Cahn (the interior residual depends on the bias through u - u³),
    boundary_weight 5: the fitted bias minimises mean r² + 5 · mean u² (sphere) at the
    fitting points; a fit that weighed the boundary term by 1 lands elsewhere. Undamped
    Gauss–Newton swung here between b = -0.127 and 0.465 (the minimiser is about 0.26) and
    returned -0.127 after its 10 steps, a loss above that at b = 0."""
    torch.manual_seed(0)
    module = PINNModule(AllenCahn(6, seed=2).double(), FullLaplacian(), width=16, depth=2,
                        boundary="loss", boundary_weight=5.0).double()
    b = module.init_output_bias(n_points=200, chunk=64,
                                generator=torch.Generator().manual_seed(5))
    assert b != 0
    # init_output_bias draws the interior points in chunks of 64, then the sphere points
    gen = torch.Generator().manual_seed(5)
    x = torch.cat([sample_ball(min(64, 200 - s), 6, gen, torch.float64)
                   for s in range(0, 200, 64)])
    xb = sample_sphere(200, 6, gen, torch.float64)
    at = _loss(module, x, xb)
    eps = 1e-3 * max(1.0, abs(b))
    for sign in (1, -1):
        module.net.out.bias.data += sign * eps
        assert _loss(module, x, xb) > at
        module.net.out.bias.data -= sign * eps


@pytest.mark.parametrize("variant", ["forward_backward", "backward"])
def test_sdgd_covering_every_dimension_is_exact_and_runs_once(variant, monkeypatch):
    """SDGD with dim_batch >= d computes the exact Laplacian: the objective takes one estimate
    (not a second, independent one as a random draw needs), and its value, logs and gradient
    are the full Laplacian's."""
    import pdesurrogate.pinn.laplacian as laplacian

    torch.manual_seed(0)
    kw = dict(width=8, depth=2)
    exact_m = PINNModule(Poisson(6, seed=1), FullLaplacian(), **kw).double()
    module = PINNModule(Poisson(6, seed=1), SDGD(6), variant=variant, **kw).double()
    module.load_state_dict(exact_m.state_dict())
    x = sample_ball(5, 6, torch.Generator().manual_seed(0), torch.float64)
    calls = []
    real = laplacian.second_derivatives
    monkeypatch.setattr(laplacian, "second_derivatives",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    obj, logs = module.objective(x)
    assert len(calls) == 1
    want, want_logs = exact_m.objective(x)
    torch.testing.assert_close(obj, want)
    torch.testing.assert_close(logs["residual"], want_logs["residual"])
    torch.testing.assert_close(_grad(module, x), _grad(exact_m, x))
    assert SDGD(6).exact_for(6) and SDGD(100).exact_for(6) and not SDGD(5).exact_for(6)
    assert FullLaplacian().exact_for(6) and not Hutchinson(4).exact_for(6)
