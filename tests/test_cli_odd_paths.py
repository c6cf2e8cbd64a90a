"""Paths a user's folders may hold: ``~`` in a config value, a relative data path in the
config.yaml a fit saved given again from another folder, and file names that are rich markup
(``[bold]``, ``a[/b]``) in the lines that say what was written."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from pdesurrogate.cli import main
from pdesurrogate.datasets import generate_dataset
from pdesurrogate.solvers import Burgers1D

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs" / "fit" / "fno_burgers.yaml")
TINY_SOLVER = ["--solver", "burgers1d", "--solver.n_points", "16", "--samples", "2",
               "--n_times", "2", "--workers", "1"]


def test_generate_expands_tilde_in_a_config_out(tmp_path, monkeypatch, capsys):
    """``out: ~/x.nc`` in a YAML is no shell word: it was written to ./~/x.nc."""
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir(), cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    (cwd / "g.yaml").write_text("out: ~/été data.nc\n")
    assert main(["generate", "--config", "g.yaml", *TINY_SOLVER]) == 0, capsys.readouterr().err
    assert (home / "été data.nc").is_file()
    assert not (cwd / "~").exists()


@pytest.mark.parametrize("name", ["a[/b].nc", "[bold]x.nc"])
def test_generate_names_a_markup_looking_file_as_it_is(tmp_path, monkeypatch, capsys, name):
    """rich read the name as markup: a MarkupError traceback after the file was written, or
    the name printed without its ``[bold]``."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a[").mkdir()
    assert main(["generate", *TINY_SOLVER, "--out", name]) == 0
    assert f"wrote {name}: 2 samples" in capsys.readouterr().err


def test_saved_config_runs_from_another_folder(tmp_path, monkeypatch, capsys):
    """fit run with a relative --data.init_args.path and ~ in default_root_dir; then test with
    the config.yaml it saved, from another folder: the data path it holds was relative to the
    fit's folder (FileNotFoundError), and ~/runs a folder named ~."""
    home, fit_cwd, other = tmp_path / "home", tmp_path / "données" / "été run", tmp_path / "o"
    for d in (home, fit_cwd, other):
        d.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(fit_cwd)
    generate_dataset(Burgers1D(n_points=32, nu_range=(0.01, 0.1), ic="grf"), "-a b:c=d.nc",
                     samples=10, times=np.linspace(0, 1, 3), seed=0, workers=1)
    common = ["--trainer.enable_model_summary", "false", "--trainer.accelerator", "cpu",
              "--trainer.enable_progress_bar", "false"]
    assert main(["fit", "--config", CONFIG, "--data.init_args.path", "-a b:c=d.nc",
                 "--data.init_args.batch_size", "4",
                 "--model.init_args.model.init_args.hidden_channels", "8",
                 "--trainer.max_epochs", "1", "--trainer.num_sanity_val_steps", "0",
                 "--trainer.default_root_dir", "~/runs x", *common]) == 0
    run = home / "runs x" / "csv" / "version_0"
    assert not (fit_cwd / "~").exists()
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["data"]["init_args"]["path"] == str(fit_cwd / "-a b:c=d.nc")
    monkeypatch.chdir(other)
    capsys.readouterr()
    rc = main(["test", "--config", str(run / "config.yaml"),
               "--ckpt_path", str(run / "checkpoints" / "last.ckpt"), *common])
    assert rc == 0, capsys.readouterr().err


@pytest.mark.parametrize("args, option", [
    (["predict", "--model", "m", "--input", "d.nc", "--out", ""], "--out"),
    (["predict", "--model", "m", "--input", "d.nc", "--out", "p.nc", "--plot", ""], "--plot"),
    (["compare", "--input", "d.nc", "--model", "m", "--json", ""], "--json"),
    (["export", "last.ckpt", ""], "outdir"),
])
def test_an_empty_path_is_one_error_naming_its_option(tmp_path, monkeypatch, capsys, args,
                                                      option):
    """An empty path named the current folder: predict --out '' failed on "PosixPath('.')
    has an empty name", --plot '' drew nothing without a word, export '' asked for
    --overwrite to replace '.'. Each is now refused by the parser, before any file is read."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:  # argparse's exit, as the console script's
        main(args)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    said = f"pdesurrogate {args[0]}: error: argument {option}: expected a path, got an empty"
    assert said in err, err
