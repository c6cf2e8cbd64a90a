"""What the commands print on stderr when it is a file (a Slurm log, ``2> log``, CI), not a
terminal: whole lines, not folded at rich's 80 columns, so a path or a number can be grepped
and copied from the log."""

from pathlib import Path

import numpy as np

from pdesurrogate.cli import main
from pdesurrogate.datasets import generate_dataset
from pdesurrogate.solvers import Burgers1D

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "fit" / "fno_burgers.yaml"
QUIET = ["--trainer.enable_model_summary", "false", "--trainer.enable_progress_bar", "false",
         "--trainer.accelerator", "cpu"]


def test_generate_says_where_it_wrote_on_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("COLUMNS", raising=False)
    out = tmp_path / ("burgers_" + "x" * 60 + ".nc")
    assert main(["generate", "--solver", "burgers1d", "--solver.n_points", "16", "--samples",
                 "2", "--n_times", "3", "--workers", "1", "--out", str(out)]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert [line for line in lines if line.startswith(f"wrote {out}: 2 samples in ")], lines
    assert not any("\x1b" in line for line in lines), lines


def test_test_of_a_fits_checkpoint_has_no_dirpath_warning(tmp_path, recwarn):
    """``pdesurrogate test --config <the fit's config.yaml> --ckpt_path last.ckpt``, the
    README's way: no Lightning warning that the checkpoint's dirpath "has changed" and its
    best-k state "won't be reloaded", which a user of ``test`` can do nothing about."""
    data = tmp_path / "burgers.nc"
    generate_dataset(Burgers1D(n_points=32, nu_range=(0.01, 0.1), ic="grf"), data, samples=10,
                     times=np.linspace(0, 1, 3), seed=0, workers=1)
    assert main(["fit", "--config", str(CONFIG), "--data.init_args.path", str(data),
                 "--data.init_args.batch_size", "4",
                 "--model.init_args.model.init_args.hidden_channels", "8",
                 "--trainer.max_epochs", "1", "--trainer.num_sanity_val_steps", "0",
                 "--trainer.default_root_dir", str(tmp_path), *QUIET]) == 0
    (ckpt,) = tmp_path.rglob("last.ckpt")
    recwarn.clear()
    assert main(["test", "--config", str(ckpt.parent.parent / "config.yaml"), "--ckpt_path",
                 str(ckpt)]) == 0
    assert not [w for w in recwarn if "dirpath has changed" in str(w.message)], \
        [str(w.message) for w in recwarn]
