"""The PDE a PDEBench file holds, read from its name: the parameter tokens and every split
suffix the docstring of ``pde_from_name`` names (``_Train``, ``_Valid``, ``_Test``) are left
out, so the files of one PDE's splits and parameter values name the same PDE."""

from pathlib import Path

import pytest

from pdesurrogate.datasets.pdebench import pde_from_name


@pytest.mark.parametrize("name", ["2D_DarcyFlow_beta1.0_Train.hdf5",
                                  "2D_DarcyFlow_beta1.0_Valid.hdf5",
                                  "2D_DarcyFlow_beta1.0_Test.hdf5",
                                  "2D_DarcyFlow_beta0.01.hdf5"])
def test_split_suffixes_and_parameters_are_not_part_of_the_pde(name):
    assert pde_from_name(Path(name)) == "2D_DarcyFlow"
