"""``CurvesPlot``: at the end of a fit, ``curves.png`` beside the run's ``metrics.csv``.

The figure (:func:`pdesurrogate.plots.training_curves_figure`) is drawn from the CSV that
Lightning's ``CSVLogger`` wrote, so it shows what the file holds, at the file's steps. It is
drawn when the fit ends, also when it stopped early (``should_stop``, ``max_time``) or was
interrupted (Ctrl-C, SIGTERM: Lightning calls ``on_exception`` before it ends), provided
the CSV holds a row by then. Only rank 0 draws (the only rank whose logger writes). Without
a ``CSVLogger`` (a config whose loggers hold none, ``--trainer.logger false``) nothing is
drawn. A figure that cannot be drawn or written is a warning, never the fit's failure.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from lightning.pytorch import Callback
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.trainer.states import TrainerFn

from pdesurrogate.temp_files import atomic_write

CLASS_PATH = "pdesurrogate.training.curves_plot.CurvesPlot"
FILE = "curves.png"
METRICS = "metrics.csv"  # the name CSVLogger gives its file


def write_curves(csv_path: Path, png_path: Path, title: str = "") -> Path:
    """Draw ``csv_path``'s training curves into ``png_path``, whole or not at all (a
    temporary beside it, renamed over it: :mod:`pdesurrogate.temp_files`)."""
    from pdesurrogate.plots import training_curves_figure

    fig = training_curves_figure(csv_path, title)
    atomic_write(png_path, lambda f: fig.savefig(f, format="png", dpi=110), png_path.suffix)
    return png_path


class CurvesPlot(Callback):
    """Writes ``curves.png`` next to the ``CSVLogger``'s ``metrics.csv`` when a fit ends or
    is interrupted (module docstring); ``written``: its path once written. Warns once, at
    most, per fit that it could not be drawn."""

    def __init__(self):
        super().__init__()
        self.written: Path | None = None
        self._warned = False

    def on_fit_end(self, trainer, pl_module) -> None:
        self._draw(trainer)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self._draw(trainer)

    def _draw(self, trainer) -> None:
        # a test given the config.yaml a fit saved (which lists this callback) draws nothing
        if not trainer.is_global_zero or trainer.state.fn != TrainerFn.FITTING:
            return
        logger = next((lg for lg in trainer.loggers if isinstance(lg, CSVLogger)), None)
        if logger is None:
            return
        csv_path = None
        try:
            csv_path = Path(logger.log_dir) / METRICS
            # a fit that fails before its first logged row has no file: nothing to draw (and
            # logger.save() would make the run folder)
            if not csv_path.is_file():
                return
            # rows the logger holds that are not in the file yet (its finalize comes after
            # on_exception); never a new experiment: CSVLogger's removes an existing file
            if getattr(logger, "_experiment", None) is not None:
                logger.save()
            run = csv_path.parent
            self.written = write_curves(csv_path, csv_path.with_name(FILE),
                                        title=f"training curves of {run.parent.name}/{run.name}")
        except Exception as err:  # the curves are a view of the run, never its failure
            if not self._warned:
                self._warned = True
                where = "" if csv_path is None else f" from {str(csv_path)!r}"
                warnings.warn(f"pdesurrogate fit: {FILE} not drawn{where}: {err}", stacklevel=2)
