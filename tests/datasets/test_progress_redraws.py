"""pdesurrogate.datasets.progress where a live bar would not be seen as it runs: ``TERM=dumb``,
CI logs with ``FORCE_COLOR`` or ``TTY_INTERACTIVE=0``, a narrow terminal. Plain lines there,
and on a terminal a bar on one line that fits it."""

import io
import re

import pytest
from rich.console import Console

import pdesurrogate.datasets.progress as progress

ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_bar(what="generating burgers1d", total=64, unit="samples"):
    with progress.progress_bar(True, what, total, unit=unit) as advance:
        for _ in range(4):
            advance(total // 4)


def fake_terminal(monkeypatch, width: int) -> io.StringIO:
    """stderr's console a terminal of ``width`` columns writing into the returned buffer."""
    out = io.StringIO()
    monkeypatch.setattr("rich.console.Console",
                        lambda **kw: Console(file=out, force_terminal=True, width=width))
    return out


@pytest.mark.parametrize("env", [{"TERM": "dumb"}, {"TTY_INTERACTIVE": "0"}])
def test_a_terminal_that_animates_nothing_gets_plain_lines(monkeypatch, capsys, env):
    """rich draws a bar there only when the work ends: a generate of hours said nothing for
    hours in Emacs' shell (TERM=dumb) or a CI job's pseudo-terminal."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out = fake_terminal(monkeypatch, 120)
    run_bar()
    assert out.getvalue() == ""
    assert capsys.readouterr().err.startswith("generating burgers1d: 64/64 samples (100 %)")


@pytest.mark.parametrize("env", [{"FORCE_COLOR": "1"}, {"TTY_COMPATIBLE": "1"}])
def test_a_log_file_taken_for_a_terminal_gets_plain_lines(monkeypatch, capsys, env):
    """FORCE_COLOR=1 (CI, for coloured logs) with stderr a file: before, the bar redrew into
    the log ten times a second, escape codes and carriage returns."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    run_bar()
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\r" not in err, err
    assert err.startswith("generating burgers1d: 64/64 samples (100 %)"), err


def test_a_narrow_terminal_gets_plain_lines(monkeypatch, capsys):
    """40 columns: before, the bar's count and times were cut to '24…', '0:0…' over two
    lines."""
    out = fake_terminal(monkeypatch, 40)
    run_bar()
    assert out.getvalue() == ""
    assert capsys.readouterr().err.startswith("generating burgers1d: 64/64 samples")


@pytest.mark.parametrize("width", [80, 120])
def test_the_bar_keeps_to_one_line_of_the_terminal(monkeypatch, width):
    """predict's long label at 80 columns: before, its rate folded over three lines
    ('269', 'trajecto…', 'steps/s'); now the rate goes where there is no room for it."""
    out = fake_terminal(monkeypatch, width)
    run_bar("predicting 64 rollouts of 20 steps", 1280, "trajectory steps")
    last = ESCAPES.sub("", out.getvalue()).split("\r")[-1]
    lines = [line for line in last.splitlines() if line.strip()]
    assert len(lines) == 1 and len(lines[0]) <= width and "…" not in lines[0], lines
    assert "1280/1280" in lines[0] and "0:00:00" in lines[0], lines
    assert ("trajectory steps/s" in lines[0]) == (width >= 120), lines


def test_a_terminal_console_is_taken_at_its_word(monkeypatch):
    """A console made with force_terminal=True (a real terminal's) still redraws; one on a
    file that rich takes for a terminal (FORCE_COLOR) does not, unless TTY_INTERACTIVE=1."""
    assert progress.redraws(Console(file=io.StringIO(), force_terminal=True))
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert not progress.redraws(Console(file=io.StringIO()))
    monkeypatch.setenv("TTY_INTERACTIVE", "1")
    assert progress.redraws(Console(file=io.StringIO()))
