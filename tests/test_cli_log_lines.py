"""What the commands print on stderr when it is a file (a Slurm log, ``2> log``, CI), not a
terminal: whole lines, not folded at rich's 80 columns, so a path or a number can be grepped
and copied from the log."""

import importlib.util
from pathlib import Path

import numpy as np

from pdesurrogate.cli import main
from pdesurrogate.datasets import generate_dataset
from pdesurrogate.solvers import Burgers1D

# the tiny fit of test_cli_fit.py (pytest runs with --import-mode=importlib: no plain import)
_spec = importlib.util.spec_from_file_location("cli_fit_helpers",
                                               Path(__file__).with_name("test_cli_fit.py"))
fit_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fit_helpers)


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
    assert main(["fit", "--config", fit_helpers.CONFIG, *fit_helpers.tiny(str(data), tmp_path),
                 "--trainer.enable_progress_bar", "false"]) == 0
    (ckpt,) = tmp_path.rglob("last.ckpt")
    recwarn.clear()
    assert main(["test", "--config", str(ckpt.parent.parent / "config.yaml"), "--ckpt_path",
                 str(ckpt)]) == 0
    assert not [w for w in recwarn if "dirpath has changed" in str(w.message)], \
        [str(w.message) for w in recwarn]
