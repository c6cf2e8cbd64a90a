"""A second fresh ``trainer.fit`` with the same ``FieldDataModule`` object trains in the order a
fresh datamodule would under that fit's seed, not in the first fit's order."""

import torch
from lightning.pytorch import Callback, Trainer, seed_everything

from pdesurrogate.models import FNO
from pdesurrogate.training import FieldDataModule, NextStepModule


class _Order(Callback):
    """Each training batch's parameters and start times: the order the fit trained in."""

    def __init__(self):
        self.sums: list[list[float]] = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.sums.append(batch["params"].flatten().tolist() + batch["t"].flatten().tolist())


def _fit(data: FieldDataModule, seed: int) -> list[list[float]]:
    seed_everything(seed, verbose=False)
    module = NextStepModule(FNO(1, 1, n_modes=[2], hidden_channels=4, n_layers=1, n_params=1))
    order = _Order()
    Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, accelerator="cpu", num_sanity_val_steps=0,
            limit_val_batches=0, callbacks=[order]).fit(module, datamodule=data)
    return order.sums


def test_a_second_fit_with_the_same_datamodule_takes_its_own_seed(advection_file):
    reused = FieldDataModule(str(advection_file), batch_size=4)
    first = _fit(reused, seed=1)
    second = _fit(reused, seed=2)
    fresh = _fit(FieldDataModule(str(advection_file), batch_size=4), seed=2)
    assert second == fresh
    assert second != first  # the two seeds do give different orders
    assert torch.tensor(first).numel() == torch.tensor(second).numel()
