"""Which inputs of a rollout training window are the truth: exactly the first ``n_tf``, the
rest the model's own predictions, checked on the first loss of each epoch against values
computed by hand."""

import pytest
import torch
from lightning.pytorch import Callback, Trainer
from torch import nn
from torch.utils.data import DataLoader

from pdesurrogate.training import NextStepModule

A = 0.5  # the model halves its input (powers of two: every error below is exact)


class Halve(nn.Module):
    """``u -> a u`` with one parameter ``a = 1/2``, trained at lr 1e-30 so it stays exactly 1/2
    (AdamW moves it by about lr, far below float32's resolution at 1/2)."""

    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(A))

    def forward(self, u, params=None):
        return self.a * u


class FirstLoss(Callback):
    """The training loss of the first batch of each epoch and the module's ``n_tf`` then."""

    def __init__(self):
        self.losses, self.n_tf = [], []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if batch_idx == 0:
            self.losses.append(float(outputs["loss"]))
            self.n_tf.append(module.teacher_forced_steps(trainer.current_epoch))


def _fit(rollout_steps: int, epochs: int, **kw) -> tuple[NextStepModule, FirstLoss]:
    """Windows ``u_0 = ... = u_R = phi``: a step from the truth costs ``|A - 1|``, the ``j``-th
    autoregressive step after the last truth ``|A^(j+1) - 1|``."""
    x = torch.arange(16) / 16
    phi = (1 + x)[None]  # (C=1, X)
    window = {"u": phi.expand(rollout_steps + 1, 1, 16).clone(), "params": torch.zeros(0)}
    module = NextStepModule(Halve(), lr=1e-30, weight_decay=0.0, scheduler="none",
                            rollout_steps=rollout_steps, **kw)
    rec = FirstLoss()
    Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, accelerator="cpu", devices=1, max_epochs=epochs,
            callbacks=[rec]).fit(module, DataLoader([window], batch_size=1))
    assert module.model.a.item() == A
    return module, rec


def expected_loss(rollout_steps: int, n_tf: int) -> float:
    """``1/R sum_s |A^(j_s) - 1|``: steps ``s < n_tf`` start from the truth (``j_s = 1``),
    later ones from ``n_tf``'s last truth ``s - n_tf + 1`` predictions back."""
    js = [1 if s < n_tf else s - n_tf + 2 for s in range(rollout_steps)]
    return sum(abs(A**j - 1) for j in js) / rollout_steps


def test_without_curriculum_only_the_first_input_is_the_truth():
    """R = 2, n_tf = 1: (|1/2 - 1| + |1/4 - 1|) / 2 = 0.625. Feeding the truth at step 2 as
    well would give 0.5."""
    _, rec = _fit(2, 1)
    assert rec.n_tf == [1]
    assert expected_loss(2, 1) == 0.625
    assert rec.losses == pytest.approx([0.625], rel=1e-6)


def test_curriculum_moves_the_boundary_one_input_at_a_time():
    """R = 3, curriculum over 2 epochs: n_tf = 3, 2, 1 in epochs 0, 1, 2, so the first losses are
    (1/2 + 1/2 + 1/2) / 3, (1/2 + 1/2 + 3/4) / 3 and (1/2 + 3/4 + 7/8) / 3."""
    _, rec = _fit(3, 3, curriculum=True, curriculum_epochs=2)
    assert rec.n_tf == [3, 2, 1]
    want = [expected_loss(3, n) for n in (3, 2, 1)]
    assert want == pytest.approx([1.5 / 3, 1.75 / 3, 2.125 / 3], rel=1e-15)
    assert rec.losses == pytest.approx(want, rel=1e-6)
