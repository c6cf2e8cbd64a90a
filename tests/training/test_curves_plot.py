"""``pdesurrogate fit`` draws ``curves.png`` beside ``metrics.csv`` (CurvesPlot): after a fit,
after one stopped by SIGTERM or Ctrl-C; not without a CSV logger; a metrics.csv it cannot read
is one warning, never the fit's failure."""

import os
import signal
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.trainer.states import TrainerFn

from pdesurrogate.cli import main
from pdesurrogate.training import NextStepModule
from pdesurrogate.training.curves_plot import CLASS_PATH, CurvesPlot

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "configs" / "fit" / "fno_burgers.yaml")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _fit(data: Path, root: Path, *extra: str) -> list[str]:
    return ["fit", "--config", CONFIG, "--data.init_args.path", str(data),
            "--data.init_args.batch_size", "4",
            "--model.init_args.model.init_args.hidden_channels", "6",
            "--model.init_args.model.init_args.n_modes", "[4]",
            "--trainer.max_epochs", "2", "--trainer.log_every_n_steps", "2",
            "--trainer.num_sanity_val_steps", "0", "--trainer.limit_val_batches", "1",
            "--trainer.default_root_dir", str(root), "--trainer.enable_progress_bar", "false",
            "--trainer.enable_model_summary", "false", "--trainer.accelerator", "cpu", *extra]


def _check_png(run: Path) -> None:
    png = run / "curves.png"
    data = png.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR", data[:16]
    import matplotlib.image

    assert matplotlib.image.imread(png).shape[2] in (3, 4)  # the whole file decodes
    # written under a temporary name and renamed: nothing else left beside it
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]


def test_fit_draws_curves_png_beside_metrics_csv(tmp_path, burgers_file):
    root = tmp_path / "run"
    assert main(_fit(burgers_file(n_points=32, samples=10, frames=3), root)) == 0
    run = root / "csv" / "version_0"
    assert (run / "metrics.csv").is_file()
    _check_png(run)


def test_no_csv_logger_no_curves(tmp_path, burgers_file):
    root = tmp_path / "run"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(_fit(burgers_file(n_points=32, samples=10, frames=3), root,
                         "--trainer.logger", "false")) == 0
    # the plotter was on (the config the fit saved lists it), and drew nothing
    saved = yaml.safe_load((root / "config.yaml").read_text())
    assert CLASS_PATH in [c["class_path"] for c in saved["trainer"]["callbacks"]]
    assert not list(tmp_path.rglob("*.png"))
    # skipped silently: no warning that it was not drawn
    assert not [w for w in caught if "curves.png" in str(w.message)]


@pytest.mark.parametrize("how", ["sigterm", "ctrl-c"])
def test_a_fit_stopped_in_the_middle_still_draws_its_curves(tmp_path, burgers_file,
                                                            monkeypatch, how):
    """SIGTERM (exit 143) or Ctrl-C (exit 130) at step 5 of 8, after rows at steps 1 and 3."""
    step = NextStepModule.training_step

    def stopped_at_step_5(self, batch, batch_idx):
        if self.global_step == 5:
            if how == "sigterm":
                os.kill(os.getpid(), signal.SIGTERM)
            else:
                raise KeyboardInterrupt
        return step(self, batch, batch_idx)

    monkeypatch.setattr(NextStepModule, "training_step", stopped_at_step_5)
    root = tmp_path / "run"
    args = _fit(burgers_file(n_points=32, samples=10, frames=3), root)
    if how == "sigterm":
        assert main(args) == 128 + signal.SIGTERM
    else:
        # Lightning's own end of a Ctrl-C'd fit; it leaves SIGINT ignored
        monkeypatch.setattr(signal, "signal", lambda *a: None)
        assert main(args) == 128 + signal.SIGINT  # "interrupted (Ctrl-C)", as a shell's 130
    _check_png(root / "csv" / "version_0")


def test_a_broken_metrics_csv_is_one_warning_not_a_failure(tmp_path):
    logger = CSVLogger(tmp_path, name="csv")
    run = Path(logger.log_dir)
    run.mkdir(parents=True)
    (run / "metrics.csv").write_text("epoch,step,train/loss\n0,0,0.5\n0,1,oops\n")
    trainer = SimpleNamespace(is_global_zero=True, loggers=[logger],
                              state=SimpleNamespace(fn=TrainerFn.FITTING))
    plot = CurvesPlot()
    with pytest.warns(UserWarning, match="curves.png not drawn.*line 3: train/loss 'oops'"
                      ) as caught:
        plot.on_exception(trainer, None, KeyboardInterrupt())
        plot.on_fit_end(trainer, None)
    assert len(caught) == 1  # once
    assert sorted(p.name for p in run.iterdir()) == ["metrics.csv"]
    assert plot.written is None
