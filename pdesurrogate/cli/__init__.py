"""The ``pdesurrogate`` command: one subcommand per way into the platform.

This package and :mod:`pdesurrogate.online` (the ``online`` command's ranks) are the only ones
that wire solvers, datasets, training and streaming together: the other parts depend only
downwards (solvers on numpy/torch, datasets on solvers, streaming on
solvers and mpi4py, training on models, datasets and streaming), never on each other sideways
or on this package. Each subcommand parses its own arguments with jsonargparse, so YAML configs
map one-to-one onto constructor arguments and a misspelt key is an error that names it.

Here: :func:`main`, the command table :data:`COMMANDS` and the dispatch, which turns a
command's errors, signals and closed pipes into one line and an exit status. Each command is a
``*_command.py`` module (``fit`` and ``test``: ``lightning_commands.py``, with the checks of a
``--ckpt_path`` in ``checkpoints.py`` and what a run says at its end in ``run_outputs.py``);
``errors.py`` condenses parse errors and adds hints, ``exits.py`` ends a command whose stdout
was closed. A module imports what only its command needs inside the function that needs it:
``import pdesurrogate.cli`` loads no torch, and a ``--help`` none of a command's libraries.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import logging
import os
import sys
import textwrap
import warnings
from collections.abc import Callable, Sequence

from pdesurrogate.allocator import tune_malloc
from pdesurrogate.cli.config_shape import config_without_options
from pdesurrogate.cli.conventions import EXIT_STATUS, NO_ABBREVIATIONS
from pdesurrogate.cli.errors import (
    _condensed_errors,
    _first_run_hint,
    _missing_config_hint,
    _missing_module_hint,
    condense_parse_error,
)
from pdesurrogate.cli.exits import (
    _default_sigint,
    _drop_stdout,
    _help_pipe_exit,
    _rich_pipe_exit,
    _sigterm_message,
    _stdout_closed,
    _stdout_gone,
)
from pdesurrogate.cli.lightning_help import _LIGHTNING_HELP
from pdesurrogate.cli.run_outputs import _failed_fit_outputs
from pdesurrogate.cli.trainer_callbacks import default_checkpoint
from pdesurrogate.cli.versions import version_report
from pdesurrogate.sigterm_unwinds import Terminated, sigterm_unwinds
from pdesurrogate.startup_gc import import_without_gc
from pdesurrogate.text_locale import escape_unencodable_output, non_utf8_config, utf8_text_files

__all__ = ["COMMANDS", "condense_parse_error", "default_checkpoint", "main", "version_report"]


def _command(module: str, name: str) -> Callable[..., int]:
    """The function ``name`` of the command module ``pdesurrogate.cli.<module>``, imported when
    the command runs: ``import pdesurrogate.cli``, ``--version`` and the top-level ``--help``
    load no command's module, and a command loads only its own."""
    def run(*args) -> int:
        return getattr(importlib.import_module(f"pdesurrogate.cli.{module}"), name)(*args)

    run.__name__ = run.__qualname__ = name
    return run


COMMANDS: dict[str, tuple[str, Callable[[Sequence[str]], int]]] = {
    "generate": ("run a solver and write a dataset file",
                 _command("generate_command", "cmd_generate")),
    "fit": ("train a surrogate (LightningCLI: --config configs/fit/NAME.yaml)",
            _command("lightning_commands", "cmd_fit")),
    "test": ("evaluate a trained checkpoint on the test split (--ckpt_path)",
             _command("lightning_commands", "cmd_test")),
    "online": ("train online from solver ranks streaming over MPI (--config "
               "configs/online/NAME.yaml)", _command("online_command", "cmd_online")),
    "export": ("export a checkpoint as config.json + model.safetensors",
               _command("export_command", "cmd_export")),
    "predict": ("roll an exported surrogate out over a dataset file",
                _command("predict_command", "cmd_predict")),
    "compare": ("rank several exported surrogates on one dataset file (a leaderboard)",
                _command("compare_command", "cmd_compare")),
    "info": ("say what an export folder, a dataset file or a checkpoint holds, without "
             "loading it",
             _command("info_command", "cmd_info")),
    "configs": ("list the shipped YAML configs, or --copy DIR them out",
                _command("configs_command", "cmd_configs")),
}


def _no_tips(record: logging.LogRecord) -> bool:
    """A logging filter that drops Lightning's "💡 Tip:" lines. One function, so that a
    logger given it by every call of :func:`main` in a process holds it once (``addFilter``
    skips a filter it already has; a new lambda per call was a new filter each time)."""
    return not str(record.msg).startswith("💡 Tip:")


# commands that handle SIGTERM themselves: generate (its message names the file), online (its
# launcher). fit and test have Lightning's handler (and fit's checkpoint of where it stopped)
# only while the Trainer runs; main's stops them before (imports, the config, building the
# model and data) and after it, where SIGTERM's default action ended them with no word
_OWN_SIGTERM = frozenset({"generate", "online"})


# what each command imports on every run anyway, imported first by startup_gc (a help text
# needs less: it gets none); online's ranks import Lightning only on trainer ranks, info
# imports torch only for an export folder
_STARTUP_IMPORTS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("fit", "test"), ("torch", "lightning.pytorch", "pdesurrogate.training")),
    **dict.fromkeys(("generate", "online", "export", "predict", "compare"), ("torch",)),
}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            return _main(argv)
        finally:
            # here, where a closed pipe can still be told apart (argparse's --help and usage
            # errors leave by SystemExit, with the text still in stdout's buffer)
            if sys.stdout is not None:
                sys.stdout.flush()
    except BrokenPipeError:
        if _stdout_closed():
            return _stdout_gone()
        raise
    except SystemExit as exc:
        if _rich_pipe_exit(exc) or _help_pipe_exit(exc):
            return _stdout_gone()
        raise
    except OSError as exc:
        # the flush above, or a print outside the command's own error handling, on a full
        # disk (> out.txt) or a device gone: Python's flush at exit said "Exception ignored"
        # and ended with status 120. With PDESURROGATE_DEBUG, _main raises the command's own
        # errors too (a missing file): those keep their traceback
        if os.environ.get("PDESURROGATE_DEBUG"):
            raise
        print(f"pdesurrogate: error: writing stdout: {exc}", file=sys.stderr)
        try:
            _drop_stdout()
        except (AttributeError, OSError, ValueError):  # no file behind stdout (captured)
            pass
        return 2
    finally:
        # registered last, so that it runs before the exit hooks the command's libraries
        # registered (atexit runs them last in, first out)
        atexit.unregister(_default_sigint)
        atexit.register(_default_sigint)


def _main(argv: Sequence[str] | None) -> int:
    fresh_process = argv is None  # run as a program (console script, -m, online's ranks)
    argv = list(sys.argv[1:] if argv is None else argv)
    top = argparse.ArgumentParser(
        prog="pdesurrogate", **NO_ABBREVIATIONS,
        description="Numerical PDE solvers -> datasets or MPI streams -> neural surrogates.",
        epilog="Run `pdesurrogate COMMAND --help` for a command's options, what it writes\n"
               "where, and its exit status.\n"
               "The configs/KIND/NAME.yaml files the help texts name ship with the package:\n"
               "`pdesurrogate configs --copy .` writes them to ./configs/.\n\n"
               + textwrap.fill(EXIT_STATUS + " online adds its own (see its --help).", 88),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("-V", "--version", action="store_true",
                     help="print the versions of pdesurrogate and of the libraries it runs on "
                          "(for bug reports) and exit")
    sub = top.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_, _) in COMMANDS.items():
        sub.add_parser(name, help=help_, add_help=False)
    if argv and argv[0] in ("-V", "--version"):
        print(version_report())
        return 0
    if argv and argv[0] in ("-h", "--help"):
        top.print_help()
        return 0
    if not argv:
        # a script's empty $(STEP) is a mistake, not a success: the help, and status 2
        top.print_help(sys.stderr)
        print(f"pdesurrogate: error: no COMMAND given; choose from {', '.join(COMMANDS)}",
              file=sys.stderr)
        return 2
    if argv[0] not in COMMANDS:
        top.print_usage(sys.stderr)
        print(f"pdesurrogate: error: unknown command {argv[0]!r}; "
              f"choose from {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    # every command allocates and frees the same large arrays over and over (solver steps,
    # training steps): keep freed memory for reuse instead of faulting it in again
    tune_malloc()
    # LC_ALL=C without Python's coercion: configs (YAML is UTF-8) and our files read as UTF-8
    utf8_text_files()
    escape_unencodable_output()
    # Lightning 2.6 calls a pytree API that torch deprecated, and advertises a cloud logger at
    # every Trainer: nothing a user of this command can act on
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_no_tips)
    run: dict = {}  # fit and test put their Trainer here, for the messages
    try:
        command, args = COMMANDS[argv[0]][1], argv[1:]
        unreadable = non_utf8_config(args) or config_without_options(args)
        if unreadable:
            raise argparse.ArgumentError(None, unreadable)
        # in a user's own Python, freezing its objects would keep its garbage alive for ever
        imports = (_STARTUP_IMPORTS.get(argv[0], ())
                   if fresh_process and not {"-h", "--help"} & set(args) else ())
        if argv[0] in _OWN_SIGTERM:
            import_without_gc(imports)
            return command(args)
        # else SIGTERM ends the process where it is: a predict's temporary rollout, an
        # export's temporary folder stayed behind
        with sigterm_unwinds(lambda: _sigterm_message(argv[0], run.get("trainer"))):
            import_without_gc(imports)
            return command(args, run) if argv[0] in _LIGHTNING_HELP else command(args)
    except Terminated as exc:
        return exc.code
    except argparse.ArgumentError as exc:
        if os.environ.get("PDESURROGATE_DEBUG"):
            raise
        hint = (_missing_config_hint(str(exc)) or _missing_module_hint(str(exc))
                or _first_run_hint(argv))
        print(f"pdesurrogate {argv[0]}: error: {condense_parse_error(str(exc))}\n"
              + (f"{hint}\n" if hint else "")
              + f"(pdesurrogate {argv[0]} --help lists the options)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"pdesurrogate {argv[0]}: interrupted (Ctrl-C)", file=sys.stderr)
        return 130
    except _condensed_errors() as exc:
        if isinstance(exc, BrokenPipeError) and _stdout_closed():
            # stdout's reader has exited: main ends the command quietly, but a fit (its
            # progress lines: | head) says where it stopped, having run for a while
            stopped = _failed_fit_outputs(argv[0], run.get("trainer"), exc)
            if stopped:
                print(f"pdesurrogate fit: stopped: the reader of its stdout exited\n{stopped}",
                      file=sys.stderr)
            raise
        if os.environ.get("PDESURROGATE_DEBUG"):
            raise
        # the user's mistake is the innermost cause (e.g. a constructor's ValueError wrapped by
        # jsonargparse); print it alone rather than a traceback from deep inside a library
        root = exc
        while root.__cause__ is not None:
            root = root.__cause__
        print(f"pdesurrogate {argv[0]}: error: {type(root).__name__}: {root}", file=sys.stderr)
        failed_fit = _failed_fit_outputs(argv[0], run.get("trainer"), root)
        if failed_fit:
            print(failed_fit, file=sys.stderr)
        print("(set PDESURROGATE_DEBUG=1 for the full traceback)", file=sys.stderr)
        return 2
