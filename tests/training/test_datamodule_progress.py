"""FieldDataModule shows the progress of its long passes over the file (statistics, finite
check of a split) on global rank 0 only, and not with the trainer's progress bar off."""

from types import SimpleNamespace

import numpy as np
import pytest

from pdesurrogate.datasets import DatasetWriter, normalization
from pdesurrogate.training import FieldDataModule


@pytest.fixture
def toy_file(tmp_path):
    n = 60
    u = np.sin(np.arange(n * 3 * 4) / 5.0).reshape(n, 3, 1, 4).astype(np.float32)
    with DatasetWriter(tmp_path / "p.nc", "toy", [np.arange(4.0)], ["x"], np.arange(3.0), ["u"],
                       ["c"], n) as w:
        w.write(0, u, {"c": np.linspace(1, 2, n)})
    return str(tmp_path / "p.nc")


def _passes(path, trainer, capfd):
    dm = FieldDataModule(path, fractions=(0.5, 0.5, 0.0))
    if trainer is not None:
        dm.trainer = trainer
    dm.setup("fit")
    assert dm.stats is not None
    return capfd.readouterr().err


@pytest.mark.parametrize("threshold,trainer,shown", [
    (20, None, True),  # 30 trajectories per split, a pass of 20 counts as long
    (20, SimpleNamespace(is_global_zero=True, progress_bar_callback=object()), True),
    (20, SimpleNamespace(is_global_zero=False, progress_bar_callback=object()), False),
    (20, SimpleNamespace(is_global_zero=True, progress_bar_callback=None), False),  # bar off
    (31, None, False),  # short passes
])
def test_long_passes_show_progress(toy_file, capfd, monkeypatch, threshold, trainer, shown):
    monkeypatch.setattr(normalization, "PROGRESS_MIN_TRAJECTORIES", threshold, raising=False)
    err = _passes(toy_file, trainer, capfd)
    lines = ("checking the validation split: 30/30 samples (100 %)",
             "normalisation statistics: 30/30 samples (100 %)")
    if shown:
        assert all(line in err for line in lines), err
    else:
        assert err == ""
