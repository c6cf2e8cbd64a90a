"""A fit that failed in set-up released its ``csv/version_N`` and ``tensorboard/version_N``
but left the ``csv/`` and ``tensorboard/`` folders above them, and the run root itself,
empty behind (Lightning's loggers make those before a version is claimed). The failed fit now
leaves its root as it found it; a folder that existed before, or holds anything, stays."""

from pdesurrogate.cli import main
from tests import test_cli_fit as fit

data = fit.data  # the fixture: 10 Burgers trajectories

WRONG = ["--model.init_args.model.init_args.in_channels", "5"]


def _tree(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_a_fit_failing_in_set_up_leaves_its_folder_as_it_was(tmp_path, data, capsys):
    before = _tree(tmp_path)
    root = tmp_path / "runs" / "f4"
    assert main(["fit", "--config", fit.CONFIG, *fit.tiny(data, root), *WRONG]) == 2
    assert "5 channel(s)" in capsys.readouterr().err
    assert _tree(tmp_path) == before


def test_folders_that_existed_or_hold_another_run_stay(tmp_path, data, capsys):
    root = tmp_path / "runs"
    (root / "csv" / "version_0").mkdir(parents=True)  # another run's
    (root / "empty").mkdir()
    before = _tree(root)
    assert main(["fit", "--config", fit.CONFIG, *fit.tiny(data, root), *WRONG]) == 2
    capsys.readouterr()
    assert _tree(root) == before  # tensorboard/ made and released, csv/version_1 too
