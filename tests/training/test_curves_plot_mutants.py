"""CurvesPlot draws only on rank 0 and only while fitting (a mutation audit found both guards
removable with every other test passing): a stand-in trainer with a real CSVLogger."""

from pathlib import Path
from types import SimpleNamespace

import pytest
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.trainer.states import TrainerFn

from pdesurrogate.training.curves_plot import FILE, CurvesPlot

CSV = "epoch,step,train/loss\n0,0,0.5\n0,1,0.25\n"


@pytest.mark.parametrize("rank_zero,fn,drawn", [
    (True, TrainerFn.FITTING, True),
    (False, TrainerFn.FITTING, False),  # the other ranks' loggers write nothing
    (True, TrainerFn.TESTING, False),   # a test given a fit's config.yaml
    (True, TrainerFn.VALIDATING, False),
])
def test_only_rank_zero_of_a_fit_draws(tmp_path, rank_zero, fn, drawn):
    logger = CSVLogger(tmp_path, name="csv", version=0)
    run = Path(logger.log_dir)
    run.mkdir(parents=True)
    (run / "metrics.csv").write_text(CSV)
    trainer = SimpleNamespace(is_global_zero=rank_zero, loggers=[logger],
                              state=SimpleNamespace(fn=fn))
    plot = CurvesPlot()
    plot.on_fit_end(trainer, None)
    plot.on_exception(trainer, None, KeyboardInterrupt())
    assert (run / FILE).is_file() is drawn
    assert (plot.written == run / FILE) if drawn else plot.written is None


def test_a_fit_without_a_logged_row_draws_nothing_and_does_not_warn(tmp_path, recwarn):
    """A fit that fails before its first row has no metrics.csv: no figure, no warning."""
    logger = CSVLogger(tmp_path, name="csv", version=0)
    trainer = SimpleNamespace(is_global_zero=True, loggers=[logger],
                              state=SimpleNamespace(fn=TrainerFn.FITTING))
    plot = CurvesPlot()
    plot.on_exception(trainer, None, RuntimeError("failed in setup"))
    assert not [str(w.message) for w in recwarn.list if FILE in str(w.message)]
    assert plot.written is None and not (tmp_path / "csv").exists()


def test_curves_png_replaces_a_link_planted_at_its_name(tmp_path):
    """Written through a temporary renamed over the name: a symlink at curves.png (a run
    folder in a group-writable place) is replaced, the file it points at left as it was."""
    from pdesurrogate.training.curves_plot import write_curves

    (tmp_path / "metrics.csv").write_text(CSV)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / FILE).symlink_to(victim)
    write_curves(tmp_path / "metrics.csv", tmp_path / FILE)
    assert victim.read_text() == "keep me"
    assert not (tmp_path / FILE).is_symlink()
    assert (tmp_path / FILE).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_rows_the_logger_still_holds_are_drawn(tmp_path, monkeypatch):
    """On Ctrl-C/SIGTERM on_exception comes before the logger's finalize: the rows CSVLogger
    holds but has not flushed (every 100 steps by default) are saved first and drawn."""
    import pdesurrogate.training.curves_plot as curves_plot
    from pdesurrogate.plots import metrics_csv_curves

    logger = CSVLogger(tmp_path, name="csv", version=0)
    logger.log_metrics({"train/loss": 0.5}, step=0)
    logger.save()
    logger.log_metrics({"train/loss": 0.25}, step=1)  # held, not in the file yet
    seen = []
    monkeypatch.setattr(curves_plot, "write_curves",
                        lambda csv, png, title="": seen.append(metrics_csv_curves(csv)) or png)
    trainer = SimpleNamespace(is_global_zero=True, loggers=[logger],
                              state=SimpleNamespace(fn=TrainerFn.FITTING))
    CurvesPlot().on_exception(trainer, None, KeyboardInterrupt())
    assert seen == [{"train/loss": ([0, 1], [0.5, 0.25])}]
