"""``pdesurrogate predict --channels``: a steady map trained on our darcy2d file (coefficient
``a``) predicts from PDEBench's 2D_DarcyFlow layout (coefficient ``nu``) when told that the
file's ``nu`` is its ``a``; without it the error names the file, both sets of channels and
the option to pass; a mapping that cannot hold is one error naming ``--channels``."""

import re

import h5py
import numpy as np
import pytest
import torch

from pdesurrogate.cli import main
from pdesurrogate.datasets import ChannelStats, generate_dataset, open_dataset
from pdesurrogate.export import export_surrogate
from pdesurrogate.models import FNO
from pdesurrogate.solvers import Darcy2D
from pdesurrogate.training import NextStepModule, SteadyModule


@pytest.fixture(scope="module")
def darcy(tmp_path_factory):
    """(our darcy2d file, the same samples in PDEBench's Darcy layout, an export fit on ours)."""
    tmp = tmp_path_factory.mktemp("channels")
    ours = tmp / "darcy2d.nc"
    generate_dataset(Darcy2D(n=16, tuner="fixed"), ours, samples=3, times=[0.0], seed=0,
                     workers=1, progress=False)
    theirs = tmp / "2D_DarcyFlow_beta1.0_Train.hdf5"
    with open_dataset(ours) as d, h5py.File(theirs, "w") as f:
        fields = np.asarray(d.u[:, 0], np.float32)  # (N, [a, u], 16, 16)
        f["nu"], f["tensor"] = fields[:, 0], fields[:, 1:]
        f["x-coordinate"], f["y-coordinate"] = (np.asarray(c, np.float32) for c in d.grid)
        f["t-coordinate"] = np.arange(2.0)
    torch.manual_seed(0)
    m = SteadyModule(FNO(1, 1, [4, 4], hidden_channels=4, n_layers=1))
    m.set_normalization(ChannelStats(mean=[7.5, 0.01], std=[4.5, 0.004], spatial_dims=2,
                                     param_names=[], param_mean=[], param_std=[]))
    m.data_info = {"pde": "darcy2d", "grid_shape": [16, 16], "channel_names": ["a", "u"],
                   "param_names": [], "inputs": ["a"], "targets": ["u"], "k": 1, "dt": None}
    return ours, theirs, export_surrogate(m, tmp / "sur")


def _predict(model, data, out, *more) -> int:
    """The command's exit status (argparse's errors exit with 2)."""
    try:
        return main(["predict", "--model", str(model), "--input", str(data), "--out", str(out),
                     *more])
    except SystemExit as e:
        return e.code


def test_the_file_channel_nu_read_as_the_model_a_gives_the_same_prediction(darcy, tmp_path):
    ours, theirs, sur = darcy
    assert _predict(sur, ours, tmp_path / "ours.nc") == 0
    assert _predict(sur, theirs, tmp_path / "theirs.nc", "--channels", "nu=a") == 0
    with open_dataset(tmp_path / "ours.nc") as a, open_dataset(tmp_path / "theirs.nc") as b:
        assert b.channel_names == ("u",)
        np.testing.assert_array_equal(np.asarray(b.u), np.asarray(a.u))
        assert "renamed {'nu': 'a'}" in b.attrs["source"]


def test_without_channels_the_error_names_both_and_the_option(darcy, tmp_path, capsys):
    _, theirs, sur = darcy
    assert _predict(sur, theirs, tmp_path / "p.nc") != 0
    err = " ".join(capsys.readouterr().err.split())
    assert (f"'{theirs}' has no channel(s) ['a'] (its channels are ['nu', 'u']); the model "
            f"({sur}) is a steady map from inputs ['a'] to targets ['u']") in err
    assert "map them: --channels nu=a " in err
    assert not (tmp_path / "p.nc").exists()


@pytest.mark.parametrize("value, says", [
    ("nu=k", r"--channels: each file channel maps to a different one of the model's channels, "
             r"inputs \['a'\] and targets \['u'\]"),
    ("nu=a,u=a", "each file channel maps to a different one"),
    ("x=a", r"--channels \{'x': 'a'\}: '.*' has no channel\(s\) \['x'\]"),
    ("nu=u", r"would have two channels of one name, \['u', 'u'\]"),
    ("nu", "expected FILE_CHANNEL=MODEL_CHANNEL pairs"),
    ("nu=a,nu=u", "each file channel once"),
])
def test_a_mapping_that_cannot_hold_is_one_error_naming_the_option(darcy, tmp_path, capsys,
                                                                   value, says):
    _, theirs, sur = darcy
    assert _predict(sur, theirs, tmp_path / "p.nc", "--channels", value) != 0
    assert re.search(says, " ".join(capsys.readouterr().err.split())), says
    assert not (tmp_path / "p.nc").exists()


def test_a_time_dependent_model_refuses_channels(darcy, tmp_path, capsys):
    ours, _, _ = darcy
    m = NextStepModule(FNO(2, 2, [4, 4], hidden_channels=4, n_layers=1))
    m.data_info = {"pde": "darcy2d", "grid_shape": [16, 16], "channel_names": ["a", "u"],
                   "param_names": [], "k": 1, "dt": 0.1}
    sur = export_surrogate(m, tmp_path / "next_step")
    assert _predict(sur, ours, tmp_path / "p.nc", "--channels", "a=u") != 0
    assert "--channels: " in capsys.readouterr().err and not (tmp_path / "p.nc").exists()



def test_help_says_what_channels_maps(capsys):
    with pytest.raises(SystemExit) as done:
        main(["predict", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert done.value.code == 0
    assert "--channels FILE_CHANNEL=MODEL_CHANNEL steady maps only" in text
    assert "--channels nu=a" in text
