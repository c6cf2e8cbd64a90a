"""File names near the 255-byte limit of a file name: every writer's temporary beside the
target (``.<name>.<host>.<pid>.<random>.tmp``) was ~40 bytes longer than the name, so a legal
name of 215-255 bytes was refused ("File name too long" on a temporary the user never named),
and a name over the limit was found out only after the work, at the rename."""

import errno
import os

import numpy as np
import pytest

from pdesurrogate.datasets import generate_dataset, open_dataset
from pdesurrogate.datasets.temp_files import (
    clean_leftovers,
    leftover_pattern,
    open_temp_file,
    temp_name,
)
from pdesurrogate.solvers import Burgers1D

# 239 bytes: 100 two-byte characters, legal on every Linux filesystem
LONG = "é" * 100 + "a" * 36 + ".nc"


def test_a_dataset_with_a_name_near_the_limit_is_written(tmp_path):
    path = tmp_path / LONG
    generate_dataset(Burgers1D(n_points=16), path, samples=2, times=np.linspace(0, 0.1, 2),
                     seed=0, workers=1)
    assert open_dataset(path).u.shape[0] == 2
    assert os.listdir(tmp_path) == [LONG]  # no temporary left beside it


def test_long_names_get_distinct_temporaries_their_cleaner_finds(tmp_path):
    """Two long names that begin alike keep apart: a leftover of one is not the other's."""
    a, b = tmp_path / ("x" * 229 + "a"), tmp_path / ("x" * 229 + "b")
    tmp, f = open_temp_file(a)
    f.close()
    assert len(os.fsencode(tmp.name)) <= 255
    assert leftover_pattern(a).fullmatch(tmp.name) and not leftover_pattern(b).fullmatch(tmp.name)
    os.rename(tmp, tmp.with_name(tmp.name.replace(f".{os.getpid()}.", ".999999999.")))
    with pytest.warns(UserWarning):
        assert len(clean_leftovers(a)) == 1
    assert os.listdir(tmp_path) == []


def test_a_name_over_the_limit_is_refused_before_any_work(tmp_path):
    with pytest.raises(OSError) as err:
        temp_name(tmp_path / ("a" * 256 + ".nc"))
    assert err.value.errno == errno.ENAMETOOLONG and "a" * 256 in str(err.value)
