"""online.png (``stream_figure``): every panel says what its y axis is, and the counts start
at 0, so a few per cent of noise on samples/s does not look like a collapse."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from pdesurrogate.online.summary import stream_figure  # noqa: E402


def test_panels_name_their_y_axes_and_counts_start_at_zero():
    # a stream at 418-442 samples/s: the old panel's axis ran from ~418, not 0
    hist = [{"step": 20 * (k + 1), "stream/samples_per_s": 430.0 + 12 * (-1) ** k,
             "stream/buffer_fill": min(1.0, 0.3 * (k + 1)), "trainer/idle_fraction": 0.04,
             "stream/seen_mean": 1.0 + 0.1 * k, "stream/seen_max": 7.0 + k}
            for k in range(10)]
    fig = stream_figure(hist, "online run demo")
    try:
        speed, fill, seen = fig.axes[:3]
        assert [ax.get_ylabel() for ax in (speed, fill, seen)] == [
            "samples/s", "fraction (0 to 1)", "draws per stored item"]
        assert speed.get_ylim()[0] == 0 and seen.get_ylim()[0] == 0
        assert fill.get_ylim() == (0, 1.05)
        assert fig._suptitle is not None and fig._suptitle.get_text() == "online run demo"
        # the data are drawn as given
        assert list(speed.lines[0].get_ydata()) == [h["stream/samples_per_s"] for h in hist]
    finally:
        plt.close(fig)


class _Receiver:
    def stats(self) -> dict:
        return {"samples_per_s": 100.0, "mb_per_s": 1.0}


class _Buffer:
    capacity = 8

    def __len__(self) -> int:
        return 4

    def seen_counts(self) -> list[int]:
        return [1, 2]


def test_the_x_axis_is_the_step_metrics_csv_gives_the_same_rows(tmp_path):
    """A run's online.png and its metrics.csv agree on the step of every stream row (before:
    the figure's steps were the steps done, 1 more than the CSV's 0-based index)."""
    import csv

    import torch
    from lightning.pytorch import LightningModule, Trainer
    from lightning.pytorch.loggers import CSVLogger
    from torch.utils.data import DataLoader, TensorDataset

    from pdesurrogate.training.stream_monitor import StreamMonitor

    class Tiny(LightningModule):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Linear(2, 1)

        def training_step(self, batch, batch_idx):
            return self.w(batch[0]).pow(2).mean()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    monitor = StreamMonitor(_Receiver(), _Buffer(), log_every_n_steps=3)
    logger = CSVLogger(tmp_path, name="csv")
    trainer = Trainer(max_steps=10, log_every_n_steps=3, logger=logger, callbacks=[monitor],
                      enable_progress_bar=False, enable_model_summary=False,
                      enable_checkpointing=False, accelerator="cpu", devices=1)
    # one epoch (the monitor ends training at an epoch's end, as an online stream's)
    trainer.fit(Tiny(), DataLoader(TensorDataset(torch.ones(10, 2)), batch_size=1))
    with open(tmp_path / "csv" / "version_0" / "metrics.csv") as f:
        csv_steps = [int(r["step"]) for r in csv.DictReader(f) if r["stream/samples_per_s"]]
    assert csv_steps == [2, 5, 8]  # the 3rd, 6th and 9th optimiser steps, from 0
    fig = stream_figure(monitor.history, "online run demo")
    try:
        for ax in fig.axes[:3]:
            assert ax.get_xlabel() == "training step (from 0, as metrics.csv's step)"
            for line in ax.lines:
                assert list(line.get_xdata()) == csv_steps
    finally:
        plt.close(fig)
