"""``CtrlCLoader``: a DataLoader whose worker processes ignore Ctrl-C and whose start never
loses one.

A terminal's Ctrl-C signals the whole process group, workers included. The main process stops
the fit or test and ends its workers itself, and ignores a second Ctrl-C while it shuts down
(Lightning does), which then reaches the workers alone. A worker that took a Ctrl-C the main
process did not left its loop on its own, and the main process then failed reading what it had
queued ("pdesurrogate fit: error: FileNotFoundError"). So the workers ignore SIGINT
(:class:`CtrlCIgnored`); they still end when their parent does (PyTorch's workers watch their
parent process).

A Ctrl-C that lands while the workers are forked is raised inside one of CPython's fork hooks
(``os.register_at_fork``, e.g. logging's), which print the KeyboardInterrupt as "Exception
ignored" and go on: the fit ran on as if no key had been pressed. While the workers start, the
main process only notes a Ctrl-C and raises it once they have started.

Its workers' batches that find no room in shared memory (a container's small ``/dev/shm``)
end the loop with one line saying so (:mod:`~pdesurrogate.training.worker_shm`).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

from torch.utils.data import DataLoader

from pdesurrogate.training.worker_shm import SharedMemoryIter


class CtrlCIgnored:
    """A DataLoader ``worker_init_fn``: the worker ignores SIGINT, then runs ``then`` (the
    loader's own ``worker_init_fn``, if any) with the worker's id. A class, not a closure, so
    that a loader started with ``spawn`` can pickle it."""

    def __init__(self, then: Callable[[int], None] | None = None):
        self.then = then

    def __call__(self, worker_id: int) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if self.then is not None:
            self.then(worker_id)


class CtrlCLoader(DataLoader):
    """A :class:`~torch.utils.data.DataLoader` (same arguments) whose workers ignore Ctrl-C
    (:class:`CtrlCIgnored` runs before the given ``worker_init_fn``), and whose ``iter()``
    raises a Ctrl-C pressed while it starts workers once they have started; a worker's batch
    that finds no room in shared memory is a
    :class:`~pdesurrogate.training.worker_shm.WorkerSharedMemoryError`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.num_workers > 0 and not isinstance(self.worker_init_fn, CtrlCIgnored):
            self.worker_init_fn = CtrlCIgnored(self.worker_init_fn)

    def _get_iterator(self):
        if self.num_workers == 0:
            return super()._get_iterator()
        self.check_worker_number_rationality()
        return SharedMemoryIter(self)

    def __iter__(self):
        handler = signal.getsignal(signal.SIGINT)
        # a handler can be swapped in the main thread only; none to defer when Ctrl-C is
        # ignored (Lightning's shutdown) or has its default action
        if self.num_workers == 0 or not callable(handler) \
                or threading.current_thread() is not threading.main_thread():
            return super().__iter__()
        pressed = []
        # the workers are forked with this handler too: a Ctrl-C before CtrlCIgnored runs
        # in them is noted there and dropped
        signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
        try:
            iterator = super().__iter__()
        finally:
            signal.signal(signal.SIGINT, handler)
            if pressed:  # Python's handler raises KeyboardInterrupt; the iterator ends its workers
                handler(signal.SIGINT, None)
        return iterator
