"""A fit stopped in set-up after Lightning saved its config.yaml (a callback failing as the fit
starts, stdout closed at the model summary: ``pdesurrogate fit ... | true``) left
``csv/version_0`` holding that config.yaml alone, so the next fit landed in ``version_1``. Such a
folder is now released; one whose fit got as far as training (Lightning's ``hparams.yaml``,
written just before the first step) keeps its config."""

import os
import subprocess
import sys
from pathlib import Path

import lightning.pytorch as pl
import pytest

from pdesurrogate.cli import main
from pdesurrogate.training import version_claim
from tests import test_cli_fit as fit

data = fit.data  # the fixture: 10 Burgers trajectories
ROOT = Path(__file__).resolve().parents[2]


class FailsAtFitStart(pl.Callback):
    """Stops a fit after its set-up (config.yaml saved), before any training."""

    def on_fit_start(self, trainer, pl_module):
        raise RuntimeError("failed at fit start")


class FailsAfterTwoSteps(pl.Callback):
    """Stops a fit that has trained two steps, before any checkpoint or logged metric."""

    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step >= 2:
            raise RuntimeError("failed while training")


def _here(cls) -> str:
    return f"{__name__}.{cls.__name__}"


def test_a_config_saved_at_set_up_alone_is_released_and_one_with_hparams_kept(tmp_path):
    since = version_claim.claims_made()
    made = {}
    for name in ("set_up", "trained"):
        n = version_claim.claim_version(str(tmp_path), name, 0)
        made[name] = tmp_path / name / f"version_{n}"
        (made[name] / "config.yaml").write_text("trainer: {}\n")
    (made["trained"] / "hparams.yaml").write_text("{}\n")
    removed = version_claim.release_unwritten(since)
    # before: config.yaml kept both
    assert removed == [str(made["set_up"].resolve())]
    assert sorted(os.listdir(made["trained"])) == ["config.yaml", "hparams.yaml"]


def test_a_fit_failing_after_its_config_was_saved_leaves_no_version(tmp_path, data, capsys):
    root = tmp_path / "runs"
    args = ["fit", "--config", fit.CONFIG, *fit.tiny(data, root)]
    assert main([*args, "--trainer.callbacks+", _here(FailsAtFitStart)]) == 2
    assert "failed at fit start" in capsys.readouterr().err
    # before: csv/version_0 held config.yaml
    assert not root.exists()  # nor csv/ and tensorboard/, made by the fit
    assert main([*args, "--trainer.callbacks+", _here(FailsAfterTwoSteps)]) == 2
    assert "failed while training" in capsys.readouterr().err
    # the run that trained keeps its folder, config and all, as version_0
    kept = sorted(os.listdir(root / "csv" / "version_0"))
    assert kept == ["config.yaml", "hparams.yaml"], kept


@pytest.mark.slow
def test_a_fit_whose_stdout_closed_at_the_model_summary_leaves_no_version(tmp_path, data):
    root = tmp_path / "runs"
    command = [sys.executable, "-m", "pdesurrogate.cli", "fit", "--config", fit.CONFIG,
               *fit.tiny(data, root), "--trainer.enable_model_summary", "true"]
    done = subprocess.run(["bash", "-c", '"$@" | true; exit "${PIPESTATUS[0]}"', "fit",
                           *command], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 141, done.stderr[-3000:]
    # before: csv/version_0/config.yaml (rich's SystemExit was no Exception to release on)
    assert not root.exists(), sorted(map(str, root.rglob("*")))
