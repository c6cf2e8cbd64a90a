"""pdesurrogate.datasets.progress: the rich bar's columns on a terminal."""

import io
import time

from rich.console import Console

import pdesurrogate.datasets.progress as progress


def test_the_bar_on_a_terminal_shows_the_rate_in_its_unit(monkeypatch):
    """A long pass on a terminal shows done/total and how fast it goes (e.g. "trajectory
    steps/s"), not only the time left."""
    out = io.StringIO()
    monkeypatch.setattr("rich.console.Console",
                        lambda **kw: Console(file=out, force_terminal=True, width=120))
    with progress.progress_bar(True, "solving", 100, unit="trajectory steps") as advance:
        for _ in range(10):
            time.sleep(0.002)
            advance(10)
    text = out.getvalue()
    assert "100/100" in text
    assert "trajectory steps/s" in text, text[-400:]


def test_the_rate_column_is_empty_until_a_rate_is_known():
    column = progress.rate_column("samples")

    class Task:
        finished_speed = None
        speed = None

    assert column.render(Task()).plain == ""
    Task.speed = 1234.4
    assert column.render(Task()).plain == "1,234 samples/s"
