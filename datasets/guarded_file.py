"""``GuardedFile``: the file object HDF5 writes a temporary dataset file through, which keeps
the first write error for the writer to raise instead of handing it to HDF5.

HDF5 writes the chunks it caches when a dataset handle closes, which h5py does in a
deallocator: an ``ENOSPC`` or ``EFBIG`` there was printed as "Exception ignored in
h5py._objects.ObjectID.__dealloc__" (with a traceback, once per handle) and the sample loop
went on, into a file that could no longer be finished. The file's close then failed, HDF5 kept
the file open in a state it cannot flush, and the process died of a segmentation fault at exit
(in h5netcdf's ``__del__`` or HDF5's own clean-up), after its error line and with status 139.

Through this object (h5py's ``fileobj`` driver) a failed write is stored in
:attr:`GuardedFile.error` and reported to HDF5 as done, and every later write, truncation and
flush is dropped: HDF5 sees no error, closes the file normally, and the writer, which checks
:attr:`GuardedFile.error` after every block and at close, deletes the temporary file and raises the
error with the file's name. What is dropped is never used: the file is discarded (and should HDF5
fail in reading back what it took as written, the writer reports the dropped write, not that). A
short write (the disk filled up mid-way) is continued until it completes or fails, since h5py's
driver does not look at the count.

Measured on a 2-core machine: 262 MiB written in 0.19 s through this object, 0.18 s through
HDF5's own ``sec2`` driver.
"""

from __future__ import annotations

import errno
import os


class GuardedFile:
    """Read/write access to an open unbuffered binary file ``raw`` (``io.FileIO``, opened
    ``"r+b"``) for h5py's ``fileobj`` driver; see the module docstring. :attr:`error` is the
    first ``OSError`` a write, truncation or flush raised, or None."""

    def __init__(self, raw) -> None:
        self.raw = raw
        self.error: OSError | None = None

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        size = len(view)
        if self.error is None:
            try:
                while view:
                    done = self.raw.write(view)
                    if not done:  # no progress and no error: never loop on it
                        raise OSError(errno.EIO, os.strerror(errno.EIO))
                    view = view[done:]
            except OSError as e:
                self.error = e
        return size

    def truncate(self, size: int | None = None) -> int:
        if self.error is None:
            try:
                return self.raw.truncate(size)
            except OSError as e:
                self.error = e
        return self.raw.tell() if size is None else size

    def flush(self) -> None:
        if self.error is None:
            try:
                self.raw.flush()
            except OSError as e:
                self.error = e

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def readinto(self, buffer) -> int | None:
        return self.raw.readinto(buffer)

    def read(self, size: int = -1) -> bytes:
        return self.raw.read(size)
