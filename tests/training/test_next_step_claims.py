"""NextStepModule's documented formulas against values computed independently: the training
loss and its gradient over a rollout window, the CAPE auxiliary term, the curriculum's tanh
schedule, normalisation inverted in rollouts (also under mixed precision), and validation that
leaves torch's global generator alone.

Models are one-parameter maps ``u -> a u`` on constant windows, so every loss is a closed form
(``relL2(a^j phi, phi) = |a^j - 1|``) and every gradient its derivative."""

import math

import pytest
import torch
from lightning.pytorch import Trainer
from torch import nn
from torch.utils.data import DataLoader

from pdesurrogate.datasets import ChannelStats
from pdesurrogate.models import FNO
from pdesurrogate.training import NextStepModule, curriculum_fraction

NX = 16


class Scale(nn.Module):
    """``u -> a u + c``; with ``b`` it also leaves a CAPE-like ``cape_output = b u``. Records
    the parameters it is given."""

    def __init__(self, a: float, c: float = 0.0, b: float | None = None):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a, dtype=torch.float64))
        self.c = c
        if b is not None:
            self.b = nn.Parameter(torch.tensor(b, dtype=torch.float64))
            self.cape_output = None
        self.params_seen = []

    def forward(self, u, params=None):
        self.params_seen.append(params)
        if hasattr(self, "b"):
            self.cape_output = self.b * u
        return self.a * u + self.c


def _module(model: nn.Module, **kw) -> NextStepModule:
    with pytest.warns(UserWarning, match="not in pdesurrogate.models.MODELS"):
        return NextStepModule(model, scheduler="none", **kw)


def _constant_window(rollout_steps: int) -> dict:
    """``u_0 = ... = u_R = phi`` (float64), one trajectory."""
    phi = (1 + torch.arange(NX, dtype=torch.float64) / NX)[None]
    return {"u": phi.expand(1, rollout_steps + 1, 1, NX).clone(),
            "params": torch.zeros(1, 0, dtype=torch.float64)}


def _train_step(module: NextStepModule, batch: dict) -> tuple[torch.Tensor, dict]:
    """One bare training step (no Trainer: epoch 0): the loss and what it logged."""
    logged = {}

    def log(name, value, **kw):
        logged[name] = float(torch.as_tensor(value).detach())

    module.log = log
    return module.training_step(batch, 0), logged


@pytest.mark.parametrize("curriculum, n_tf", [(False, 1), (True, 3)])
def test_rollout_loss_and_its_gradient_follow_the_chain(curriculum, n_tf):
    """R = 3, a = 1/2. Autoregressive (n_tf = 1) the inputs are phi, a phi, a^2 phi: loss
    (|a - 1| + |a^2 - 1| + |a^3 - 1|) / 3 and d loss / da = -(1 + 2a + 3a^2) / 3 (gradients
    flow through the predictions fed back). Teacher-forced (curriculum at epoch 0: n_tf = R)
    every input is phi: loss |a - 1| and gradient -1. A prediction fed back detached would give
    -1 in both cases."""
    a = 0.5
    module = _module(Scale(a), rollout_steps=3, curriculum=curriculum, curriculum_epochs=4)
    assert module.teacher_forced_steps(0) == n_tf
    loss, logged = _train_step(module, _constant_window(3))
    js = [1, 2, 3] if n_tf == 1 else [1, 1, 1]
    assert loss.item() == pytest.approx(sum(1 - a**j for j in js) / 3, rel=1e-12)
    assert logged["train/rel_l2"] == pytest.approx(loss.item(), rel=1e-12)
    loss.backward()
    want = -sum(j * a ** (j - 1) for j in js) / 3
    assert module.model.a.grad.item() == pytest.approx(want, rel=1e-12)


def test_aux_loss_is_the_window_mean_of_cape_errors_weighted_after_warmup():
    """R = 2, model a u with cape_output b u, autoregressive: CAPE sees phi and a phi, so
    aux = (|b - 1| + |a b - 1|) / 2 (mean over the window, not the sum), and
    train/loss = rel_l2 + w aux with w = aux_warmup_weight in epochs < aux_warmup_epochs;
    the CAPE output is dropped after the step."""
    a, b = 0.5, 0.75
    module = _module(Scale(a, b=b), rollout_steps=2, aux_weight=0.5, aux_warmup_epochs=1,
                     aux_warmup_weight=4.0)
    assert [module.aux_weight_at(e) for e in (0, 1, 2)] == [4.0, 0.5, 0.5]
    loss, logged = _train_step(module, _constant_window(2))
    rel = ((1 - a) + (1 - a * a)) / 2
    aux = ((1 - b) + (1 - a * b)) / 2
    assert logged["train/rel_l2"] == pytest.approx(rel, rel=1e-12)
    assert logged["train/aux_rel_l2"] == pytest.approx(aux, rel=1e-12)
    assert logged["train/aux_weight"] == 4.0
    assert loss.item() == pytest.approx(rel + 4.0 * aux, rel=1e-12)
    assert logged["train/loss"] == pytest.approx(loss.item(), rel=1e-12)
    assert module.model.cape_output is None


def test_curriculum_fraction_is_the_documented_tanh():
    """rho(e) = (tanh(4 (e/E - 1/2)) + tanh(2)) / (2 tanh(2)): exactly 1/2 at e = E/2, and at
    e = E/4 (tanh(2) - tanh(1)) / (2 tanh(2)) = 0.1131 (a sharpness of 2 would give 0.1925,
    a linear ramp 0.25); clipped to 0 before epoch 0 and to 1 after E."""
    E = 20
    assert curriculum_fraction(E / 2, E) == 0.5
    t1, t2 = math.tanh(1), math.tanh(2)
    assert curriculum_fraction(E / 4, E) == pytest.approx((t2 - t1) / (2 * t2), rel=1e-12)
    assert curriculum_fraction(3 * E / 4, E) == pytest.approx((t2 + t1) / (2 * t2), rel=1e-12)
    assert curriculum_fraction(-3, E) == 0.0 and curriculum_fraction(3 * E, E) == 1.0
    assert curriculum_fraction(0, 0) == 1.0  # E = 0: autoregressive from the start


@pytest.mark.parametrize("residual", [False, True])
def test_rollout_is_in_physical_units_and_params_are_normalised(residual):
    """Stats mean (10, -2), std (2, 1/2), parameter mean 3, std 1/2; the model maps z to
    z/2 + 1/4 in normalised space (the increment, with ``residual``). The rollout is
    ``z_s * std + mean`` of the normalised chain from ``(u_0 - mean) / std``, with ``u_0``
    itself first, and the model sees ``(p - 3) / (1/2)``."""
    stats = ChannelStats(mean=[10.0, -2.0], std=[2.0, 0.5], param_names=["nu"],
                         param_mean=[3.0], param_std=[0.5])
    model = Scale(0.5, c=0.25)
    module = _module(model, residual=residual)
    module.set_normalization(stats)
    module.double()
    g = torch.Generator().manual_seed(0)
    u0 = 10 * torch.randn(2, 2, NX, generator=g, dtype=torch.float64)
    p = torch.tensor([[3.5], [2.0]], dtype=torch.float64)
    out = module.rollout(u0, p, 3)
    mean = torch.tensor([10.0, -2.0], dtype=torch.float64)[:, None]
    std = torch.tensor([2.0, 0.5], dtype=torch.float64)[:, None]
    z, want = (u0 - mean) / std, [u0]
    for _ in range(3):
        z = z + (0.5 * z + 0.25) if residual else 0.5 * z + 0.25
        want.append(z * std + mean)
    assert out.shape == (2, 4, 2, NX)
    torch.testing.assert_close(out, torch.stack(want, dim=1), rtol=1e-14, atol=1e-12)
    assert torch.equal(out[:, 0], u0)
    assert model.params_seen[0].flatten().tolist() == [1.0, -2.0]


def test_mixed_precision_rollout_denormalises_at_full_precision():
    """Under 16-bit autocast a model's output is float16; denormalised in float16, a field of
    mean 1e5 (a pressure in Pa) overflowed float16's 65504 to inf, so val/rel_l2 was inf.
    The rollout's physical states equal the float32 denormalisation of the model's output."""
    torch.manual_seed(0)
    module = NextStepModule(FNO(1, 1, [4], 8, 1), scheduler="none")
    module.set_normalization(ChannelStats(mean=[1.0e5], std=[1.0]))
    u0 = 1.0e5 + torch.randn(2, 1, NX)
    p = torch.zeros(2, 0)
    with torch.autocast("cpu", dtype=torch.float16):
        z = module(module.normalize(u0), p)
        out = module.rollout(u0, p, 1)
    assert z.dtype == torch.float16  # the case this is about
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[:, 1], module.denormalize(z.float()), rtol=1e-6, atol=0)


def test_validation_is_deterministic_and_leaves_the_global_rng_alone():
    """Two evaluations of the same batch give identical errors, and torch's global generator
    is where it was (a validation that drew from it would shift the training shuffle)."""
    torch.manual_seed(0)
    module = NextStepModule(FNO(1, 1, [4], 8, 1), scheduler="none").eval()
    g = torch.Generator().manual_seed(1)
    batch = {"u": torch.randn(3, 4, 1, NX, generator=g), "params": torch.zeros(3, 0)}
    state = torch.get_rng_state()
    first = module._evaluate(batch, "val")
    second = module._evaluate(batch, "val")
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(first, second)


def test_a_constant_channel_normalises_to_its_offset_not_to_nan():
    """A channel of std 0 (constant in the training split) is divided by 1: it normalises to
    ``u - mean`` (0 on the training value), and a rollout of the identity gives it back."""
    module = _module(Scale(1.0))
    module.set_normalization(ChannelStats(mean=[1.0, 5.0], std=[2.0, 0.0]))
    module.double()
    u0 = torch.stack([torch.linspace(0, 1, NX, dtype=torch.float64),
                      torch.full((NX,), 5.0, dtype=torch.float64)])[None]
    z = module.normalize(u0)
    assert torch.equal(z[0, 1], torch.zeros(NX, dtype=torch.float64))
    torch.testing.assert_close(z[0, 0], (u0[0, 0] - 1) / 2, rtol=0, atol=0)
    torch.testing.assert_close(module.rollout(u0, torch.zeros(1, 0), 2)[:, 2], u0,
                               rtol=1e-15, atol=1e-15)


def test_validation_errors_are_means_over_trajectories_across_uneven_batches():
    """The identity model on trajectories ``u_s = (1 + c s) phi`` with c = 1, 3, 0 in batches
    of 2 and 1: step s's error is ``c s / (1 + c s)``. val/rel_l2_step_s is its mean over the 3
    trajectories and val/rel_l2 the mean over trajectories of each one's mean over steps.
    Averaging per batch (or over steps before trajectories, or counting batches) weights the
    lone trajectory of the second batch twice."""
    phi = 2 + torch.sin(2 * math.pi * torch.arange(NX) / NX)
    cs = [1.0, 3.0, 0.0]
    trajs = [{"u": torch.stack([(1 + c * s) * phi for s in range(3)])[:, None],
              "params": torch.zeros(0)} for c in cs]
    module = _module(Scale(1.0))
    trainer = Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, accelerator="cpu", devices=1)
    (metrics,) = trainer.validate(module, DataLoader(trajs, batch_size=2), verbose=False)
    errs = [[c * s / (1 + c * s) for s in (1, 2)] for c in cs]
    for s in (1, 2):
        assert metrics[f"val/rel_l2_step_{s}"] == pytest.approx(
            sum(e[s - 1] for e in errs) / 3, rel=1e-6)
    assert metrics["val/rel_l2"] == pytest.approx(sum(sum(e) / 2 for e in errs) / 3, rel=1e-6)
