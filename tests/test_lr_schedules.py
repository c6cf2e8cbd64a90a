"""with_schedule: cosine annealing to zero over the run, constant for "none", a warning and a
constant rate when the run has no length."""

import lightning.pytorch as pl
import pytest
import torch

from pdesurrogate.lr_schedules import with_schedule


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
