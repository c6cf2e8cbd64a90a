"""The ``pdesurrogate online`` launcher and the MPI job it starts, when things go wrong around
them: one run at a time in a folder (a second run or ``--resume`` is refused, naming the
holder), a launcher killed with SIGKILL (its job notices, checkpoints and stops, and holds the
folder until it has), a closed terminal (SIGHUP: a clean stop, as SIGTERM), and the same lock
under the user's own mpiexec."""

import contextlib
import fcntl
import importlib.util
import json
import os
import select
import signal
import subprocess
import termios
import threading
import time
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("online_test_helpers",
                                               Path(__file__).with_name("test_online.py"))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

pytestmark = helpers.pytestmark


def long_run(tmp_path: Path) -> tuple[Path, Path]:
    """A run that lasts until it is stopped (0.3 s a simulation, far more simulations than a
    test waits for) and checkpoints every 3 steps: its config and its folder."""
    (tmp_path / "slow_solver.py").write_text(helpers.SLOW)
    cfg = helpers.write_config(tmp_path, solver="slow_solver.SlowAdvection", simulations=5000,
                               ckpt=3)
    return cfg, tmp_path / "run"


def rank_pids(out: Path) -> list[int]:
    return [int(p.read_text()) for p in (out / "ranks").glob("*.pid")]


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):  # a zombie is not running
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    return True


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def wait_until_gone(pids: list[int], timeout: float) -> None:
    t0 = time.monotonic()
    while any(running(p) for p in pids):
        assert time.monotonic() - t0 < timeout, f"ranks {pids} still run after {timeout} s"
        time.sleep(0.2)


def assert_stopped_with_a_checkpoint(out: Path) -> None:
    s = helpers.summary(out)
    manifest = json.loads((out / "checkpoint" / "manifest.json").read_text())
    assert s["status"] == "stopped" and manifest["stop"], s
    assert manifest["global_step"] == s["global_step"] > 0
    assert not (out / "model").exists()


@pytest.mark.slow  # 18-27 s: make test stays under 10 min on a slow 2-core machine
def test_a_killed_launchers_job_checkpoints_stops_and_holds_the_folder(tmp_path):
    """SIGKILL to the launcher: its MPI job (own session) goes on, notices that the launcher is
    gone and stops as on SIGTERM, with a checkpoint and no model/; while it runs, a --resume in
    the folder is refused (before it, a second run was too, naming the launcher's PID)."""
    cfg, out = long_run(tmp_path)
    with open(tmp_path / "launcher.log", "w") as log:
        proc = subprocess.Popen([*helpers.PDESURROGATE, "--config", str(cfg), "--out", str(out)],
                                stdout=log, stderr=subprocess.STDOUT,
                                env=helpers.env_with(tmp_path))
    pids: list[int] = []
    try:
        helpers.wait_for(out / "checkpoint" / "manifest.json", proc, 240)
        pids = rank_pids(out)
        again = helpers.run(["--config", str(cfg), "--out", str(out), "--resume"], tmp_path,
                            timeout=120)
        assert again.returncode == 2, again.stdout + again.stderr
        assert f"{str(out)!r} is in use by another pdesurrogate online run (PID {proc.pid};" \
            in again.stderr, again.stderr
        proc.kill()
        proc.wait()
        from pdesurrogate.online import UsageError, _lock_run

        with pytest.raises(UsageError, match=f"PID {proc.pid}, a launcher that is gone: its MPI "
                                             "job is still running"):
            os.close(_lock_run(out))
        wait_until_gone(pids, 180)
    finally:
        proc.kill()
        kill_all(pids)
    assert_stopped_with_a_checkpoint(out)
    assert f"the launcher (PID {proc.pid}) is gone: checkpointing and stopping" in (
        out / "online.stderr.log").read_text()
    # the job is over: the folder is free once mpiexec, which holds the lock for the job's
    # life, has exited too (moments after the last rank)
    deadline = time.monotonic() + 30
    while True:
        try:
            os.close(_lock_run(out))
            break
        except UsageError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    # no launcher removed the job's TMPDIR: the next run in the folder does, before its job
    from pdesurrogate.online import JOB_TMP_FILE, _clean_up_after_job

    job_tmp = Path((out / JOB_TMP_FILE).read_text().strip())
    assert job_tmp.parent == tmp_path / "tmp" and job_tmp.is_dir()
    _clean_up_after_job(out)
    assert not job_tmp.exists() and not (out / JOB_TMP_FILE).exists()


class Terminal:
    """A pseudo-terminal whose output is read (and kept) as it comes; :meth:`close` closes it
    as a terminal window closes."""

    def __init__(self):
        self.master, self.slave = os.openpty()
        self.data = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while not self._stop.is_set():
            if select.select([self.master], [], [], 0.1)[0]:
                try:
                    self.data += os.read(self.master, 1 << 16)
                except OSError:  # nothing has the terminal open any more
                    return

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        os.close(self.master)


@pytest.mark.slow  # 18-27 s: make test stays under 10 min on a slow 2-core machine
def test_closing_the_terminal_checkpoints_and_stops_the_run(tmp_path):
    """The launcher in a terminal that is closed: SIGHUP, and every later write to the terminal
    fails. The launcher asks the job to checkpoint and stop (it died of SIGHUP, and mpiexec
    ended the job on its first failed write) and returns 128 + SIGHUP."""
    cfg, out = long_run(tmp_path)
    tty = Terminal()

    def controlling_terminal() -> None:  # runs in the child, after setsid
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen([*helpers.PDESURROGATE, "--config", str(cfg), "--out", str(out)],
                            stdin=tty.slave, stdout=tty.slave, stderr=tty.slave,
                            env=helpers.env_with(tmp_path), start_new_session=True,
                            preexec_fn=controlling_terminal)
    os.close(tty.slave)
    pids: list[int] = []
    try:
        helpers.wait_for(out / "checkpoint" / "manifest.json", proc, 240)
        pids = rank_pids(out)
        tty.close()
        rc = proc.wait(timeout=180)
    finally:
        proc.kill()
        kill_all(pids)
    assert rc == 128 + signal.SIGHUP, (rc, tty.data.decode(errors="replace"))
    assert not any(running(p) for p in pids)
    assert_stopped_with_a_checkpoint(out)


@pytest.mark.slow  # 18-27 s: make test stays under 10 min on a slow 2-core machine
def test_under_its_own_mpiexec_rank_0_holds_the_folder(tmp_path):
    """Without the launcher (the user's mpiexec, srun): world rank 0 holds the lock, so the
    launcher refuses the folder, naming that rank's PID; SIGUSR1 stops the job as before."""
    cfg, out = long_run(tmp_path)
    with open(tmp_path / "mpiexec.log", "w") as log:
        proc = subprocess.Popen(
            [str(helpers.BIN / "mpiexec"), "-launcher", "fork", "-n", "3", *helpers.PDESURROGATE,
             "--config", str(cfg), "--out", str(out)], stdout=log, stderr=subprocess.STDOUT,
            env=helpers.env_with(tmp_path), start_new_session=True)
    pids: list[int] = []
    try:
        helpers.wait_for(out / "checkpoint" / "manifest.json", proc, 240)
        pids = rank_pids(out)
        trainer = int((out / "ranks" / "trainer0.pid").read_text())
        again = helpers.run(["--config", str(cfg), "--out", str(out), "--resume"], tmp_path,
                            timeout=120)
        assert again.returncode == 2, again.stdout + again.stderr
        assert f"in use by another pdesurrogate online run (PID {trainer};" in again.stderr, \
            again.stderr
        proc.send_signal(signal.SIGUSR1)
        rc = proc.wait(timeout=180)
    finally:
        proc.kill()
        kill_all(pids)
    assert rc == 0, (tmp_path / "mpiexec.log").read_text()
    assert_stopped_with_a_checkpoint(out)


def test_the_lock_names_its_holder_and_a_filesystem_without_locks_only_warns(tmp_path,
                                                                             monkeypatch):
    """A held lock is refused naming the holder's PID (and its host when it is another); a
    filesystem whose flock fails with another error than 'held' (ENOLCK: Lustre without -o
    flock) gives a warning and a run, not a refusal."""
    import errno
    import socket

    from pdesurrogate import online
    from pdesurrogate.online import UsageError, _lock_run, run_folder

    fd = _lock_run(tmp_path)
    try:
        with pytest.raises(UsageError, match=f"PID {os.getpid()};"):
            _lock_run(tmp_path)
        os.pwrite(fd, b"elsewhere-node 4242\n", 0)
        with pytest.raises(UsageError, match="PID 4242 on elsewhere-node"):
            _lock_run(tmp_path)
    finally:
        os.close(fd)

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(run_folder.fcntl, "flock", no_locks)
    with pytest.warns(UserWarning, match="cannot lock files"):
        fd = _lock_run(tmp_path)
    os.close(fd)
    assert (tmp_path / online.LOCK_FILE).read_text().split() == [socket.gethostname(),
                                                                  str(os.getpid())]
