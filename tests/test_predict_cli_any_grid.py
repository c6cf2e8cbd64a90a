"""``pdesurrogate predict --any-grid``: the command's switch for ``predict_file``'s
``any_grid``. Before, the command had no such option: a U-Net export refused a file on another
grid, and the refusal told a command-line user to call ``predict_file(..., any_grid=True)`` in
Python (tiny models, CPU, seconds)."""

import numpy as np
import torch

from pdesurrogate.cli import main
from pdesurrogate.datasets import open_dataset
from pdesurrogate.models import UNet
from tests.test_predict_grid_check import OTHER, TRAIN, _export, _write


def test_the_refusal_names_the_option_and_the_option_rolls_a_unet_out(tmp_path, capsys,
                                                                      monkeypatch):
    torch.manual_seed(0)
    unet = _export(tmp_path, UNet(1, 1, 1, hidden_channels=4, n_levels=2, n_params=1), "unet")
    monkeypatch.setenv("COLUMNS", "1000")  # rich folds long lines at the terminal's width
    data = _write(tmp_path / "fine.nc", OTHER)
    out = tmp_path / "p.nc"
    assert main(["predict", "--model", unet, "--input", data, "--out", str(out)]) != 0
    err = capsys.readouterr().err
    assert f"grid ({OTHER},) is not the model's training grid ({TRAIN},) (unet)" in err
    assert "pass --any-grid" in err
    assert not out.exists()

    assert main(["predict", "--model", unet, "--input", data, "--out", str(out),
                 "--any-grid"]) == 0
    err = capsys.readouterr().err
    assert f"not the training grid ({TRAIN},): the unet runs there" in err
    with open_dataset(out) as d:
        assert tuple(d.u.shape[3:]) == (OTHER,)
        assert np.isfinite(np.asarray(d.u[:])).all()

