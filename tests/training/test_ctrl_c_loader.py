"""The DataLoader workers of ``pdesurrogate fit`` ignore Ctrl-C's SIGINT (the main process stops
the fit and ends them), and a Ctrl-C pressed while they start is not lost (``CtrlCLoader``).

A terminal's Ctrl-C signals the whole process group, and a second one during the fit's shutdown
reaches the workers alone (the main process ignores it then). Before, a worker that took it left
its loop, and the fit failed ("pdesurrogate fit: error: FileNotFoundError"). And a Ctrl-C that
landed in one of CPython's fork hooks as a worker started was printed as "Exception ignored" and
dropped: the fit went on."""

import os
import signal
import subprocess
import sys
import time

import pytest

from pdesurrogate.training.ctrl_c_loader import CtrlCLoader

from ..datasets.test_generate import _running
from ..test_cli_fit import CONFIG, data, tiny  # noqa: F401 (data: a fixture)


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


def _left_running(pids: list[int], seconds: float) -> list[int]:
    """Those of ``pids`` still running (not ended, nor a zombie) after up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while (left := [p for p in pids if _running(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


@pytest.mark.skipif(not os.path.isfile(f"/proc/{os.getpid()}/task/{os.getpid()}/children"),
                    reason="needs /proc's list of child processes")
@pytest.mark.slow  # a subprocess run of several seconds: make test's 10 minutes
def test_sigint_to_the_workers_leaves_the_fit_running(tmp_path, data):  # noqa: F811
    """SIGINT to the training loader's workers alone, as a second Ctrl-C during a shutdown:
    the fit runs on; stopped by SIGTERM, it ends them."""
    log = tmp_path / "stderr.txt"
    args = [sys.executable, "-m", "pdesurrogate.cli", "fit", "--config", CONFIG,
            *tiny(data, tmp_path / "runs"), "--trainer.max_epochs", "1000",
            "--data.init_args.num_workers", "2", "--trainer.enable_progress_bar", "false"]
    workers: list[int] = []
    # stderr to a file: a pipe would stay open in leftover workers and block the read
    with open(log, "w") as err_file:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err_file,
                                env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 60
        while len(workers := _children(proc.pid)) < 2:  # the training loader's, kept alive
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.02)
        for w in workers:
            os.kill(w, signal.SIGINT)
        time.sleep(2)
        assert proc.poll() is None, log.read_text()
        assert all(_running(w) for w in workers)  # they ignored it
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM, log.read_text()
        err = log.read_text()
        assert "stopped by SIGTERM" in err and "Traceback" not in err, err
        assert "KeyboardInterrupt" not in err and "error" not in err, err
        assert _left_running(workers, 10) == []  # the fit ended its workers
    finally:
        proc.kill()
        proc.wait()
        for w in _left_running(workers, 0):
            os.kill(w, signal.SIGKILL)


# a fork hook of the kind CPython runs in the parent as each worker is forked (logging's), in
# which a Ctrl-C lands: the first worker's fork is interrupted by SIGINT, and the hook runs on
# long enough that Python's handler runs inside it
CTRL_C_IN_FORK = '''
import os
import signal
import time
from lightning.pytorch.callbacks import Callback

pressed = []


def ctrl_c_in_hook():
    if not pressed:
        pressed.append(os.getpid())
        os.kill(os.getpid(), signal.SIGINT)
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            pass


class CtrlCInFork(Callback):
    def on_train_start(self, trainer, module):
        os.register_at_fork(after_in_parent=ctrl_c_in_hook)
'''


@pytest.mark.slow  # a subprocess run of several seconds: make test's 10 minutes
def test_ctrl_c_while_workers_are_forked_stops_the_fit(tmp_path, data):  # noqa: F811
    (tmp_path / "forkcb.py").write_text(CTRL_C_IN_FORK)
    proc = subprocess.run(
        [sys.executable, "-m", "pdesurrogate.cli", "fit", "--config", CONFIG,
         *tiny(data, tmp_path / "runs"), "--trainer.max_epochs", "3",
         "--data.init_args.num_workers", "2", "--trainer.enable_progress_bar", "false",
         "--trainer.callbacks+=forkcb.CtrlCInFork"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path), "OMP_NUM_THREADS": "1"},
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 128 + signal.SIGINT, (proc.returncode, proc.stderr)
    assert "pdesurrogate fit: interrupted (Ctrl-C)" in proc.stderr, proc.stderr
    assert "Exception ignored" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


# a module a spawned worker can import (this file is imported by path, under no package name)
WORKER_STATE = '''
import signal

import torch
from torch.utils.data import Dataset

initialised = []  # in a worker: the ids its own worker_init_fn was called with


def own_init(worker_id):
    initialised.append(worker_id)


class WorkerState(Dataset):
    """Item i: whether the worker ignores SIGINT, and the ids its own init function got."""

    def __len__(self):
        return 2

    def __getitem__(self, i):
        return torch.tensor([signal.getsignal(signal.SIGINT) is signal.SIG_IGN, *initialised])
'''


def test_spawned_workers_ignore_sigint_and_run_the_loaders_own_init(tmp_path, monkeypatch):
    """With ``spawn`` a worker inherits no handler from the main process: it ignores SIGINT
    because the loader's worker_init_fn says so, and the given one still runs after it."""
    (tmp_path / "ctrl_c_worker_state.py").write_text(WORKER_STATE)
    monkeypatch.syspath_prepend(str(tmp_path))  # the spawned worker is given this sys.path
    import ctrl_c_worker_state as state

    loader = CtrlCLoader(state.WorkerState(), batch_size=None, num_workers=1,
                         multiprocessing_context="spawn", worker_init_fn=state.own_init)
    assert [item.tolist() for item in loader] == [[1, 0], [1, 0]]
