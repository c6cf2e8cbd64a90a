"""Every way a model meets its training data records the data's extent, which its export
carries as config.json's ``grid_extent``: the steady and all-to-all datamodules (a file's
coordinates, as FieldDataModule's; tests/test_predict_domain.py exports those), an online run
(its solver's nodes, those a file it generates stores), and a fit resumed from a checkpoint
written before the record (the same file read now; other data lends it nothing). CPU,
seconds."""

import numpy as np

from pdesurrogate.datasets import DatasetWriter
from pdesurrogate.online.trainer_rank import stream_data_info
from pdesurrogate.solvers import Heat2D, NavierStokes2D
from pdesurrogate.training import All2AllDataModule, SteadyDataModule
from pdesurrogate.training.data_source import resumed_record


def _write(path, grid, times=(0.0, 0.1, 0.2), channels=("u",), n=4):
    shape = tuple(len(g) for g in grid)
    u = np.random.default_rng(0).standard_normal((n, len(times), len(channels), *shape))
    with DatasetWriter(path, "toy", grid, ("y", "x"), np.asarray(times), list(channels),
                       [], n) as w:
        w.write(0, u.astype(np.float32), {})
    return str(path)


def test_all2all_and_steady_datamodules_record_the_files_extent(tmp_path):
    y, x = np.linspace(-1.0, 1.0, 5), np.arange(6) * 0.5
    expected = [{"first": -1.0, "last": 1.0, "step": 0.5},
                {"first": 0.0, "last": 2.5, "step": 0.5}]
    dm = All2AllDataModule(_write(tmp_path / "a.nc", (y, x)), batch_size=2,
                           fractions=(0.5, 0.25, 0.25))
    dm.setup("fit")
    assert dm.data_info["grid_extent"] == expected
    sdm = SteadyDataModule(_write(tmp_path / "s.nc", (y, x), times=(0.0,),
                                  channels=("a", "u")),
                           inputs=["a"], targets=["u"], batch_size=2,
                           fractions=(0.5, 0.25, 0.25))
    sdm.setup("fit")
    assert sdm.data_info["grid_extent"] == expected


def test_an_online_run_records_its_solvers_nodes():
    """Navier-Stokes on its periodic [0, 1)^2 (left ends, j / 8) and heat at the interior
    nodes of [0, 1]^2 ((j + 1) / 9): what a file the solver generates stores."""
    ns = stream_data_info(NavierStokes2D(n=8), ["nu"], 0.05, {"kind": "online"})
    assert ns["grid_extent"] == [{"first": 0.0, "last": 0.875, "step": 0.125}] * 2
    heat = stream_data_info(Heat2D(n=8), [], 0.05, {"kind": "online"})
    for axis in heat["grid_extent"]:
        np.testing.assert_allclose([axis["first"], axis["last"], axis["step"]],
                                   [1 / 9, 8 / 9, 1 / 9], rtol=1e-12)


def test_a_resume_from_a_checkpoint_without_the_extent_takes_the_same_files():
    extent = [{"first": 0.0, "last": 0.75, "step": 0.25}]
    saved = {"grid_names": ["x"],
             "source": {"path": "/old/a.nc", "fingerprint": "sha256:v3:abc"}}
    current = {"grid_names": ["x"], "grid_extent": extent,
               "source": {"path": "/new/a.nc", "fingerprint": "sha256:v3:abc"}}
    assert resumed_record(saved, current, "fit")["grid_extent"] == extent
    other = {**current, "source": {**current["source"], "fingerprint": "sha256:v3:def"}}
    assert "grid_extent" not in resumed_record(saved, other, "fit")
