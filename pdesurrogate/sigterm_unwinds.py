"""``sigterm_unwinds``: SIGTERM (a plain ``kill``, Slurm's ``scancel``) turned into an exception
while a block runs, so that the block's cleanup runs: a temporary file is removed, a replaced
output is put back, worker processes are ended.

SIGTERM's default action ends the process on the spot, where no ``finally`` or ``except``
runs. Inside the block it prints one line to stderr and raises :class:`Terminated`, a
``SystemExit`` whose code is ``128 + 15`` (the status a shell reports for a process that
SIGTERM ended). A second SIGTERM during that cleanup is ignored. Used by ``generate`` and by
``pdesurrogate predict``, ``export``, ``fit`` and ``test`` (the latter two until Lightning
installs its handler, and after it removes it); ``online`` has its launcher's.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator


class Terminated(SystemExit):
    """SIGTERM arrived inside :func:`sigterm_unwinds`; ``code`` is ``128 + signum``."""


def raised_while(exc: BaseException | None, kind: type[BaseException]) -> bool:
    """Whether ``exc`` is a ``kind`` or was raised while one was being handled (somewhere in
    its ``__context__`` chain)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kind):
            return True
        seen.add(id(exc))
        exc = exc.__context__
    return False


@contextlib.contextmanager
def sigterm_unwinds(message: Callable[[], str]) -> Iterator[None]:
    """While the block runs, SIGTERM prints ``message()`` to stderr and raises
    :class:`Terminated` in the main thread. A handler somebody else installed, or a call
    from another thread (where no handler can be installed), is left alone; so is a handler
    installed inside the block over this one, which handles SIGTERM while it is in place even
    if it calls this one in turn (Lightning's, while a fit or test runs).

    An exception raised by a signal handler can land where Python drops it ("Exception
    ignored in": a weakref callback, a ``__del__``): the block then runs on. So a later SIGTERM
    is ignored only during the cleanup that :class:`Terminated` started, and raises again
    otherwise; and a block that ends normally after SIGTERM raises :class:`Terminated` then.
    """
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    fired = False

    def stop(signum, frame):
        nonlocal fired
        if signal.getsignal(signal.SIGTERM) is not stop:
            return  # called by a handler installed over this one (Lightning's): it stops the run
        # the exception the interrupted code is handling, if any: the cleanup SIGTERM began
        if fired and raised_while(sys.exc_info()[1], Terminated):
            return  # a second SIGTERM must not cut the cleanup short
        if not fired:
            print(message(), file=sys.stderr)
        fired = True
        raise Terminated(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if fired:  # the first Terminated was dropped on the way
        raise Terminated(128 + signal.SIGTERM)
