"""PDEBench files (synthetic, written with h5py in PDEBench's layouts) read back exactly."""

import re
from pathlib import Path

import h5py
import numpy as np
import pytest

from pdesurrogate.datasets import open_dataset
from pdesurrogate.datasets.pdebench import params_from_name


def test_single_file_1d_tensor(tmp_path):
    """(N, T, X) tensor -> C = 1; T + 1 t-coordinates -> first T; Nu from the name (exact)."""
    rng = np.random.default_rng(0)
    tensor = rng.standard_normal((4, 6, 10)).astype(np.float32)
    path = tmp_path / "1D_Burgers_Sols_Nu0.01.hdf5"
    with h5py.File(path, "w") as f:
        f["tensor"] = tensor
        f["x-coordinate"] = np.linspace(0, 1, 10)
        f["t-coordinate"] = np.linspace(0, 2, 7)
    with open_dataset(path) as d:
        assert d.format == "pdebench" and d.u.shape == (4, 6, 1, 10)
        np.testing.assert_array_equal(d.u[:, :, 0], tensor)
        np.testing.assert_array_equal(d.u[2, 3, 0], tensor[2, 3])
        np.testing.assert_allclose(d.times, np.linspace(0, 2, 7)[:6])
        np.testing.assert_array_equal(d.grid[0], np.linspace(0, 1, 10))
        np.testing.assert_array_equal(d.params["nu"], np.full(4, 0.01))
        assert d.grid_names == ("x",) and d.pde == "1D_Burgers_Sols"


def test_params_from_names():
    assert params_from_name(Path("1D_Advection_Sols_beta0.1.hdf5")) == {"beta": 0.1}
    assert params_from_name(Path("ReacDiff_Nu0.5_Rho1e1.hdf5")) == {"nu": 0.5, "rho": 10.0}
    assert params_from_name(Path("2D_diff-react_NA_NA.h5")) == {}


@pytest.mark.parametrize("name, params", [
    ("1D_Burgers_Sols_Nu0.01_v2.hdf5", {"nu": 0.01}),
    ("burgers_seed42_run3.h5", {}),
    ("1D_CFD_Shock_Eta1.e-8_Zeta1.e-8_trans_Train.hdf5", {"eta": 1e-8, "zeta": 1e-8}),
    ("2D_CFD_Rand_M0.1_Eta1e-08_Zeta1e-08_periodic_512_Train.hdf5",
     {"m": 0.1, "eta": 1e-8, "zeta": 1e-8}),
    ("KH_M01_dk10_Re1e3.hdf5", {"m": 0.1, "re": 1000.0}),
    ("Turb_M05.hdf5", {"m": 0.5}),
    ("Turb_M1.hdf5", {"m": 1.0}),
    ("Sod1.hdf5", {}),
])
def test_only_pdebench_parameter_names_count(name, params):
    """Only PDEBench's parameter names (Nu, Beta, Rho, Eta, Zeta, M, Re) are read from a file
    name: '_v2', '_seed42', '_run3', 'dk10', 'Sod1' are not parameters (they changed n_params).
    PDEBench's test files write Mach 0.1 as 'M01'."""
    assert params_from_name(Path(name)) == params


def test_single_file_2d_trailing_channels_and_attr_params(tmp_path):
    """(N, T, X, Y, C) -> (N, T, C, X, Y); numeric file attrs become params (exact)."""
    rng = np.random.default_rng(1)
    tensor = rng.standard_normal((3, 2, 4, 5, 2)).astype(np.float32)
    path = tmp_path / "custom.h5"
    with h5py.File(path, "w") as f:
        f["tensor"] = tensor
        f["x-coordinate"] = np.arange(4.0)
        f["y-coordinate"] = np.arange(5.0)
        f["t-coordinate"] = [0.0, 0.5]
        f.attrs["Beta"] = 2.5
    with open_dataset(path) as d:
        assert d.u.shape == (3, 2, 2, 4, 5) and d.grid_names == ("x", "y")
        np.testing.assert_array_equal(d.u[:], np.moveaxis(tensor, -1, 2))
        np.testing.assert_array_equal(d.params["beta"], [2.5] * 3)


def test_cfd_fields(tmp_path):
    """density/pressure/Vx files: one channel per field, in PDEBench's order (exact)."""
    rng = np.random.default_rng(2)
    fields = {k: rng.standard_normal((2, 3, 8)).astype(np.float32)
              for k in ("Vx", "density", "pressure")}
    path = tmp_path / "1D_CFD_Rand_Eta0.01_Zeta0.1_periodic_Train.hdf5"
    with h5py.File(path, "w") as f:
        for k, v in fields.items():
            f[k] = v
        f["x-coordinate"] = np.arange(8.0)
        f["t-coordinate"] = np.arange(4.0)
    with open_dataset(path) as d:
        assert d.channel_names == ("density", "pressure", "Vx")
        for c, k in enumerate(d.channel_names):
            np.testing.assert_array_equal(d.u[:, :, c], fields[k])
        assert d.params["eta"][0] == 0.01 and d.params["zeta"][1] == 0.1


def test_darcy_coefficient_becomes_a_channel(tmp_path):
    rng = np.random.default_rng(3)
    nu = rng.uniform(size=(2, 4, 4)).astype(np.float32)
    sol = rng.uniform(size=(2, 1, 4, 4)).astype(np.float32)
    path = tmp_path / "2D_DarcyFlow_beta1.0_Train.hdf5"
    with h5py.File(path, "w") as f:
        f["nu"], f["tensor"] = nu, sol
        f["x-coordinate"] = f["y-coordinate"] = np.arange(4.0)
    with open_dataset(path) as d:
        assert d.u.shape == (2, 1, 2, 4, 4) and d.channel_names == ("nu", "u")
        np.testing.assert_array_equal(d.u[:, 0, 0], nu)
        np.testing.assert_array_equal(d.u[:, 0, 1], sol[:, 0])


@pytest.mark.parametrize("nu_shape, sol_shape", [((2, 4, 3), (2, 1, 4, 4)),  # nu's grid
                                                  ((3, 4, 4), (2, 1, 4, 4)),  # nu's count
                                                  ((2, 4, 4), (2, 3, 4, 4))])  # 3 times
def test_a_darcy_coefficient_that_does_not_fit_is_refused(tmp_path, nu_shape, sol_shape):
    """Read without its 'nu', such a file trained a model that never saw the coefficient."""
    path = tmp_path / "2D_DarcyFlow_beta1.0_Train.hdf5"
    with h5py.File(path, "w") as f:
        f["nu"], f["tensor"] = np.ones(nu_shape, np.float32), np.ones(sol_shape, np.float32)
        f["x-coordinate"] = f["y-coordinate"] = np.arange(4.0)
    with pytest.raises(ValueError, match=re.escape(
            f"'nu' of shape {nu_shape} beside 'tensor' of shape {sol_shape}: a PDEBench Darcy "
            f"file holds the coefficient 'nu' (N, *grid) = {(sol_shape[0], 4, 4)}")):
        open_dataset(path)


def test_grouped_layout(tmp_path):
    """Per-seed groups with data (T, X, Y, C) and grid/x, grid/y, grid/t (exact)."""
    rng = np.random.default_rng(4)
    data = rng.standard_normal((3, 5, 4, 6, 2)).astype(np.float32)
    path = tmp_path / "2D_diff-react_NA_NA.h5"
    with h5py.File(path, "w") as f:
        for i in range(3):
            g = f.create_group(f"{i:04d}")
            g["data"] = data[i]
            g["grid/x"], g["grid/y"] = np.arange(4.0), np.arange(6.0) / 6
            g["grid/t"] = np.linspace(0, 1, 5)
    with open_dataset(path) as d:
        assert d.u.shape == (3, 5, 2, 4, 6) and d.channel_names == ("u0", "u1")
        np.testing.assert_array_equal(d.u[:], np.moveaxis(data, -1, 2))
        np.testing.assert_array_equal(d.u[[2, 0], 1], np.moveaxis(data[[2, 0], 1], -1, 1))
        np.testing.assert_array_equal(d.times, np.linspace(0, 1, 5))
        np.testing.assert_array_equal(d.sim_id, [0, 1, 2])


def test_unsupported_layouts_say_so(tmp_path):
    path = tmp_path / "ns_incom_inhom_2d_512-0.h5"
    with h5py.File(path, "w") as f:
        f["velocity"] = np.zeros((1, 2, 4, 4, 2), np.float32)
        f["t"] = np.zeros((1, 2))
    with pytest.raises(ValueError, match="incompressible.*not supported"):
        open_dataset(path)
    path = tmp_path / "bad.hdf5"
    with h5py.File(path, "w") as f:
        f["tensor"] = np.zeros((2, 3, 4), np.float32)
        f["x-coordinate"] = np.arange(5.0 + 2)
    with pytest.raises(ValueError, match="x-coordinate"):
        open_dataset(path)


@pytest.mark.parametrize("n_entries, ok", [(11, True), (12, True), (10, False), (202, False)])
def test_t_coordinate_has_t_or_t_plus_1_entries(tmp_path, n_entries, ok):
    """tensor (2, 11, 8): a t-coordinate of 11 or 12 entries gives the first 11 (exact); one of
    10 or of 202 (the data subsampled in time, the coordinate not) is one ValueError naming the
    file, the key and both lengths."""
    path = tmp_path / "sub.hdf5"
    with h5py.File(path, "w") as f:
        f["tensor"] = np.zeros((2, 11, 8), np.float32)
        f["x-coordinate"] = np.arange(8.0)
        f["t-coordinate"] = np.linspace(0, 2, n_entries)
    if ok:
        with open_dataset(path) as d:
            np.testing.assert_array_equal(d.times, np.linspace(0, 2, n_entries)[:11])
        return
    with pytest.raises(ValueError, match=rf"^'.*sub\.hdf5': 't-coordinate' has {n_entries} "
                                         r"entries but the data have 11 time steps \(expected "
                                         r"11, or 12"):
        open_dataset(path)


def test_grouped_t_of_the_wrong_length_is_named(tmp_path):
    path = tmp_path / "2D_diff-react_NA_NA.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("0000")
        g["data"] = np.zeros((5, 4, 2), np.float32)
        g["grid/x"], g["grid/t"] = np.arange(4.0), np.arange(9.0)
    with pytest.raises(ValueError, match=r"'0000/grid/t' has 9 entries but the data have 5"):
        open_dataset(path)


def test_darcy_keeps_one_time_of_its_ten(tmp_path):
    """PDEBench's Darcy files hold a 10-entry t-coordinate beside the steady solution (T = 1)."""
    path = tmp_path / "2D_DarcyFlow_beta1.0_Train.hdf5"
    with h5py.File(path, "w") as f:
        f["nu"], f["tensor"] = np.ones((2, 4, 4), np.float32), np.ones((2, 1, 4, 4), np.float32)
        f["x-coordinate"] = f["y-coordinate"] = np.arange(4.0)
        f["t-coordinate"] = np.linspace(0, 1, 10)
    with open_dataset(path) as d:
        assert d.u.shape == (2, 1, 2, 4, 4) and d.times.tolist() == [0.0]


def _tensor_group(f):
    f.create_group("tensor")


@pytest.mark.parametrize("write, message", [
    (_tensor_group, r"'tensor' is an HDF5 group; expected a numeric array \(N, T, \*grid\)"),
    (lambda f: f.create_dataset("tensor", data=np.zeros(8, np.float32)),
     r"'tensor' has shape \(8,\); expected 3 to 6 axes \(N, T, \*grid\)"),
    (lambda f: f.create_dataset("tensor", data=np.zeros((8, 4), np.float32)),
     r"'tensor' has shape \(8, 4\); expected 3 to 6 axes"),
    (lambda f: f.create_dataset("tensor", data=np.array([[[b"a"]]])),
     r"'tensor' holds strings; expected numbers"),
    (lambda f: (f.create_dataset("tensor", data=np.zeros((1, 2, 3), np.float32)),
                f.create_group("x-coordinate")), r"'x-coordinate' is an HDF5 group"),
    (lambda f: (f.create_dataset("tensor", data=np.zeros((1, 2, 3), np.float32)),
                f.create_dataset("t-coordinate", data=np.array([b"0", b"1"]))),
     r"'t-coordinate' holds strings"),
    (lambda f: (f.create_dataset("density", data=np.zeros((1, 2, 3), np.float32)),
                f.create_group("Vx")), r"'Vx' is an HDF5 group"),
    (lambda f: (f.create_group("0000").create_dataset("data", data=np.array([b"a", b"b"])),
                f.create_dataset("0000/grid/x", data=np.arange(2.0))),
     r"'0000/data' holds strings"),
])
def test_malformed_files_are_one_error_naming_file_and_key(tmp_path, write, message):
    """Data or coordinates that are groups, strings or lack axes: one ValueError naming the
    file and the key (was: AttributeError 'Group' object has no attribute 'ndim', 'not enough
    values to unpack', a (8, 4) tensor read as a 0-D grid, a string tensor read as data)."""
    path = tmp_path / "bad.hdf5"
    with h5py.File(path, "w") as f:
        write(f)
    with pytest.raises(ValueError, match=rf"^'.*bad\.hdf5': {message}"):
        open_dataset(path)


def test_pde_name_leaves_out_parameters_and_split():
    """Files of one PDE at other parameter values or splits name the same PDE (predict compares
    it); other tokens stay."""
    from pdesurrogate.datasets.pdebench import pde_from_name

    for stem, pde in [("1D_Burgers_Sols_Nu0.01", "1D_Burgers_Sols"),
                      ("1D_Burgers_Sols_Nu1.0", "1D_Burgers_Sols"),
                      ("2D_DarcyFlow_beta1.0_Train", "2D_DarcyFlow"),
                      ("2D_CFD_Rand_M0.1_Eta0.01_Zeta0.01_periodic_128_Train",
                       "2D_CFD_Rand_periodic_128"),
                      ("ReacDiff_Nu0.5_Rho1.0", "ReacDiff"),
                      ("Nu0.1", "Nu0.1")]:
        assert pde_from_name(Path(stem + ".hdf5")) == pde, stem


def test_cell_edge_coordinates_become_cell_centres(tmp_path):
    """A coordinate with one entry more than the data's points holds cell edges: the grid is
    their midpoints, (2i + 1) / 16 for the edges i / 8 of 8 cells (exact in binary); one with
    as many entries as points is kept as is. Both layouts: a 2-D tensor file (x edges, y
    points) and per-seed groups (grid/x edges)."""
    centres = (2 * np.arange(8) + 1) / 16
    y = np.linspace(0, 1, 5)
    tensor = np.zeros((2, 3, 8, 5), np.float32)
    single = tmp_path / "2D_edges.hdf5"
    with h5py.File(single, "w") as f:
        f["tensor"] = tensor
        f["x-coordinate"], f["y-coordinate"] = np.linspace(0, 1, 9), y
    grouped = tmp_path / "2D_diff-react_NA_NA.h5"
    with h5py.File(grouped, "w") as f:
        for i in range(2):
            f[f"{i:04d}/data"] = tensor[i]
            f[f"{i:04d}/grid/x"], f[f"{i:04d}/grid/y"] = np.linspace(0, 1, 9), y
            f[f"{i:04d}/grid/t"] = np.arange(3.0)
    for path in (single, grouped):
        with open_dataset(path) as d:
            assert d.u.shape == (2, 3, 1, 8, 5), path
            np.testing.assert_array_equal(d.grid[0], centres)
            np.testing.assert_array_equal(d.grid[1], y)


def test_times_are_read_as_stored_not_from_zero(tmp_path):
    """Saved times that start later than 0 (a run restarted at t = 1.5) keep their values in
    both layouts: the first T of a T + 1 t-coordinate, and a grouped file's grid/t."""
    times = 1.5 + 0.25 * np.arange(4)
    single = tmp_path / "late.hdf5"
    with h5py.File(single, "w") as f:
        f["tensor"] = np.zeros((2, 3, 4), np.float32)
        f["x-coordinate"], f["t-coordinate"] = np.arange(4.0), times
    grouped = tmp_path / "1D_diff-sorp_NA_NA.h5"
    with h5py.File(grouped, "w") as f:
        f["0000/data"] = np.zeros((3, 4, 1), np.float32)
        f["0000/grid/x"], f["0000/grid/t"] = np.arange(4.0), times[:3]
    for path in (single, grouped):
        with open_dataset(path) as d:
            np.testing.assert_array_equal(d.times, times[:3])
