"""``pdesurrogate online`` with a ``trainer.precision`` the model cannot run in: a usage error
(exit 2, one line) before the MPI job starts and before ``OUT`` is written, as the help's "2 a
bad option or config value (nothing started)" says."""

import importlib.util
import subprocess
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("online_test_helpers",
                                               Path(__file__).with_name("test_online.py"))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


def test_a_precision_the_model_cannot_run_is_a_usage_error_before_the_job(
        tmp_path, capsys, monkeypatch):
    """Before, the refusal came from NextStepModule.setup in the trainer rank: exit 1, a
    traceback from inside the MPI job, and OUT already written (config.yaml, logs, csv/).
    The job is replaced here by a failure: on a failure of this test it would have started.
    The precisions that keep float32 weights (16 is Lightning's alias of 16-mixed) pass."""
    from pdesurrogate.cli import main
    from pdesurrogate.online import _parse, _preflight, launcher

    def job_started(*args, **kwargs):
        raise AssertionError("the MPI job was started")

    monkeypatch.setattr(launcher, "_run_job", job_started)
    cfg = helpers.write_config(tmp_path)
    out = tmp_path / "run"
    # 64 is Lightning's alias of 64-true, read as Lightning reads it
    for precision, refused in (("64-true", "64-true"), ("64", "64-true"),
                               ("bf16-true", "bf16-true")):
        rc = main(["online", "--config", str(cfg), "--out", str(out),
                   "--trainer.precision", precision])
        err = capsys.readouterr().err
        assert rc == 2, err
        assert err.startswith(f"pdesurrogate online: error: online config: trainer.precision="
                              f"{refused!r} cannot run FNO: "), err
        assert "FNO runs in float32 only" in err and "Traceback" not in err, err
        assert not out.exists()
    for precision in ("32-true", "bf16-mixed", "16", "bf16"):
        parser, ns, _ = _parse(["--config", str(cfg), "--trainer.precision", precision])
        _preflight(parser, ns)


def test_under_your_own_mpiexec_the_refusal_is_one_line_before_training(tmp_path):
    """Under the user's own mpiexec no launcher runs the preflight: the trainer rank checks
    the precision with the model's other checks, and ends the job with the message alone
    (exit 1, as any failure inside the job). Before, setup raised it inside trainer.fit: a
    traceback and "fatal: ValueError"."""
    mpiexec = helpers.BIN / "mpiexec"
    if not mpiexec.exists():
        pytest.skip("no mpiexec next to python")
    out = tmp_path / "r"
    cmd = [str(mpiexec), "-launcher", "fork", "-n", "2", *helpers.PDESURROGATE, "--config",
           str(helpers.write_config(tmp_path)), "--out", str(out), "--trainer.precision",
           "64-true"]
    job = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                         env=helpers.env_with(tmp_path), cwd=tmp_path)
    output = job.stdout + job.stderr
    assert job.returncode == 1, output
    assert ("[online rank 0 (trainer)] error: online config: trainer.precision='64-true' "
            "cannot run FNO: ") in output, output
    assert "Traceback" not in output and not (out / "csv").exists(), output
    # the shared memory of the aborted job, which no launcher removes here (as a launcher would)
    from pdesurrogate.online import _clean_up_after_job

    _clean_up_after_job(out)
