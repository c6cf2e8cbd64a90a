"""A fit stopped by max_steps in the middle of an epoch, then resumed by epochs: Lightning counts
the cut epoch as done and starts the next, so the rest of it is never trained. fit says so; a
checkpoint written in the middle of a running epoch (SIGTERM's, Slurm's hpc_ckpt), which
Lightning resumes where it stopped, gets no such warning."""

import torch

from pdesurrogate.cli import main

from .test_cli_fit import CONFIG, tiny
from .test_cli_fit_sigterm import data  # noqa: F401  (the fixture: 4 batches an epoch)


def test_resuming_a_max_steps_stop_by_epochs_warns_that_the_cut_epoch_is_skipped(
        tmp_path, data, capsys):  # noqa: F811
    root = tmp_path / "runs"
    args = ["fit", "--config", CONFIG, *tiny(data, root), "--seed_everything", "0",
            "--trainer.max_epochs", "3"]
    assert main([*args, "--trainer.max_steps", "6"]) == 0  # epoch 1 after 2 of its 4 batches
    last = root / "csv" / "version_0" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 6
    capsys.readouterr()
    assert main([*args, "--ckpt_path", str(last)]) == 0
    err = capsys.readouterr().err
    assert ("warning: --ckpt_path was written when max_steps ended epoch 1 after 2 of its "
            "batches" in err), err
    assert "the rest of epoch 1 is never trained" in err
    # iteration-based, the resumed fit continues by steps: no warning
    assert main([*args, "--ckpt_path", str(last), "--trainer.max_steps", "8"]) == 0
    assert "max_steps ended epoch" not in capsys.readouterr().err
