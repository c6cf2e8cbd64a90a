"""with_schedule: cosine annealing to zero over the run, constant for "none", a warning and a
constant rate when the run has no length."""

import math

import lightning.pytorch as pl
import pytest
import torch

from pdesurrogate.lr_schedules import RunCosine, with_schedule


class Tiny(pl.LightningModule):
    def __init__(self, scheduler: str):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(2))
        self.scheduler, self.lrs = scheduler, []

    def training_step(self, batch, batch_idx):
        self.lrs.append(self.trainer.optimizers[0].param_groups[0]["lr"])
        return (self.w * batch[0]).pow(2).sum()

    def configure_optimizers(self):
        return with_schedule(self, torch.optim.SGD(self.parameters(), lr=0.1), self.scheduler)


def fit(module: Tiny, **trainer_kw) -> Tiny:
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(4, 2)),
                                       batch_size=1)
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, **trainer_kw)
    trainer.fit(module, data)
    return module


def test_cosine_anneals_to_zero_over_the_run_and_none_stays_constant():
    cos = fit(Tiny("cosine"), max_epochs=2)  # 8 optimiser steps
    expected = [0.05 * (1 + torch.cos(torch.tensor(torch.pi * s / 8))).item() for s in range(8)]
    assert cos.lrs == pytest.approx(expected, rel=1e-6)
    assert fit(Tiny("none"), max_epochs=2).lrs == [0.1] * 8


def test_cosine_without_a_run_length_warns_and_keeps_the_rate():
    class StopAfterTwo(pl.Callback):
        def on_train_batch_end(self, trainer, *args):
            trainer.should_stop = trainer.global_step >= 2

    with pytest.warns(UserWarning, match="needs max_epochs or max_steps"):
        module = fit(Tiny("cosine"), max_epochs=-1, max_steps=-1, callbacks=[StopAfterTwo()])
    assert module.lrs == [0.1, 0.1]


def test_unknown_scheduler_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match=r"scheduler must be one of \('cosine', 'none'\).*'step'"):
        with_schedule(Tiny("step"), torch.optim.SGD([torch.nn.Parameter(torch.ones(1))]), "step")


def _cosine(step: int, total: int) -> float:
    return 0.05 * (1 + math.cos(math.pi * step / total))


def test_a_resumed_fit_anneals_over_its_own_budget_not_the_first_runs(tmp_path):
    """max_epochs 1, then resumed with max_epochs 2: the second half follows the cosine of the
    8 steps of the resumed run (ending near 0), not the 4 of the first (past which torch's
    recursive cosine climbs back to the peak)."""
    kw = dict(accelerator="cpu", logger=False, enable_progress_bar=False,
              enable_model_summary=False, default_root_dir=tmp_path)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(4, 2)),
                                       batch_size=1)
    first = pl.Trainer(max_epochs=1, **kw)
    first.fit(Tiny("cosine"), data)
    first.save_checkpoint(tmp_path / "half.ckpt")
    resumed = Tiny("cosine")
    pl.Trainer(max_epochs=2, **kw).fit(resumed, data, ckpt_path=tmp_path / "half.ckpt")
    assert resumed.lrs == pytest.approx([_cosine(s, 8) for s in range(4, 8)], rel=1e-6)


def test_a_checkpoint_of_the_earlier_cosine_annealing_still_loads():
    """Checkpoints written before RunCosine hold CosineAnnealingLR's state: its step count is
    taken, its horizon (T_max) left for the run's own, and the rate is this run's."""
    old_opt = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1)
    old = torch.optim.lr_scheduler.CosineAnnealingLR(old_opt, T_max=4)
    for _ in range(3):
        old_opt.step()
        old.step()
    opt = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1)
    sched = RunCosine(opt, total_steps=8)
    sched.load_state_dict(old.state_dict())
    assert sched.last_epoch == 3 and sched.total_steps == 8
    assert opt.param_groups[0]["lr"] == pytest.approx(_cosine(3, 8), rel=1e-12)
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(_cosine(4, 8), rel=1e-12)
