"""torch ``Dataset`` views over a :class:`~.reader.FieldData` (or a file path).

Each takes ``indices``, the trajectories it may use (None: all), so train/validation/test are
split by trajectory (:func:`split_indices`), never by frame of one trajectory. Items are dicts of
float32 tensors; ``params`` follows the order of ``data.params``. Reads go through the lazy
view, one trajectory slice per item, so the datasets work in DataLoader workers (each opens the
file itself) and never hold the file in memory.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .reader import FieldData, open_dataset


def split_indices(n: int, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
                  ) -> tuple[np.ndarray, ...]:
    """Shuffle ``0..n-1`` with ``seed`` and cut it into ``len(fractions)`` sorted index arrays.

    Sizes are the rounded cumulative fractions times ``n`` (so they add up to ``n``).
    ``fractions`` must be non-negative and sum to 1.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    fr = check_fractions(fractions)
    perm = np.random.default_rng(seed).permutation(n)
    bounds = np.rint(np.cumsum(fr) * n).astype(int)
    bounds[-1] = n
    starts = np.concatenate([[0], bounds[:-1]])
    return tuple(np.sort(perm[a:b]) for a, b in zip(starts, bounds, strict=True))


def check_fractions(fractions: Sequence[float]) -> np.ndarray:
    """``fractions`` as a float64 array; ValueError unless they are a non-empty 1-D sequence of
    finite non-negative numbers that sum to 1."""
    try:
        fr = np.asarray(fractions, dtype=np.float64)
    except (TypeError, ValueError):
        fr = np.empty(0)
    if fr.ndim != 1 or fr.size == 0 or not np.all(np.isfinite(fr)) or np.any(fr < 0) \
            or not np.isclose(fr.sum(), 1.0):
        shown = list(fractions) if isinstance(fractions, Sequence) else fractions
        raise ValueError(f"fractions must be non-negative and sum to 1, got {shown!r}")
    return fr


def _as_data(data: FieldData | str | os.PathLike) -> FieldData:
    return data if isinstance(data, FieldData) else open_dataset(data)


def _indices(data: FieldData, indices) -> np.ndarray:
    n = len(data)
    if indices is None:
        return np.arange(n, dtype=np.int64)
    idx = np.asarray(indices)
    if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
        raise ValueError(f"indices must be a 1-D sequence of ints, got {indices!r}")
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"indices must lie in [0, {n}) for {str(data.path)!r}, got range "
                         f"[{idx.min()}, {idx.max()}]")
    return idx.astype(np.int64)


class _TrajectoryDataset(Dataset):
    def __init__(self, data: FieldData | str | os.PathLike,
                 indices: Sequence[int] | None = None):
        self.data = _as_data(data)
        self.indices = _indices(self.data, indices)
        self.times = self.data.times
        names = list(self.data.params)
        # only this dataset's rows: a file's constant parameters are (N,) broadcast views, and
        # stacking them whole would cost O(N) for a file that declares huge N
        rows = np.stack([np.asarray(self.data.params[k])[self.indices] for k in names],
                        axis=1) if names else np.zeros((len(self.indices), 0))
        self._params = torch.as_tensor(rows, dtype=torch.float32)
        self.param_names = tuple(names)

    def _item_check(self, i: int, n: int) -> int:
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for {type(self).__name__} of length {n}")
        return i % n


class OneStepPairs(_TrajectoryDataset):
    """Pairs ``(u(t_j), u(t_{j+k}))`` of every trajectory in ``indices``; ``n_traj (T - k)`` items.

    Item: ``input`` and ``target`` ``(C, *grid)``, ``params`` ``(P,)``, ``t`` (time of the input)
    and ``dt = t_{j+k} - t_j`` (scalars).
    """

    def __init__(self, data: FieldData | str | os.PathLike, k: int = 1,
                 indices: Sequence[int] | None = None):
        super().__init__(data, indices)
        t = self.data.u.shape[1]
        if t == 1:
            raise ValueError(f"{str(self.data.path)!r} holds a steady problem (one saved time per "
                             "sample): it has no pairs of times for OneStepPairs")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k < t:
            raise ValueError(f"k must be an int in [1, {t - 1}] for {t} saved times, got {k!r}")
        self.k = int(k)
        self.per_traj = t - self.k

    def __len__(self) -> int:
        return len(self.indices) * self.per_traj

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        i = self._item_check(int(i), len(self))
        r, j = i // self.per_traj, i % self.per_traj
        n = int(self.indices[r])
        pair = self.data.u[n, j: j + self.k + 1: self.k]
        return {
            "input": torch.from_numpy(pair[0]),
            "target": torch.from_numpy(pair[1]),
            "params": self._params[r],
            "t": torch.tensor(self.times[j], dtype=torch.float32),
            "dt": torch.tensor(self.times[j + self.k] - self.times[j], dtype=torch.float32),
        }


class AllPairs(_TrajectoryDataset):
    """All pairs ``t_i <= t_j`` of every trajectory (``T (T + 1) / 2`` each, ``i = j`` included).

    Item: as :class:`OneStepPairs` plus ``lead_time = t_j - t_i`` (equal to ``dt``).
    """

    def __init__(self, data: FieldData | str | os.PathLike,
                 indices: Sequence[int] | None = None):
        super().__init__(data, indices)
        self.first, self.second = np.triu_indices(self.data.u.shape[1])
        self.per_traj = len(self.first)

    def __len__(self) -> int:
        return len(self.indices) * self.per_traj

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        i = self._item_check(int(i), len(self))
        r, p = i // self.per_traj, i % self.per_traj
        n = int(self.indices[r])
        a, b = int(self.first[p]), int(self.second[p])
        if a == b:
            frame = self.data.u[n, a]
            x, y = frame, frame.copy()
        else:
            x, y = self.data.u[n, a: b + 1: b - a]
        lead = torch.tensor(self.times[b] - self.times[a], dtype=torch.float32)
        return {
            "input": torch.from_numpy(np.ascontiguousarray(x)),
            "target": torch.from_numpy(np.ascontiguousarray(y)),
            "params": self._params[r],
            "t": torch.tensor(self.times[a], dtype=torch.float32),
            "dt": lead,
            "lead_time": lead.clone(),
        }


class Trajectories(_TrajectoryDataset):
    """Whole trajectories: ``u`` ``(T, C, *grid)``, ``params`` ``(P,)``, ``times`` ``(T,)``.

    ``indices``: the trajectories to use (None: all), as for :class:`OneStepPairs`.
    """

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        i = self._item_check(int(i), len(self))
        return {
            "u": torch.from_numpy(self.data.u[int(self.indices[i])]),
            "params": self._params[i],
            "times": torch.as_tensor(self.times, dtype=torch.float32),
        }
