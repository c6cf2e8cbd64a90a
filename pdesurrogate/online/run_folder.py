"""The run folder ``out``: its lock, the settings it holds (``config.yaml``), and the checks that
keep a run from losing or mixing up an earlier run's results.

One run at a time in a folder: the launcher (or, under mpiexec/srun, world rank 0) holds an
exclusive lock on ``out/online.lock`` for the job's life; a second run or ``--resume`` there is
refused, naming the holder's PID. The launcher's mpiexec inherits the lock, and writes the job's
output to ``out/online.stdout.log`` / ``online.stderr.log``, which the launcher echoes: a killed
launcher or a closed terminal leaves a job that can still write, checkpoint and end.

``out/config.yaml`` holds the run's resolved settings; ``--resume`` checks them (keys in
``RESUME_MAY_CHANGE`` may differ). A finished run is never resumed or overwritten.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import warnings
from pathlib import Path
from typing import Any

from pdesurrogate.online.checkpoint import (
    CHECKPOINT,
    OLD,
    STAGE,
    _read_manifest,
    _resume_point,
)
from pdesurrogate.online.errors import UsageError
from pdesurrogate.online.processes import _alive
from pdesurrogate.temp_files import atomic_write

# held (flock) by whoever runs in the folder: the launcher (and its mpiexec, which inherits it)
# or, under the user's own mpiexec/srun, world rank 0
LOCK_FILE = "online.lock"


CONFIG_FILE = "config.yaml"
RANKS = "ranks"


def _where_to_resume(out: Path) -> str:
    try:
        ck = _resume_point(out)
        manifest = _read_manifest(ck)
    except UsageError as e:
        if not any((out / d).exists() for d in (CHECKPOINT, STAGE, OLD)):
            return "no checkpoint was written"
        return f"no checkpoint to resume ({e})"
    where = "" if ck.name == CHECKPOINT else f" (to be renamed {CHECKPOINT}/ by --resume)"
    return (f"last checkpoint: {ck}{where} (step {manifest['global_step']}, "
            f"{manifest['committed']} of {manifest['simulations']} simulations committed); "
            f"continue with pdesurrogate online --config {out / CONFIG_FILE} --resume")


def _read_summary(out: Path) -> dict | None:
    try:
        return json.loads((out / "summary.json").read_text())
    except (OSError, ValueError):
        return None


def _check_out(out: Path, resume: bool) -> None:
    """Refuse a run directory that would lose or mix up an earlier run's results."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} is a file, not a directory")
    if (_read_summary(out) or {}).get("status") == "finished":
        raise UsageError(f"{str(out)!r} holds a finished run (summary.json, model/): nothing to "
                         f"resume; choose another --out, or remove it to run again")
    if resume:
        _resume_point(out)
        return
    # a checkpoint swap killed half-way leaves only the staged or the previous checkpoint: a
    # fresh run would delete them at its first checkpoint
    left = [str(out / d) for d in (CHECKPOINT, STAGE, OLD) if (out / d).exists()]
    if left:
        raise UsageError(f"{' and '.join(repr(p) for p in left)} exist{'s' * (len(left) == 1)}: "
                         f"pass --resume to continue that run, or choose another --out")
    if (out / "model").exists():
        raise UsageError(f"{str(out / 'model')!r} exists (an earlier run's model): choose "
                         f"another --out, or remove it to run again")


def _lock_run(out: Path) -> int:
    """An exclusive ``flock`` on ``out/online.lock`` (its file descriptor, to be kept open
    while the run lasts; a child given it holds it too), with this process's PID in the file.
    A UsageError naming the folder and the holder's PID when another run holds it."""
    path = out / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    except OSError as e:
        raise UsageError(f"{str(path)!r}: cannot open the run's lock file: "
                         f"{e.strerror or e}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            # a filesystem without flock (Lustre mounted without -o flock, some NFS): no guard
            # rather than no run
            warnings.warn(f"{str(path)!r}: this filesystem cannot lock files "
                          f"({e.strerror or e}); nothing stops a second online run in "
                          f"{str(out)!r} while this one lasts", stacklevel=2)
        else:
            holder = os.pread(fd, 256, 0).decode(errors="replace").split()
            os.close(fd)
            host, pid = (holder + [None, None])[:2] if len(holder) != 1 else (None, holder[0])
            pid = int(pid) if pid and pid.isdigit() else None
            who = f"PID {pid}" if pid else "PID unknown"
            if host and host != socket.gethostname():
                who += f" on {host}"
            elif pid and not _alive(pid):
                who += (", a launcher that is gone: its MPI job is still running and stops "
                        "with a checkpoint; wait for it to end")
            raise UsageError(f"{str(out)!r} is in use by another pdesurrogate online run ({who}; "
                             f"lock file {str(path)!r}): one run at a time in a folder; wait "
                             f"for it, stop it (kill -TERM), or choose another --out") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{socket.gethostname()} {os.getpid()}\n".encode(), 0)
    return fd


# keys a resumed run may change: where and how it runs, not what it trains on or trains
RESUME_MAY_CHANGE = {"out", "resume", "mpiexec", "solvers", "threads", "stall_timeout",
                     "credits", "window_mb", "pack_kb", "chain_ms", "checkpoint_every_n_steps",
                     "validation.every_n_steps"}  # and every trainer.* key


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix[:-1]: d}
    return {k: v for key, val in d.items() for k, v in _flat(val, f"{prefix}{key}.").items()}


def _config_dict(parser, cfg) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(parser.dump(cfg, skip_unset=False))


def _check_config_file(parser, cfg, out: Path) -> None:
    """On --resume: the settings must be those the run started with (``out/config.yaml``)."""
    saved = out / CONFIG_FILE
    if not cfg.resume or not saved.exists():
        return
    import yaml

    try:
        before = _flat(yaml.safe_load(saved.read_text()))
    except (OSError, yaml.YAMLError) as e:
        raise UsageError(f"{str(saved)!r}: cannot read the run's config: {e}") from None
    now = _flat(_config_dict(parser, cfg))
    changed = [f"{k} ({before.get(k)!r} -> {now.get(k)!r})" for k in sorted(set(before) | set(now))
               if before.get(k) != now.get(k) and k not in RESUME_MAY_CHANGE
               and not k.startswith("trainer.")]
    if changed:
        raise UsageError(f"--resume: settings differ from the run's {str(saved)!r}: "
                         f"{'; '.join(changed)}. Resume with the same settings, e.g. "
                         f"pdesurrogate online --config {saved} --resume")


def _write_config_file(parser, cfg, out: Path) -> None:
    """The resolved settings of a fresh run, for --resume to check and to reuse."""
    if cfg.resume and (out / CONFIG_FILE).exists():
        return
    import yaml

    d = _config_dict(parser, cfg)
    d.pop("resume", None)
    out.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(d, sort_keys=False)
    atomic_write(out / CONFIG_FILE, lambda f: f.write(text.encode()))
