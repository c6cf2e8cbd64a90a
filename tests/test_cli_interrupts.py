"""Ctrl-C in ``pdesurrogate fit`` and ``test``: one line saying so (for a fit, what it can
resume from) and exit status 130, as for every other command; not Lightning's ``sys.exit(1)``
after its "Detected KeyboardInterrupt" line, nor, when the Ctrl-C lands while Lightning tears
the data loaders down, the error its second teardown raises then ("RuntimeError: Please call
`iter(combined_loader)` first.", exit 2).
"""

import signal

import pytest
from lightning.pytorch.utilities.combined_loader import CombinedLoader

from pdesurrogate.cli import main
from pdesurrogate.training import NextStepModule

from .test_cli_fit import CONFIG, data, tiny  # noqa: F401 (data: a fixture)


@pytest.fixture(autouse=True)
def _signals_restored():
    """Lightning ignores SIGINT once it handles a Ctrl-C, and an interrupted fit may leave its
    SIGTERM handler: pytest's own come back."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, handler in handlers.items():
        signal.signal(s, handler)


def test_ctrl_c_in_training_exits_130_with_one_line(tmp_path, data, capsys, monkeypatch):  # noqa: F811
    step = NextStepModule.training_step

    def pressed_at_step_2(self, batch, batch_idx):
        if self.global_step == 2:
            raise KeyboardInterrupt  # where Python's SIGINT handler raises it
        return step(self, batch, batch_idx)

    monkeypatch.setattr(NextStepModule, "training_step", pressed_at_step_2)
    assert main(["fit", "--config", CONFIG, *tiny(data, tmp_path / "runs")]) == 130
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if line.startswith("pdesurrogate fit:")]
    # in the first epoch: no checkpoint yet, and the line says so
    assert said == ["pdesurrogate fit: interrupted (Ctrl-C); no checkpoint was written: a new "
                    "fit starts from the beginning"], err
    assert "Traceback" not in err


def test_ctrl_c_during_the_loaders_teardown_is_no_error(tmp_path, data, capsys,  # noqa: F811
                                                        monkeypatch):
    reset = CombinedLoader.reset
    pressed = []

    def pressed_in_first_reset(self):
        reset(self)
        if not pressed:  # the fit's first teardown of its loaders, after training
            pressed.append(True)
            raise KeyboardInterrupt

    monkeypatch.setattr(CombinedLoader, "reset", pressed_in_first_reset)
    root = tmp_path / "runs"
    assert main(["fit", "--config", CONFIG, *tiny(data, root)]) == 130
    err = capsys.readouterr().err
    assert "error" not in err and "Traceback" not in err, err
    last = root / "csv" / "version_0" / "checkpoints" / "last.ckpt"
    assert f"pdesurrogate fit: interrupted (Ctrl-C); resume with --ckpt_path {last}" in err, err


def test_debug_keeps_lightnings_exit(tmp_path, data, monkeypatch):  # noqa: F811
    """PDESURROGATE_DEBUG asks for what Lightning does, untouched."""
    monkeypatch.setenv("PDESURROGATE_DEBUG", "1")

    def pressed(self, batch, batch_idx):
        raise KeyboardInterrupt

    monkeypatch.setattr(NextStepModule, "training_step", pressed)
    with pytest.raises(SystemExit) as stop:
        main(["fit", "--config", CONFIG, *tiny(data, tmp_path / "runs")])
    assert stop.value.code == 1
