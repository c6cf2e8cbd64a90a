"""Per-channel (and per-parameter) mean/std statistics, computed by streaming over a file.

:func:`compute_stats` reads the selected trajectories a block of frames at a time (never the
whole file) and merges per-block float64 means and centred sums of squares with Chan et al.'s
pairwise update, which stays accurate when the mean is large compared to the spread (a plain
sum / sum-of-squares would cancel). ``std`` is the population standard deviation over all
trajectories, times and grid points of a channel.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .progress import progress_bar
from .rank_share import RankShare, shared_pass
from .reader import FieldData, open_dataset

# frames read at once are capped at about this many bytes (float32 on disk)
BLOCK_BYTES = 32 * 2**20
# a pass over the file shows progress from this many trajectories or bytes on: below both it
# takes about a second or less (the audit measured ~83 us per small trajectory read one at a
# time, and 200-600 MB/s), and tests and small runs print nothing
PROGRESS_MIN_TRAJECTORIES = 10_000
PROGRESS_MIN_BYTES = 256 * 2**20


def long_pass(data: FieldData, n_trajectories: int) -> bool:
    """Whether reading ``n_trajectories`` whole trajectories of ``data`` is long enough to show
    progress for (:data:`PROGRESS_MIN_TRAJECTORIES`, :data:`PROGRESS_MIN_BYTES`)."""
    _, t, c, *grid = data.u.shape
    nbytes = 4 * n_trajectories * t * c * int(np.prod(grid))
    return n_trajectories >= PROGRESS_MIN_TRAJECTORIES or nbytes >= PROGRESS_MIN_BYTES


def trajectory_blocks(data: FieldData, indices: np.ndarray,
                      advance: Callable[[int], None] = lambda k: None
                      ) -> Iterator[tuple[int, int, np.ndarray]]:
    """``(i, t0, data.u[i, t0:t0 + s])`` for each trajectory ``i`` of ``indices`` in order and
    each block of ``s`` saved times (``s`` frames fit :data:`BLOCK_BYTES`); ``advance(k)`` after
    each read, ``k`` the trajectories it finished.

    Trajectories that fit a block whole are read several per call, a run ``data.u[a:b]`` of
    nearby indices (the unselected ones between them are read and dropped, at most as many as
    the selected; none for files with one group per trajectory): one HDF5 call per trajectory
    cost about 83 us on small trajectories. Each yielded block holds the same values, in the
    same order, as reading its trajectory alone.

    A run is let go before the next read, so a caller that drops each block before asking for
    the next (``del block``; a loop variable alone keeps it through the next read) holds one
    read of at most :data:`BLOCK_BYTES` at a time, not two.
    """
    _, t, c, *grid = data.u.shape
    frame_bytes = 4 * c * int(np.prod(grid))
    step = max(1, min(t, BLOCK_BYTES // max(frame_bytes, 1)))
    rows = BLOCK_BYTES // max(t * frame_bytes, 1) if step == t else 1
    grouped = any(getattr(src, "groups", None) for src in data.u.sources)
    j = 0
    while j < len(indices):
        a = int(indices[j])
        m = 1
        while j + m < len(indices):
            span = int(indices[j + m]) - a + 1
            if (indices[j + m] <= indices[j + m - 1] or span > rows
                    or span > (m + 1) * (1 if grouped else 2)):
                break  # not increasing (a caller's own order), or too long or sparse a run
            m += 1
        if m == 1:
            for t0 in range(0, t, step):
                yield a, t0, data.u[a, t0: t0 + step]
        else:
            run = data.u[a: int(indices[j + m - 1]) + 1]
            for i in indices[j: j + m]:
                yield int(i), 0, run[int(i) - a]
            del run  # else held (the name's old value) while the next run is read
        advance(m)
        j += m


@dataclass
class ChannelStats:
    """Mean and standard deviation per channel, for tensors shaped ``(..., C, *grid)``.

    Attributes:
        mean, std: ``C`` floats each.
        spatial_dims: number of spatial axes after the channel axis (1, 2 or 3).
        param_mean, param_std: per-parameter statistics in ``data.params`` order (may be empty).
        param_names: the parameter names.
        param_min, param_max: the range of each parameter the model was trained on, in the
            same order (the training trajectories' smallest and largest values, or an online
            run's parameter box); empty: not known (statistics written before they were
            recorded). Only recorded: normalisation does not use them.

    A zero ``std`` (a constant channel) divides by 1 instead, so it normalises to zero.
    """

    mean: list[float]
    std: list[float]
    spatial_dims: int = 1
    param_names: list[str] = field(default_factory=list)
    param_mean: list[float] = field(default_factory=list)
    param_std: list[float] = field(default_factory=list)
    param_min: list[float] = field(default_factory=list)
    param_max: list[float] = field(default_factory=list)

    def __post_init__(self):
        self.mean = [float(v) for v in self.mean]
        self.std = [float(v) for v in self.std]
        if len(self.mean) != len(self.std) or not self.mean:
            raise ValueError(f"mean and std must be non-empty lists of the same length, got "
                             f"{len(self.mean)} and {len(self.std)}")
        if any(not math.isfinite(s) or s < 0 for s in self.std):
            raise ValueError(f"std must be finite and >= 0, got {self.std}")
        if self.spatial_dims not in (1, 2, 3):
            raise ValueError(f"spatial_dims must be 1, 2 or 3, got {self.spatial_dims!r}")
        self.param_names = [str(p) for p in self.param_names]
        self.param_mean = [float(v) for v in self.param_mean]
        self.param_std = [float(v) for v in self.param_std]
        if not len(self.param_names) == len(self.param_mean) == len(self.param_std):
            raise ValueError("param_names, param_mean and param_std must have the same length")
        self.param_min = [float(v) for v in self.param_min]
        self.param_max = [float(v) for v in self.param_max]
        self._check_range()

    def _check_range(self) -> None:
        """``param_min`` / ``param_max``: both empty (range unknown), or one finite value per
        parameter each, ``param_min <= param_max``."""
        n = len(self.param_names)
        for key in ("param_min", "param_max"):
            values = getattr(self, key)
            if values and len(values) != n:
                raise ValueError(f"{key} must have one value per parameter {self.param_names} "
                                 f"({n}) or be empty (range unknown), got {values}")
            if not all(math.isfinite(v) for v in values):
                raise ValueError(f"{key} must hold finite numbers, got {values}")
        if bool(self.param_min) != bool(self.param_max):
            empty, given = (("param_min", "param_max") if not self.param_min
                            else ("param_max", "param_min"))
            raise ValueError(f"{empty} is empty but {given} is not; give both (one value per "
                             f"parameter {self.param_names}) or neither (range unknown)")
        for name, (lo, hi) in self.param_range.items():
            if lo > hi:
                raise ValueError(f"param_min must be <= param_max for each parameter, got "
                                 f"{lo} > {hi} for {name!r}")

    @property
    def param_range(self) -> dict[str, tuple[float, float]]:
        """``{name: (min, max)}`` of the parameters the model was trained on; ``{}`` if not
        known."""
        if not self.param_min:
            return {}
        return dict(zip(self.param_names, zip(self.param_min, self.param_max, strict=True),
                        strict=True))

    # -- JSON --------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std),
                "spatial_dims": self.spatial_dims, "param_names": list(self.param_names),
                "param_mean": list(self.param_mean), "param_std": list(self.param_std),
                "param_min": list(self.param_min), "param_max": list(self.param_max)}

    @classmethod
    def from_dict(cls, d: dict) -> ChannelStats:
        """The inverse of :meth:`to_dict`; ``param_min`` and ``param_max`` may be missing (a
        dict written before they were recorded: range unknown)."""
        unknown = set(d) - {"mean", "std", "spatial_dims", "param_names", "param_mean",
                            "param_std", "param_min", "param_max"}
        if unknown:
            raise ValueError(f"ChannelStats.from_dict: unknown keys {sorted(unknown)}")
        return cls(**d)

    # -- transforms --------------------------------------------------------------------------
    def _shaped(self, values: Sequence[float], x):
        c = len(values)
        if x.ndim < self.spatial_dims + 1 or x.shape[-self.spatial_dims - 1] != c:
            raise ValueError(f"expected (..., {c}, *grid) with {self.spatial_dims} spatial axes, "
                             f"got shape {tuple(x.shape)}")
        shape = (c,) + (1,) * self.spatial_dims
        if isinstance(x, torch.Tensor):
            return torch.as_tensor(values, dtype=x.dtype, device=x.device).reshape(shape)
        return np.asarray(values, dtype=x.dtype).reshape(shape)

    def _safe_std(self) -> list[float]:
        return [s if s > 0 else 1.0 for s in self.std]

    def normalize(self, x):
        """``(x - mean) / std`` per channel; tensor or array ``(..., C, *grid)``."""
        return (x - self._shaped(self.mean, x)) / self._shaped(self._safe_std(), x)

    def denormalize(self, x):
        """Inverse of :meth:`normalize`."""
        return x * self._shaped(self._safe_std(), x) + self._shaped(self.mean, x)

    def normalize_params(self, p):
        """``(p - param_mean) / param_std`` for ``(..., P)`` tensors or arrays."""
        if not self.param_names:
            return p
        std = [s if s > 0 else 1.0 for s in self.param_std]
        if isinstance(p, torch.Tensor):
            m = torch.as_tensor(self.param_mean, dtype=p.dtype, device=p.device)
            return (p - m) / torch.as_tensor(std, dtype=p.dtype, device=p.device)
        return (p - np.asarray(self.param_mean)) / np.asarray(std)


def _moments(block: np.ndarray, axis: tuple[int, ...]) -> tuple[int, np.ndarray, np.ndarray]:
    """Count, float64 mean and centred sum of squares of ``block`` per channel, reducing over
    ``axis`` (every axis but the channel axis)."""
    b = np.asarray(block, np.float64)
    nb = int(np.prod([b.shape[a] for a in axis]))
    if nb == 0:
        return 0, np.zeros(b.shape[1]), np.zeros(b.shape[1])
    # an inf in the block gives inf - inf = NaN here, with numpy's RuntimeWarning before the
    # caller's error that names the file and the place (_block_moments checks the mean)
    with np.errstate(invalid="ignore", over="ignore"):
        mb = b.mean(axis=axis)
        shape = [1 if a in axis else -1 for a in range(b.ndim)]
        m2b = ((b - mb.reshape(shape)) ** 2).sum(axis=axis)
    return nb, mb, m2b


class _Running:
    """Count, mean and centred sum of squares per channel, merged block by block."""

    def __init__(self, c: int):
        self.n = 0
        self.mean = np.zeros(c)
        self.m2 = np.zeros(c)

    def add(self, block: np.ndarray, axis: tuple[int, ...]) -> None:
        """Merge ``block``, reducing over ``axis`` (every axis but the channel axis)."""
        self.merge(*_moments(block, axis))

    def merge(self, nb: int, mb: np.ndarray, m2b: np.ndarray) -> None:
        """Merge one block's :func:`_moments`."""
        if nb == 0:
            return
        n = self.n + nb
        delta = mb - self.mean
        self.mean = self.mean + delta * (nb / n)
        self.m2 = self.m2 + m2b + delta**2 * (self.n * nb / n)
        self.n = n

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.m2 / max(self.n, 1))


def _block_moments(data: FieldData, indices: np.ndarray, axes: tuple[int, ...], c: int,
                   advance: Callable[[int], None]) -> tuple[np.ndarray, ...]:
    """``(counts (K,), means (K, C), m2s (K, C))``: the :func:`_moments` of the ``K`` blocks
    :func:`trajectory_blocks` reads of ``indices``, in its order; ``ValueError`` from
    :func:`_non_finite` at the first block holding NaN or Inf."""
    counts, means, m2s = [], [], []
    for i, t0, block in trajectory_blocks(data, indices, advance):
        nb, mb, m2b = _moments(block, axes)
        if not np.all(np.isfinite(mb)):  # C values: cheaper than checking the block
            raise _non_finite(data, i, t0, block)
        counts.append(nb)
        means.append(mb)
        m2s.append(m2b)
        del block  # before the next read (trajectory_blocks)
    return (np.asarray(counts, np.int64), np.reshape(means, (-1, c)).astype(np.float64),
            np.reshape(m2s, (-1, c)).astype(np.float64))


def compute_stats(data: FieldData | str | os.PathLike, indices: Sequence[int] | None = None,
                  params: bool = True, progress: bool = False,
                  share: RankShare | None = None) -> ChannelStats:
    """Channel (and, with ``params``, parameter) statistics over trajectories ``indices``
    (default: all) of ``data`` (a view or a file path); a parameter's range (``param_min``,
    ``param_max``) is that of those trajectories.

    Streams over ``data.u[i, t0:t1]`` blocks of at most :data:`BLOCK_BYTES`
    (:func:`trajectory_blocks`); the result does not depend on the block size beyond float64
    round-off. With ``progress``, a pass that is long enough (:func:`long_pass`) shows its
    progress on stderr (:func:`~.progress.progress_bar`). Raises ``ValueError`` naming the file,
    variable, channel (or parameter) and first trajectory where a value is NaN or infinite.

    With ``share`` (the processes of a DDP job, all of which call this with the same
    arguments), each process reads its part of ``indices`` only (:func:`~.rank_share.shared_pass`)
    and every process merges all the blocks' moments in the order of ``indices``: the same
    statistics, bit for bit, in every process and as one process reading all of them, and the
    same error in every process for a non-finite value in any part.
    """
    if not isinstance(data, FieldData):
        data = open_dataset(data)
    n, t, c, *grid = data.u.shape
    idx = np.arange(n) if indices is None else np.asarray(indices, dtype=np.int64).reshape(-1)
    if idx.size == 0:
        raise ValueError(f"compute_stats: no trajectories selected from {str(data.path)!r}")
    axes = tuple(a for a in range(2 + len(grid)) if a != 1)  # block is (t, C, *grid)
    on = progress and long_pass(data, idx.size)
    mine = idx.size if share is None else len(share.part(idx))
    with progress_bar(on, "normalisation statistics", mine) as advance:
        parts = shared_pass(share, idx,
                            lambda part: _block_moments(data, part, axes, c, advance))
    run = _Running(c)
    for counts, means, m2s in parts:
        for nb, mb, m2b in zip(counts.tolist(), means, m2s, strict=True):
            run.merge(nb, mb, m2b)
    names, pm, ps, lo, hi = [], [], [], [], []
    if params:
        for k, values in data.params.items():
            v = np.asarray(values[idx], dtype=np.float64)
            bad = np.flatnonzero(~np.isfinite(v))
            if bad.size:
                raise ValueError(f"{str(data.path)!r}: parameter {k!r} is NaN or infinite for "
                                 f"{bad.size} of the {idx.size} trajectories used (first: "
                                 f"{int(idx[bad[0]])}); normalisation statistics need finite "
                                 "values: fix or regenerate the file")
            names.append(k)
            pm.append(float(np.mean(v)))
            ps.append(float(np.std(v)))
            lo.append(float(np.min(v)))
            hi.append(float(np.max(v)))
    return ChannelStats(mean=run.mean.tolist(), std=run.std.tolist(), spatial_dims=len(grid),
                        param_names=names, param_mean=pm, param_std=ps, param_min=lo,
                        param_max=hi)


def _non_finite(data: FieldData, sample: int, t0: int, block: np.ndarray) -> ValueError:
    """The error for a ``(t, C, *grid)`` block of trajectory ``sample`` (starting at time index
    ``t0``) that holds NaN or infinite values."""
    bad = ~np.isfinite(block)
    space = tuple(range(2, block.ndim))
    channels = np.flatnonzero(bad.any(axis=(0, *space)))
    first_time = t0 + int(np.flatnonzero(bad.any(axis=(1, *space)))[0])
    member, local = data.locate(sample) if hasattr(data, "locate") else (data, sample)
    where = ", ".join(f"variable {_variable(member, int(k), local)!r} (channel "
                      f"{data.channel_names[int(k)]!r})" for k in channels)
    return ValueError(
        f"{str(data.path)!r} holds non-finite values (NaN or Inf) in {where}, first in "
        f"{trajectory_name(data, sample)} at time index {first_time} "
        f"(t = {data.times[first_time]:g}); normalisation statistics need finite data: fix or "
        "regenerate the file")


def trajectory_name(data: FieldData, i: int) -> str:
    """``"trajectory i"``, and in a folder read as one (:class:`~.file_set.FileSet`) the file
    holding it and its index there, for messages."""
    if not hasattr(data, "locate"):
        return f"trajectory {i}"
    member, local = data.locate(i)
    return f"trajectory {i} (trajectory {local} of file {member.path.name!r})"


def _variable(data: FieldData, channel: int, sample: int) -> str:
    """Name of the file variable (HDF5 dataset) that holds ``channel`` of trajectory ``sample``."""
    start = 0
    for src in data.u.sources:
        if channel < start + src.n_channels:
            groups = getattr(src, "groups", None)  # one group per trajectory (PDEBench)
            return f"{groups[sample]}/{src.dataset}" if groups else src.name
        start += src.n_channels
    return "u"
