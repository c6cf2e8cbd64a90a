"""Lanes: worker processes, all started up front, each running the tasks it is sent in order.

Task ``k`` (counting from 0 in the order given) runs in lane ``k % workers``, so a worker whose
results depend on its history (a solver's SOR bandit) sees the same earlier tasks in every run,
whichever task was slow; results come back in task order. At most ``depth`` tasks per lane are
in flight (results held in memory are bounded). Each lane is a process with one duplex pipe;
tasks should be small (what is the same for all goes to ``setup`` once): the parent blocks
sending a task that overfills a pipe whose worker is blocked sending its result.

Every process is created before anything else runs, and the parent uses no helper threads:
``fork()`` copies only the forking thread, and a lock another thread holds at that moment (a
queue's, malloc's, a logging handler's) stays locked forever in the child. A one-process
``ProcessPoolExecutor`` per lane started its manager and queue-feeder threads as soon as its
process started, so the next lane was forked while they ran (Python 3.12 warns "This
process ... is multi-threaded, use of fork() may lead to deadlocks in the child").

An exception in a worker is raised in the parent with the worker's traceback as its cause; a
worker that dies (``os._exit``, SIGKILL from the out-of-memory killer) raises
:class:`LaneDiedError` naming it, its exit status and the task it was running, at once, not
after the tasks ahead of it. Ending the block with an exception (Ctrl-C, SIGTERM, a failed
task) terminates every lane without waiting; ending it normally stops them after their tasks.
Workers ignore SIGINT (a terminal's Ctrl-C reaches the whole process group; the parent ends
them) and take SIGTERM's default action (under fork they would inherit the parent's handler).
"""

from __future__ import annotations

import contextlib
import signal
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection, wait
from multiprocessing.context import BaseContext

_READY = "ready"  # a worker's first message once its setup has run
_END = object()


class LaneDiedError(RuntimeError):
    """A lane's worker process ended while the parent still expected results from it."""


class WorkerTraceback(Exception):
    """A worker's formatted traceback, set as the ``__cause__`` of the exception it raised."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'


def _lane_main(conn: Connection, inherited: list[Connection], setup: Callable[..., None] | None,
               setup_args: tuple, run: Callable[..., object]) -> None:
    """A lane's worker: ``setup(*setup_args)``, then ``run(*task)`` for each task received, in
    order, sending back ``(True, result)`` or ``(False, exception, traceback text)``; returns
    on ``None`` or when the parent's end of the pipe is closed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # the parent's ends of this lane's pipe and earlier lanes', copied by fork: held here, a
    # lane would not see its pipe close when the parent dies
    for other in inherited:
        other.close()
    try:
        if setup is not None:
            setup(*setup_args)
        reply: tuple = (True, _READY)
    except Exception as e:
        reply = (False, e, traceback.format_exc())
    while True:
        try:
            _send(conn, reply)
        except OSError:  # the parent is gone
            return
        if not reply[0]:
            return
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        try:
            reply = (True, run(*task))
        except Exception as e:
            reply = (False, e, traceback.format_exc())


def _send(conn: Connection, reply: tuple) -> None:
    """Send ``reply``; one that cannot be pickled (an exception holding a lock, say) goes as a
    RuntimeError with its text. ``Connection.send`` pickles before writing: nothing is
    half-sent."""
    try:
        conn.send(reply)
    except OSError:
        raise
    except Exception as e:
        what = (f"{type(reply[1]).__name__}: {reply[1]}" if not reply[0] else
                f"a result of type {type(reply[1]).__name__}")
        text = reply[2] if not reply[0] else traceback.format_exc()
        conn.send((False, RuntimeError(f"a worker process could not send back {what} "
                                       f"({type(e).__name__}: {e})"), text))


class Lanes:
    """``workers`` worker processes started now, each calling ``setup(*setup_args)`` once,
    then ``run(*task)`` for the tasks :meth:`results` sends it. Use as a context manager.

    Args:
        workers: number of lanes (processes), >= 1.
        context: a multiprocessing context (``mp.get_context("fork")`` or ``"spawn"``; with
            spawn, ``run``, ``setup`` and ``setup_args`` must pickle).
        run: called in a worker with a task's items; its result must pickle.
        setup: called once in each worker before its first task (None: nothing).
        setup_args: ``setup``'s arguments.
        depth: tasks in flight per lane, >= 1 (2: a lane has its next task at hand).
        unit: what a task is called in error messages ("batch").

    Raises whatever ``setup`` raised in a worker, or :class:`LaneDiedError`, once every lane
    has started, so a caller may open files after this returns without a lane inheriting them.
    """

    def __init__(self, workers: int, context: BaseContext, run: Callable[..., object],
                 setup: Callable[..., None] | None = None, setup_args: tuple = (),
                 depth: int = 2, unit: str = "task"):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be an int >= 1, got {workers!r}")
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth must be an int >= 1, got {depth!r}")
        if not callable(run):
            raise TypeError(f"run must be callable, got {type(run).__name__}")
        self.depth, self.unit = depth, unit
        self._conns: list[Connection] = []
        self._procs: list = []
        self._running: list[deque[int]] = []  # per lane: task numbers sent, not yet answered
        fork = context.get_start_method() == "fork"
        try:
            for _ in range(workers):
                mine, theirs = context.Pipe(duplex=True)
                self._conns.append(mine)
                proc = context.Process(
                    target=_lane_main, daemon=True,
                    args=(theirs, list(self._conns) if fork else [], setup, setup_args, run))
                self._procs.append(proc)
                self._running.append(deque())
                proc.start()
                # closed before the next lane starts: only its worker then holds its end, and
                # the pipe reads as closed as soon as that worker is gone
                theirs.close()
            for lane in range(workers):
                self._receive(lane, expected=_READY)
        except BaseException:
            self.terminate()
            raise

    def __enter__(self) -> Lanes:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            self.terminate()
            return False
        try:
            self.close()
        except BaseException:  # a SIGTERM while they stop
            self.terminate()
            raise
        return False

    @property
    def pids(self) -> list[int | None]:
        """The lanes' process ids, in lane order."""
        return [p.pid for p in self._procs]

    def results(self, tasks: Iterable[tuple]) -> Iterator[object]:
        """``run(*task)`` of each of ``tasks``, in task order; task ``k`` runs in lane ``k %
        workers``. Tasks are taken from the iterable only as they are sent (a lazy iterable
        of millions costs nothing up front)."""
        n = len(self._conns)
        answers: list[deque] = [deque() for _ in range(n)]
        order: deque[int] = deque()  # the lane of each task sent and not yet yielded
        todo = iter(tasks)
        number, more = 0, True
        while True:
            while more and len(order) < self.depth * n:
                task = next(todo, _END)
                if task is _END:
                    more = False
                    break
                lane = number % n
                self._running[lane].append(number)
                try:
                    self._conns[lane].send(tuple(task))
                except OSError:
                    raise self._died(lane) from None
                order.append(lane)
                number += 1
            if order and answers[order[0]]:
                yield answers[order.popleft()].popleft()
                continue
            if not order:
                return
            self._wait(answers)

    def _wait(self, answers: list[deque]) -> None:
        """Block until some lane answers or ends; take every answer that is ready."""
        busy = [lane for lane, running in enumerate(self._running) if running]
        handles = {}
        for lane in busy:
            handles[self._conns[lane]] = lane
            handles[self._procs[lane].sentinel] = lane
        for lane in sorted({handles[h] for h in wait(list(handles))}):
            # the process has ended: what it sent before is still in the pipe, then its end
            if not self._procs[lane].is_alive() and not self._conns[lane].poll(1.0):
                raise self._died(lane)
            answers[lane].append(self._receive(lane))

    def _receive(self, lane: int, expected: object = None) -> object:
        """The next answer of ``lane``: its result, or the worker's exception raised here."""
        try:
            reply = self._conns[lane].recv()
        except (EOFError, OSError):
            raise self._died(lane) from None
        except Exception as e:  # an exception whose class does not rebuild from its pickle
            raise RuntimeError(f"the answer of worker process {lane + 1} of "
                               f"{len(self._conns)} could not be read: {type(e).__name__}: "
                               f"{e}") from None
        if not reply[0]:
            raise reply[1] from WorkerTraceback(reply[2])
        if expected is None:
            self._running[lane].popleft()
        elif reply[1] != expected:
            raise RuntimeError(f"worker process {lane + 1} sent {reply[1]!r} before {expected!r}")
        return reply[1]

    def _died(self, lane: int) -> LaneDiedError:
        proc = self._procs[lane]
        proc.join(timeout=1.0)
        code = proc.exitcode
        if code is None:
            how = "closed its pipe"
        elif code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            how = f"was killed by {name}" + (" (the out-of-memory killer, or kill -9)"
                                             if name == "SIGKILL" else "")
        else:
            how = f"exited with status {code}"
        running = self._running[lane]
        doing = (f" while running {self.unit} {running[0]}" if running else
                 " while starting")
        return LaneDiedError(f"worker process {lane + 1} of {len(self._procs)} (pid {proc.pid}) "
                             f"{how}{doing}; the run is stopped")

    def close(self) -> None:
        """Stop every lane after the task it runs (none runs once :meth:`results` is done)."""
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.send(None)
        for proc in self._procs:
            proc.join(timeout=5)
        self.terminate()

    def terminate(self) -> None:
        """End every lane now (SIGTERM, then SIGKILL after 5 s), without waiting for its task."""
        started = [p for p in self._procs if p.pid is not None]
        for proc in started:
            with contextlib.suppress(ValueError, ProcessLookupError, AttributeError):
                if proc.is_alive():
                    proc.terminate()
        for proc in started:
            with contextlib.suppress(ValueError, AttributeError):
                proc.join(timeout=5)
                if proc.is_alive():
                    proc.kill()
                    proc.join(timeout=5)
        for conn in self._conns:
            conn.close()
