"""Normalisation statistics are computed only when a run needs them: once by a fit (in its
setup, before callbacks train), never by ``test``/``validate`` of a checkpoint, which keep the
checkpoint's; the audit measured ``test`` reading the whole training split for statistics it
then replaced."""

import json

import numpy as np
import pytest
import torch
from lightning.pytorch import Trainer

from pdesurrogate.datasets import compute_stats, open_dataset
from pdesurrogate.export import export_surrogate
from pdesurrogate.models import FNO
from pdesurrogate.training import FieldDataModule, NextStepModule
from pdesurrogate.training import datamodule as datamodule_module


def _trainer(**kw) -> Trainer:
    return Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                   enable_model_summary=False, accelerator="cpu", devices=1, **kw)


def _module() -> NextStepModule:
    return NextStepModule(FNO(1, 1, [4], 8, 2, n_params=1))


class _RecordedReads:
    """``data.u`` that records which trajectories were read."""

    def __init__(self, u, read: set):
        self._u, self._read = u, read

    def __getitem__(self, key):
        first = key[0] if isinstance(key, tuple) else key
        self._read.update(np.arange(self._u.shape[0])[first].reshape(-1).tolist())
        return self._u[key]

    def __getattr__(self, name):
        return getattr(self._u, name)


@pytest.fixture
def watched(monkeypatch):
    """``(stats_calls, read)``: the training splits the datamodule computed statistics of, and
    the trajectories it read."""
    calls, read = [], set()
    real_stats, real_open = datamodule_module.compute_stats, datamodule_module.open_dataset

    def counting(data, indices, **kwargs):
        calls.append(sorted(int(i) for i in indices))
        return real_stats(data, indices, **kwargs)

    def recording(path, **kwargs):
        data = real_open(path, **kwargs)
        data.u = _RecordedReads(data.u, read)
        return data

    def unrecorded_fingerprint(data):
        # the content fingerprint reads one frame of every trajectory (and two whole ones):
        # not statistics, so not counted
        recorded = data.u
        data.u = recorded._u
        try:
            return real_fingerprint(data)
        finally:
            data.u = recorded

    real_fingerprint = datamodule_module.fingerprint
    monkeypatch.setattr(datamodule_module, "compute_stats", counting)
    monkeypatch.setattr(datamodule_module, "open_dataset", recording)
    monkeypatch.setattr(datamodule_module, "fingerprint", unrecorded_fingerprint)
    return calls, read


def _dm(path) -> FieldDataModule:
    return FieldDataModule(str(path), batch_size=4, fractions=(0.6, 0.2, 0.2))


def test_checkpoint_runs_keep_its_stats_and_never_compute_them(advection_file, tmp_path,
                                                                watched):
    calls, read = watched
    dm = _dm(advection_file)
    module = _module()
    trainer = _trainer(max_epochs=1)
    trainer.fit(module, dm)  # with the sanity check, which needs the statistics already
    train = sorted(int(i) for i in dm.train_indices)
    assert calls == [train]
    expected = compute_stats(open_dataset(advection_file), train)
    assert module.stats.to_dict() == expected.to_dict()
    assert module.u_mean.tolist() == pytest.approx(expected.mean)
    ckpt = tmp_path / "fit.ckpt"
    trainer.save_checkpoint(ckpt)
    # the exported surrogate of that fit has them too
    config = json.loads((export_surrogate(ckpt, tmp_path / "export") / "config.json").read_text())
    assert config["normalization"] == expected.to_dict()

    # statistics unlike the data's: a run that recomputed them would not end with these
    raw = torch.load(ckpt, weights_only=True)
    marked = {**expected.to_dict(), "mean": [42.0], "std": [3.0]}
    raw["pdesurrogate"]["normalization"] = marked
    torch.save(raw, ckpt)
    only_train = set(train)
    for stage in ("test", "validate"):
        calls.clear()
        read.clear()
        module = _module()
        getattr(_trainer(), stage)(module, _dm(advection_file), ckpt_path=ckpt, verbose=False)
        assert calls == [], stage
        assert not read & only_train, stage
        assert module.stats.mean == [42.0] and module.u_std.tolist() == [3.0], stage
    # a resumed fit computes them once in setup (before callbacks such as the learning-rate
    # finder train; Lightning restores the checkpoint after setup) and ends with the
    # checkpoint's
    module = _module()
    _trainer(max_epochs=2).fit(module, _dm(advection_file), ckpt_path=ckpt)
    assert calls == [train] and module.stats.mean == [42.0] and module.u_mean.tolist() == [42.0]


def test_callbacks_that_train_at_fit_start_see_the_statistics(advection_file):
    """Callbacks' on_fit_start runs before the module's; the learning-rate and batch-size
    finders train there, so the statistics must be in place from setup (review: they trained
    without normalisation); and a module that has statistics (here: fit before) keeps them in
    a later validation on other settings instead of taking the datamodule's."""
    from lightning.pytorch.callbacks import Callback

    seen = []

    class AtFitStart(Callback):
        def on_fit_start(self, trainer, pl_module):
            seen.append(pl_module.stats is not None and pl_module.u_mean.numel() == 1)

    module = _module()
    _trainer(max_epochs=1, callbacks=[AtFitStart()]).fit(module, _dm(advection_file))
    assert seen == [True]
    own = module.stats.to_dict()
    other = FieldDataModule(str(advection_file), batch_size=4, fractions=(0.2, 0.4, 0.4))
    _trainer().validate(module, other, verbose=False)
    assert module.stats.to_dict() == own != other.stats.to_dict()


def test_runs_without_checkpoint_statistics_take_the_datamodules(advection_file, tmp_path,
                                                                 watched):
    """``test`` of a fresh module, and of a checkpoint that holds no statistics, use the
    datamodule's, computed once per datamodule."""
    calls, _ = watched
    dm = _dm(advection_file)
    module = _module()
    _trainer().test(module, dm, verbose=False)
    assert len(calls) == 1 and module.stats is dm.stats
    # set in place under test's inference mode: still a tensor a later fit can train through
    assert module.u_mean.tolist() == pytest.approx(dm.stats.mean)
    assert not module.u_mean.is_inference()
    trainer = _trainer(max_epochs=1)
    trainer.fit(module, dm)
    assert len(calls) == 1  # the same datamodule: its statistics are kept
    ckpt = tmp_path / "plain.ckpt"
    trainer.save_checkpoint(ckpt)
    raw = torch.load(ckpt, weights_only=True)
    raw["pdesurrogate"]["normalization"] = None
    torch.save(raw, ckpt)
    module = _module()
    _trainer().test(module, _dm(advection_file), ckpt_path=ckpt, verbose=False)
    assert len(calls) == 2 and module.stats.to_dict() == dm.stats.to_dict()
    assert module.u_mean.tolist() == pytest.approx(dm.stats.mean)
