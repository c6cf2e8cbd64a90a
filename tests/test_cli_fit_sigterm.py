"""``pdesurrogate fit`` stopped by SIGTERM (Slurm's requeue or scancel, a plain ``kill``): it
writes ``last.ckpt`` of where it stopped, exits 143 (128 + SIGTERM, not 0 as if finished) and
says which checkpoint to resume from; resumed from it, the fit trains the rest and ends as usual.
"""

import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from pdesurrogate.cli import main
from pdesurrogate.datasets import generate_dataset
from pdesurrogate.solvers import Burgers1D
from pdesurrogate.training import NextStepModule

from .test_cli_fit import CONFIG, tiny


@pytest.fixture
def data(tmp_path) -> str:
    """10 Burgers trajectories of 3 frames on 32 points: 8 training ones, 16 pairs, 4 batches."""
    path = tmp_path / "burgers.nc"
    generate_dataset(Burgers1D(n_points=32, nu_range=(0.01, 0.1), ic="grf"), path, samples=10,
                     times=np.linspace(0, 1, 3), seed=0, workers=1, progress=False)
    return str(path)


def _terminate_at_step_5(monkeypatch):
    """SIGTERM to this process in the second batch of epoch 1 (global step 5) of every fit."""
    step = NextStepModule.training_step

    def terminated_at_step_5(self, batch, batch_idx):
        if self.global_step == 5:
            os.kill(os.getpid(), signal.SIGTERM)
        return step(self, batch, batch_idx)

    monkeypatch.setattr(NextStepModule, "training_step", terminated_at_step_5)
    return step


def test_sigterm_writes_a_checkpoint_of_where_fit_stopped_and_exits_143(tmp_path, data, capsys,
                                                                       monkeypatch, recwarn,
                                                                       caplog):
    step = _terminate_at_step_5(monkeypatch)
    caplog.set_level("INFO", logger="lightning.pytorch")
    root = tmp_path / "runs"
    args = ["fit", "--config", CONFIG, *tiny(data, root), "--trainer.max_epochs", "2",
            "--seed_everything", "0"]
    assert main(args) == 128 + signal.SIGTERM
    err = capsys.readouterr().err
    said = re.findall(r"pdesurrogate fit: stopped by SIGTERM; resume from where it stopped "
                      r"with --ckpt_path (\S+)", err)
    assert len(said) == 1, err
    ckpt = said[0]
    assert ckpt == str(root / "csv" / "version_0" / "checkpoints" / "last.ckpt")
    saved = torch.load(ckpt, weights_only=True)
    assert (saved["epoch"], saved["global_step"]) == (1, 6)  # the batch it was in is kept
    # a full checkpoint (optimizer too) is asked for by name: no "`weights_only` was not set,
    # defaulting to `False`" from Lightning in the user's log
    assert "weights_only" not in caplog.text

    monkeypatch.setattr(NextStepModule, "training_step", step)
    recwarn.clear()
    assert main([*args, "--ckpt_path", ckpt]) == 0
    err = capsys.readouterr().err
    assert "max_steps ended epoch" not in err  # resumed where it stopped
    # Lightning's warning that a mid-epoch resume restarts the loader unreliably: it does not
    assert not [w for w in recwarn if "dataloader is not resumable" in str(w.message)]
    resumed = torch.load(root / "csv" / "version_1" / "checkpoints" / "last.ckpt",
                         weights_only=True)
    assert (resumed["epoch"], resumed["global_step"]) == (1, 8)


def test_a_mid_epoch_checkpoint_without_the_order_keeps_lightnings_warning(tmp_path, data,
                                                                          monkeypatch, recwarn):
    """A checkpoint written mid-epoch before the datamodule kept its training order in it (no
    FieldDataModule state): the resumed epoch's order restarts at its first batch, so
    Lightning's warning that the loader is not resumable is true and stays."""
    step = _terminate_at_step_5(monkeypatch)
    root = tmp_path / "runs"
    args = ["fit", "--config", CONFIG, *tiny(data, root), "--trainer.max_epochs", "2",
            "--seed_everything", "0"]
    assert main(args) == 128 + signal.SIGTERM
    ckpt = root / "csv" / "version_0" / "checkpoints" / "last.ckpt"
    saved = torch.load(ckpt, weights_only=True)
    assert saved.pop("FieldDataModule")["resume_items"] == 2 * 4  # mid-epoch: 2 batches of 4
    torch.save(saved, ckpt)
    monkeypatch.setattr(NextStepModule, "training_step", step)
    recwarn.clear()
    assert main([*args, "--ckpt_path", str(ckpt)]) == 0
    assert [w for w in recwarn if "dataloader is not resumable" in str(w.message)]


def test_sigterm_during_validation_saves_the_epoch_and_the_resume_trains_only_the_rest(
        tmp_path, data, capsys, monkeypatch):
    """SIGTERM in the first of epoch 1's two validation batches: the fit stops at the end of
    that validation pass with last.ckpt of the whole epoch (before: Lightning stopped inside
    validation, nothing was saved, and the resume trained epoch 1 again from epoch 0's)."""
    validate = NextStepModule.validation_step

    def terminated_in_validation(self, batch, batch_idx, *args):
        if self.current_epoch == 1 and batch_idx == 0 and not self.trainer.sanity_checking:
            os.kill(os.getpid(), signal.SIGTERM)
        return validate(self, batch, batch_idx, *args)

    monkeypatch.setattr(NextStepModule, "validation_step", terminated_in_validation)
    root = tmp_path / "runs"
    # 6 training trajectories (12 pairs, 6 batches of 2), 4 validation ones (2 batches)
    args = ["fit", "--config", CONFIG, *tiny(data, root), "--trainer.max_epochs", "3",
            "--seed_everything", "0", "--data.init_args.batch_size", "2",
            "--data.init_args.fractions", "[0.6, 0.4, 0.0]"]
    assert main(args) == 128 + signal.SIGTERM
    ckpt = root / "csv" / "version_0" / "checkpoints" / "last.ckpt"
    assert f"resume from where it stopped with --ckpt_path {ckpt}" in capsys.readouterr().err
    saved = torch.load(ckpt, weights_only=True)
    assert saved["global_step"] == 12  # both epochs' 6 batches
    assert saved["FieldDataModule"]["resume_epoch"] == 2

    monkeypatch.setattr(NextStepModule, "validation_step", validate)
    step, trained = NextStepModule.training_step, []

    def counted(self, batch, batch_idx):
        trained.append(self.global_step)
        return step(self, batch, batch_idx)

    monkeypatch.setattr(NextStepModule, "training_step", counted)
    assert main([*args, "--ckpt_path", str(ckpt)]) == 0
    assert trained == list(range(12, 18))  # epoch 2 only


TERM_AT = '''
import json
import os
import signal
from lightning.pytorch.callbacks import Callback


class TermAt(Callback):
    """SIGTERM to this rank at the start of global step ``at[rank]`` (-1: never), or, with
    ``in_validation``, in the first batch of the validation after that many steps; each rank
    writes the global steps it trained."""

    def __init__(self, out_dir: str, at: list[int], in_validation: bool = False):
        self.out_dir, self.at, self.in_validation, self.steps = out_dir, at, in_validation, []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.steps.append(trainer.global_step)
        if not self.in_validation and trainer.global_step == self.at[trainer.global_rank]:
            os.kill(os.getpid(), signal.SIGTERM)

    def on_validation_batch_start(self, trainer, module, batch, batch_idx, dataloader_idx=0):
        if (self.in_validation and batch_idx == 0 and not trainer.sanity_checking
                and trainer.global_step == self.at[trainer.global_rank]):
            os.kill(os.getpid(), signal.SIGTERM)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        # here: a fit stopped by SIGTERM runs no teardown hook
        name = f"steps{len(self.at)}_{min(self.at)}_rank{trainer.global_rank}.json"
        with open(os.path.join(self.out_dir, name), "w") as f:
            json.dump(self.steps, f)
'''


@pytest.mark.slow
@pytest.mark.parametrize("where", ["training", "validation"])
def test_sigterm_at_different_batches_of_two_ddp_ranks_stops_both_at_one(tmp_path, data, where):
    """`fit --trainer.devices 2 --trainer.strategy ddp` on CPU (gloo), the ranks signalled at
    different batches, as under Slurm, or one rank in validation: both stop at one point (one
    batch after the first signalled training batch, whose agreement the ranks read a batch
    later; at the validation's end), last.ckpt of it is written and named, and a resumed DDP
    fit trains only the rest. Before: the signalled rank stopped alone and the fit died with
    exit 2 (gloo: connection reset by peer)."""
    (tmp_path / "termcb.py").write_text(TERM_AT)
    env = {"PYTHONPATH": str(tmp_path), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    # 6 training trajectories, 12 pairs, 6 a rank: 3 batches of 2 an epoch (training), or 6
    # of 1 and 2 validation batches of 1 a rank, signalled in the first (validation); rank 1,
    # signalled in step 1, stops both at the end of step 2 (the epoch's last, which agrees at
    # once, on step 1's agreement still in flight too)
    batch, at, done = {"training": (2, [4, 1], 3), "validation": (1, [-1, 6], 6)}[where]
    args = [sys.executable, "-m", "pdesurrogate.cli", "fit", "--config", CONFIG,
            *tiny(data, tmp_path / "runs"), "--trainer.max_epochs", "2", "--seed_everything", "0",
            "--trainer.devices", "2", "--trainer.strategy", "ddp",
            "--data.init_args.batch_size", str(batch),
            "--data.init_args.fractions", "[0.6, 0.4, 0.0]",
            "--trainer.callbacks+=termcb.TermAt", f"--trainer.callbacks.out_dir={tmp_path}",
            f"--trainer.callbacks.in_validation={where == 'validation'}"]

    def fit(at, *extra):
        return subprocess.run([*args, f"--trainer.callbacks.at={json.dumps(at)}", *extra],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    proc = fit(at)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr[-4000:]
    said = re.findall(r"stopped by SIGTERM; resume from where it stopped with --ckpt_path (\S+)",
                      proc.stderr)
    assert len(said) == 1, proc.stderr[-4000:]
    assert torch.load(said[0], weights_only=True)["global_step"] == done
    for rank in (0, 1):  # both ranks stopped at the same step
        steps = json.loads((tmp_path / f"steps2_{min(at)}_rank{rank}.json").read_text())
        assert steps == list(range(done)), steps

    proc = fit([-1, -1], "--ckpt_path", said[0])
    assert proc.returncode == 0, proc.stderr[-4000:]
    for rank in (0, 1):  # the resume trains the rest only
        steps = json.loads((tmp_path / f"steps2_-1_rank{rank}.json").read_text())
        assert steps == list(range(done, 6 * 2 // batch)), steps
