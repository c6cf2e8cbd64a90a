"""What a finished ``pdesurrogate online`` run under the user's own mpiexec (as under srun)
leaves in ``OUT``: the same as through the launcher. ``ranks/`` (each rank's PID and shared
memory record) goes; ``online.lock`` stays, as it does through the launcher."""

import importlib.util
from pathlib import Path

import pytest

# the MPI job runner of the rank-settings tests (and, through it, test_online's helpers)
_spec = importlib.util.spec_from_file_location(
    "online_rank_settings_tests", Path(__file__).with_name("test_online_rank_settings.py"))
ranks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ranks)
helpers = ranks.helpers


@ranks.pytestmark  # skipped without an mpiexec next to python
@pytest.mark.slow  # 8-14 s: make test stays under 10 min on a slow 2-core machine
def test_a_finished_run_under_your_own_mpiexec_leaves_no_ranks_folder(tmp_path):
    """Before, OUT/ranks/ (solver0.pid, solver0.shm, trainer0.pid, trainer0.shm) stayed after
    a clean end: only the launcher removed it."""
    cfg = helpers.write_config(tmp_path, simulations=6)
    out = tmp_path / "r"
    rc, log = ranks.mpi_job(2, [*helpers.PDESURROGATE, "--config", str(cfg), "--out",
                                str(out)], tmp_path, timeout=240)
    assert rc == 0, log
    assert helpers.summary(out)["status"] == "finished", log
    assert not (out / "ranks").exists(), sorted(p.name for p in (out / "ranks").iterdir())
    assert (out / "online.lock").is_file() and (out / "model").is_dir()


def test_the_help_says_what_a_finished_run_leaves_and_why_the_lock_stays(capsys):
    """Before, neither the help nor the README named online.lock, which every run leaves."""
    from pdesurrogate.cli import main

    with pytest.raises(SystemExit):
        main(["online", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert ("A finished run leaves in OUT config.yaml, the logs, model/, summary.json, the "
            "plots and online.lock (the run's lock file, kept on purpose: deleting it would "
            "let two runs hold a lock on OUT at once).") in text, text


@ranks.pytestmark
@pytest.mark.slow  # 8-14 s: make test stays under 10 min on a slow 2-core machine
def test_a_run_under_your_own_mpiexec_first_clears_an_aborted_jobs_leftovers(tmp_path):
    """An earlier job in OUT that was aborted left its shared-memory records in ranks/; the
    next run under the user's own mpiexec unlinks the segments they name on this host (as a
    launcher does before its job) before its own end removes ranks/ and, with it, the records.
    Before, the segment stayed in /dev/shm for good."""
    import socket
    import uuid

    from pdesurrogate.online.job_cleanup import MPICH_SHM, SHM_DIR

    if not SHM_DIR.is_dir():
        pytest.skip("no /dev/shm")
    name = f"mpich_shm_{uuid.uuid4().hex[:8]}_0"
    assert MPICH_SHM.fullmatch(name)
    segment = SHM_DIR / name
    segment.write_bytes(b"left by an aborted job")
    try:
        cfg = helpers.write_config(tmp_path, simulations=6)
        out = tmp_path / "r"
        (out / "ranks").mkdir(parents=True)
        (out / "ranks" / "solver7.shm").write_text(f"{socket.gethostname()} {name}\n")
        rc, log = ranks.mpi_job(2, [*helpers.PDESURROGATE, "--config", str(cfg), "--out",
                                    str(out)], tmp_path, timeout=240)
        assert rc == 0, log
        assert not segment.exists()
        assert not (out / "ranks").exists()
    finally:
        segment.unlink(missing_ok=True)


# a run in which the end-of-run accounting finds simulation 0 undelivered (fault injection:
# a real loss needs a receiver dropping a simulation at the very end of the stream)
LOSSY = """
import sys
import pdesurrogate.online.trainer_rank as trainer_rank
from pdesurrogate.cli import main

real = trainer_rank._undelivered

def lossy(*args):
    lost, ended = real(*args)
    return sorted(set(lost) | {0}), ended

trainer_rank._undelivered = lossy
sys.exit(main(["online", *sys.argv[1:]]))
"""


@ranks.pytestmark
@pytest.mark.slow  # 8-14 s: make test stays under 10 min on a slow 2-core machine
def test_an_incomplete_run_under_your_own_mpiexec_exits_3_as_through_the_launcher(tmp_path):
    """Before, a run whose stream ended with simulations undelivered (status incomplete) exited
    0 under the user's own mpiexec or srun, so a script went on as if it had finished; only the
    launcher exited 3."""
    import sys

    script = tmp_path / "lossy.py"
    script.write_text(LOSSY)
    cfg = helpers.write_config(tmp_path, simulations=6)
    out = tmp_path / "r"
    rc, log = ranks.mpi_job(2, [sys.executable, str(script), "--config", str(cfg), "--out",
                                str(out)], tmp_path, timeout=240)
    s = helpers.summary(out)
    assert s["status"] == "incomplete" and 0 in s["undelivered_sim_ids"], log
    assert rc == 3, log
