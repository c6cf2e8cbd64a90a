"""``worker_shm`` in process, where test_loader_container_limits.py's one real worker (slow)
cannot look: which errors become a WorkerSharedMemoryError and which pass unchanged, that its
message carries no chained worker traceback, and the figures it gives (free and total space of
the folder, the file size limit in MiB). Each test kills a mutant of worker_shm.py that the
other file lets through."""

import errno
import os
import resource
from types import SimpleNamespace

import pytest
from torch.utils.data.dataloader import _MultiProcessingDataLoaderIter

from pdesurrogate.training import worker_shm
from pdesurrogate.training.worker_shm import (
    MIB,
    SharedMemoryIter,
    WorkerSharedMemoryError,
    shm_explained,
    shm_failure,
)

RESIZE = ("Caught RuntimeError in DataLoader worker process 0.\nOriginal Traceback (most recent "
          "call last):\nRuntimeError: unable to resize file </torch_9_8_7> to the right size: "
          "File too large (27)\n")


def _next_data_raising(monkeypatch, error: BaseException):
    """SharedMemoryIter._next_data where PyTorch's raised ``error`` (no loader, no workers)."""
    def raising(self):
        raise error

    monkeypatch.setattr(_MultiProcessingDataLoaderIter, "_next_data", raising)
    bare = object.__new__(SharedMemoryIter)
    bare._shutdown = True  # no workers to shut down when it is collected
    return bare._next_data()


def test_pytorchs_resize_failure_is_one_too():
    assert shm_failure(RuntimeError(RESIZE)) == (
        "unable to resize file </torch_9_8_7> to the right size: File too large (27)")


def test_a_shared_memory_failure_is_one_line_without_the_workers_traceback(monkeypatch):
    with pytest.raises(WorkerSharedMemoryError) as caught:
        _next_data_raising(monkeypatch, RuntimeError(RESIZE))
    # the CLI prints an error's innermost cause: a chained one would be PyTorch's traceback
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert "unable to resize file </torch_9_8_7>" in str(caught.value)


def test_any_other_worker_error_passes_unchanged(monkeypatch):
    other = RuntimeError("Caught ValueError in DataLoader worker process 0.\nValueError: bad")
    with pytest.raises(RuntimeError) as caught:
        _next_data_raising(monkeypatch, other)
    assert caught.value is other


def test_the_message_gives_free_and_total_space_and_the_file_size_limit(monkeypatch):
    st = SimpleNamespace(f_bavail=3 * 256, f_blocks=64 * 256, f_frsize=4096)  # 3 of 64 MiB
    monkeypatch.setattr(worker_shm.os, "statvfs", lambda path: st)
    monkeypatch.setattr(worker_shm.resource, "getrlimit",
                        lambda which: (MIB // 2, resource.RLIM_INFINITY))
    message = shm_explained("x")
    assert "/dev/shm has 3 MiB free now, of 64 MiB; the file size limit (ulimit -f) is " \
           "0.5 MiB." in message, message


def test_no_file_size_limit_is_not_mentioned(monkeypatch):
    monkeypatch.setattr(worker_shm.resource, "getrlimit",
                        lambda which: (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    assert "ulimit" not in shm_explained("x")


def test_an_unreadable_folder_says_why(tmp_path):
    missing = tmp_path / "missing"
    assert f"{missing} cannot be read ({os.strerror(errno.ENOENT)})" in \
        shm_explained("x", str(missing))
