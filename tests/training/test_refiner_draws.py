"""RefinerModule's training draws: no wait for the device per step (checked on the meta
device, where any value read back raises), throttled step logging, and each DDP rank's own
steps and noise (two simulated ranks)."""

import csv
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch import Trainer
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


def _fit(tmp_path, name: str) -> tuple[list[dict], set[int]]:
    """2 epochs x 7 batches, logging every 3 steps: CSV rows of the step metrics, the steps
    that called ``self.log``."""
    module = _module()
    steps = set()
    log = module.log

    def recording_log(*args, **kwargs):
        steps.add(module.global_step)
        return log(*args, **kwargs)

    module.log = recording_log
    torch.manual_seed(1)
    trainer = Trainer(logger=CSVLogger(tmp_path, name=name), enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                      devices=1, max_epochs=2, log_every_n_steps=3)
    trainer.fit(module, DataLoader(ShiftPairs(n=14, nx=16, n_params=1), batch_size=2))
    keys = ("train/loss", "train/mse_step0", "train/mse_noise")
    with open(trainer.logger.experiment.metrics_file_path) as f:
        rows = [{k: r[k] for k in ("step", *keys)} for r in csv.DictReader(f)
                if r.get("train/loss")]
    return rows, steps


def test_throttled_logging_writes_the_same_rows(tmp_path, monkeypatch):
    """Step metrics are logged on the steps whose rows the loggers write (step_logs_due, as
    NextStepModule does): the same rows, from fewer steps."""
    throttled, logged = _fit(tmp_path, "throttled")
    monkeypatch.setattr(refiner_module, "step_logs_due", lambda module, batch_idx: True)
    every, logged_every = _fit(tmp_path, "every")
    assert [r["step"] for r in throttled] == ["2", "5", "8", "11"]
    assert throttled == every
    assert any(r["train/mse_noise"] for r in every) and any(r["train/mse_step0"] for r in every)
    # logged every step: 0..13; throttled: the first and last batch of each epoch, and the
    # steps before the loggers write
    assert logged_every == set(range(14))
    assert logged == {0, 2, 5, 6, 7, 8, 11, 13}


def _draws(rank: int | None, seed: int = 7) -> list[torch.Tensor]:
    """The (step, noisy estimate) pairs the network gets in two training steps of a module
    on DDP rank ``rank`` (None: not attached to a Trainer, a plain single process) after
    ``torch.manual_seed(seed)`` (what seed_everything does on every rank)."""
    module = _module()
    seen = []
    network = module.model.network

    def recording(u_prev, estimate, params, k, **kwargs):
        seen.extend([k.clone(), estimate.detach().clone()])
        return network(u_prev, estimate, params, k, **kwargs)

    module.model.network = recording
    torch.manual_seed(seed)
    if rank is not None:
        module._trainer = SimpleNamespace(global_rank=rank)
        module.on_fit_start()
        module._trainer = None
    with pytest.warns(UserWarning, match="self.log"):
        for i in range(2):
            module.training_step(_batch(), i)
    return seen


def test_ranks_draw_their_own_steps_and_noise():
    """seed_everything seeds every rank alike. Rank 0 draws what a single process draws (its
    results stay reproducible and unchanged); rank 1 draws other steps and other noise, so
    the ranks' noise samples add up instead of repeating each other."""
    single, rank0, rank1 = _draws(None), _draws(0), _draws(1)
    for a, b in zip(single, rank0, strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(rank1[0], rank0[0])          # steps k
    assert not torch.allclose(rank1[1], rank0[1])       # noisy estimates
    # and a rank's draws are reproducible from the seed
    for a, b in zip(rank1, _draws(1), strict=True):
        assert torch.equal(a, b)
