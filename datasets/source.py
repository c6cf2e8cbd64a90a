"""The split a data-source record describes.

A checkpoint or an export records where its training data came from (``data_info["source"]``,
written by :class:`~pdesurrogate.training.FieldDataModule`): ``path``, content ``fingerprint``
(:func:`~pdesurrogate.datasets.fingerprint.fingerprint`), ``n_trajectories``, ``fractions``,
``seed`` and ``max_train_trajectories``. Equal settings over data of equal fingerprint give the
same train/validation/test trajectories; :func:`source_splits` recomputes them, for ``test``'s
check against the checkpoint and for ``predict`` on the training file.
"""

from __future__ import annotations

import numpy as np

from .torch_datasets import split_indices


def source_splits(source: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(train, val, test)`` trajectory indices of a source record, the training split cut
    to ``max_train_trajectories`` as the datamodule cuts it. KeyError, TypeError or ValueError
    for a record without usable split settings."""
    train, val, test = split_indices(int(source["n_trajectories"]), source["fractions"],
                                     int(source["seed"]))
    m = source.get("max_train_trajectories")
    return (train[:m] if m is not None else train), val, test
