"""Our LightningModules and DataModules in a Lightning user's own workflow: Lightning's own
callbacks monitoring the metrics we log, and ``trainer.predict`` of a ``FieldDataModule``."""

import math
import warnings

import pytest
import torch
from lightning.pytorch import Callback, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint

from pdesurrogate.models import FNO
from pdesurrogate.training import FieldDataModule, NextStepModule


def _trainer(tmp_path, **kw) -> Trainer:
    kw.setdefault("max_epochs", 2)
    return Trainer(default_root_dir=tmp_path, logger=False, enable_progress_bar=False,
                   enable_model_summary=False, accelerator="cpu", **kw)


def _module(**kw) -> NextStepModule:
    torch.manual_seed(0)
    return NextStepModule(FNO(1, 1, [4], 8, 1, n_params=1), **kw)


class StepLosses(Callback):
    """The loss ``training_step`` returned, by ``global_step`` after the batch's step."""

    def __init__(self):
        self.losses: dict[int, float] = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses[trainer.global_step] = float(outputs["loss"])


def test_step_checkpoints_rank_by_the_loss_of_their_own_step(tmp_path, advection_file):
    """ModelCheckpoint(monitor="train/rel_l2", every_n_train_steps=3) scores each checkpoint by
    the loss of the step it is written after. Before, training_step logged only on the steps
    the loggers write (log_every_n_steps, 50 by default), so steps 3, 6 and 9 were scored with
    step 1's loss and the 'best' checkpoint was an arbitrary one."""
    dm = FieldDataModule(str(advection_file), batch_size=4)  # 40 pairs: 10 steps an epoch
    ckpt = ModelCheckpoint(monitor="train/rel_l2", every_n_train_steps=3, save_top_k=-1,
                           dirpath=tmp_path / "ckpt")
    losses = StepLosses()
    _trainer(tmp_path, max_epochs=2, callbacks=[ckpt, losses]).fit(_module(), dm)
    scores = {int(p.rsplit("step=", 1)[1].split(".")[0].split("-")[0]): float(s)
              for p, s in ckpt.best_k_models.items()}
    assert sorted(scores) == [3, 6, 9, 12, 15, 18]
    for step, score in scores.items():
        assert math.isclose(score, losses.losses[step], rel_tol=1e-6), (step, score)
    # the scores differ: they are this run's losses, not one value repeated
    assert len({round(s, 7) for s in scores.values()}) == len(scores)


def test_predict_rolls_out_the_test_split(tmp_path, advection_file):
    """trainer.predict(module, datamodule) returns the rollout test scores, in physical units,
    of each test trajectory from its first frame, also from a checkpoint by a fresh Trainer
    and module (whose statistics come from the checkpoint). Before, Lightning refused it:
    "`predict_dataloader` must be implemented"."""
    dm = FieldDataModule(str(advection_file), batch_size=4)
    module = _module()
    trainer = _trainer(tmp_path, max_epochs=1)
    trainer.fit(module, dm)
    out = trainer.predict(module, dm)
    u = torch.stack([torch.as_tensor(dm.data.u[i]) for i in dm.test_indices])
    p = torch.as_tensor(dm.data.params["c"][dm.test_indices], dtype=torch.float32)[:, None]
    assert len(out) == 1 and out[0].shape == u.shape  # 1 test trajectory of 6 frames
    torch.testing.assert_close(out[0][:, 0], u[:, 0])
    torch.testing.assert_close(out[0], module.rollout(u[:, 0], p, u.shape[1] - 1))
    # physical units: the rollout's mean is near the data's (about 1), not normalised (0)
    assert abs(float(out[0][:, 1:].mean()) - float(u.mean())) < 0.5

    ckpt = trainer.checkpoint_callback.best_model_path
    fresh = FieldDataModule(str(advection_file), batch_size=4)
    again = _trainer(tmp_path).predict(_module(), fresh, ckpt_path=ckpt)
    torch.testing.assert_close(again[0], out[0])


def test_predict_names_the_batches_it_takes(tmp_path):
    """A loader of plain tensors gets one ValueError saying what predict_step takes, not
    Lightning's default forward(batch) failing inside the model."""
    loader = torch.utils.data.DataLoader(torch.zeros(2, 1, 32), batch_size=2)
    with pytest.raises(ValueError, match=r"predict_step rolls out trajectories.*'u'"):
        _trainer(tmp_path).predict(_module(), loader)


class Trajectories(torch.utils.data.Dataset):
    """Random trajectories as a FieldDataModule's test loader hands them: ``u`` ``(T, C,
    *grid)``, ``params`` ``(1,)``, ``times`` ``(T,)`` (steps of 0.1)."""

    def __init__(self, shape: tuple[int, ...], n: int = 3, t: int = 4):
        g = torch.Generator().manual_seed(0)
        self.u = torch.randn(n, t, *shape, generator=g)
        self.p = torch.rand(n, 1, generator=g)
        self.times = torch.arange(t) * 0.1

    def __len__(self) -> int:
        return len(self.u)

    def __getitem__(self, i: int) -> dict:
        return {"u": self.u[i], "params": self.p[i], "times": self.times}


def _refiner_case():
    from pdesurrogate.models import ModernUNet, PDERefiner
    from pdesurrogate.training import RefinerModule

    torch.manual_seed(0)
    module = RefinerModule(PDERefiner(ModernUNet(1, 2, 1, hidden_channels=8,
                                                 channel_mults=[1, 2], n_blocks=1, n_params=1,
                                                 cond=True), n_refine_steps=2, sigma_min=0.1))
    return module, Trajectories((1, 16)), lambda u, p: module.rollout(
        u[:, 0], p, u.shape[1] - 1, generator=module.model.evaluation_noise(u[:, 0], p))


def _all2all_case():
    from pdesurrogate.models import ScOT
    from pdesurrogate.training import All2AllModule

    torch.manual_seed(0)
    module = All2AllModule(ScOT(2, 2, embed_dim=8, depths=[1, 1], num_heads=[2, 2],
                                skip_blocks=[1], window_size=4, patch_size=2, n_params=1,
                                time_scale=0.4))
    return module, Trajectories((2, 8, 8)), lambda u, p: module.rollout(
        u[:, 0], p, u.shape[1] - 1, lead_time=0.1)


@pytest.mark.parametrize("case", [_refiner_case, _all2all_case], ids=["refiner", "scot"])
def test_predict_of_the_refiner_and_scot(tmp_path, case):
    """The refiner's prediction is the rollout its evaluation scores (each trajectory's noise
    from its own inputs: the same numbers twice); scOT's steps by the batch's time step, which
    it needs (a module that never saw a datamodule has no data step). Before, Lightning's
    default predict_step called forward(batch) and failed inside the model."""
    module, data, expected = case()
    loader = torch.utils.data.DataLoader(data, batch_size=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning: few workers, on a 3-item loader
        out = _trainer(tmp_path).predict(module, loader)
    assert out[0].shape == data.u.shape
    torch.testing.assert_close(out[0], expected(data.u, data.p))


def test_cosine_anneals_to_zero_under_a_gradient_accumulation_schedule(tmp_path,
                                                                      advection_file):
    """GradientAccumulationScheduler({0: 1, 1: 2}) over 3 epochs of 10 batches takes 10 + 5 + 5
    = 20 optimiser steps, and the cosine schedule ends at 0 on the last. Before, it annealed
    over Lightning's estimate at the first epoch's accumulation (30 steps) and the fit ended at
    a quarter of the peak rate."""
    from lightning.pytorch.callbacks import GradientAccumulationScheduler

    dm = FieldDataModule(str(advection_file), batch_size=4)
    trainer = _trainer(tmp_path, max_epochs=3,
                       callbacks=[GradientAccumulationScheduler({0: 1, 1: 2})])
    trainer.fit(_module(lr=1e-3), dm)
    assert trainer.global_step == 20
    assert trainer.lr_scheduler_configs[0].scheduler.total_steps == 20
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
