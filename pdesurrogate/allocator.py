"""glibc malloc settings for training processes on CPU.

PyTorch's CPU tensors come from ``malloc``. glibc serves blocks above its mmap threshold (128 KiB
at first, raised on the fly up to 32 MiB) with fresh ``mmap`` memory and gives it back on
``free``; it also trims the top of the heap once more than twice that is free. A training step
allocates and frees the same activations every step, so with the default settings each step
can fault its activation memory in again, page by page: measured on a 2-core machine with the
FNO of ``configs/fit/fno_burgers.yaml`` (128 points, batch 32), 80k to 200k page faults per
epoch of 50 steps, 15 to 25 % of the training time, varying from run to run with what the
process had allocated before. With the threshold pinned at 32 MiB and trimming above 1 GiB,
freed blocks are reused and an epoch faults a few hundred pages.

The cost: memory a process freed stays mapped to it (up to the trim threshold at the top of
the heap). :func:`tune_malloc` is called by the ``pdesurrogate`` command for the commands that
train or run models; it leaves things alone where a user already chose (``MALLOC_*`` variables
set) or where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 32 * 2**20  # glibc's largest accepted value on 64-bit
TRIM_THRESHOLD = 2**30


def tune_malloc() -> bool:
    """Pin glibc's mmap threshold at 32 MiB and its trim threshold at 1 GiB for this process.

    Returns True if both settings were applied; False where the platform is not glibc Linux or
    the environment already sets ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` (the
    user's choice wins). Affects allocations made after the call.
    """
    if not sys.platform.startswith("linux"):
        return False
    if any(k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
