"""A long ``--help`` into a pipe whose reader has gone (``pdesurrogate fit --help | head -1``)
ends with SIGPIPE's status 141 and no word, as a short help and every other write into a closed
pipe do (tests/test_cli_output_files.py). Before, fit's, test's and online's helps (20-36 kB,
more than stdout's buffer) ended with status 0: argparse drops the OSError of its help's write,
so nothing was left for main's flush to fail on."""

import os
import signal
import sys

import pytest

from pdesurrogate.cli import main


@pytest.mark.parametrize("argv", [["fit", "--help"], ["online", "--help"], ["test", "--help"]])
def test_a_help_into_a_closed_pipe_ends_with_sigpipes_status(argv, monkeypatch, capsys):
    read, write = os.pipe()
    os.close(read)
    with open(write, "w", encoding="utf-8") as closed:
        monkeypatch.setattr(sys, "stdout", closed)
        assert main(argv) == 128 + signal.SIGPIPE
        monkeypatch.undo()
    assert capsys.readouterr().err == ""


def test_a_help_that_was_read_and_a_usage_error_keep_their_status(monkeypatch, capsys):
    """Only a help into a closed pipe makes 141: read, it is a success; a usage error into a
    closed stdout stays 2 (its message went to stderr)."""
    with pytest.raises(SystemExit) as done:
        main(["fit", "--help"])
    assert done.value.code in (0, None) and "--trainer" in capsys.readouterr().out
    read, write = os.pipe()
    os.close(read)
    with open(write, "w", encoding="utf-8") as closed:
        monkeypatch.setattr(sys, "stdout", closed)
        with pytest.raises(SystemExit) as usage:
            main(["predict", "--bogus"])
        monkeypatch.undo()
    assert usage.value.code == 2
    assert "the following arguments are required" in capsys.readouterr().err


def exit():  # noqa: A001 - named as argparse's, in another module
    raise SystemExit(0)


def test_only_argparses_exit_is_taken_for_a_help(monkeypatch):
    """A successful exit from a function named exit outside argparse, with stdout's pipe
    closed, is not a help's: it keeps its status."""
    from pdesurrogate.cli.exits import _help_pipe_exit

    read, write = os.pipe()
    os.close(read)
    with open(write, "w", encoding="utf-8") as closed:
        monkeypatch.setattr(sys, "stdout", closed)
        with pytest.raises(SystemExit) as done:
            exit()
        assert not _help_pipe_exit(done.value)
        monkeypatch.undo()
