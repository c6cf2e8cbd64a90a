"""curves.png of a long run: metrics.csv is read a row at a time and each curve keeps at most
CURVE_POINTS points, evenly over the run, every stretch's lowest and highest value and the
last point among them, every validation point while there are no more than that. Before, the
whole file was held in memory (a 10^6-row, 120 MB file: 393 MiB peak, 18 s) and every row
drawn."""

import math
import tracemalloc

import pytest

from pdesurrogate.plots import (
    CURVE_POINTS,
    ThinnedCurve,
    metrics_csv_curves,
    training_curves_figure,
)

HEADER = "epoch,step,train/loss,train/lr,train/rel_l2,val/rel_l2,val/rel_l2_step_1\n"
ROWS, VAL_EVERY, SPIKE, LOWEST = 60_000, 500, 20_011, 41_003


def _loss(step: int) -> float:
    """A falling, wiggling loss with one spike and one dip well below its neighbours."""
    if step == SPIKE:
        return 100.0
    if step == LOWEST:
        return 1e-9
    return (1 + 0.2 * math.sin(step)) / (1 + step)


def _lr(step: int) -> float:
    return 1e-3 * 0.5 * (1 + math.cos(math.pi * step / ROWS))


def _write(path, rows: int = ROWS) -> None:
    """Lightning CSVLogger's layout: a training row per step, a validation row of its own
    (at the step it followed) every VAL_EVERY steps."""
    with open(path, "w") as f:
        f.write(HEADER)
        for s in range(rows):
            e = s // 1000
            f.write(f"{e},{s},{_loss(s)!r},{_lr(s)!r},{0.9 * _loss(s)!r},,\n")
            if s % VAL_EVERY == VAL_EVERY - 1:
                f.write(f"{e},{s},,,,{2 * _loss(s)!r},{_loss(s)!r}\n")


@pytest.fixture(scope="module")
def long_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / "metrics.csv"
    _write(path)
    return path


def test_a_long_runs_curves_keep_a_bounded_number_of_points(long_csv):
    losses, lr = training_curves_figure(long_csv).axes
    lines = {line.get_label().split()[0]: line for line in (*losses.lines, *lr.lines)}
    assert sorted(lines) == ["train/loss", "train/lr", "train/rel_l2", "val/rel_l2"]
    for name, line in lines.items():
        assert len(line.get_xdata()) <= CURVE_POINTS, name
    for name, f in (("train/loss", _loss), ("train/lr", _lr)):
        steps, values = list(lines[name].get_xdata()), list(lines[name].get_ydata())
        assert len(steps) > CURVE_POINTS // 4, name  # thinned, not emptied
        assert steps == sorted(steps) and steps[-1] == ROWS - 1, name
        assert values == [f(s) for s in steps], name
    steps = list(lines["train/loss"].get_xdata())
    assert SPIKE in steps and LOWEST in steps
    assert max(lines["train/loss"].get_ydata()) == 100.0
    assert min(lines["train/loss"].get_ydata()) == 1e-9
    assert list(lines["train/lr"].get_xdata())[0] == 0  # the highest rate, at the start
    val = [s for s in range(ROWS) if s % VAL_EVERY == VAL_EVERY - 1]
    assert list(lines["val/rel_l2"].get_xdata()) == val
    assert list(lines["val/rel_l2"].get_ydata()) == [2 * _loss(s) for s in val]


def test_reading_a_long_metrics_csv_holds_bounded_memory(long_csv):
    """60 000 rows, 4 MB of text: reading them peaks at 1.4 MB of Python objects, whatever
    the rows (read whole before: 9 MB, and growing with the rows)."""
    tracemalloc.start()
    try:
        curves = metrics_csv_curves(long_csv)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sorted(curves) == ["train/loss", "train/lr", "train/rel_l2", "val/rel_l2",
                              "val/rel_l2_step_1"]
    assert peak < 3_000_000, peak


def test_a_thinned_curve_keeps_each_stretchs_extremes_and_its_last_point():
    """Points 0..999 of a zigzag into 10 at most: stretches of `width` points each, of which
    the lowest and highest are kept, and the last point whatever its value."""
    values = [(-1) ** i * (i % 7) + 0.001 * i for i in range(1000)]
    curve = ThinnedCurve(10)
    for i, v in enumerate(values):
        curve.add(3 * i, v)
    steps, kept = curve.points()
    assert len(steps) <= 10 and steps[-1] == 3 * 999 and kept[-1] == values[-1]
    assert steps == sorted(steps) and kept == [values[s // 3] for s in steps]
    w = curve.width
    for start in range(0, 1000, w):
        part = values[start:start + w]
        assert min(part) in kept and max(part) in kept, start
    short = ThinnedCurve(10)
    for i in range(10):
        short.add(i, float(i % 3))
    assert short.points() == (list(range(10)), [float(i % 3) for i in range(10)])


def test_a_nan_stays_drawn_as_its_stretchs_highest_point():
    """A diverged step's NaN is kept (the gap in the line shows), with its stretch's lowest
    number beside it (a falling curve: the stretch's last point)."""
    curve = ThinnedCurve(4)
    for i in range(100):
        curve.add(i, math.nan if i == 37 else 1.0 / (1 + i))
    steps, values = curve.points()
    assert 37 in steps and math.isnan(values[steps.index(37)])
    assert steps[-1] == 99 and len(steps) <= 4
    assert (37 // curve.width + 1) * curve.width - 1 in steps


@pytest.mark.parametrize("cap", [2, 2.5, True])
def test_a_cap_too_small_to_keep_a_stretch_is_refused(cap):
    with pytest.raises(ValueError, match=r"cap must be an int >= 3"):
        ThinnedCurve(cap)
