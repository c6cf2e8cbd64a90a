"""What a fit records about itself beside Lightning's own checkpoint contents.

``checkpoint[CHECKPOINT_KEY]`` holds our modules' extras (normalisation, data source, the fit's
seed); :func:`claim_fit_seed` tells a starting fit which ``seed_everything`` seeded it, and
:func:`rank_seed` what each DDP rank draws its own random numbers from. Shared
by the field modules (:mod:`pdesurrogate.training`) and the PINN module, and read by
:mod:`pdesurrogate.export`; depends on torch and numpy alone, so the PINN side does not import the
training stack.
"""

from __future__ import annotations

import os

import numpy as np
import torch

CHECKPOINT_KEY = "pdesurrogate"
# where Lightning's seed_everything leaves its seed (as str(seed)); Lightning never clears it
SEED_ENV = "PL_GLOBAL_SEED"


def claim_fit_seed() -> int | None:
    """The seed Lightning's ``seed_everything`` set for the fit that starts now, or None when
    it was not called for it. Called once per fit, as it starts (the module's ``setup``).

    ``seed_everything(s)`` writes ``str(s)`` to :data:`SEED_ENV` and seeds torch's global
    generator with ``s``; Lightning never clears the variable, so a later fit in the same
    process that did not seed would find the earlier one's seed. So a seed is taken when the
    variable holds it in the form ``seed_everything`` writes and torch's generator was seeded
    with it (``torch.initial_seed()``: a variable inherited from the shell, or a
    ``torch.manual_seed`` of another seed since, is no seed of this fit), and then marked taken
    by rewriting it as ``+<s>``: the same integer for everything that reads it (Lightning's
    ``int(...)``: DDP's reseeding, worker and sampler seeds), but not taken again by a later
    fit unless ``seed_everything`` is called anew. The CLI (LightningCLI) calls it before it
    builds the module, for every run (a random seed unless the config sets
    ``seed_everything``; none with ``seed_everything: false``); the online run before it
    builds the model too. Under DDP Lightning itself reseeds every rank from the variable as a
    fit starts, so each rank of a fit takes the same seed.
    """
    raw = os.environ.get(SEED_ENV)
    try:
        seed = int(raw) if raw is not None else None
    except ValueError:
        return None
    if seed is None or raw != str(seed) or torch.initial_seed() != seed:
        return None
    os.environ[SEED_ENV] = f"+{seed}"
    return seed


def rank_seed(seed: int, rank: int) -> int:
    """The seed of process ``rank``'s draws in a multi-process (DDP) run started from ``seed``.

    Rank 0 keeps ``seed`` itself (a single-process run draws exactly what it always drew); every
    other rank gets a seed mixed from ``(seed, rank)`` by numpy's ``SeedSequence``, so the ranks
    draw different points and dimensions instead of repeating rank 0's.
    """
    if rank == 0:
        return seed
    state = np.random.SeedSequence([seed, rank]).generate_state(2, np.uint32)
    return int(state[0]) << 32 | int(state[1])
