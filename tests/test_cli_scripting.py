"""The commands as a script drives them (Make, Snakemake, CI): exit statuses that say what
happened, written in every --help; a closed stdout (``| head -1``, ``| grep -q``) ends a
command as SIGPIPE would, not in a traceback; an empty command is an error; ``test`` names
the run folder its metrics went to, as ``fit`` does."""

import csv
import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pdesurrogate import cli
from pdesurrogate.cli import main

# the tiny fit of test_cli_fit.py (pytest runs with --import-mode=importlib: no plain import)
_spec = importlib.util.spec_from_file_location("cli_fit_helpers",
                                               Path(__file__).with_name("test_cli_fit.py"))
fit_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fit_helpers)
data = fit_helpers.data  # the fixture: 10 Burgers trajectories of 3 frames on 32 points
# a user's environment: stdout block-buffered when not a terminal. With PYTHONUNBUFFERED (set
# on some machines, CI among them) every print reaches the file at once, and a command that
# left its output in the buffer (its end on a closed or full stdout) would pass unseen
BUFFERED = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


def test_a_closed_stdout_ends_quietly_with_sigpipes_status(tmp_path, monkeypatch, capsys):
    """``pdesurrogate configs | grep -q fno``: grep exits at its first match. Before, -V
    ended in a BrokenPipeError traceback (status 1) and configs in "error: BrokenPipeError"
    (status 2), as if the command had failed; now status 141, as ``yes | head -1``. Only
    stdout's own reader going away ends a command so: a BrokenPipeError of a worker's pipe or
    a socket, with stdout still open, stays an error line and status 2."""
    for argv in (["-V"], ["configs"], ["configs", "--path", "fit/fno_burgers"]):
        read, write = os.pipe()
        os.close(read)  # the reader is gone before the command writes a byte
        try:
            proc = subprocess.run([sys.executable, "-m", "pdesurrogate", *argv], stdout=write,
                                  stderr=subprocess.PIPE, text=True, cwd=tmp_path, timeout=120,
                                  env=BUFFERED)
        finally:
            os.close(write)
        assert proc.returncode == 128 + signal.SIGPIPE, (argv, proc.stderr)
        assert proc.stderr == "", (argv, proc.stderr)

    def broken(argv):
        raise BrokenPipeError(32, "Broken pipe (a worker's)")

    monkeypatch.setitem(cli.COMMANDS, "configs", ("list", broken))
    assert main(["configs"]) == 2
    assert "pdesurrogate configs: error: BrokenPipeError" in capsys.readouterr().err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
def test_stdout_on_a_full_disk_is_one_error_line(tmp_path):
    """``pdesurrogate -V > out.txt`` with the disk full: before, a traceback (status 1)."""
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "pdesurrogate", "-V"], stdout=full,
                              stderr=subprocess.PIPE, text=True, cwd=tmp_path, timeout=120,
                              env=BUFFERED)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == ("pdesurrogate: error: writing stdout: [Errno 28] No space left on "
                           "device\n"), proc.stderr


def test_no_command_is_a_usage_error(capsys):
    """``pdesurrogate $(STEP)`` with STEP empty: before, the help on stdout and status 0, so
    the step passed having done nothing."""
    assert main([]) == 2
    out, err = capsys.readouterr()
    assert out == "", out
    assert err.startswith("usage: pdesurrogate") and "Exit status:" in err, err
    assert "pdesurrogate: error: no COMMAND given; choose from generate, fit," in err, err


def _help(argv, capsys) -> str:
    try:
        rc = main([*argv, "--help"])
    except SystemExit as stop:  # argparse and jsonargparse leave --help this way
        rc = stop.code
    assert rc in (0, None)
    return " ".join(capsys.readouterr().out.split())


# what each command's --help says about its output, beside the exit statuses
STREAMS = {
    "generate": "the line naming the file go to stderr, stdout stays empty",
    "fit": "stderr: warnings, errors and the last line, 'fit: run folder DIR; checkpoint CKPT'",
    "test": "stderr: warnings, errors and the last line, 'test: run folder DIR'",
    "export": "the line 'exported OUTDIR' goes to stderr, stdout stays empty",
    "predict": "the errors vs truth go to stderr, stdout stays empty",
    "configs": "The list, --path's file and --copy's line go to stdout",
}


@pytest.mark.parametrize("command", [*STREAMS, None])
def test_each_help_says_where_output_goes_and_the_exit_statuses(command, capsys):
    """Before, only online's --help gave its exit statuses, and none said which stream a
    script reads the result from."""
    text = _help([command] if command else [], capsys)
    assert ("Exit status: 0 done; 2 an error, said on stderr in a line starting "
            "'pdesurrogate COMMAND: error:'") in text, text[-1500:]
    assert "130 stopped by Ctrl-C, 143 by SIGTERM; 141 stdout closed early" in text, text[-1500:]
    if command:
        assert STREAMS[command] in text, text[-1500:]


def test_test_names_the_run_folder_its_metrics_went_to(tmp_path, data, capsys):
    """Every test opens the next version_N; before, only fit said which, so a script reading
    the metrics.csv of a test could only guess (the newest folder, racing other runs)."""
    root = tmp_path / "runs"
    assert main(["fit", "--config", fit_helpers.CONFIG, *fit_helpers.tiny(data, root),
                 "--trainer.enable_progress_bar", "false"]) == 0
    run = root / "csv" / "version_0"
    capsys.readouterr()
    for version in (1, 2):
        assert main(["test", "--config", str(run / "config.yaml"), "--ckpt_path",
                     str(run / "checkpoints" / "last.ckpt"),
                     "--trainer.enable_progress_bar", "false"]) == 0
        lines = capsys.readouterr().err.splitlines()
        folder = root / "csv" / f"version_{version}"
        assert lines[-1] == f"test: run folder {folder}", lines
        with open(folder / "metrics.csv") as f:
            assert "test/rel_l2" in next(csv.reader(f))
    assert main(["test", "--config", str(run / "config.yaml"), "--ckpt_path",
                 str(run / "checkpoints" / "last.ckpt"), "--trainer.logger", "false",
                 "--trainer.enable_progress_bar", "false"]) == 0
    assert capsys.readouterr().err.splitlines()[-1] == (
        "test: no run folder (--trainer.logger false): the metrics are only in the table on "
        "stdout")


def test_a_fit_failing_after_it_trained_names_its_run_folder_and_checkpoint(tmp_path, data,
                                                                            capsys, monkeypatch):
    """A fit that fails in its second epoch (here a training step that raises, as a bad batch
    or a full disk would) left last.ckpt of its first in a run folder it never named: before,
    only the error line, so a rerun of the step started from scratch in the next
    version_N."""
    from pdesurrogate.training import NextStepModule

    trained = NextStepModule.training_step

    def failing(self, batch, batch_idx):
        if self.global_step >= 5:  # 4 batches an epoch: in the second
            raise ValueError("a bad batch")
        return trained(self, batch, batch_idx)

    monkeypatch.setattr(NextStepModule, "training_step", failing)
    root = tmp_path / "runs"
    rc = main(["fit", "--config", fit_helpers.CONFIG, *fit_helpers.tiny(data, root),
               "--trainer.max_epochs", "3", "--trainer.enable_progress_bar", "false"])
    lines = capsys.readouterr().err.splitlines()
    assert rc == 2, lines
    run = root / "csv" / "version_0"
    ckpt = run / "checkpoints" / "last.ckpt"
    assert ckpt.is_file()
    assert lines[-3:] == [
        "pdesurrogate fit: error: ValueError: a bad batch",
        f"pdesurrogate fit: run folder {run}; once the cause is fixed, resume with --ckpt_path "
        f"{ckpt} (the run's newest checkpoint; what was trained after it is trained again)",
        "(set PDESURROGATE_DEBUG=1 for the full traceback)"], lines


@pytest.mark.slow  # a subprocess run of several seconds: make test's 10 minutes
def test_a_fit_whose_stdout_closes_says_where_it_stopped(tmp_path, data):
    """``pdesurrogate fit ... | head -3``: the fit stops at its next progress line, as any
    command would; before, with "error: BrokenPipeError" and status 2, now with SIGPIPE's 141
    and, having run for a while, its run folder and what is left to resume from."""
    root = tmp_path / "runs"
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run([sys.executable, "-m", "pdesurrogate", "fit", "--config",
                               fit_helpers.CONFIG, *fit_helpers.tiny(data, root)], stdout=write,
                              stderr=subprocess.PIPE, text=True, cwd=tmp_path, timeout=300)
    finally:
        os.close(write)
    assert proc.returncode == 128 + signal.SIGPIPE, proc.stderr[-3000:]
    assert proc.stderr.splitlines()[-2:] == [
        "pdesurrogate fit: stopped: the reader of its stdout exited",
        f"pdesurrogate fit: run folder {root / 'csv' / 'version_0'}; no checkpoint was written: "
        "a new fit starts from the beginning"], proc.stderr[-3000:]


def test_debug_keeps_the_traceback_of_a_commands_own_oserror(monkeypatch, tmp_path):
    """PDESURROGATE_DEBUG=1 asks for the traceback: a predict of a missing model raises its
    own OSError, not "error: writing stdout: ..." (which main says of a stdout it cannot
    write)."""
    monkeypatch.setenv("PDESURROGATE_DEBUG", "1")
    missing = tmp_path / "no_model"
    with pytest.raises(OSError, match="does not exist"):
        main(["predict", "--model", str(missing), "--input", str(tmp_path / "in.nc"),
              "--out", str(tmp_path / "out.nc")])


def test_debug_keeps_the_traceback_of_a_broken_pipe_not_stdouts(monkeypatch):
    """PDESURROGATE_DEBUG=1 and a BrokenPipeError of the command's own (a worker's pipe) while
    stdout is open: its traceback, not the quiet status 141 of a closed stdout."""
    monkeypatch.setenv("PDESURROGATE_DEBUG", "1")

    def broken(argv):
        raise BrokenPipeError(32, "Broken pipe (a worker's)")

    monkeypatch.setitem(cli.COMMANDS, "configs", ("list", broken))
    with pytest.raises(BrokenPipeError, match="a worker's"):
        main(["configs"])
