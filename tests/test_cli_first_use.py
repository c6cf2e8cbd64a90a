"""What a new user of the installed `pdesurrogate` command meets first: `python -m
pdesurrogate`, an example in every command's --help, and a command given no arguments saying
how to start (with the config the shipped ones stand for)."""

import subprocess
import sys

import pytest

from pdesurrogate.cli import main


def test_python_m_pdesurrogate_runs_the_command_with_its_exit_status(tmp_path):
    """For a venv that is not activated (its scripts folder not on PATH); run outside the
    checkout, so that the installed package answers."""
    ok = subprocess.run([sys.executable, "-m", "pdesurrogate", "--help"], cwd=tmp_path,
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("usage: pdesurrogate [-h] [-V] COMMAND"), ok.stdout
    assert "export" in ok.stdout and "predict" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "pdesurrogate", "nope"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2, bad.stderr
    assert "unknown command 'nope'" in bad.stderr, bad.stderr


# the example each command shows: in its --help (export, predict), or when given no
# arguments (generate, online)
EXAMPLES = {
    "export": "Example: pdesurrogate export runs/fno_burgers/csv/version_0/checkpoints/last.ckpt "
              "models/fno_burgers",
    "predict": "Example: pdesurrogate predict --model models/fno_burgers --input "
               "data/burgers1d_heldout.nc --out pred.nc --plot pred.png",
    "generate": "e.g. pdesurrogate generate --config configs/data/burgers1d.yaml --out "
                "data/burgers1d.nc (pdesurrogate configs lists",
    "online": "e.g. pdesurrogate online --config configs/online/burgers_fno.yaml --out "
              "runs/demo (pdesurrogate configs lists",
}


@pytest.mark.parametrize("command", ["export", "predict"])
def test_export_and_predict_help_show_an_example(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    # argparse wraps the epilog at the terminal's width: compare with single spaces
    assert EXAMPLES[command] in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("command", ["generate", "online"])
def test_generate_and_online_without_arguments_show_a_first_run(command, capsys):
    assert main([command]) == 2
    err = capsys.readouterr().err
    assert "the following arguments are required" in err, err  # still names what is missing
    assert EXAMPLES[command] in err, err


def test_test_without_arguments_asks_for_the_fits_saved_config_and_checkpoint(capsys):
    """test scores a fit's run with the config.yaml the fit saved there; pointing at
    configs/fit/NAME.yaml (as fit's message does) would build a model without the fit's
    overrides, whose checkpoint --ckpt_path then refuses."""
    assert main(["test"]) == 2
    err = capsys.readouterr().err
    assert ("needs a config: pdesurrogate test --config RUN/config.yaml --ckpt_path "
            "RUN/checkpoints/last.ckpt") in " ".join(err.split()), err
    assert "configs/fit/" not in err, err
