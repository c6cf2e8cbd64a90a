"""TensorBoard loggers' event files: one that outlives ``trainer.fit``, for a run that goes on
logging after it (an online run validates its final model at once), and closing them after a
write the disk refused.

Lightning closes the TensorBoard writer when a stage ends. tensorboardX then opens a new event
file at the next logged value, named ``events.out.tfevents.<second>.<host>``, and opens it for
writing from the start: when that is the same second as the first file's, the first file (every
training curve) is truncated. Measured before this logger: one online test run in eight lost
every ``train/*`` and ``stream/*`` value this way.

On a full disk (or past ``ulimit -f``) tensorboardX failed in two ways. A write of its writer
thread that the disk refused killed the thread ("Exception in thread ... OSError: [Errno 28]
No space left on device"), and ten logged values later ``add_event`` waited forever for room in
the thread's queue: the fit hung. A flush of the main thread that failed was reported by the
fit, but the refused bytes stayed in the file's buffer and tensorboardX's exit hook (``atexit``)
flushed them again: "Exception ignored in atexit callback" and a traceback came after our
one-line error. :class:`DropsRefusedEvents` wraps each event file (:class:`_KeptRefusal`) so
that the thread keeps a refusal instead of dying, and the next flush of the main thread (Lightning
flushes after every logged step) raises it; then :func:`close_refused` closes the files, dropping
what the disk refused, so that nothing is written at exit. On a healthy disk the wrapper passes
every write, flush and fsync on unchanged.

tensorboardX's event queue makes its semaphores in ``/dev/shm``; where that has no page free,
the fit said only "OSError: [Errno 28] No space left on device". :class:`DropsRefusedEvents`
says which folder, its room and what to do (:class:`SemaphoreRoomError`).

tensorboardX warns "NaN or Inf found in input tensor." (logger ``tensorboardX.x2num``) for each
value that is not finite, with neither its name nor its step: under ``pdesurrogate test`` it
came as a stray line above the table for an fRMSE band with no mode on the grid, which the
table shows as nan and our own line explains. The value is written to the event file all the
same, so the line tells nothing; :data:`NON_FINITE_NOTE` drops it, and only it.
"""

from __future__ import annotations

import errno
import logging
import os
import threading

from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from pdesurrogate.training.worker_shm import SHM_DIR, shm_room_text


class _DropsNonFiniteNote(logging.Filter):
    """Drops tensorboardX's "NaN or Inf found in input tensor." and passes every other
    record."""

    MESSAGE = "NaN or Inf found in input tensor."

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self.MESSAGE


#: the filter :class:`DropsRefusedEvents` puts on tensorboardX's ``x2num`` logger (one instance,
#: so that ``addFilter``, which adds a filter once, adds it once however many loggers start)
NON_FINITE_NOTE = _DropsNonFiniteNote()
X2NUM_LOGGER = "tensorboardX.x2num"


class SemaphoreRoomError(RuntimeError):
    """No room in ``/dev/shm`` for the semaphore of tensorboardX's event queue."""


def _in_semaphore(error: OSError) -> bool:
    """Whether ``error`` was raised making a ``multiprocessing`` semaphore (a file of
    ``/dev/shm`` on Linux; tensorboardX's event queue makes two)."""
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_filename.endswith(
        os.path.join("multiprocessing", "synchronize.py"))


class _KeptRefusal:
    """An event file that keeps a write, flush or fsync the disk refused rather than raising it
    in tensorboardX's writer thread; it drops every later write (the file ends at a record
    cut short), and each later flush of ``owner`` (the thread that logs) raises it anew.
    :meth:`give_up` closes the file. No ``fileno``: tensorboardX's flush would fsync it
    itself, where a refusal would again kill its thread; :meth:`flush` fsyncs."""

    def __init__(self, file, owner: threading.Thread):
        self._file, self._owner = file, owner
        self.refused: OSError | None = None
        self._gone = False

    def write(self, data: bytes) -> int:
        if self.refused is None and not self._gone:
            try:
                return self._file.write(data)
            except OSError as e:
                self.refused = e
        return len(data)

    def flush(self) -> None:
        if self._gone:
            return
        if self.refused is None:
            try:
                self._file.flush()
                os.fsync(self._file.fileno())
            except OSError as e:
                self.refused = e
        if self.refused is not None and threading.current_thread() is self._owner:
            raise OSError(self.refused.errno, self.refused.strerror)

    def give_up(self) -> None:
        """Close the file, with a last try to write what its buffer holds, and drop what
        comes after."""
        self._gone = True
        try:
            self._file.close()
        except OSError:
            pass

    def close(self) -> None:
        self.flush()
        self.give_up()


def _event_files(experiment) -> list:
    """``(EventFileWriter, its RecordWriter, that one's lock)`` of each open event file of
    ``experiment`` (a tensorboardX ``SummaryWriter``; None or Lightning's stand-in on other
    ranks: none). Where tensorboardX's insides are not as expected (another version), none:
    its behaviour is then left as it is."""
    writers = getattr(experiment, "all_writers", None)
    found = []
    # a dict only in tensorboardX's SummaryWriter (Lightning's stand-in answers any name)
    for file_writer in list(writers.values() if isinstance(writers, dict) else ()):
        events = getattr(file_writer, "event_writer", None)
        records = getattr(events, "_ev_writer", None)
        record = getattr(records, "_py_recordio_writer", None)
        lock = getattr(records, "_lock", None)
        if record is None or lock is None or not hasattr(record, "_writer") \
                or getattr(events, "_closed", True):
            continue
        found.append((events, record, lock))
    return found


def keep_refusals(experiment) -> None:
    """Wrap each event file of ``experiment`` not wrapped yet in :class:`_KeptRefusal`, owned
    by this thread."""
    for _, record, lock in _event_files(experiment):
        with lock:  # tensorboardX's writer thread writes under it
            if not isinstance(record._writer, _KeptRefusal):
                record._writer = _KeptRefusal(record._writer, threading.current_thread())


def close_refused(experiment) -> None:
    """Close the event files of ``experiment`` after one of its writes failed: each file is
    closed with a last try to write its buffer, what the writer thread still queues is dropped
    and the thread stopped, and the file counts as closed, so that tensorboardX's exit hook
    writes nothing more."""
    for events, record, lock in _event_files(experiment):
        with lock:
            file = record._writer
            if not isinstance(file, _KeptRefusal):
                file = record._writer = _KeptRefusal(file, threading.current_thread())
        file.give_up()
        worker = events._worker
        if worker is not None and worker.is_alive():
            events.close()  # the thread drains its queue into the closed wrapper and stops
        else:
            events._closed = True


class DropsRefusedEvents:
    """Mixin for Lightning's ``TensorBoardLogger``: its event files keep what the disk refuses
    until the logging thread's next flush raises it (:func:`keep_refusals`), and a
    ``finalize`` whose write fails closes them (:func:`close_refused`) before its error goes
    on, so that the error is all the user sees; tensorboardX's note of a value that is not
    finite is dropped (:data:`NON_FINITE_NOTE`)."""

    @property
    def experiment(self):
        logging.getLogger(X2NUM_LOGGER).addFilter(NON_FINITE_NOTE)
        try:
            writer = super().experiment
        except OSError as e:
            if e.errno == errno.ENOSPC and _in_semaphore(e):
                raise SemaphoreRoomError(
                    f"TensorBoard's event writer found no room for its queue's semaphore in "
                    f"{SHM_DIR} ({e.strerror}); {shm_room_text()}. Remove stale files there "
                    f"that no running process holds, or give the container more shared "
                    f"memory (docker/podman run --shm-size=1g)") from None
            raise
        keep_refusals(writer)
        return writer

    def finalize(self, status: str) -> None:
        try:
            super().finalize(status)
        except OSError:
            close_refused(self._experiment)
            raise


class OpenTensorBoardLogger(DropsRefusedEvents, TensorBoardLogger):
    """``TensorBoardLogger`` whose writer, at the end of each stage, is flushed but stays
    open, so later stages log into the same event file; :meth:`close` closes it, writing out
    what tensorboardX's writer thread still queues (a flush does not wait for that queue).
    Arguments as ``TensorBoardLogger``'s."""

    @rank_zero_only
    def finalize(self, status: str) -> None:
        try:
            self.experiment.flush()
            if status == "success":
                self.save()  # hparams.yaml, as TensorBoardLogger.finalize writes it
        except OSError:
            close_refused(self._experiment)
            raise

    @rank_zero_only
    def close(self) -> None:
        """Flush and close the event file (the ``finalize`` of ``TensorBoardLogger``); a
        value logged afterwards would open a new file."""
        super().finalize("closed")
