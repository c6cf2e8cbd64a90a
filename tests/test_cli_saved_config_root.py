"""The config.yaml a fit saved, given again with another ``--trainer.default_root_dir``: its run
folder goes under that root. The saved config lists the CSV and TensorBoard loggers the CLI
added, with the fit's root written out as their save_dir, and those used to stay there:
``test --config RUN/config.yaml ... --trainer.default_root_dir test1`` wrote ``csv/version_1``
beside the fit's. A logger whose save_dir is a folder of the user's own keeps it."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from pdesurrogate.cli import main
from pdesurrogate.datasets import generate_dataset
from pdesurrogate.solvers import Burgers1D
from tests import test_cli_fit as fit

OLD = Path(__file__).parent / "fixtures" / "compat" / "0f8a5e0"
BARS_OFF = ["--trainer.enable_progress_bar", "false"]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> Path:
    """The run folder (``csv/version_0``) of one tiny Burgers fit into ``<tmp>/run``."""
    tmp = tmp_path_factory.mktemp("fitted")
    data = tmp / "burgers.nc"
    generate_dataset(Burgers1D(n_points=32, nu_range=(0.01, 0.1), ic="grf"), data, samples=10,
                     times=np.linspace(0, 1, 3), seed=0, workers=1)
    assert main(["fit", "--config", fit.CONFIG, *fit.tiny(str(data), tmp / "run"),
                 *BARS_OFF]) == 0
    return tmp / "run" / "csv" / "version_0"


def _versions(root: Path, name: str) -> list[str]:
    return sorted(p.name for p in (root / name).iterdir()) if (root / name).is_dir() else []


def test_test_with_the_saved_config_logs_under_the_new_root(fitted, tmp_path, capsys):
    new = tmp_path / "test1"
    assert main(["test", "--config", str(fitted / "config.yaml"), "--ckpt_path",
                 str(fitted / "checkpoints" / "last.ckpt"), "--trainer.default_root_dir",
                 str(new), *BARS_OFF]) == 0
    err = capsys.readouterr().err
    assert f"test: run folder {new / 'csv' / 'version_0'}" in err.splitlines(), err
    assert (new / "csv" / "version_0" / "metrics.csv").is_file()
    assert _versions(new, "tensorboard") == ["version_0"]
    # the fit's root holds the fit's run alone
    root = fitted.parent.parent
    assert _versions(root, "csv") == _versions(root, "tensorboard") == ["version_0"]
    # and the test's own config.yaml, given again, stays under test1
    saved = yaml.safe_load((new / "csv" / "version_0" / "config.yaml").read_text())
    assert {lg["init_args"]["save_dir"] for lg in saved["trainer"]["logger"]} == {str(new)}


def test_fit_with_the_saved_config_runs_again_under_the_new_root(fitted, tmp_path, capsys):
    new = tmp_path / "elsewhere"
    assert main(["fit", "--config", str(fitted / "config.yaml"),
                 "--trainer.default_root_dir", str(new), *BARS_OFF]) == 0
    run = new / "csv" / "version_0"
    assert f"fit: run folder {run}; checkpoint {run / 'checkpoints' / 'last.ckpt'}" in \
        capsys.readouterr().err.splitlines()
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert _versions(new, "tensorboard") == ["version_0"]
    root = fitted.parent.parent
    assert _versions(root, "csv") == ["version_0"]


def test_a_logger_with_its_own_save_dir_keeps_it(fitted, tmp_path, capsys):
    """A user's config with a CSV logger of their own folder and a TensorBoard logger under
    the root: given a new root, the TensorBoard logs follow it and the CSV logs stay."""
    config = yaml.safe_load((fitted / "config.yaml").read_text())
    root, own, new = tmp_path / "root", tmp_path / "own", tmp_path / "new"
    config["trainer"]["default_root_dir"] = str(root)
    config["trainer"]["logger"] = [
        {"class_path": "lightning.pytorch.loggers.CSVLogger",
         "init_args": {"save_dir": str(own), "name": "mine"}},
        {"class_path": "lightning.pytorch.loggers.TensorBoardLogger",
         "init_args": {"save_dir": str(root), "name": "tb"}}]
    user = tmp_path / "user.yaml"
    user.write_text(yaml.safe_dump(config))
    assert main(["test", "--config", str(user), "--ckpt_path",
                 str(fitted / "checkpoints" / "last.ckpt"), "--trainer.default_root_dir",
                 str(new), *BARS_OFF]) == 0, capsys.readouterr().err
    assert (own / "mine" / "version_0" / "metrics.csv").is_file()
    assert _versions(new, "tb") == ["version_0"]
    assert not root.exists()
    assert not (new / "mine").exists()


def test_a_config_saved_by_an_older_version_follows_the_new_root(tmp_path, capsys):
    """The compat fixture's config.yaml names Lightning's own loggers, save_dir its root."""
    config = tmp_path / "config.yaml"
    config.write_text((OLD / "cape_config.yaml").read_text().replace("/tmp/compat/0f8a5e0",
                                                                     str(tmp_path)))
    (tmp_path / "burgers.nc").symlink_to(OLD / "burgers.nc")
    new = tmp_path / "test1"
    assert main(["test", "--config", str(config), "--ckpt_path", str(OLD / "cape_last.ckpt"),
                 "--model.init_args.model.init_args.cape.init_args.padding_mode", "zeros",
                 "--trainer.default_root_dir", str(new), *BARS_OFF]) == 0, \
        capsys.readouterr().err
    assert _versions(new, "csv") == _versions(new, "tensorboard") == ["version_0"]
    assert not (tmp_path / "run_cape").exists()
