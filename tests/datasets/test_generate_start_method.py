"""``generate_dataset``'s default start method for its worker pool: fork on Linux only. macOS
lists fork among its start methods too, but a forked child of a process that has loaded torch
may crash there (Python's default on macOS is spawn); before, every platform listing fork got
it."""

import multiprocessing as mp

import numpy as np
import pytest

from pdesurrogate.datasets import generate as gen
from pdesurrogate.datasets import open_dataset
from pdesurrogate.solvers import Burgers1D


@pytest.mark.parametrize("platform, method", [("linux", "fork"), ("darwin", "spawn"),
                                              ("win32", "spawn")])
def test_default_start_method_is_fork_on_linux_only(tmp_path, monkeypatch, platform, method):
    asked, fork = [], mp.get_context("fork")

    def get_context(name):
        asked.append(name)
        return fork  # this machine's fork: the pool starts in milliseconds

    monkeypatch.setattr(gen.sys, "platform", platform)
    monkeypatch.setattr(gen.mp, "get_context", get_context)
    path = tmp_path / "b.nc"
    gen.generate_dataset(Burgers1D(n_points=16, nu_range=(0.01, 0.1), ic="grf"), path,
                         samples=4, batch_size=2, times=np.linspace(0, 0.1, 2), seed=0,
                         workers=2, progress=False)
    assert asked == [method]
    with open_dataset(path) as data:
        assert data.u.shape == (4, 2, 1, 16)
