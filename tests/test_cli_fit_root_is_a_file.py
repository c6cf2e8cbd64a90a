"""``--trainer.default_root_dir`` naming a file (a dataset given in the wrong place) ended in
"NotADirectoryError: [Errno 20] Not a directory: 'good.nc/csv'"; it is one error naming the
option and the path, and the file is left as it was."""

import pytest

from pdesurrogate.cli import main
from tests import test_cli_fit as fit

data = fit.data  # the fixture: 10 Burgers trajectories


@pytest.mark.parametrize("below", ["", "runs"])
def test_a_file_as_the_run_root_is_one_error_naming_the_option(tmp_path, data, capsys, below):
    root = tmp_path / "burgers.nc" / below if below else tmp_path / "burgers.nc"
    size = (tmp_path / "burgers.nc").stat().st_size
    assert main(["fit", "--config", fit.CONFIG, *fit.tiny(data, root)]) == 2
    err = capsys.readouterr().err
    assert f"fit: error: ValueError: --trainer.default_root_dir {str(root)!r}" in err, err
    assert "is not a folder" in err and "NotADirectoryError" not in err
    assert (tmp_path / "burgers.nc").stat().st_size == size


def test_test_refuses_a_file_as_the_run_root_too(tmp_path, data, capsys):
    run = tmp_path / "runs"
    assert main(["fit", "--config", fit.CONFIG, *fit.tiny(data, run)]) == 0
    saved = str(run / "csv" / "version_0" / "config.yaml")
    ckpt = str(run / "csv" / "version_0" / "checkpoints" / "last.ckpt")
    capsys.readouterr()
    assert main(["test", "--config", saved, "--ckpt_path", ckpt,
                 "--trainer.default_root_dir", data]) == 2
    err = capsys.readouterr().err
    assert f"test: error: ValueError: --trainer.default_root_dir {data!r}" in err, err
    assert "is not a folder" in err
