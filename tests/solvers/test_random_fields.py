"""sine_sum: random sine waves with integer wavenumbers whose first component is >= 1."""

import math

import torch

from pdesurrogate.solvers.base import seeded_generator
from pdesurrogate.solvers.random_fields import sine_sum


def test_every_sine_wave_has_wavenumber_1_to_k_max_along_x():
    """One wave per field (1-D, n = 32, k_max = 4): each field's spectrum sits on a single
    wavenumber in 1..4 (so it has zero mean and is never constant) and its amplitude is at most
    ``amplitude``; all four wavenumbers occur in 400 draws."""
    n, length = 32, 2.0
    grid = (torch.arange(n, dtype=torch.float64) * (length / n),)
    u = sine_sum(400, grid, seeded_generator(3), n_waves=1, k_max=4, amplitude=0.7,
                 length=length)
    spec = torch.fft.rfft(u).abs() / (n / 2)  # amplitude of each wavenumber
    k = spec.argmax(dim=-1)
    assert bool(((k >= 1) & (k <= 4)).all()), k.unique()
    assert set(k.tolist()) == {1, 2, 3, 4}
    others = spec.clone()
    others[torch.arange(400), k] = 0
    assert float(others.max()) < 1e-12
    assert float(spec.amax(dim=-1).max()) <= 0.7 + 1e-12
    assert float(u.mean(dim=-1).abs().max()) < 1e-12
    assert not math.isclose(float(u.std()), 0.0)
