"""After a TensorBoard write the disk refused, our one-line error is the last thing printed.

Before, the refused bytes stayed in the event file's buffer, and tensorboardX's exit hook
flushed them again: "Exception ignored in atexit callback: <function FileWriter.__init__.<locals>
.cleanup ...>" and a traceback ending in "OSError: [Errno 28] No space left on device" came
after "pdesurrogate fit: error: OSError: [Errno 28] No space left on device: '.../tensorboard/
version_0'" (a fit whose default_root_dir sat on a full tmpfs). ``close_refused`` closes the
files dropping what was refused; on a healthy disk every event is still written.

The logger test limits the file size (``ulimit -f``: a write past it fails with EFBIG, as on a
full disk) in a subprocess, no root needed; the fit test mounts a tmpfs with 8 KiB free in a
mount namespace of its own (``unshare -m``, as root) and is skipped where that cannot be done.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]

# for each logger: log n scalars on a healthy disk, then under a file size limit, and end each
# as Lightning (fit's logger) or the online run (its open one) does; a refused write is printed
# as our CLI would, in one line
LOG = textwrap.dedent("""
    import resource, sys
    from pdesurrogate.training.tensorboard_logger import OpenTensorBoardLogger
    from pdesurrogate.training.version_claim import TensorBoardLogger
    root, n, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    for cls in (TensorBoardLogger, OpenTensorBoardLogger):
        for case in ("healthy", "full"):
            logger = cls(f"{root}/{cls.__name__}/{case}", name="tb", default_hp_metric=False)
            if case == "full":
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
            for step in range(n):
                logger.log_metrics({"train/loss": 1.0 / (step + 1)}, step)
            try:
                if cls is OpenTensorBoardLogger:
                    logger.finalize("success")
                    logger.close()
                else:
                    logger.finalize("success" if case == "healthy" else "failed")
                print(cls.__name__, case, "ok", logger.log_dir, flush=True)
            except OSError as e:
                print(cls.__name__, case, f"error: {e}", flush=True)
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
""")


def _records(folder: Path) -> int:
    """TFRecords in the one event file of ``folder`` (8-byte length, 4-byte CRC, data, CRC)."""
    (events,) = folder.glob("events.out.tfevents.*")
    data, count, at = events.read_bytes(), 0, 0
    while at < len(data):
        (length,) = struct.unpack("<Q", data[at: at + 8])
        at += 12 + length + 4
        count += 1
    assert at == len(data)
    return count


def test_a_refused_event_write_is_our_error_alone_and_a_healthy_one_keeps_every_event(
        tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # 200 scalars take about 9 KiB, past 4 KiB and past the 8 KiB buffer: the writer thread's
    # own write is refused (before, it died of it, and the next log_metrics hung)
    done = subprocess.run([sys.executable, "-c", LOG, str(tmp_path), "200", "4096"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 4, done.stdout
    for name, line in zip(("TensorBoardLogger", "OpenTensorBoardLogger"), lines[::2], strict=True):
        assert line.startswith(f"{name} healthy ok "), line
        # the opening record and the 200 scalars
        assert _records(Path(line.split(" ok ")[1])) == 201
    for name, line in zip(("TensorBoardLogger", "OpenTensorBoardLogger"), lines[1::2], strict=True):
        assert line.startswith(f"{name} full error: [Errno 27] File too large"), line
    assert "Traceback" not in done.stderr and "Exception" not in done.stderr, done.stderr


def _namespaced_tmpfs(folder: Path) -> list[str] | None:
    """The command prefix that runs a command with a 300 KiB tmpfs over ``folder``, all but
    8 KiB of it filled, in a mount namespace of its own; None where that cannot be done."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("fallocate") is None:
        return None
    setup = (f"mount -t tmpfs -o size=300k tmpfs {folder} && "
             f"fallocate -l 292k {folder}/fill && exec \"$@\"")
    prefix = ["unshare", "-m", "--propagation", "private", "sh", "-c", setup, "sh"]
    try:
        probe = subprocess.run([*prefix, "df", "-k", str(folder)], capture_output=True,
                               text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return prefix if probe.returncode == 0 and " 8 " in probe.stdout else None


@pytest.mark.slow  # 13 s: the fit's imports, and the data
def test_fit_on_a_full_disk_ends_with_its_error(tmp_path):
    root = tmp_path / "tiny"
    root.mkdir()
    prefix = _namespaced_tmpfs(root)
    if prefix is None:
        pytest.skip("needs root and unshare -m to mount a small tmpfs")
    from pdesurrogate.datasets import generate_dataset
    from pdesurrogate.solvers import Burgers1D

    data = tmp_path / "burgers.nc"
    generate_dataset(Burgers1D(n_points=32, nu_range=(0.01, 0.1), ic="grf"), data, samples=10,
                     times=np.linspace(0, 1, 3), seed=0, workers=1)
    fit = [sys.executable, "-m", "pdesurrogate.cli", "fit", "--config",
           "configs/fit/fno_burgers.yaml", "--data.init_args.path", str(data),
           "--data.init_args.batch_size", "4", "--trainer.max_epochs", "1",
           "--model.init_args.model.init_args.hidden_channels", "4",
           "--model.init_args.model.init_args.n_layers", "1",
           "--trainer.enable_checkpointing", "false", "--trainer.enable_progress_bar", "false",
           "--trainer.enable_model_summary", "false", "--trainer.accelerator", "cpu",
           "--trainer.default_root_dir", str(root / "run")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PDESURROGATE_DEBUG", None)
    done = subprocess.run([*prefix, *fit], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=300)
    assert done.returncode == 2, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert (f"pdesurrogate fit: error: OSError: [Errno 28] No space left on device: "
            f"'{root}/run/tensorboard/version_0'") in lines, done.stderr[-3000:]
    assert lines[-1] == "(set PDESURROGATE_DEBUG=1 for the full traceback)", done.stderr[-3000:]
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr
