"""The launcher's handling of its MPI job, with ``subprocess.Popen`` replaced by a fake job (a
real ``sleep`` in its own session, so there is a process group to kill; no MPI): stale
``ranks/*.pid`` files are gone before the job starts, a stop is forwarded only once every rank
has written its pid file, and a second signal kills the job's process group and exits 137."""

import importlib.util
import os
import signal
import subprocess
from pathlib import Path

from rich.console import Console

from pdesurrogate.online import RANKS, _parse, launcher
from pdesurrogate.online.launcher import _ranks_ready

_spec = importlib.util.spec_from_file_location(
    "online_test_helpers", Path(__file__).parents[1] / "test_online.py")
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

REAL_POPEN = subprocess.Popen
N_RANKS = 3


def test_ranks_are_ready_when_every_rank_has_its_pid_file(tmp_path):
    (tmp_path / RANKS).mkdir()
    for i in range(N_RANKS - 1):
        (tmp_path / RANKS / f"solver{i}.pid").write_text("1\n")
    assert not _ranks_ready(tmp_path, N_RANKS)
    (tmp_path / RANKS / "trainer0.pid").write_text("1\n")
    assert _ranks_ready(tmp_path, N_RANKS)


class FakeJob:
    """A Popen stand-in: ``script(job)`` runs at each ``wait`` and returns the exit status, or
    None (still running). ``seen`` records what the test asks about."""

    seen: dict = {}

    def __init__(self, cmd, **kw):
        FakeJob.seen["ranks_at_start"] = (FakeJob.seen["out"] / RANKS).exists()
        self.child = REAL_POPEN(["sleep", "30"], start_new_session=True)
        self.pid, self.calls, self.rc = self.child.pid, 0, None

    def wait(self, timeout=None):
        self.calls += 1
        self.rc = FakeJob.seen["script"](self)
        if self.rc is None:
            raise subprocess.TimeoutExpired("fake job", timeout)
        return self.rc

    def poll(self):
        return self.rc

    def send_signal(self, signum):
        FakeJob.seen.setdefault("sent", []).append(signum)


def run_fake_job(tmp_path, monkeypatch, script, stale_pid_files=0) -> int:
    """``launcher._run_job`` of the shared test config with ``N_RANKS`` ranks and a fake job;
    a SIGTERM handler of the test's own stays in place around it, so a launcher that did not
    catch a signal fails the test instead of killing pytest."""
    cfg, out = helpers.write_config(tmp_path), tmp_path / "run"
    parser, ns, argv = _parse(["--config", str(cfg), "--out", str(out)], lightning=False)
    (out / RANKS).mkdir(parents=True)
    for i in range(stale_pid_files):
        (out / RANKS / f"stale{i}.pid").write_text("1\n")
    FakeJob.seen = {"out": out, "script": script}
    monkeypatch.setattr(launcher.subprocess, "Popen", FakeJob)
    uncaught = []
    before = signal.signal(signal.SIGTERM, lambda *a: uncaught.append(a[0]))
    lock = os.open(tmp_path / "lock", os.O_RDWR | os.O_CREAT)
    try:
        rc = launcher._run_job(parser, ns, argv, out, Console(stderr=True), lock, "/bin/true",
                               tmp_path / "no-mpiexec", N_RANKS)
    finally:
        os.close(lock)
        signal.signal(signal.SIGTERM, before)
    assert not uncaught, "a signal reached the test, not the launcher"
    return rc


def test_stale_pid_files_are_gone_before_the_job_starts(tmp_path, monkeypatch):
    def ends_at_once(job):
        job.child.kill()
        job.child.wait()
        return 0

    assert run_fake_job(tmp_path, monkeypatch, ends_at_once, stale_pid_files=N_RANKS) == 0
    assert FakeJob.seen["ranks_at_start"] is False
    assert "sent" not in FakeJob.seen


def test_a_second_signal_kills_the_job_and_exits_137(tmp_path, monkeypatch, capsys):
    def signalled_twice(job):
        if job.calls <= 2:  # a SIGTERM at each of the first two polls
            os.kill(os.getpid(), signal.SIGTERM)
            return None
        return job.child.wait(timeout=10)  # ended by the launcher's SIGKILL

    assert run_fake_job(tmp_path, monkeypatch, signalled_twice) == 128 + signal.SIGKILL
    assert FakeJob.seen.get("sent") is None  # no rank was ready for a stop to be forwarded
    assert "killed on request (a second signal)" in capsys.readouterr().err
