"""The summary table at the end of an online run, for a run folder whose name is rich markup
or holds spaces."""

import shlex
from pathlib import Path

from pdesurrogate.online import _print_summary

SUMMARY = {"status": "stopped", "global_step": 7, "ended_by": "SIGTERM",
           "committed_simulations": 3, "simulations": 3, "abandoned_sim_ids": [],
           "sims_failed": 0, "sims_dropped": 0, "malformed_messages": 0,
           "samples_received": 21, "mb_received": 0.01, "idle_fraction": 0.1}


def test_paths_are_printed_as_they_are_and_the_resume_command_pastes(capsys, monkeypatch):
    """rich read ``[/x]`` as a closing tag (MarkupError after the whole run) and ``[bold]`` as
    style (a path printed without it); ``continue with`` was unquoted (``my run`` split)."""
    monkeypatch.setenv("COLUMNS", "400")
    out = Path("/runs/my run [bold]a[/x]")
    s = {**SUMMARY, "model": str(out / "model"), "plots": [str(out / "online.png")]}
    _print_summary(s, out)
    err = capsys.readouterr().err
    for path in (out / "model", out / "online.png", out / "summary.json"):
        assert f" {path} " in err, err
    line = next(ln for ln in err.splitlines() if "continue with" in ln)
    command = line.split("│")[2].strip()
    assert shlex.split(command) == ["pdesurrogate", "online", "--config",
                                    str(out / "config.yaml"), "--resume"], command


def test_a_coloured_log_keeps_each_path_on_one_line(capsys, monkeypatch):
    """With ``FORCE_COLOR=1`` (CI jobs set it for coloured logs) rich takes the log for an
    80-column terminal: the table folded a long path over two lines, which no longer pastes."""
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("COLUMNS", raising=False)
    out = Path("/scratch/a_long_project_folder/another_level_of_folders/online_run_0001")
    s = {**SUMMARY, "model": str(out / "model"), "plots": [str(out / "online.png")]}
    _print_summary(s, out)
    err = capsys.readouterr().err
    for path in (out / "model", out / "online.png", out / "summary.json"):
        assert str(path) in err, err
