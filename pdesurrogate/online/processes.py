"""Whether a process (a run's launcher, a lock's holder) still runs, told apart from a later
process that got the same PID (Linux: ``/proc/PID/stat``)."""

from __future__ import annotations

from pathlib import Path

from pdesurrogate.temp_files import is_running


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state first, start time at
    19); None where there is none (no /proc, or no such process)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def _start_time(pid: int) -> str | None:
    """The process's start time (Linux: /proc/PID/stat), to tell it from a later process that
    got the same PID; None where there is no /proc."""
    fields = _proc_stat(pid)
    return None if fields is None else fields[19]


def _alive(pid: int, started: str | None = None) -> bool:
    """Is process ``pid`` running (:func:`~pdesurrogate.datasets.temp_files.is_running`), and
    neither a zombie nor, with ``started``, a later process that got the same PID?"""
    if not is_running(pid):
        return False
    fields = _proc_stat(pid)
    if fields is None:
        return not Path("/proc/self").exists()  # no /proc: os.kill had to do
    return fields[0] not in ("Z", "X") and (started is None or fields[19] == started)
