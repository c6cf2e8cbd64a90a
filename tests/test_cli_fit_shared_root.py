"""``pdesurrogate fit`` runs started together with one default_root_dir (a Slurm job array, a
few shells) shared csv/version_0: one metrics.csv with both runs' rows interleaved, one
config.yaml (the last run's seed), last.ckpt and last-v1.ckpt side by side. Fit's default
loggers now claim their version_N folder (pdesurrogate.training.version_claim)."""

from pathlib import Path

import yaml

from pdesurrogate.cli import main
from pdesurrogate.training import version_claim
from tests import test_cli_fit as fit

data = fit.data  # the fixture: 10 Burgers trajectories


def test_fit_logs_through_loggers_that_claim_their_folder(tmp_path, data, monkeypatch):
    root = tmp_path / "runs"
    # another fit of the same root makes csv/version_0 after this one listed the folder (and
    # found it empty) and before it made its own
    monkeypatch.setattr(version_claim, "claim_version", _also_made_by_another(
        version_claim.claim_version, root))
    assert main(["fit", "--config", fit.CONFIG, *fit.tiny(data, root)]) == 0
    saved = yaml.safe_load((root / "csv" / "version_1" / "config.yaml").read_text())
    assert [lg["class_path"] for lg in saved["trainer"]["logger"]] == [
        version_claim.CSV_CLASS_PATH, version_claim.TENSORBOARD_CLASS_PATH]
    assert sorted(p.name for p in (root / "csv").iterdir()) == ["version_0", "version_1"]
    assert not any((root / "csv" / "version_0").iterdir())  # the other run's, left alone
    assert (root / "tensorboard" / "version_1").is_dir()


def _also_made_by_another(real, root: Path):
    """claim_version, with the other fit making csv/version_0 just before this one's mkdir."""
    def claim(save_dir, name, first):
        (root / "csv" / "version_0").mkdir(parents=True, exist_ok=True)
        return real(save_dir, name, first)
    return claim
