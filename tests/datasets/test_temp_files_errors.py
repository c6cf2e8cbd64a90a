"""An OSError from making a temporary (a folder that is gone or read-only) names the target the
user gave, not the temporary name nobody chose (temp_files' docstring)."""

import pytest

from pdesurrogate.datasets.temp_files import open_temp_file
from pdesurrogate.temp_files import temp_dir


def test_open_temp_file_names_the_target(tmp_path):
    target = tmp_path / "gone" / "burgers.nc"
    with pytest.raises(FileNotFoundError) as err:
        open_temp_file(target)
    assert err.value.filename == str(target)
    assert str(target) in str(err.value) and ".tmp" not in str(err.value)


def test_temp_dir_names_the_target(tmp_path):
    target = tmp_path / "gone" / "export"
    with pytest.raises(FileNotFoundError) as err:
        temp_dir(target)
    assert err.value.filename == str(target)
    assert ".tmp" not in str(err.value)
