"""A user whose problem is 3-D (The Well's MHD_64, say) who asks for a U-Net with ``dim: 3``
gets one error naming the U-Net, what it supports and what to take instead, before any data is
read or a run folder made. Before, it was a bare "dim must be 1 or 2, got 3", which named
neither the model nor a way out."""

import h5py
import numpy as np
import pytest
import yaml

from pdesurrogate.cli import main
from pdesurrogate.models import ModernUNet, UNet


@pytest.mark.parametrize("cls, kw", [(UNet, {}), (ModernUNet, {"channel_mults": [1, 2]})])
def test_a_3d_unet_is_refused_naming_the_model_and_the_fno(cls, kw):
    with pytest.raises(ValueError) as e:
        cls(dim=3, in_channels=4, out_channels=4, **kw)
    msg = str(e.value)
    assert msg.startswith(f"{cls.__name__}: dim must be 1 or 2"), msg
    assert "3-D fields are not supported" in msg and "got 3" in msg
    assert "FNO with three n_modes" in msg


def _well_3d(path, n=3, t=3, grid=(4, 3, 5)):
    """A tiny The Well file: density and a 3-component velocity on a non-cubic (x, y, z) grid."""
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f.attrs["n_trajectories"] = n
        dims = f.create_group("dimensions")
        dims.attrs["spatial_dims"] = ["x", "y", "z"]
        dims["time"] = np.arange(t) * 0.1
        for name, m in zip("xyz", grid, strict=True):
            dims[name] = np.arange(m) / m
        f["t0_fields/density"] = rng.standard_normal((n, t, *grid)).astype(np.float32)
        f["t1_fields/velocity"] = rng.standard_normal((n, t, *grid, 3)).astype(np.float32)


def test_fit_of_a_3d_unet_stops_before_training_with_that_error(tmp_path, capsys):
    data = tmp_path / "mhd_tiny.hdf5"
    _well_3d(data)
    root = tmp_path / "runs"
    config = {
        "trainer": {"max_epochs": 1, "accelerator": "cpu", "default_root_dir": str(root)},
        "model": {"class_path": "pdesurrogate.training.NextStepModule", "init_args": {"model": {
            "class_path": "pdesurrogate.models.UNet",
            "init_args": {"dim": 3, "in_channels": 4, "out_channels": 4}}}},
        "data": {"class_path": "pdesurrogate.training.FieldDataModule",
                 "init_args": {"path": str(data), "batch_size": 2}},
    }
    path = tmp_path / "unet3d.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["fit", "--config", str(path)]) != 0
    err = capsys.readouterr().err
    assert "UNet: dim must be 1 or 2" in err and "FNO with three n_modes" in err, err
    assert "Traceback" not in err
    assert not root.exists()
