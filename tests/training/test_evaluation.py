"""Evaluation loaders leave torch's global RNG alone, so how often one validates does not change
what is trained, and their workers end after each pass. (Each trajectory counting once under
DDP is checked in test_ddp.py.)"""

import multiprocessing

import pytest
import torch
from lightning.pytorch import Callback, Trainer, seed_everything
from lightning.pytorch.trainer.states import RunningStage
from lightning.pytorch.utilities.data import _update_dataloader
from torch.utils.data import SequentialSampler

from pdesurrogate.models import FNO
from pdesurrogate.training import FieldDataModule, NextStepModule
from pdesurrogate.training.evaluation import evaluation_loader


def test_evaluation_loader_leaves_the_global_rng_alone():
    """A pass over the loader, also over the copy Lightning makes when it swaps the sampler
    (overfit_batches, DDP), draws nothing from torch's global RNG (a loader without its own
    generator draws its workers' base seed from it on every pass)."""
    loader = evaluation_loader(list(range(5)), 2, None, "validation")
    copy = _update_dataloader(loader, SequentialSampler(loader.dataset),
                              mode=RunningStage.VALIDATING)
    assert copy is not loader and copy.generator is loader.generator
    before = torch.get_rng_state()
    assert [b.tolist() for b in loader] == [[0, 1], [2, 3], [4]]
    assert [b.tolist() for b in copy] == [[0, 1], [2, 3], [4]]
    assert torch.equal(torch.get_rng_state(), before)


@pytest.mark.parametrize("sanity", [0, 2])
def test_validation_frequency_does_not_change_trained_weights(advection_file, sanity):
    """Same seed, validation every epoch or every other one (with or without Lightning's sanity
    check): bit-identical FNO weights after 3 epochs. Before, each validation pass drew from the
    global RNG and shifted the next epoch's training shuffle."""
    weights = []
    for every in (1, 2):
        seed_everything(0)
        module = NextStepModule(FNO(1, 1, [4], 8, 2, n_params=1), lr=1e-2)
        dm = FieldDataModule(str(advection_file), batch_size=4, fractions=(0.6, 0.2, 0.2))
        Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                enable_model_summary=False, accelerator="cpu", devices=1, max_epochs=3,
                check_val_every_n_epoch=every, num_sanity_val_steps=sanity).fit(module, dm)
        weights.append({k: v.clone() for k, v in module.model.state_dict().items()})
    assert weights[0].keys() == weights[1].keys() and len(weights[0]) > 0
    for k in weights[0]:
        assert torch.equal(weights[0][k], weights[1][k]), k


class _Workers(Callback):
    """Live child processes at every training batch, by epoch (``baseline``: those there
    before the fit), and the validation batches each pass ran."""

    def __init__(self):
        self.baseline = len(multiprocessing.active_children())
        self.during_training: dict[int, set[int]] = {}
        self.val_batches: list[int] = []

    def on_train_batch_start(self, trainer, *args):
        live = len(multiprocessing.active_children()) - self.baseline
        self.during_training.setdefault(trainer.current_epoch, set()).add(live)

    def on_validation_epoch_start(self, trainer, module):
        self.val_batches.append(0)

    def on_validation_batch_end(self, *args):
        self.val_batches[-1] += 1


@pytest.mark.parametrize(("sanity", "limit", "passes"), [
    (0, 1.0, [2, 2]),  # whole validation passes
    (2, 1.0, [2, 2, 2]),  # the sanity check runs the whole split too
    (1, 1, [1, 1, 1]),  # passes cut short by num_sanity_val_steps and limit_val_batches
])
def test_validation_workers_end_before_the_next_training_epoch(advection_file, sanity, limit,
                                                              passes):
    """With 2 workers per loader, only the training loader's 2 (persistent) are alive while
    training, also in the epoch after a sanity check or a validation pass; every pass still
    runs all its batches. Before, Lightning stopped at the pass's length without exhausting
    the iterator, and the 2 validation workers lived on beside the training ones (4)."""
    seed_everything(0)
    workers = _Workers()
    dm = FieldDataModule(str(advection_file), batch_size=1, fractions=(0.6, 0.2, 0.2),
                         num_workers=2)
    Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, accelerator="cpu", devices=1, max_epochs=2,
            num_sanity_val_steps=sanity, limit_val_batches=limit,
            callbacks=[workers]).fit(NextStepModule(FNO(1, 1, [4], 8, 2, n_params=1)), dm)
    assert workers.val_batches == passes
    assert workers.during_training == {0: {2}, 1: {2}}
