"""The PDE a PDEBench file holds, read from its name: the parameter tokens and every split
suffix the docstring of ``pde_from_name`` names (``_Train``, ``_Valid``, ``_Test``) are left
out, so the files of one PDE's splits and parameter values name the same PDE. A parameter in
both the name and a file attribute takes the attribute's value."""

from pathlib import Path

import h5py
import numpy as np
import pytest

from pdesurrogate.datasets import open_dataset
from pdesurrogate.datasets.pdebench import pde_from_name


@pytest.mark.parametrize("name", ["2D_DarcyFlow_beta1.0_Train.hdf5",
                                  "2D_DarcyFlow_beta1.0_Valid.hdf5",
                                  "2D_DarcyFlow_beta1.0_Test.hdf5",
                                  "2D_DarcyFlow_beta0.01.hdf5"])
def test_split_suffixes_and_parameters_are_not_part_of_the_pde(name):
    assert pde_from_name(Path(name)) == "2D_DarcyFlow"


def test_a_file_attribute_wins_over_the_file_name(tmp_path):
    """PDEBench writes a parameter both in the name and as an attribute (Data_Merge.py:
    ``f.attrs["Nu"]``); where they differ (a renamed file) the attribute counts, lower-cased,
    and a parameter only in the name is still read."""
    path = tmp_path / "ReacDiff_Nu0.5_Rho1.0.hdf5"
    with h5py.File(path, "w") as f:
        f["tensor"] = np.zeros((2, 3, 4), np.float32)
        f["x-coordinate"], f["t-coordinate"] = np.arange(4.0), np.arange(4.0)
        f.attrs["Nu"] = 2.0
    with open_dataset(path) as d:
        assert {k: d.params[k].tolist() for k in d.params} == {"nu": [2.0, 2.0],
                                                               "rho": [1.0, 1.0]}
