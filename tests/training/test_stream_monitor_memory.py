"""StreamMonitor's history (the rows online.png draws) stays bounded however long the run is:
at most HISTORY_ROWS rows, evenly spaced from the first logged step over the whole run. Before,
it kept every logged row (~460 bytes each): memory grew with the run's length."""

import pytest

from pdesurrogate.training import stream_monitor
from pdesurrogate.training.stream_monitor import StreamMonitor
from tests.online.test_stream_figure import _Buffer, _Receiver


class _Trainer:
    global_step = 0


class _Module:
    def __init__(self):
        self.logged = 0

    def log_dict(self, row, **kwargs) -> None:
        self.logged += 1


@pytest.mark.parametrize("logged", [7, 8, 9, 1000, 4097])
def test_history_is_bounded_and_evenly_spaced_over_the_run(monkeypatch, logged):
    monkeypatch.setattr(stream_monitor, "HISTORY_ROWS", 8, raising=False)
    every = 3
    monitor = StreamMonitor(_Receiver(), _Buffer(), log_every_n_steps=every)
    trainer, module = _Trainer(), _Module()
    for step in range(1, every * logged + 1):
        trainer.global_step = step
        monitor.on_train_batch_end(trainer, module, None, None, step - 1)
    assert module.logged == logged  # every row still goes to the loggers
    steps = [row["step"] for row in monitor.history]
    assert 1 <= len(steps) <= 8
    assert steps[0] == every - 1  # the first logged row (CSV step, from 0)
    gaps = {b - a for a, b in zip(steps, steps[1:], strict=False)}
    assert len(gaps) <= 1  # evenly spaced
    # and spread over the run: the last kept row is within one spacing of the last logged one
    last = every * logged - 1
    assert last - steps[-1] < (gaps.pop() if gaps else every)
    if logged > 8:
        assert len(steps) >= 4  # thinned to half at most, not emptied
