"""Where a benchmark's results go: ``--json`` files (and figures) are written whole or not at
all, into folders made on the spot, and the paths are checked when the options are parsed, so
a long run is not lost at its end to a missing folder or a typo. Every JSON file and printed
table also says what produced it (:func:`provenance`): figures compared across sessions mean
little without the commit, the versions and the machine."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pdesurrogate", "torch", "lightning", "numpy", "neuraloperator", "mpi4py")


def check_output(parser: argparse.ArgumentParser, option: str, path: str | None) -> None:
    """Before the run: ``path`` (the value of ``option``; None: not asked for) must name a file
    whose folder exists or can be made; else a usage error naming the option."""
    if path is None:
        return
    p = Path(path)
    if not str(path).strip() or p.is_dir():
        parser.error(f"{option} {path!r}: expected a file name")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        parser.error(f"{option} {path!r}: cannot create its folder: {e.strerror or e}")


def write_json(path: str | os.PathLike, obj, args: argparse.Namespace | None = None,
               **dump_kw) -> str:
    """Write ``obj`` as JSON (``indent=2`` unless given) to ``path`` through a temporary file
    in the same folder and a rename, so an interruption leaves the old file or the new one,
    never half of one. Missing folders are made. A dict without a ``"run"`` key gets one: the
    :func:`provenance` of this process with the options ``args``."""
    if isinstance(obj, dict) and "run" not in obj:
        obj = {**obj, "run": provenance(args)}
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp-{os.getpid()}")
    dump_kw.setdefault("indent", 2)
    try:
        with open(tmp, "w") as f:
            json.dump(obj, f, **dump_kw)
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return str(p)



def _git(*args: str) -> str | None:
    """Output of ``git args`` in the checkout, None when there is no git or no checkout."""
    try:
        out = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance(args: argparse.Namespace | None = None) -> dict:
    """What produced a result: ``commit`` (HEAD of the checkout, None outside one) and
    ``modified`` (tracked files changed since it: their figures are not the commit's alone),
    ``versions`` of the Python packages that matter, ``machine`` (CPU model, CPUs and those this
    process may use, torch's intra-op threads when torch is loaded, GPU, load average),
    ``timestamp`` (UTC, ISO 8601), ``argv`` and ``args`` (the parsed options, after ``--quick``
    filled them in)."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    modified = _git("status", "--porcelain", "--untracked-files=no")
    machine = {"cpu": _cpu_model(), "cpus": os.cpu_count(),
               "cpus_usable": (len(os.sched_getaffinity(0))
                               if hasattr(os, "sched_getaffinity") else os.cpu_count()),
               "platform": platform.platform(), "host": platform.node(),
               "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
               "torch_threads": None, "gpu": None}
    torch = sys.modules.get("torch")  # only when the benchmark loaded it: its threads count
    if torch is not None:
        machine["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            machine["gpu"] = torch.cuda.get_device_name(0)
    return {"commit": _git("rev-parse", "HEAD"),
            "modified": None if modified is None else len(modified.splitlines()),
            "versions": versions, "machine": machine,
            "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "argv": list(sys.argv),
            # paths and other objects among the options as their text, so the file can be written
            "args": None if args is None else json.loads(json.dumps(vars(args), default=str))}


def run_line(run: dict | None = None) -> str:
    """One line for under a printed table: commit, versions, machine and time of ``run`` (a
    :func:`provenance`; a fresh one when None)."""
    run = run or provenance()
    commit = (run["commit"] or "no git checkout")[:10]
    if run["modified"]:
        commit += f" + {run['modified']} modified files"
    v, m = run["versions"], run["machine"]
    cpus = f"{m['cpus']} CPUs" + (f" ({m['cpus_usable']} usable)"
                                   if m["cpus_usable"] != m["cpus"] else "")
    threads = "" if m["torch_threads"] is None else f", torch threads {m['torch_threads']}"
    load = "" if m["loadavg"] is None else f", load {m['loadavg'][0]:.1f}"
    gpu = f", GPU {m['gpu']}" if m["gpu"] else ""
    return (f"run: commit {commit}; pdesurrogate {v['pdesurrogate']}, torch {v['torch']}, "
            f"Python {v['python']}; {m['cpu']}, {cpus}{threads}{gpu}{load}; {run['timestamp']}")
