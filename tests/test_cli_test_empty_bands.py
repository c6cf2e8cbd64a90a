"""``pdesurrogate test`` on a grid whose Fourier bands are not all present: Lightning's table
prints ``nan`` for the empty band's fRMSE (which reads like a failed run); a line above the
last one says it is n/a and why, as ``pdesurrogate predict`` does. The last line is still the
run folder, which scripts read."""

from pathlib import Path

import numpy as np

from pdesurrogate.cli import main
from pdesurrogate.datasets import generate_dataset
from pdesurrogate.solvers import Burgers1D

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs" / "fit" / "fno_burgers.yaml")


def _fit_and_test(tmp_path, points: int, capsys) -> list[str]:
    data = tmp_path / "burgers.nc"
    generate_dataset(Burgers1D(n_points=points, nu_range=(0.01, 0.1), ic="grf"), data,
                     samples=10, times=np.linspace(0, 1, 3), seed=0, workers=1)
    root = tmp_path / "runs"
    common = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary",
              "false", "--trainer.accelerator", "cpu"]
    assert main(["fit", "--config", CONFIG, "--data.init_args.path", str(data),
                 "--data.init_args.batch_size", "4",
                 "--model.init_args.model.init_args.hidden_channels", "4",
                 "--model.init_args.model.init_args.n_modes", "[4]",
                 "--trainer.max_epochs", "1", "--trainer.num_sanity_val_steps", "0",
                 "--trainer.default_root_dir", str(root), *common]) == 0
    run = root / "csv" / "version_0"
    capsys.readouterr()
    assert main(["test", "--config", str(run / "config.yaml"), "--ckpt_path",
                 str(run / "checkpoints" / "last.ckpt"), *common]) == 0
    captured = capsys.readouterr()
    assert "test/frmse_high" in captured.out  # Lightning's table
    return captured.err.splitlines()


def test_an_empty_band_is_named_n_a_with_its_reason(tmp_path, capsys):
    lines = _fit_and_test(tmp_path / "16", 16, capsys)  # |k| <= 8: no mode above 12
    assert lines[-2:] == [
        "test: test/frmse_high is n/a (nan in the table): the grid has no Fourier mode with "
        "|k| > 12",
        f"test: run folder {tmp_path / '16' / 'runs' / 'csv' / 'version_1'}"], lines[-4:]
    # where every band has modes, no such line
    lines = _fit_and_test(tmp_path / "32", 32, capsys)
    assert not any("n/a" in line for line in lines), lines
