"""Dataset generation at the bounds of its settings: ``pdesurrogate generate --n_times 1`` stores
the initial state alone and needs no time span (``--t_end 0``), and ``generate_dataset`` starts
no more worker processes than there are batches to solve."""

import numpy as np

from pdesurrogate.cli import main
from pdesurrogate.datasets import generate_dataset, open_dataset
from pdesurrogate.solvers import Advection1D


def test_one_stored_time_needs_no_span(tmp_path):
    out = tmp_path / "one.nc"
    assert main(["generate", "--solver", "advection1d", "--solver.n_points", "8", "--samples",
                 "1", "--n_times", "1", "--t_end", "0", "--workers", "1", "--out",
                 str(out)]) == 0
    with open_dataset(out) as d:
        np.testing.assert_array_equal(d.times, [0.0])
        assert d.u.shape[:2] == (1, 1)


def test_no_more_workers_than_batches(tmp_path):
    # 2 samples in batches of 2: one batch, so one process solves it, whatever workers asks
    report = generate_dataset(Advection1D(n_points=8), tmp_path / "a.nc", samples=2,
                              times=[0.0, 0.1], batch_size=2, workers=4, progress=False)
    assert (report.batches, report.workers) == (1, 1)
