"""How a command ends other than by returning: stdout (or stderr) closed by its reader (status
141, as SIGPIPE gives), SIGTERM's message, and Ctrl-C during the exit hooks."""

from __future__ import annotations

import os
import signal
import sys
import threading

from pdesurrogate.cli.lightning_help import _LIGHTNING_HELP
from pdesurrogate.cli.run_outputs import _stopped_resume_hint


def _sigterm_message(command: str, trainer=None) -> str:
    """The line a command stopped by SIGTERM prints: for fit and test, what is left to resume
    from (as when Lightning's handler stopped them; ``trainer``: the run's, if built), else
    that no partial output is left."""
    if command in _LIGHTNING_HELP:
        return (f"pdesurrogate {command}: stopped by SIGTERM; "
                + _stopped_resume_hint(trainer, command))
    return f"pdesurrogate {command}: stopped by SIGTERM; no partial output is left"


def _default_sigint() -> None:
    """An ``atexit`` hook: from here on Ctrl-C ends the process as SIGINT's default action
    does (status 130 in a shell, nothing printed), not as a KeyboardInterrupt inside
    another exit hook ("Exception ignored in atexit callback" and its traceback, after the
    command's output was complete, and a library's temporary folder left half removed)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stdout_closed() -> bool:
    """Whether stdout, or stderr, is a pipe whose reader has exited (``| head -1``,
    ``| grep -q``, ``2>&1 | head -1``), as the kernel reports it (POLLERR on the pipe's
    writing end): a BrokenPipeError from anywhere else (a worker's pipe, a socket) is an
    error of the command's own."""
    return _pipe_closed(sys.stdout) or _pipe_closed(sys.stderr)


def _pipe_closed(stream) -> bool:
    import select

    try:
        poller = select.poll()
        poller.register(stream.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no file behind it (captured), no poll
        return False


def _stdout_gone() -> int:
    """The end of a command whose stdout was closed: what is left in stdout's buffer goes to
    /dev/null (else Python's flush at exit printed "Exception ignored ... BrokenPipeError"),
    and the status a process that SIGPIPE killed has, 141, as ``yes | head -1`` gives
    (Python ignores SIGPIPE: the command got a BrokenPipeError instead, a traceback or an
    "error:" line with status 2 or 1 before). A closed stderr (``2>&1 | head -1``) likewise:
    its buffer's flush at exit failed, and the command ended with status 120."""
    for stream in (sys.stdout, sys.stderr):
        if _pipe_closed(stream):
            _drop_stdout(stream)
    return 128 + signal.SIGPIPE


def _rich_pipe_exit(exc: SystemExit) -> bool:
    """Whether ``exc`` is rich's end of a process whose console's pipe closed: its
    ``Console.on_broken_pipe`` sends stdout to /dev/null and raises SystemExit(1) (a fit's
    model summary or test's table into ``| grep -q``, a message into ``2>&1 | head -1``);
    the command ended with status 1, or 120, where a print's closed pipe gives 141."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return isinstance(exc.__context__, BrokenPipeError) and tb is not None \
        and tb.tb_frame.f_code.co_name == "on_broken_pipe" \
        and tb.tb_frame.f_globals.get("__name__", "").startswith("rich.")


def _help_pipe_exit(exc: SystemExit) -> bool:
    """Whether ``exc`` is argparse's successful exit (``--help``, jsonargparse's
    ``--print_config``) with stdout a pipe whose reader has gone (``fit --help | head -1``).
    argparse's ``_print_message`` drops the OSError of its write, so a help longer than stdout's
    buffer (fit's, test's, online's: 20-36 kB) ended with status 0, while a shorter one, still
    in the buffer at main's flush, ended with SIGPIPE's 141."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return exc.code in (0, None) and tb is not None and tb.tb_frame.f_code.co_name == "exit" \
        and tb.tb_frame.f_globals.get("__name__") == "argparse" and _pipe_closed(sys.stdout)


def _drop_stdout(stream=None) -> None:
    """Send what is left in stdout's (or ``stream``'s) buffer, and anything written later, to
    /dev/null: a stdout that cannot be written keeps its buffer, and Python's flush at exit
    failed on it again ("Exception ignored ... OSError", status 120) after the command's own
    error line."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, (stream or sys.stdout).fileno())
    finally:
        os.close(devnull)
