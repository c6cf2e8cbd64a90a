"""Tiny dataset files shared by the training tests."""

import numpy as np
import pytest

from pdesurrogate.datasets import DatasetWriter, generate_dataset
from pdesurrogate.solvers import Burgers1D

N, T, NX = 10, 6, 32


@pytest.fixture
def advection_file(tmp_path):
    """``u(x, t) = 1 + sum_m a_m sin(2 pi m (x - c t))`` on a periodic grid, parameter ``c``:
    N=10 trajectories, T=6 times (dt = 0.05), 32 points."""
    rng = np.random.default_rng(0)
    x = np.arange(NX) / NX
    times = np.arange(T) * 0.05
    c = rng.uniform(1.0, 2.0, N)
    u = np.zeros((N, T, 1, NX), np.float32)
    for n in range(N):
        a = rng.standard_normal(3)
        for j, t in enumerate(times):
            s = x - c[n] * t
            u[n, j, 0] = 1 + sum(a[m] * np.sin(2 * np.pi * (m + 1) * s) for m in range(3))
    path = tmp_path / "advection.nc"
    with DatasetWriter(path, "advection", (x,), ("x",), times, ["u"], ["c"], N) as w:
        w.write(0, u, {"c": c})
    return path


@pytest.fixture
def burgers_file(tmp_path):
    """``make(n_points, samples, frames)``: a file of the real Burgers solver (GRF initial
    states, nu in [0.01, 0.1], ``frames`` times on [0, 1], seed 0) in ``tmp_path``."""

    def make(n_points: int, samples: int, frames: int):
        path = tmp_path / f"burgers_{n_points}_{samples}_{frames}.nc"
        generate_dataset(Burgers1D(n_points=n_points, nu_range=(0.01, 0.1), ic="grf"), path,
                         samples=samples, times=np.linspace(0, 1, frames), seed=0, workers=1,
                         progress=False)
        return path

    return make
