"""A DataLoader worker that cannot pass its batch through shared memory, said in one line.

A worker hands each batch to the main process in a file of ``/dev/shm`` (PyTorch's
``torch_<pid>_...`` files). Docker and Podman give a container 64 MiB there unless told
otherwise (``--shm-size``), less than a few workers' batches of a 2-D field take. PyTorch then
reports the worker's own traceback ending in "unable to allocate shared memory(shm) for file
</torch_...>: No space left on device (28)", or, where the file was only reserved, a worker
"killed by signal: Bus error", with no word of the folder or of what to change.
:class:`SharedMemoryIter` raises :class:`WorkerSharedMemoryError` instead, naming ``/dev/shm``
with its free space, and the settings that need less of it.
"""

from __future__ import annotations

import os
import re
import resource

from torch.utils.data.dataloader import _MultiProcessingDataLoaderIter

SHM_DIR = "/dev/shm"
# PyTorch's wording where a worker's batch found no room: its shared file could not be made or
# sized ("unable to allocate shared memory(shm) for file </torch_...>", "unable to resize file
# </torch_...> to the right size"), or the worker died touching a page tmpfs had none for
_SHM_FAILURE = re.compile(r"unable to \w+ (shared memory\(shm\) for )?file </torch_[^>]*>[^\n]*"
                          r"|killed by signal: Bus error")
MIB = 2**20


class WorkerSharedMemoryError(RuntimeError):
    """A DataLoader worker found no room in shared memory (``/dev/shm``) for a batch."""


def shm_failure(error: BaseException) -> str | None:
    """The line of PyTorch's message that says a worker's batch found no room in shared
    memory (``error`` as the main process got it from the worker), or None for another
    error."""
    found = _SHM_FAILURE.search(str(error))
    return found.group(0).strip() if found else None


def shm_room_text(shm_dir: str = SHM_DIR) -> str:
    """How much ``shm_dir`` holds and has free now, in MiB, as a clause of an error message
    (or that it cannot be read, and why)."""
    try:
        st = os.statvfs(shm_dir)
    except OSError as e:
        return f"{shm_dir} cannot be read ({e.strerror})"
    return (f"{shm_dir} has {st.f_bavail * st.f_frsize / MIB:.0f} MiB free now, of "
            f"{st.f_blocks * st.f_frsize / MIB:.0f} MiB")


def shm_explained(failure: str, shm_dir: str = SHM_DIR) -> str:
    """The one-line message for :func:`shm_failure`'s ``failure``: how much ``shm_dir`` holds
    and has free, the file size limit where one is set (``ulimit -f`` caps these files too),
    and the settings that need less shared memory or give more."""
    room = shm_room_text(shm_dir)
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    fsize = ("" if soft == resource.RLIM_INFINITY
             else f"; the file size limit (ulimit -f) is {soft / MIB:.3g} MiB")
    return (f"DataLoader workers pass batches through shared memory, and one found no room for "
            f"its batch ({failure}); {room}{fsize}. Use fewer workers (fit: "
            f"--data.init_args.num_workers 0 needs none) or a smaller batch size, or give the "
            f"container more shared memory (docker/podman run --shm-size=1g)")


class SharedMemoryIter(_MultiProcessingDataLoaderIter):
    """PyTorch's iterator over a loader with workers (same type, so Lightning still shuts its
    workers down), whose shared-memory failures are a :class:`WorkerSharedMemoryError`."""

    def _next_data(self):
        try:
            return super()._next_data()
        except RuntimeError as e:
            failure = shm_failure(e)
            if failure is None:
                raise
            # no chained cause: the CLI prints an error's innermost cause, which is PyTorch's
            # worker traceback; its telling line is in this message
            raise WorkerSharedMemoryError(shm_explained(failure)) from None
