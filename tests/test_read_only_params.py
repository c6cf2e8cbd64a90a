"""A file's constant parameters are read-only ``(N,)`` broadcast views (a file declaring 10**7
trajectories costs nothing to open): where they, or any read-only array a user gives, cross
into torch no "The given NumPy array is not writable" warning is raised, and only the rows a
call uses are copied, never the file's N.

torch raises that warning once per process, so a check with warnings as errors alone would
pass once any earlier test had triggered it: ``torch_sees_no_read_only_array`` also fails on
every read-only array handed to ``torch.as_tensor`` / ``torch.from_numpy``, torch's condition
for the warning.
"""

import tracemalloc
import warnings

import h5py
import numpy as np
import pytest
import torch

from pdesurrogate.datasets import ChannelStats, open_dataset
from pdesurrogate.export import export_surrogate
from pdesurrogate.loading import load
from pdesurrogate.models import FNO
from pdesurrogate.training import NextStepModule, RolloutWindows, StridedTrajectories

N_HUGE = 10**7  # declared, never stored: its (N,) float64 view would be 80 MB
PEAK_BYTES = 1 << 20


@pytest.fixture
def torch_sees_no_read_only_array(monkeypatch):
    for name in ("as_tensor", "from_numpy"):
        real = getattr(torch, name)

        def checked(a, *args, _real=real, _name=name, **kwargs):
            if isinstance(a, np.ndarray) and not a.flags.writeable:
                raise AssertionError(f"torch.{_name} got a read-only array of shape {a.shape}")
            return _real(a, *args, **kwargs)

        monkeypatch.setattr(torch, name, checked)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _pdebench_file(path, n: int, stored: int = 4):
    """A PDEBench 1-D file of ``n`` declared trajectories (``stored`` of them written) and the
    constant parameter Nu = 0.1 from its name: its ``params["nu"]`` is a read-only view."""
    with h5py.File(path, "w") as f:
        tensor = f.create_dataset("tensor", (n, 4, 16), np.float32, chunks=(1, 4, 16))
        tensor[:stored] = np.sin(np.arange(stored * 4 * 16) / 7.0).reshape(stored, 4, 16)
        f["x-coordinate"] = np.arange(16.0)
        f["t-coordinate"] = [0.0, 0.1, 0.2, 0.3]
    return path


def _surrogate(tmp_path):
    torch.manual_seed(0)
    m = NextStepModule(FNO(1, 1, [4], 8, 2, n_params=1))
    m.set_normalization(ChannelStats(mean=[0.0], std=[1.0], spatial_dims=1,
                                     param_names=["nu"], param_mean=[0.1], param_std=[0.02]))
    m.data_info = {"pde": "burgers", "grid_shape": [16], "channel_names": ["u"],
                   "param_names": ["nu"], "k": 1, "dt": 0.1}
    return load(export_surrogate(m, tmp_path / "sur"))


def test_rollout_takes_a_files_constant_parameter_and_read_only_states(
        tmp_path, torch_sees_no_read_only_array):
    """One initial state broadcast over a batch (``np.broadcast_to``, read-only) with the
    file's constant parameter as a float32 view, a dict of the reader's own views, or the view
    itself: the same rollout as from writable copies, and no warning."""
    s = _surrogate(tmp_path)
    with open_dataset(_pdebench_file(tmp_path / "1D_Burgers_Sols_Nu0.1.hdf5", 8)) as d:
        nu = d.params["nu"]
        assert not nu.flags.writeable
        u0 = np.broadcast_to(d.u[0, 0], (3, 1, 16))
        ref = s.rollout(u0.copy(), np.full(3, 0.1, np.float32), steps=2)
        for params in (nu[:3].astype(np.float32).view(),  # made read-only below
                       {"nu": nu[:3]}, nu[:3], np.broadcast_to(np.float32(0.1), (3, 1))):
            if isinstance(params, np.ndarray):
                params.flags.writeable = False
            np.testing.assert_array_equal(s.rollout(u0, params, steps=2), ref)
        np.testing.assert_array_equal(s.predict(u0, {"nu": nu[:3]}), ref[:, 1])


def test_a_files_whole_parameter_view_is_refused_without_being_copied(tmp_path):
    """``params=data.params`` of a file with N trajectories for a batch of 2: one error naming
    the counts, found without materialising the (N,) view."""
    s = _surrogate(tmp_path)
    with open_dataset(_pdebench_file(tmp_path / "1D_Burgers_Sols_Nu0.1.hdf5", N_HUGE)) as d:
        u0 = d.u[:2, 0]
        tracemalloc.start()
        try:
            for params, match in ((d.params, rf"params\['nu'\] has {N_HUGE} values"),
                                  (d.params["nu"], rf"got \({N_HUGE},\)")):
                with pytest.raises(ValueError, match=match):
                    s.rollout(u0, params, steps=1)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < PEAK_BYTES, f"{peak} bytes traced"


@pytest.mark.parametrize("dataset", ["windows", "trajectories"])
def test_training_items_copy_only_their_trajectories_parameters(
        tmp_path, dataset, torch_sees_no_read_only_array):
    """The datamodule's datasets over a file declaring 10**7 trajectories with a constant
    parameter: items carry nu = 0.1 for the trajectories asked for, no warning, and building
    them traces well under the 80 MB that the file's (N,) parameter column would take."""
    path = _pdebench_file(tmp_path / "1D_Burgers_Sols_Nu0.1.hdf5", N_HUGE)
    with open_dataset(path) as d:
        tracemalloc.start()
        try:
            ds = (RolloutWindows(d, 1, 2, [3, 0]) if dataset == "windows"
                  else StridedTrajectories(d, 1, [3, 0]))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < PEAK_BYTES, f"{peak} bytes traced"
        items = [ds[i] for i in range(len(ds))]
        for item in items:
            torch.testing.assert_close(item["params"], torch.tensor([0.1]), atol=0, rtol=0)
        first = d.u[3, 0:3] if dataset == "windows" else d.u[3]
        np.testing.assert_array_equal(items[0]["u"].numpy(), first)


@pytest.mark.parametrize("name", ["OneStepPairs", "AllPairs", "Trajectories"])
def test_file_datasets_copy_only_their_trajectories_parameters(
        tmp_path, name, torch_sees_no_read_only_array):
    """``pdesurrogate.datasets``' torch datasets over a file declaring 10**7 trajectories: items
    carry nu = 0.1, and building one traces well under the file's 80 MB parameter column."""
    import pdesurrogate.datasets as datasets

    path = _pdebench_file(tmp_path / "1D_Burgers_Sols_Nu0.1.hdf5", N_HUGE)
    with open_dataset(path) as d:
        tracemalloc.start()
        try:
            ds = getattr(datasets, name)(d, indices=[3, 0])
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < PEAK_BYTES, f"{peak} bytes traced"
        for i in range(len(ds)):
            torch.testing.assert_close(ds[i]["params"], torch.tensor([0.1]), atol=0, rtol=0)


def test_a_solver_takes_a_files_constant_parameter(tmp_path, torch_sees_no_read_only_array):
    """A reader's read-only parameter view handed back to a solver (float32 states, so torch
    would have to convert it): the same step as from a writable copy, and no warning."""
    from pdesurrogate.solvers import Burgers1D

    solver = Burgers1D(n_points=16)
    u = torch.sin(2 * torch.pi * torch.arange(16) / 16).reshape(1, 1, 16).repeat(3, 1, 1)
    with open_dataset(_pdebench_file(tmp_path / "1D_Burgers_Sols_Nu0.1.hdf5", 8)) as d:
        view = d.params["nu"][:3]
        assert not view.flags.writeable
        ref = solver.advance(u, {"nu": view.copy()}, 0.01)
        torch.testing.assert_close(solver.advance(u, {"nu": view}, 0.01), ref,
                                   atol=0, rtol=0)
