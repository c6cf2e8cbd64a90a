"""The datasets package loads its modules on first use: its public names and submodules
resolve as attributes, an unknown name is an AttributeError, and importing the package alone
(as the light ``temp_files`` needs) brings in neither h5py nor torch."""

import subprocess
import sys

import pytest


def test_names_and_submodules_resolve_on_first_use():
    import pdesurrogate.datasets as ds

    for name in ds.__all__:
        assert getattr(ds, name).__name__ == name
    assert ds.reader.open_dataset is ds.open_dataset
    assert ds.file_set.FileSet is ds.FileSet  # a folder read as one dataset
    assert set(ds.__all__) <= set(dir(ds))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = ds.nope


def test_the_package_alone_imports_no_readers():
    code = ("import sys, pdesurrogate.datasets\n"
            "assert not {'h5py', 'torch', 'pdesurrogate.datasets.reader'} & set(sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
