"""Which loggers of the ``--config`` files follow a new ``trainer.default_root_dir``
(``cli.run_paths._loggers_follow_root``), case by case on a parsed run: a single logger as well
as a list, several ``--config`` files, ``~`` and spellings of the same folder, no root at all.
The whole command is run for the case of a second config file that names the new root."""

import os
import warnings
from pathlib import Path

import yaml
from jsonargparse import Namespace
from jsonargparse import Path as ConfigPath

from pdesurrogate.cli import main
from pdesurrogate.cli.run_paths import _loggers_follow_root
from tests.test_cli_saved_config_root import BARS_OFF, _versions, fitted  # noqa: F401

CSV = "lightning.pytorch.loggers.CSVLogger"


def _logger(save_dir: str, name: str = "csv") -> Namespace:
    return Namespace(class_path=CSV, init_args=Namespace(save_dir=save_dir, name=name))


def _run(tmp_path: Path, files: list[dict], root, logger) -> Namespace:
    """A parsed run: ``files`` written as the --config files, ``root`` and ``logger`` as parsed
    (the files' values, then the command line's)."""
    paths = []
    for i, content in enumerate(files):
        path = tmp_path / f"config{i}.yaml"
        path.write_text(yaml.safe_dump(content))
        paths.append(ConfigPath(str(path), mode="fr"))
    return Namespace(config=paths, trainer=Namespace(default_root_dir=root, logger=logger))


def _follow(run: Namespace) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. a deprecated jsonargparse call, shown to users
        _loggers_follow_root(run)


def test_a_single_logger_follows_as_a_list_does(tmp_path):
    run = _run(tmp_path, [{"trainer": {"default_root_dir": "/r/old"}}], "/r/new",
               _logger("/r/old"))
    _follow(run)
    assert run.trainer.logger.init_args.save_dir == "/r/new"


def test_of_several_files_naming_the_root_the_last_one_counts(tmp_path):
    """Two saved configs: the loggers (the second's) follow the second's root; a logger under
    the first one's root is a folder of the user's own by then, and stays."""
    files = [{"trainer": {"default_root_dir": "/r/first", "logger": [{"class_path": CSV}]}},
             {"trainer": {"default_root_dir": "/r/second", "logger": [{"class_path": CSV}]}}]
    run = _run(tmp_path, files, "/r/new", [_logger("/r/second"), _logger("/r/first", "tb")])
    _follow(run)
    assert [lg.init_args.save_dir for lg in run.trainer.logger] == ["/r/new", "/r/first"]


def test_a_later_file_naming_only_the_root_moves_the_loggers_of_an_earlier_one(tmp_path):
    """``--config run/config.yaml --config root.yaml`` moves the saved loggers as
    ``--trainer.default_root_dir`` does. Before, the last root named was taken for the one the
    loggers followed, and they stayed in the fit's folder."""
    files = [{"trainer": {"default_root_dir": "/r/fit", "logger": [{"class_path": CSV}]}},
             {"trainer": {"default_root_dir": "/r/new"}}]
    run = _run(tmp_path, files, "/r/new", [_logger("/r/fit")])
    _follow(run)
    assert run.trainer.logger[0].init_args.save_dir == "/r/new"


def test_tilde_and_other_spellings_of_the_root_match(tmp_path, monkeypatch):
    """The files' ``~/fit`` matches a logger's ``~/fit`` (the parsed root is expanded, a
    logger's save_dir is not), and ``runs/fit/`` or ``./runs/fit`` match ``runs/fit``."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    run = _run(tmp_path, [{"trainer": {"default_root_dir": "~/fit"}}],
               os.path.expanduser("~/new"), [_logger("~/fit")])
    _follow(run)
    assert run.trainer.logger[0].init_args.save_dir == str(tmp_path / "home" / "new")
    run = _run(tmp_path, [{"trainer": {"default_root_dir": "runs/fit"}}], "test1",
               [_logger("runs/fit/"), _logger("./runs/fit", "tb"),
                _logger(str(tmp_path / "runs" / "fit"), "abs"), _logger("runs/fit2", "own")])
    _follow(run)
    assert [lg.init_args.save_dir for lg in run.trainer.logger] == ["test1"] * 3 + ["runs/fit2"]


def test_no_root_on_the_command_line_means_runs(tmp_path):
    """``--trainer.default_root_dir null``: the loggers go under ``runs``, where fit logs when no
    root is named, not to a save_dir of None."""
    run = _run(tmp_path, [{"trainer": {"default_root_dir": "/r/fit"}}], None, [_logger("/r/fit")])
    _follow(run)
    assert run.trainer.logger[0].init_args.save_dir == "runs"


def test_the_same_root_moves_nothing(tmp_path):
    run = _run(tmp_path, [{"trainer": {"default_root_dir": "/r/fit"}}], "/r/fit",
               [_logger("/r/fit")])
    _follow(run)
    assert run.trainer.logger[0].init_args.save_dir == "/r/fit"


def test_test_with_a_second_config_naming_the_root(fitted, tmp_path, capsys):  # noqa: F811
    """``test --config RUN/config.yaml --config root.yaml``, root.yaml naming the new root: the
    test's run folder is under it, and the fit's root keeps the fit's run alone."""
    new = tmp_path / "test2"
    override = tmp_path / "root.yaml"
    override.write_text(yaml.safe_dump({"trainer": {"default_root_dir": str(new)}}))
    assert main(["test", "--config", str(fitted / "config.yaml"), "--config", str(override),
                 "--ckpt_path", str(fitted / "checkpoints" / "last.ckpt"), *BARS_OFF]) == 0
    err = capsys.readouterr().err
    assert f"test: run folder {new / 'csv' / 'version_0'}" in err.splitlines(), err
    root = fitted.parent.parent
    assert _versions(root, "csv") == _versions(root, "tensorboard") == ["version_0"]
