"""open_dataset on crafted files: no read leaves the file, and declared sizes cost nothing.

Each crafted file is built with h5py in ``tmp_path`` in one of the three layouts the readers
know (ours, PDEBench, The Well); its data array is made by a *maker* that either stores the
values normally or points them somewhere outside the file.
"""

import pickle
import shutil

import h5py
import numpy as np
import pytest

from pdesurrogate.datasets import open_dataset

N, T, X = 2, 3, 8
SECRET = b"SECRET-API-KEY=hunter2-"
VALUES = np.arange(N * T * X, dtype=np.float32).reshape(N, T, X) / 7


# -- makers: how the data array of shape (N, T, X) or (N, T, 1, X) is stored ---------------------
def plain(f, key, shape, tmp_path):
    f[key] = VALUES.reshape(shape)


def external_storage(f, key, shape, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_bytes((SECRET * 100)[: VALUES.nbytes])
    f.create_dataset(key, shape, "<f4", external=[(str(secret), 0, VALUES.nbytes)])


def virtual(f, key, shape, tmp_path):
    with h5py.File(tmp_path / "elsewhere.h5", "w") as g:
        g["values"] = VALUES.reshape(shape)
    layout = h5py.VirtualLayout(shape, "<f4")
    layout[...] = h5py.VirtualSource(str(tmp_path / "elsewhere.h5"), "values", shape)
    f.create_virtual_dataset(key, layout)


def external_link(f, key, shape, tmp_path):
    with h5py.File(tmp_path / "elsewhere.h5", "w") as g:
        g["values"] = VALUES.reshape(shape)
    f[key] = h5py.ExternalLink(str(tmp_path / "elsewhere.h5"), "/values")


def soft_to_external_link(f, key, shape, tmp_path):
    """A soft link in the file whose target lies behind an external link."""
    external_link(f, "hidden/ext", shape, tmp_path)
    f[key] = h5py.SoftLink("/hidden/ext")


# -- the three layouts ----------------------------------------------------------------------------
def ours(path, make, tmp_path):
    with h5py.File(path, "w") as f:
        f.attrs["pdesurrogate_format"], f.attrs["pde"] = 1, "toy"
        f["time"] = np.arange(T, dtype=np.float64)
        make(f, "u", (N, T, 1, X), tmp_path)
    return "u"


def pdebench(path, make, tmp_path):
    with h5py.File(path, "w") as f:
        f["x-coordinate"] = np.linspace(0, 1, X)
        f["t-coordinate"] = np.arange(T + 1, dtype=np.float64)
        make(f, "tensor", (N, T, X), tmp_path)
    return "tensor"


def the_well(path, make, tmp_path):
    with h5py.File(path, "w") as f:
        f.attrs["n_trajectories"] = N
        f.create_group("dimensions").attrs["spatial_dims"] = ["x"]
        f["dimensions/time"] = np.arange(T, dtype=np.float64)
        f["dimensions/x"] = np.linspace(0, 1, X)
        f.create_group("t0_fields").attrs["field_names"] = ["u"]
        make(f, "t0_fields/u", (N, T, X), tmp_path)
    return "t0_fields/u"


LAYOUTS = {"ours": ours, "pdebench": pdebench, "the_well": the_well}
ATTACKS = {"external_storage": (external_storage, "external storage.*secret.txt"),
           "virtual": (virtual, "virtual dataset.*elsewhere.h5"),
           "external_link": (external_link, "external link to '/values' in file .*elsewhere.h5"),
           "soft_to_external_link": (soft_to_external_link, "external link to '/values'")}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_plain_files_still_read(tmp_path, layout):
    """The control: the same files with their data stored in them read back exactly."""
    path = tmp_path / "1D_Burgers_Sols_Nu0.01.h5"
    LAYOUTS[layout](path, plain, tmp_path)
    with open_dataset(path) as d:
        assert d.u.shape == (N, T, 1, X)
        np.testing.assert_array_equal(d.u[:, :, 0], VALUES)


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_data_from_outside_the_file_is_refused(tmp_path, layout, attack):
    """External storage, a virtual dataset, an external link and a soft link through one are
    refused on opening with one ValueError naming the file and the key (not read: before the
    fix, external storage put the secret file's bytes into u)."""
    make, why = ATTACKS[attack]
    path = tmp_path / "1D_Burgers_Sols_Nu0.01.h5"
    key = LAYOUTS[layout](path, make, tmp_path)
    key = "hidden/ext" if attack == "soft_to_external_link" else key
    with pytest.raises(ValueError, match=f"1D_Burgers_Sols_Nu0.01.h5.*'{key}'.*{why}"):
        open_dataset(path)


def test_soft_link_inside_the_file_still_reads(tmp_path):
    """A soft link to a dataset of the same file is not a way out: it reads as before."""
    path = tmp_path / "1D_Burgers_Sols_Nu0.01.h5"
    with h5py.File(path, "w") as f:
        f["x-coordinate"] = np.linspace(0, 1, X)
        f["stored/tensor"] = VALUES
        f["tensor"] = h5py.SoftLink("/stored/tensor")
    with open_dataset(path) as d:
        np.testing.assert_array_equal(d.u[:, :, 0], VALUES)


def test_external_link_anywhere_in_the_file_is_refused(tmp_path):
    """An external link the readers would never look up is refused too: h5py opens the other
    file as soon as any lookup goes through it, and the file is not a format we know with it."""
    path = tmp_path / "1D_Burgers_Sols_Nu0.01.h5"
    pdebench(path, plain, tmp_path)
    with h5py.File(tmp_path / "elsewhere.h5", "w") as g:
        g["values"] = np.zeros(3)
    with h5py.File(path, "a") as f:
        f["extras/deep/link"] = h5py.ExternalLink(str(tmp_path / "elsewhere.h5"), "/values")
    with pytest.raises(ValueError, match="'extras/deep/link' is an external link"):
        open_dataset(path)


def test_file_replaced_after_opening_is_checked_on_reading(tmp_path):
    """The view reopens its file on first read: a file swapped in after opening (with the
    data in external storage) is refused then, naming file and key, and yields no bytes."""
    path = tmp_path / "1D_Burgers_Sols_Nu0.01.h5"
    pdebench(path, plain, tmp_path)
    data = open_dataset(path)
    evil = tmp_path / "evil.h5"
    pdebench(evil, external_storage, tmp_path)
    shutil.move(evil, path)
    with pytest.raises(ValueError, match="1D_Burgers_Sols_Nu0.01.h5.*'tensor'.*external storage"):
        data.u[0]
    data.close()


# -- declared sizes ------------------------------------------------------------------------------
HUGE = 10**12


@pytest.mark.parametrize("chunks", [(1, T, X), None], ids=["chunked", "contiguous"])
def test_unwritten_huge_tensor_is_refused_at_once(tmp_path, chunks):
    """A 2 KB file declaring 10**12 trajectories it never wrote -> one ValueError naming the
    file, the key and the declared shape (before: a MemoryError for 7.28 TiB, or with 2e8
    trajectories 34 s and 3.4 GB of zeros)."""
    path = tmp_path / "1D_Burgers_Sols_Nu0.01.hdf5"
    with h5py.File(path, "w") as f:
        f["x-coordinate"] = np.linspace(0, 1, X)
        f.create_dataset("tensor", (HUGE, T, X), "<f4", chunks=chunks)
    with pytest.raises(ValueError, match=rf"Nu0.01.hdf5': 'tensor' declares shape \({HUGE}, "
                       f"{T}, {X}\\) but the file holds no values"):
        open_dataset(path)


@pytest.mark.parametrize("layout", ["ours", "the_well"])
def test_unwritten_data_is_refused_in_every_layout(tmp_path, layout):
    """Ours and The Well too: data created with their shape and never written are refused
    (before: read as zeros)."""
    path = tmp_path / "data.h5"
    key = LAYOUTS[layout](path, lambda f, key, shape, _: f.create_dataset(key, shape, "<f4"),
                          tmp_path)
    with pytest.raises(ValueError, match=f"'{key}' declares shape .* holds no values"):
        open_dataset(path)


def test_opening_costs_nothing_per_declared_trajectory(tmp_path):
    """10**12 trajectories declared, one written (chunked storage, so the file stays tiny):
    opening reads only the first row of a per-sample t-coordinate, keeps the name's nu as a
    broadcast view and pickles small; the written trajectory reads back exactly."""
    path = tmp_path / "1D_Burgers_Sols_Nu0.01.hdf5"
    with h5py.File(path, "w") as f:
        f["x-coordinate"] = np.linspace(0, 1, X)
        ten = f.create_dataset("tensor", (HUGE, T, X), "<f4", chunks=(1, T, X))
        ten[0] = VALUES[0]
        tc = f.create_dataset("t-coordinate", (HUGE, T + 1), "f8", chunks=(1, T + 1))
        tc[0] = np.arange(T + 1) / 4
    with open_dataset(path) as d:
        assert len(d) == HUGE and d.u.shape == (HUGE, T, 1, X)
        nu = d.params["nu"]
        assert nu.shape == (HUGE,) and nu.strides == (0,) and nu[HUGE - 1] == 0.01
        np.testing.assert_array_equal(d.times, np.arange(T) / 4)
        np.testing.assert_array_equal(d.u[0, :, 0], VALUES[0])
        assert len(pickle.dumps(d)) < 10_000
        np.testing.assert_array_equal(pickle.loads(pickle.dumps(d)).params["nu"][:2], [0.01] * 2)


def test_the_well_huge_declared_count(tmp_path):
    """The Well with n_trajectories = 10**12: with a sample-varying field holding one written
    trajectory and a sample-varying time coordinate it opens at O(1) cost (constant scalars
    stay broadcast views); with no field carrying the trajectory axis it is refused, as the
    file holds one trajectory's data (before: a bare MemoryError for 7.28 TiB either way)."""
    def write(path, sample_varying):
        with h5py.File(path, "w") as f:
            f.attrs["n_trajectories"] = HUGE
            f.create_group("dimensions").attrs["spatial_dims"] = ["x"]
            time = f.create_dataset("dimensions/time", (HUGE, T), "f8", chunks=(1, T))
            time[0] = time[-1] = np.arange(T) / 2
            f["dimensions/x"] = np.linspace(0, 1, X)
            f.create_group("t0_fields").attrs["field_names"] = ["u"]
            if sample_varying:
                u = f.create_dataset("t0_fields/u", (HUGE, T, X), "<f4", chunks=(1, T, X))
                u[0] = VALUES[0]
            else:
                f["t0_fields/u"] = VALUES[0]
                f["t0_fields/u"].attrs["sample_varying"] = False
            f["scalars/nu"] = 0.5
    write(tmp_path / "varying.hdf5", True)
    with open_dataset(tmp_path / "varying.hdf5") as d:
        assert d.u.shape == (HUGE, T, 1, X) and d.params["nu"].strides == (0,)
        np.testing.assert_array_equal(d.times, np.arange(T) / 2)
        np.testing.assert_array_equal(d.u[0, :, 0], VALUES[0])
    write(tmp_path / "constant.hdf5", False)
    with pytest.raises(ValueError, match=f"constant.hdf5': attribute 'n_trajectories' declares "
                       f"{HUGE} trajectories but no field has a trajectory axis"):
        open_dataset(tmp_path / "constant.hdf5")


def test_memory_error_on_opening_names_file_and_shapes(tmp_path):
    """A coordinate declared with 2**57 entries (one chunk written, so it passes the storage
    check) cannot be read into memory: a ValueError naming the file and the declared shapes,
    not a bare MemoryError. 2**57 float64 exceed any address space, so no overcommit setting
    lets the allocation start."""
    big = 2**57
    path = tmp_path / "1D_Burgers_Sols_Nu0.01.hdf5"
    with h5py.File(path, "w") as f:
        ten = f.create_dataset("tensor", (1, T, big), "<f4", chunks=(1, T, X))
        ten[0, :, :X] = VALUES[0]
        x = f.create_dataset("x-coordinate", (big,), "f8", chunks=(X,))
        x[:X] = np.arange(X)
    with pytest.raises(ValueError, match=rf"Nu0.01.hdf5': opening it ran out of memory .* "
                       rf"'x-coordinate' \({big},\)"):
        open_dataset(path)



def test_file_replaced_by_one_with_an_external_link_is_refused_before_following_it(tmp_path):
    """A file swapped in after opening whose data is an external link is refused on the first
    read, naming file and key, without the link being followed: its target does not exist, so
    following it would raise h5py's KeyError ('unable to open external file') instead."""
    path = tmp_path / "1D_Burgers_Sols_Nu0.01.h5"
    pdebench(path, plain, tmp_path)
    data = open_dataset(path)
    evil = tmp_path / "evil.h5"
    with h5py.File(evil, "w") as f:
        f["tensor"] = h5py.ExternalLink(str(tmp_path / "never_written.h5"), "/values")
    shutil.move(evil, path)
    with pytest.raises(ValueError, match="1D_Burgers_Sols_Nu0.01.h5.*'tensor' is an external "
                                         "link.*never_written.h5"):
        data.u[0]
    assert not (tmp_path / "never_written.h5").exists()
    data.close()
