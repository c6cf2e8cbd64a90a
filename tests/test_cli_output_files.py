"""A command's output into a pipe whose reader has gone, as a script sees it: stdout and
stderr together into ``| head -1`` (``2>&1 | head -1``, ``|& grep -m1``), and a rich console's
table or message into a closed pipe. Both end with SIGPIPE's status 141, as a print into a
closed stdout does (tests/test_cli_scripting.py), and nothing else. Run without
PYTHONUNBUFFERED, as users run: with it, stderr's leftover buffer never existed."""

import os
import re
import signal
import subprocess
import sys

# a user's environment: stdout block-buffered when not a terminal
BUFFERED = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}

# pdesurrogate configs replaced by one that prints through rich, as Lightning's model summary
# (fit) and test's metrics table do on stdout, and cli.messages.console()'s messages on stderr
RICH_COMMAND = """
import sys
from rich.console import Console
from pdesurrogate import cli

def rich_lines(argv):
    console = Console(stderr=argv == ["stderr"])
    for i in range(2000):
        console.print(f"line {i} of a table printed through rich")
    return 0

cli.COMMANDS["configs"] = ("rich", rich_lines)
sys.exit(cli.main(["configs", *sys.argv[1:]]))
"""


def run_into_closed_pipe(argv, tmp_path, stderr_too: bool) -> subprocess.CompletedProcess:
    """``argv`` with stdout (and, with ``stderr_too``, stderr) a pipe whose reader exited
    before the command wrote a byte."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(argv, stdout=write,
                              stderr=write if stderr_too else subprocess.PIPE,
                              cwd=tmp_path, timeout=120, env=BUFFERED)
    finally:
        os.close(write)


def test_stdout_and_stderr_into_a_closed_pipe_end_with_sigpipes_status(tmp_path):
    """``pdesurrogate generate ... 2>&1 | head -1``: its progress line on stderr is the first
    write into the closed pipe. Before, main returned 141 but stderr's buffer, still holding
    that line, failed again at Python's exit flush: status 120, which no --help names."""
    proc = run_into_closed_pipe(
        [sys.executable, "-m", "pdesurrogate", "generate", "--solver", "burgers1d",
         "--solver.n_points", "32", "--samples", "2", "--n_times", "3", "--t_end", "0.1",
         "--workers", "1", "--out", str(tmp_path / "b.nc")], tmp_path, stderr_too=True)
    assert proc.returncode == 128 + signal.SIGPIPE


def test_richs_closed_pipe_ends_with_sigpipes_status(tmp_path):
    """A rich console's write into a closed pipe: rich's Console.on_broken_pipe raises
    SystemExit(1). Before, ``pdesurrogate test ... | grep -q rel_l2`` and a fit's model summary
    into ``| true`` ended with status 1 ('an unexpected error') and no word, and a message on
    stderr into ``2>&1 | head -1`` with status 120."""
    for where, stderr_too in (("stdout", False), ("stderr", True)):
        proc = run_into_closed_pipe([sys.executable, "-c", RICH_COMMAND, where], tmp_path,
                                    stderr_too=stderr_too)
        assert proc.returncode == 128 + signal.SIGPIPE, (where, proc.stderr)
        if not stderr_too:
            assert proc.stderr == b"", proc.stderr


def test_a_rich_exit_not_from_a_closed_pipe_stays_an_exit(tmp_path):
    """A SystemExit of the command's own (a help's 0) keeps its status."""
    script = RICH_COMMAND.replace('console.print(f"line {i} of a table printed through rich")',
                                  "raise SystemExit(3)")
    proc = subprocess.run([sys.executable, "-c", script, "stdout"], capture_output=True,
                          cwd=tmp_path, timeout=120, env=BUFFERED)
    assert proc.returncode == 3, proc.stderr


def test_a_coloured_log_keeps_a_message_on_one_line(tmp_path):
    """``FORCE_COLOR=1`` (CI, for coloured logs) with stderr a file: rich takes the file for a
    terminal. Before, generate's 'wrote PATH: ...' line was folded at 80 columns there, the
    path cut in two ('.../and_another_leve' / 'l/burgers.nc')."""
    out = tmp_path / ("a_rather_long_folder_name_for_the_data" + "_of_this_project" * 2) \
        / "burgers.nc"
    out.parent.mkdir()
    log = tmp_path / "log.txt"
    with open(log, "w") as f:
        proc = subprocess.run(
            [sys.executable, "-m", "pdesurrogate", "generate", "--solver", "burgers1d",
             "--solver.n_points", "32", "--samples", "2", "--n_times", "3", "--t_end", "0.1",
             "--workers", "1", "--out", str(out)], stdout=f, stderr=subprocess.STDOUT,
            cwd=tmp_path, timeout=120, env={**BUFFERED, "FORCE_COLOR": "1", "COLUMNS": "80"})
    text = re.sub(r"\x1b\[[0-9;]*m", "", log.read_text())
    assert proc.returncode == 0, text
    assert f"wrote {out}: 2 samples in " in text, text
