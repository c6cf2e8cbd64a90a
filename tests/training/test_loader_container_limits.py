"""A DataLoader worker of ``pdesurrogate fit`` whose batch finds no room in shared memory (a
container's 64 MiB ``/dev/shm``) ends the loop with one line naming ``/dev/shm``, its free space
and what to change (``worker_shm``). Before, the main process re-raised the worker's traceback
("RuntimeError: Caught RuntimeError in DataLoader worker process 1 ... unable to allocate shared
memory(shm) for file </torch_...>: No space left on device (28)"), and the CLI printed its first
lines, with no word of /dev/shm or of --data.init_args.num_workers.

The limit is simulated without mounting anything: a file size limit (``ulimit -f``, set in the
child before it starts) stops the worker sizing its shared-memory file, the same failure of
PyTorch's ``_new_shared`` a full tmpfs gives."""

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pdesurrogate.training.worker_shm import shm_explained, shm_failure

pytestmark = pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="needs /dev/shm (Linux)")

# one batch of 32 x 4096 float32 is 512 KiB: past the 64 KiB limit below, while the child's
# own writes (none: no bytecode, output to pipes) stay under it
SCRIPT = """
import os
import torch
from torch.utils.data import TensorDataset
from pdesurrogate.training.ctrl_c_loader import CtrlCLoader
from pdesurrogate.training.worker_shm import WorkerSharedMemoryError
def say_pid(worker_id):
    print("WORKER", os.getpid(), flush=True)
loader = CtrlCLoader(TensorDataset(torch.zeros(64, 1, 4096)), batch_size=32, num_workers=1,
                     worker_init_fn=say_pid)
try:
    for batch in loader:
        pass
except WorkerSharedMemoryError as e:
    print("CLEAR:", e)
"""


def _small_files():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG, not death, past the limit
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


@pytest.mark.slow  # a subprocess run of several seconds: make test's 10 minutes
def test_a_worker_without_room_for_its_batch_names_dev_shm_and_num_workers():
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=60, preexec_fn=_small_files, env=env)
    # PyTorch leaves the empty files it could not size (torch_<worker pid>_*)
    for pid in (line.split()[1] for line in run.stdout.splitlines()
                if line.startswith("WORKER ")):
        for left in Path("/dev/shm").glob(f"torch_{pid}_*"):
            left.unlink(missing_ok=True)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [line for line in run.stdout.splitlines() if line.startswith("CLEAR:")]
    assert len(lines) == 1, run.stdout
    message = lines[0]
    assert "/dev/shm has" in message and "MiB free" in message
    assert "--data.init_args.num_workers 0" in message and "--shm-size" in message
    # the cause, PyTorch's own line, and the limit that caused it here
    assert "</torch_" in message and "ulimit -f" in message
    assert "Traceback" not in message and "\n" not in message


def test_only_pytorchs_shared_memory_failures_are_taken_for_one():
    caught = RuntimeError("Caught RuntimeError in DataLoader worker process 1.\nOriginal "
                          "Traceback (most recent call last):\n  File ...\nRuntimeError: "
                          "unable to allocate shared memory(shm) for file </torch_1_2_3>: No "
                          "space left on device (28)\n")
    assert shm_failure(caught) == ("unable to allocate shared memory(shm) for file "
                                   "</torch_1_2_3>: No space left on device (28)")
    bus = RuntimeError("DataLoader worker (pid 7) is killed by signal: Bus error. It is "
                       "possible that dataloader's workers are out of shared memory.")
    assert shm_failure(bus) == "killed by signal: Bus error"
    assert shm_failure(RuntimeError("Caught ValueError in DataLoader worker process 0.")) is None
    assert shm_failure(RuntimeError("unable to open file data.nc")) is None


def test_the_message_says_when_the_folder_cannot_be_read(tmp_path):
    message = shm_explained("x", str(tmp_path / "missing"))
    assert f"{tmp_path / 'missing'} cannot be read" in message
