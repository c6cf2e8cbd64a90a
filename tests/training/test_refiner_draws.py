"""RefinerModule's training draws: no wait for the device per step (checked on the meta
device, where any value read back raises), throttled step logging, and each DDP rank's own
steps and noise, seeded per batch (two simulated ranks)."""

import csv
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader

import pdesurrogate.training.refiner as refiner_module
from pdesurrogate.models import ModernUNet, PDERefiner
from pdesurrogate.training import RefinerModule

from .test_next_step import ShiftPairs


def _module(k: int = 3) -> RefinerModule:
    torch.manual_seed(0)
    backbone = ModernUNet(1, 2, 1, hidden_channels=8, channel_mults=[1, 2], n_blocks=1,
                          n_params=1, cond=True)
    return RefinerModule(PDERefiner(backbone, n_refine_steps=k, sigma_min=2e-7),
                         scheduler="none")


def _batch(b: int = 8, device="cpu") -> dict:
    g = torch.Generator().manual_seed(0)
    u = torch.randn(b, 1, 16, generator=g)
    batch = {"input": u, "target": torch.roll(u, 1, -1), "params": torch.rand(b, 1, generator=g)}
    return {name: v.to(device) for name, v in batch.items()}


@pytest.mark.filterwarnings("ignore:You are trying to `self.log")
def test_training_step_and_inference_never_read_device_values():
    """On the meta device (shapes, no values) a training step, its backward and an inference
    step run: nothing reads a device value back to branch on (each would be a host-device
    sync per step on a GPU: which tasks the batch holds, how many of each)."""
    module = _module().to("meta")
    for trial in range(4):  # batches with and without k = 0 among the draws
        loss = module.training_step(_batch(device="meta"), trial)
        assert loss.device.type == "meta"
        loss.backward()
    y = module.model(_batch(device="meta")["input"], torch.zeros(8, 1, device="meta"))
    assert y.device.type == "meta" and y.shape == (8, 1, 16)


def _fit(tmp_path, name: str) -> tuple[list[dict], dict[int, set[str]]]:
    """2 epochs x 7 batches, logging every 3 steps: CSV rows of the step metrics, and for each
    step that called ``self.log`` the names it logged."""
    module = _module()
    logged: dict[int, set[str]] = {}
    log = module.log

    def recording_log(name, *args, **kwargs):
        logged.setdefault(module.global_step, set()).add(name)
        return log(name, *args, **kwargs)

    module.log = recording_log
    seed_everything(1)
    trainer = Trainer(logger=CSVLogger(tmp_path, name=name), enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                      devices=1, max_epochs=2, log_every_n_steps=3)
    trainer.fit(module, DataLoader(ShiftPairs(n=14, nx=16, n_params=1), batch_size=2))
    keys = ("train/loss", "train/mse_step0", "train/mse_noise")
    with open(trainer.logger.experiment.metrics_file_path) as f:
        rows = [{k: r[k] for k in ("step", *keys)} for r in csv.DictReader(f)
                if r.get("train/loss")]
    return rows, logged


def test_throttled_logging_writes_the_same_rows(tmp_path, monkeypatch):
    """Step metrics are logged on the steps whose rows the loggers write (step_logs_due, as
    NextStepModule does): the same values in those rows, from fewer steps. (A batch without
    one of the two tasks logs no value for it: its row then repeats an older step's value,
    which is not compared.)"""
    throttled, logged = _fit(tmp_path, "throttled")
    monkeypatch.setattr(refiner_module, "step_logs_due", lambda module, batch_idx: True)
    every, logged_every = _fit(tmp_path, "every")
    assert [r["step"] for r in throttled] == ["2", "5", "8", "11"]
    assert [r["step"] for r in every] == ["2", "5", "8", "11"]
    for a, b in zip(throttled, every, strict=True):
        fresh = logged[int(a["step"])]
        assert fresh == logged_every[int(a["step"])] and "train/loss" in fresh
        assert {k: a[k] for k in fresh if k in a} == {k: b[k] for k in fresh if k in a}
    both = set().union(*logged_every.values())
    assert {"train/mse_noise", "train/mse_step0"} <= both
    # logged every step: 0..13; throttled: the first and last batch of each epoch, and the
    # steps before the loggers write
    assert set(logged_every) == set(range(14))
    assert set(logged) == {0, 2, 5, 6, 7, 8, 11, 13}


def _draws(monkeypatch, rank: int, global_seed: int = 7, epoch: int = 0) -> list[torch.Tensor]:
    """The (step, noisy estimate) pairs the network gets in two training steps (batches 0, 1
    of ``epoch``) of a module on DDP rank ``rank`` of a run seeded 3, after
    ``torch.manual_seed(global_seed)`` (the state of torch's global generator)."""
    module = _module()
    seen = []
    network = module.model.network

    def recording(u_prev, estimate, params, k, **kwargs):
        seen.extend([k.clone(), estimate.detach().clone()])
        return network(u_prev, estimate, params, k, **kwargs)

    module.model.network = recording
    monkeypatch.setenv("PL_GLOBAL_SEED", "3")  # what seed_everything(3) leaves
    monkeypatch.setattr(refiner_module, "step_logs_due", lambda module, batch_idx: False)
    module._trainer = SimpleNamespace(global_rank=rank, world_size=2, current_epoch=epoch)
    module.on_fit_start()
    torch.manual_seed(global_seed)
    for i in range(2):
        module.training_step(_batch(), i)
    return seen


def test_ranks_draw_their_own_steps_and_noise_from_the_run_seed_and_the_batch(monkeypatch):
    """Each batch's steps and noise come from (run seed, rank, epoch, batch): rank 1 draws
    other steps and noise than rank 0 (their noise samples add up instead of repeating each
    other), another epoch other ones, and torch's global generator (which a resumed fit seeds
    again) has no part in them."""
    rank0, rank1 = _draws(monkeypatch, 0), _draws(monkeypatch, 1)
    assert not torch.equal(rank1[0], rank0[0])          # steps k
    assert not torch.allclose(rank1[1], rank0[1])       # noisy estimates
    later = _draws(monkeypatch, 0, epoch=1)
    assert not torch.equal(later[0], rank0[0]) and not torch.allclose(later[1], rank0[1])
    for a, b in zip(rank1, _draws(monkeypatch, 1, global_seed=123), strict=True):
        assert torch.equal(a, b)
