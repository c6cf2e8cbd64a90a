"""PDEBench compressible-flow files (synthetic, written with h5py as PDEBench's Data_Merge.py
writes them): ``density``, ``pressure`` and one velocity per spatial axis, each
``(N, T, *grid)``, cell-centre coordinates, a ``t-coordinate`` of ``T + 1`` entries and the
``eta``, ``zeta``, ``M`` attributes. A file whose velocities do not match its spatial axes (a
2-D file without ``Vy``) is refused, naming the file and the key."""

import h5py
import numpy as np
import pytest

from pdesurrogate.datasets import open_dataset

N, T, NX, NY = 2, 3, 4, 5


def write_cfd(path, fields, shape, t_entries=T + 1, attrs=None) -> dict:
    """The ``fields`` of ``shape`` (random), ``x``/``y``/``z-coordinate`` cell centres of the
    unit interval for the spatial axes, ``t-coordinate`` ``0.05 * arange(t_entries)``."""
    rng = np.random.default_rng(0)
    values = {k: rng.standard_normal(shape).astype(np.float32) for k in fields}
    with h5py.File(path, "w") as f:
        for k, v in values.items():
            f[k] = v
        for a, size in zip("xyz"[:len(shape) - 2], shape[2:], strict=True):
            f[f"{a}-coordinate"] = (np.arange(size) + 0.5) / size
        f["t-coordinate"] = 0.05 * np.arange(t_entries)
        f.attrs.update(attrs or {})
    return values


def test_2d_cfd_file_in_pdebench_layout(tmp_path):
    """Channels density, pressure, Vx, Vy in that order (the file holds them alphabetically:
    Vx, Vy, density, pressure); the first T of the T + 1 times; parameters from the attributes
    and the name (exact)."""
    path = tmp_path / "2D_CFD_Rand_M0.1_Eta0.01_Zeta0.01_periodic_128_Train.hdf5"
    values = write_cfd(path, ("density", "pressure", "Vx", "Vy"), (N, T, NX, NY),
                       attrs={"eta": 0.01, "zeta": 0.01, "M": 0.1})
    with open_dataset(path) as d:
        assert d.channel_names == ("density", "pressure", "Vx", "Vy")
        assert d.u.shape == (N, T, 4, NX, NY) and d.grid_names == ("x", "y")
        full = d.u[:]
        for c, k in enumerate(d.channel_names):
            np.testing.assert_array_equal(full[:, :, c], values[k])
        np.testing.assert_array_equal(d.times, 0.05 * np.arange(T))
        np.testing.assert_array_equal(d.grid[0], (np.arange(NX) + 0.5) / NX)
        np.testing.assert_array_equal(d.grid[1], (np.arange(NY) + 0.5) / NY)
        assert {k: d.params[k][0] for k in d.params} == {"m": 0.1, "eta": 0.01, "zeta": 0.01}


@pytest.mark.parametrize("fields, shape, message", [
    (("density", "pressure", "Vx"), (N, T, NX, NY), r"2 spatial axes .*\['Vy'\] missing"),
    (("density", "pressure", "Vx", "Vy"), (N, T, NX, NY, 6),
     r"3 spatial axes .*\['Vz'\] missing"),
    (("density", "Vx"), (N, T, NX), r"1 spatial axes .*\['pressure'\] missing"),
    (("density", "pressure", "Vx", "Vy"), (N, T, NX), r"1 spatial axes .*\['Vy'\] extra"),
])
def test_velocities_that_do_not_match_the_axes_are_refused(tmp_path, fields, shape, message):
    """Was: read as a flow with one component fewer (or more), e.g. 3 channels for a 2-D flow."""
    path = tmp_path / "bad.hdf5"
    write_cfd(path, fields, shape)
    with pytest.raises(ValueError, match=rf"^'.*bad\.hdf5': a PDEBench CFD file with {message}"):
        open_dataset(path)
