"""``generate_dataset`` repeats a run: the same settings write the same states, bit for bit, also
with several worker processes and a solver whose result depends on its earlier solves (the SOR
bandit of heat2d and darcy2d), whichever batches happen to be slow."""

import time

import h5py
import numpy as np
import torch

from pdesurrogate.datasets import generate_dataset
from pdesurrogate.datasets.generate import sample_seed
from tests.datasets.test_generate import TIMES, SineAdvection

SEED, SAMPLES = 4, 6


class Tally(SineAdvection):
    """A solver with a history, as a bandit tuner is: each solve adds 1e-3 times the number of
    solves this copy made before to the states. A batch whose first ``beta`` is in ``slow``
    sleeps 0.5 s first, which changes no value, only which worker is free first."""

    def __init__(self, slow: set[float]):
        super().__init__()
        self.slow, self.solved = slow, 0

    def solve(self, u0, params, times):
        if float(params["beta"][0]) in self.slow:
            time.sleep(0.5)
        u = super().solve(u0, params, times) + torch.tensor(1e-3 * self.solved, dtype=u0.dtype)
        self.solved += 1
        return u


def _beta(index: int) -> float:
    return float(SineAdvection().sample(1, sample_seed(SEED, index))[1]["beta"][0])


def _states(path, slow_sample: int) -> np.ndarray:
    generate_dataset(Tally({_beta(slow_sample)}), path, samples=SAMPLES, times=TIMES, seed=SEED,
                     batch_size=1, workers=2, progress=False)
    with h5py.File(path) as f:
        return f["u"][()]


def test_two_workers_write_the_same_states_whichever_batch_is_slow(tmp_path):
    """The first batch slow, then the second: the same file. Before, a batch went to whichever
    worker was free, so a slow batch changed which earlier solves each later one followed
    (heat2d at 8x8, 12 samples, --workers 2: four runs, four files differing by up to 6e-8)."""
    first = _states(tmp_path / "slow0.nc", 0)
    second = _states(tmp_path / "slow1.nc", 1)
    plain = np.stack([SineAdvection().solve(*SineAdvection().sample(1, sample_seed(SEED, i)),
                                            TIMES)[0].numpy() for i in range(SAMPLES)])
    # the history shows in the states (else the comparison below could not fail)
    assert np.abs(first - plain).max() > 5e-4
    np.testing.assert_array_equal(first, second)
