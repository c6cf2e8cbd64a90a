"""Seeds of a fit's training draws that a resumed fit draws again: from the run's seed, the
process's rank and the batch's place in training, never from torch's global generator.

Lightning saves no random-number state in a checkpoint, and a resumed fit runs
``seed_everything`` again, so anything drawn from torch's global generator (a shuffle, a
noise sample) would replay the draws of the first epochs after every resume. Each rank's draws
of a DDP run are not in the checkpoint either (rank 0 writes it). Seeding every batch's draws
from ``(seed, rank, epoch, batch)`` gives the same draws to a fit resumed anywhere, and each
rank its own.
"""

from __future__ import annotations

import os

import numpy as np
import torch

# the variable in which Lightning's seed_everything leaves its seed (DDP ranks read it)
from pdesurrogate.run_record import SEED_ENV


def run_seed(world_size: int = 1) -> int:
    """The seed of a fit's training draws, for a fit that starts from step 0: the
    ``seed_everything`` seed of the run (Lightning's ``PL_GLOBAL_SEED``, also in the
    ``+<s>`` form that :func:`~pdesurrogate.run_record.claim_fit_seed` leaves), else torch's
    initial seed in a single process, else 0 (as Lightning's own distributed sampler: every
    rank must take the same). Keep it in the checkpoint: a resumed fit must not take a new
    one."""
    raw = os.environ.get(SEED_ENV)
    if raw is not None:
        try:
            return int(raw) % 2**63
        except ValueError:
            pass
    return torch.initial_seed() % 2**63 if world_size <= 1 else 0


def batch_seed(seed: int, rank: int, epoch: int, batch: int) -> int:
    """The seed of the draws of training batch ``batch`` (its index in the epoch) of epoch
    ``epoch`` on process ``rank``: a 63-bit integer mixed from the four by numpy's
    ``SeedSequence``, so nearby arguments give unrelated streams."""
    for name, v in (("seed", seed), ("rank", rank), ("epoch", epoch), ("batch", batch)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{name} must be an int >= 0, got {v!r}")
    state = np.random.SeedSequence([seed, rank, epoch, batch]).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])
