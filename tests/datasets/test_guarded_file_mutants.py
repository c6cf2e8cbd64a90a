"""``GuardedFile`` on its own, against a stand-in for the raw file whose writes can be short,
make no progress or fail: the first error is kept, every byte of a short write is written, a
write is reported done, and after an error nothing more reaches the disk. The disk-full tests
(test_writer_disk_full.py, tests/test_writers_disk_full.py) only see whether some OSError came
out in the end; each test here kills a mutant of guarded_file.py that those let through."""

import errno
import io
import os

import numpy as np
import pytest

from pdesurrogate.datasets.guarded_file import GuardedFile


class Raw(io.BytesIO):
    """A file whose writes take at most ``step`` bytes, make no progress once ``stall`` calls
    were made (a second stalled call fails the test: the guard must not loop on it), and raise
    ``fail`` (an OSError) from the write numbered ``fail_at``; truncate and flush raise their
    ``*_error`` where given. ``calls`` names every call that reached it."""

    def __init__(self, step=None, stall=None, fail=None, fail_at=0, truncate_error=None,
                 flush_error=None):
        super().__init__()
        self.step, self.stall, self.fail, self.fail_at = step, stall, fail, fail_at
        self.truncate_error, self.flush_error = truncate_error, flush_error
        self.calls: list[str] = []
        self.stalled = 0

    def write(self, data):
        n = len(self.calls)
        self.calls.append("write")
        if self.fail is not None and n >= self.fail_at:
            raise self.fail
        if self.stall is not None and n >= self.stall:
            self.stalled += 1
            assert self.stalled == 1, "GuardedFile looped on a write that made no progress"
            return 0
        data = memoryview(data).cast("B")
        return super().write(data[:self.step] if self.step else data)

    def truncate(self, size=None):
        self.calls.append("truncate")
        if self.truncate_error is not None:
            raise self.truncate_error
        return super().truncate(size)

    def flush(self):
        self.calls.append("flush")
        if self.flush_error is not None:
            raise self.flush_error


ENOSPC = OSError(errno.ENOSPC, "No space left on device")
EIO = OSError(errno.EIO, "Input/output error")


def test_a_short_write_is_continued_to_its_end():
    raw = Raw(step=3)
    g = GuardedFile(raw)
    assert g.write(b"0123456789") == 10
    assert raw.getvalue() == b"0123456789" and g.error is None
    assert raw.calls == ["write"] * 4


def test_a_write_of_wide_items_counts_and_writes_bytes():
    """h5py may hand any buffer: an array of float64 is 8 bytes an item, written whole even
    in short pieces, and reported as its byte count."""
    data = np.arange(5.0)
    raw = Raw(step=3)
    g = GuardedFile(raw)
    assert g.write(data) == 40
    assert raw.getvalue() == data.tobytes()


def test_a_write_that_makes_no_progress_is_an_error_not_a_loop():
    raw = Raw(stall=0)
    g = GuardedFile(raw)
    assert g.write(b"abc") == 3  # reported done to HDF5 all the same
    assert isinstance(g.error, OSError) and g.error.errno == errno.EIO


def test_the_first_error_is_kept_and_later_writes_truncations_flushes_are_dropped():
    raw = Raw(fail=ENOSPC, fail_at=1, truncate_error=EIO, flush_error=EIO)
    g = GuardedFile(raw)
    assert g.write(b"ab") == 2 and g.error is None
    assert g.write(b"cde") == 3  # fails: reported done, kept
    assert g.error is ENOSPC
    assert g.write(b"fgh") == 3
    g.seek(0, os.SEEK_END)
    assert g.truncate() == g.tell() == 2
    assert g.truncate(100) == 100
    g.flush()
    assert g.error is ENOSPC
    # nothing after the failed write reached the file (it would fail again, or fill it up)
    assert raw.calls == ["write", "write"], raw.calls


def test_a_failed_truncation_is_kept_and_reported_as_done():
    raw = Raw(truncate_error=ENOSPC)
    g = GuardedFile(raw)
    g.write(b"abcd")
    assert g.truncate(4096) == 4096
    assert g.error is ENOSPC
    assert g.write(b"xyz") == 3 and raw.calls == ["write", "truncate"]


def test_a_truncation_without_error_returns_the_new_size():
    raw = Raw()
    g = GuardedFile(raw)
    g.write(b"abcdef")
    assert g.truncate(2) == 2 and raw.getvalue() == b"ab"


def test_flush_reaches_the_file_and_keeps_its_error():
    """A buffered file (atomic_write's, a checkpoint's) writes what it holds when flushed: that
    is where a full disk shows, and the checkpoint is fsynced only after it."""
    raw = Raw(flush_error=ENOSPC)
    g = GuardedFile(raw)
    g.flush()
    assert raw.calls == ["flush"] and g.error is ENOSPC


@pytest.mark.parametrize("whence", [os.SEEK_SET, os.SEEK_CUR, os.SEEK_END])
def test_seek_passes_whence(whence):
    raw = Raw()
    g = GuardedFile(raw)
    g.write(b"0123456789")
    g.seek(4)
    expected = {os.SEEK_SET: 2, os.SEEK_CUR: 6, os.SEEK_END: 12}[whence]
    assert g.seek(2, whence) == expected == g.tell()
    g.seek(0)
    assert g.read(3) == b"012"
    buf = bytearray(4)
    assert g.readinto(buf) == 4 and bytes(buf) == b"3456"
