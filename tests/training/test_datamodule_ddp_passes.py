"""Under DDP (two CPU processes, gloo) the data module's whole-file passes are split between
the processes: the finite check of a split and the normalisation statistics each read a
process's part of the trajectories, not all of them (before, every process read the whole
training split), in a fit and in a test of a module without statistics. Both processes end
with the statistics one process computes, bit for bit; a NaN that only one process reads ends
the job with the same error on both, not with one process waiting for the other."""

import json

import h5py
import numpy as np
import pytest

from pdesurrogate.datasets import DatasetWriter, compute_stats, open_dataset, split_indices

from .ddp_script import run_ranks

FRACTIONS = (0.6, 0.2, 0.2)
N = 20

SCRIPT = '''
import json
import os
import sys

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import Callback

from pdesurrogate.models import FNO
from pdesurrogate.training import FieldDataModule, NextStepModule
from pdesurrogate.training import datamodule as datamodule_module

out, path = sys.argv[1], sys.argv[2]
FRACTIONS = (0.6, 0.2, 0.2)
phase = ["other"]
reads = {}  # phase -> trajectories read in it


class Recorded:
    def __init__(self, u):
        self._u = u

    def __getitem__(self, key):
        first = key[0] if isinstance(key, tuple) else key
        got = reads.setdefault(phase[0], set())
        if isinstance(first, slice):
            got.update(range(*first.indices(self._u.shape[0])))
        else:
            got.add(int(first))
        return self._u[key]

    def __getattr__(self, name):
        return getattr(self._u, name)


def in_phase(name, fn):
    def wrapped(*args, **kwargs):
        phase[0] = name if isinstance(name, str) else name(*args)
        try:
            return fn(*args, **kwargs)
        finally:
            phase[0] = "other"
    return wrapped


real_open = datamodule_module.open_dataset


def recorded_open(p, **kwargs):
    data = real_open(p, **kwargs)
    data.u = Recorded(data.u)
    return data


datamodule_module.open_dataset = recorded_open
datamodule_module.compute_stats = in_phase("stats", datamodule_module.compute_stats)
# fingerprint: a bounded sample of frames, not a pass
datamodule_module.fingerprint = in_phase("fingerprint", datamodule_module.fingerprint)
FieldDataModule._check_finite = in_phase(lambda self, data, split, indices: "check " + split,
                                         FieldDataModule._check_finite)


def dump(trainer, stage):
    record = {"reads": {k: sorted(v) for k, v in reads.items()},
              "stats": trainer.datamodule.stats.to_dict()}
    with open(os.path.join(out, f"{stage}_rank{trainer.global_rank}.json"), "w") as f:
        json.dump(record, f)
    reads.clear()


class Dump(Callback):
    def on_train_start(self, trainer, module):
        dump(trainer, "fit")

    def on_test_end(self, trainer, module):
        dump(trainer, "test")


def module():
    return NextStepModule(FNO(in_channels=1, out_channels=1, n_modes=[4], hidden_channels=4,
                              n_layers=1, n_params=1))


trainer = Trainer(accelerator="cpu", devices=2, strategy="ddp", max_steps=1,
                  limit_val_batches=0, num_sanity_val_steps=0, enable_progress_bar=False,
                  enable_model_summary=False, logger=False, enable_checkpointing=False,
                  callbacks=[Dump()], default_root_dir=out)
try:
    trainer.fit(module(), FieldDataModule(path, batch_size=2, fractions=FRACTIONS))
    # a module without statistics takes them in on_test_start, from a new data module
    trainer.test(module(), FieldDataModule(path, batch_size=2, fractions=FRACTIONS),
                 verbose=False)
except Exception as e:
    with open(os.path.join(out, f"error_rank{trainer.global_rank}.json"), "w") as f:
        json.dump({"error": f"{type(e).__name__}: {e}",
                   "reads": {k: sorted(v) for k, v in reads.items()}}, f)
    raise
'''


def _file(path, nan_at=None):
    rng = np.random.default_rng(0)
    x = np.arange(16) / 16
    times = np.arange(4) * 0.1
    # a large offset: statistics merged in another order differ in their last bits
    u = (1e3 + rng.standard_normal((N, 4, 1, 16))).astype(np.float32)
    with DatasetWriter(path, "advection", (x,), ("x",), times, ["u"], ["c"], N) as w:
        w.write(0, u, {"c": rng.uniform(1.0, 2.0, N)})
    if nan_at is not None:
        with h5py.File(path, "r+") as f:  # DatasetWriter refuses NaN: edit the file afterwards
            f["u"][nan_at, 2, 0, 5] = np.nan
    return path


def _records(tmp_path, stage):
    return [json.loads((tmp_path / f"{stage}_rank{r}.json").read_text()) for r in (0, 1)]


def _own(read, part, others):
    """Whether ``read`` (trajectories) covers ``part`` of the split and nothing of ``others``
    (a run may read unselected trajectories between two of ``part``)."""
    return set(part) <= set(read) and not set(read) & set(others)


@pytest.mark.slow  # ~20 s on 2 cores: make test-all runs it
def test_each_rank_reads_its_part_and_both_get_the_single_process_statistics(tmp_path):
    path = _file(tmp_path / "adv.nc")
    code, _, err = run_ranks(SCRIPT, tmp_path, path)
    assert code == 0, err[-3000:]
    train, val, test = (s.tolist() for s in split_indices(N, FRACTIONS, 0))
    single = compute_stats(open_dataset(path), train).to_dict()
    for stage, checked, split in (("fit", "check validation", val),
                                  ("test", "check test", test)):
        records = _records(tmp_path, stage)
        for rank, record in enumerate(records):
            assert record["stats"] == single, (stage, rank)  # float64 values, bit for bit
            for name, indices in (("stats", train), (checked, split)):
                parts = [p.tolist() for p in np.array_split(indices, 2)]
                assert _own(record["reads"][name], parts[rank], parts[1 - rank]), \
                    (stage, rank, name, record["reads"][name], parts)


@pytest.mark.slow  # ~15 s on 2 cores: make test-all runs it
def test_a_nan_only_rank_1_reads_ends_both_ranks_with_the_same_error(tmp_path):
    train = split_indices(N, FRACTIONS, 0)[0]
    bad = int(train[-1])  # in rank 1's part of the training split
    path = _file(tmp_path / "nan.nc", nan_at=bad)
    code, _, err = run_ranks(SCRIPT, tmp_path, path)  # fails the test if a rank hangs
    assert code != 0
    with pytest.raises(ValueError) as single:
        compute_stats(open_dataset(path), train)
    records = [json.loads((tmp_path / f"error_rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["error"] for r in records] == ["ValueError: " + str(single.value)] * 2, \
        err[-3000:]
    assert f"trajectory {bad} at time index 2" in records[0]["error"]
    # rank 0 raises what rank 1 read, and never trains
    assert bad not in records[0]["reads"]["stats"] and bad in records[1]["reads"]["stats"]
    assert not (tmp_path / "fit_rank0.json").exists()
