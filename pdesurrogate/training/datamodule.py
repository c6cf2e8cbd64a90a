"""``FieldDataModule``: train/val/test loaders over any file or folder :func:`open_dataset` reads.

The split is by trajectory (:func:`split_indices`), normalisation statistics come from the
training trajectories only, and both the statistics (``stats``) and a description of the data
(``data_info``) are handed to the LightningModule: ``data_info`` in its ``setup``, ``stats`` to a
module that has none (in the setup of a fit; at the start of a validation or test, after its
checkpoint is restored). The statistics are computed on first access, a full pass over the
training split: ``test`` or ``validate`` of a checkpoint never read the training split for
them (a resumed ``fit`` does, once, before its checkpoint replaces them). That pass and the
finite check of the validation or test split show their progress on stderr when they are long
(:func:`~pdesurrogate.datasets.normalization.long_pass`), on global rank 0 only, and not when the
trainer's progress bar is turned off: otherwise nothing is printed for minutes between
Lightning's "Loading train_dataloader" and the model summary on a file of many GB. Under DDP
both passes are split between the processes (:meth:`FieldDataModule._rank_share`): each reads
its part of the trajectories, not all of them, and all end with the same statistics (those of
one process, bit for bit) or the same error.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.distributed as dist
from lightning.pytorch import LightningDataModule
from torch import nn
from torch.utils.data import DataLoader, Dataset

from pdesurrogate.datasets import (
    ChannelStats,
    FieldData,
    OneStepPairs,
    compute_stats,
    open_dataset,
    split_indices,
)
from pdesurrogate.datasets.fingerprint import fingerprint
from pdesurrogate.datasets.grid_extent import EXTENT_KEY, grid_extent
from pdesurrogate.datasets.normalization import long_pass, trajectory_blocks, trajectory_name
from pdesurrogate.datasets.progress import progress_bar
from pdesurrogate.datasets.rank_share import RankShare, shared_pass
from pdesurrogate.datasets.source import SPLIT_FOLDERS_KEY
from pdesurrogate.datasets.torch_datasets import check_fractions
from pdesurrogate.models import model_name
from pdesurrogate.models._checks import check_grid
from pdesurrogate.training.ctrl_c_loader import CtrlCLoader
from pdesurrogate.training.draw_seeds import run_seed
from pdesurrogate.training.epoch_sampler import EpochShuffle, rank_skip, resume_position
from pdesurrogate.training.evaluation import evaluation_loader

# what the models' contract (pdesurrogate.models) has every model say of its input and output
CONTRACT_ATTRIBUTES = ("dim", "in_channels", "out_channels", "n_params")


class RolloutWindows(Dataset):
    """Windows ``u(t_j), u(t_{j+k}), ..., u(t_{j+Rk})`` of the trajectories ``indices``.

    Item: ``u`` ``(R + 1, C, *grid)``, ``params`` ``(P,)`` in ``data.params`` order.
    """

    def __init__(self, data: FieldData, k: int, rollout_steps: int, indices: Sequence[int]):
        t = data.u.shape[1]
        span = k * rollout_steps
        if span >= t:
            raise ValueError(f"{str(data.path)!r}: k * rollout_steps = {span} needs more than the "
                             f"{t} saved times")
        self.data, self.k, self.rollout_steps = data, k, rollout_steps
        self.indices = np.asarray(indices, dtype=np.int64)
        self.per_traj = t - span
        self._params = _param_rows(data, self.indices)

    def __len__(self) -> int:
        return len(self.indices) * self.per_traj

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} windows")
        row, j = divmod(i, self.per_traj)
        n = int(self.indices[row])
        u = self.data.u[n, j: j + self.k * self.rollout_steps + 1: self.k]
        return {"u": torch.from_numpy(np.ascontiguousarray(u)), "params": self._params[row]}


class StridedTrajectories(Dataset):
    """Whole trajectories, every ``k``-th saved time: ``u`` ``(T_k, C, *grid)``, ``params``
    ``(P,)``, ``times`` ``(T_k,)`` (``T_k = (T - 1) // k + 1``)."""

    def __init__(self, data: FieldData, k: int, indices: Sequence[int]):
        self.data, self.k = data, k
        self.indices = np.asarray(indices, dtype=np.int64)
        self._params = _param_rows(data, self.indices)
        self.times = torch.as_tensor(data.times[::k], dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        n = int(self.indices[i])
        u = self.data.u[n, :: self.k]
        return {"u": torch.from_numpy(np.ascontiguousarray(u)), "params": self._params[i],
                "times": self.times}


def _shortest_within(x: float, tol: float) -> float:
    """The decimal with the fewest significant digits within ``tol`` of ``x`` (``x`` itself if
    none is): a time step differenced from saved times carries their rounding error
    (0.15 / 3 = 0.049999999999999996, float32 times give 0.0500000007), not the value the
    times were written from."""
    for digits in range(1, 18):
        r = float(f"{x:.{digits}g}")
        if abs(r - x) <= tol:
            return r
    return x


def _param_rows(data: FieldData, indices: np.ndarray) -> torch.Tensor:
    """``(len(indices), P)`` float32 parameters of the trajectories ``indices``, in
    ``data.params`` order. Only those rows are copied out of ``data.params``, whose constants
    are read-only ``(N,)`` views: a file declaring ``N = 10**12`` trajectories costs
    nothing here, and torch never sees a read-only array (it would warn)."""
    rows = [np.asarray(v[indices], dtype=np.float32) for v in data.params.values()]
    p = np.stack(rows, axis=1) if rows else np.zeros((len(indices), 0), np.float32)
    return torch.from_numpy(np.ascontiguousarray(p))


#: the train/val/test fractions a datamodule splits trajectories by unless told otherwise
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


def _check_folder(path: str, fractions: tuple[float, ...]) -> None:
    """Refuse a data folder without dataset files (in it, or in each of its ``train/``,
    ``valid/`` and ``test/`` folders), and ``fractions`` other than the default for a folder
    split into those (The Well's layout), whose subfolders are the split: the user asked for
    a split the data would not get."""
    from pathlib import Path

    from pdesurrogate.datasets.file_set import dataset_files, split_folders

    splits = split_folders(Path(path))
    for folder in splits or [Path(path)]:
        dataset_files(folder)
    if splits is not None and not np.allclose(fractions, DEFAULT_FRACTIONS):
        raise ValueError(f"{path!r} holds train/, valid/ and test/ folders, which are its "
                         f"train/validation/test split; fractions {list(fractions)} cannot "
                         "apply: leave fractions out, or pass a folder of files (or one file) "
                         "to split by fractions")


class FieldDataModule(LightningDataModule):
    """Loaders over one dataset file, or a folder of them, split by trajectory.

    Args:
        path: dataset file (ours, PDEBench or The Well; see :func:`open_dataset`), or a folder
            of them read as one dataset (:mod:`~pdesurrogate.datasets.file_set`: its
            ``*.nc``, ``*.h5``, ``*.hdf5`` and ``*.hdf`` files, which must agree in times,
            grid, channels and parameter names). A folder holding ``train/``, ``valid/`` (or
            ``val/``) and ``test/`` subfolders (The Well's ``data/`` folder) is split by them:
            ``fractions`` and ``seed`` are not used, and fractions other than the default are
            refused.
        batch_size: samples per batch (train: pairs/windows; val/test: trajectories).
        k: the model steps ``k`` saved times at once (``dt = t_k - t_0``).
        fractions: train/val/test fractions of the trajectories (sum to 1).
        seed: seed of the split (an int >= 0; independent of ``seed_everything``, so a run with
            another seed trains on the same split).
        num_workers: DataLoader workers (each opens the file itself). The training loader's
            stay alive between epochs; the validation and test loaders', which run briefly once
            an epoch, end after each pass instead of holding a process's memory all training.
        pin_memory: the loaders copy batches into page-locked memory, which makes host-to-GPU
            copies faster (and asynchronous with ``non_blocking``); no use on CPU, where torch
            warns and ignores it.
        max_train_trajectories: use only the first this many training trajectories (None: all).
        rollout_steps: ``R``; training items are windows of ``R + 1`` frames (1: pairs).

    ``fractions`` that are not three non-negative numbers summing to 1 are refused at
    construction. ``setup`` raises ``ValueError`` naming the file when it holds a steady problem
    (one saved time), when a split with a positive fraction is empty, or when the trainer's model
    cannot take the file's channels, grid or parameters; it warns once when the file has
    parameters and the model takes none (``n_params=0``, a parameter-blind baseline): they are
    ignored.

    After ``setup``: ``stats`` (:class:`ChannelStats` of the training split, computed on first
    access; it refuses non-finite training data), ``data_info``
    (``pde``, ``grid_shape``, ``grid_names``: the spatial axes' names in the states' order,
    ``grid_extent``: each axis's first and last coordinates and spacing
    (:func:`~pdesurrogate.datasets.grid_extent.grid_extent`),
    ``channel_names``, ``param_names``, ``k``, ``dt``, ``source``;
    ``dt`` is None if the saved times are not evenly spaced, else the shortest decimal within
    the rounding error of the saved times: 0.05, not 0.049999999999999996, for times
    [0, 0.05, 0.1, 0.15]; ``source`` identifies the data and its split: ``path`` (absolute),
    ``fingerprint`` (:func:`~pdesurrogate.datasets.fingerprint.fingerprint`),
    ``n_trajectories``, ``fractions``, ``seed``, ``max_train_trajectories``),
    ``train_indices``/``val_indices``/``test_indices``. The module saves ``data_info`` in its
    checkpoints, and :func:`~pdesurrogate.training.data_source.check_source` compares it with
    the data a later ``test``, ``validate`` or resumed ``fit`` reads.
    """

    def __init__(self, path: str, batch_size: int = 32, k: int = 1,
                 fractions: tuple[float, float, float] = DEFAULT_FRACTIONS, seed: int = 0,
                 num_workers: int = 0, max_train_trajectories: int | None = None,
                 rollout_steps: int = 1, pin_memory: bool = False):
        super().__init__()
        # the split's seed too: numpy's own error for -1 ("expected non-negative integer") came
        # from setup, naming no argument, after the loggers had made the run folder
        for name, v, low in (("batch_size", batch_size, 1), ("k", k, 1), ("seed", seed, 0),
                             ("num_workers", num_workers, 0), ("rollout_steps", rollout_steps, 1)):
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
        if max_train_trajectories is not None and (
                isinstance(max_train_trajectories, bool)
                or not isinstance(max_train_trajectories, int) or max_train_trajectories < 1):
            raise ValueError(f"max_train_trajectories must be None or an int >= 1, got "
                             f"{max_train_trajectories!r}")
        if not isinstance(pin_memory, bool):
            raise ValueError(f"pin_memory must be a bool, got {pin_memory!r}")
        if len(fractions) != 3:
            raise ValueError(f"fractions must be (train, val, test), got {fractions!r}")
        check_fractions(fractions)  # here, not first in trainer.fit after the Trainer's banner
        self.path, self.batch_size, self.k = str(path), batch_size, k
        # here, not in setup: by then the loggers have made an empty run folder
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"dataset file {self.path!r} does not exist (make one with "
                                    "`pdesurrogate generate`; see its --help)")
        if os.path.isdir(self.path):
            _check_folder(self.path, tuple(fractions))
        self.fractions, self.seed, self.num_workers = tuple(fractions), seed, num_workers
        self.max_train_trajectories, self.rollout_steps = max_train_trajectories, rollout_steps
        self.pin_memory = pin_memory
        self.save_hyperparameters()
        self.data: FieldData | None = None
        self._stats: ChannelStats | None = None
        self.data_info: dict | None = None
        # the training order's seed and where a resumed fit's first epoch starts in it
        # (state_dict: both travel in the checkpoint)
        self._shuffle_seed: int | None = None
        self._resume_at: tuple[int, int | None, int] = (0, 0, 0)  # epoch, items, batches

    @property
    def stats(self) -> ChannelStats | None:
        """Normalisation statistics of the training split; None before ``setup``. Computed on
        first access (one pass over the training trajectories, which refuses NaN or Inf in
        them) and kept: a module with statistics of its own (restored from a checkpoint, or
        trained with them) never asks. Under DDP every process reads its part of the pass and
        all get the same statistics (:meth:`_rank_share`), so the first access is collective."""
        if self._stats is None and self.data is not None:
            self._stats = compute_stats(self.data, self.train_indices,
                                        progress=self._show_progress(),
                                        share=self._rank_share())
        return self._stats

    def _rank_share(self) -> RankShare | None:
        """The trainer's processes, between which a whole-file pass is split
        (:func:`~pdesurrogate.datasets.rank_share.shared_pass`): under DDP (or any strategy
        over a ``torch.distributed`` process group of the trainer's world size), where each
        process would otherwise read the whole pass itself. None in one process, without a
        trainer, or before the process group exists (the pass is then this process's alone).

        Under DDP the first access to :attr:`stats` and :meth:`setup` are thus collective:
        every process makes them, as Lightning's hooks do (module ``setup``, ``on_*_start``);
        one process alone would wait for the others."""
        trainer = self.trainer
        world = int(getattr(trainer, "world_size", 1) or 1) if trainer is not None else 1
        if world < 2 or not dist.is_available() or not dist.is_initialized() \
                or dist.get_world_size() != world:
            return None
        rank = dist.get_rank()

        def gather(obj):
            got = [None] * world
            dist.all_gather_object(got, obj)
            return got

        return RankShare(rank, world, gather)

    def _show_progress(self) -> bool:
        """Whether a long pass over the file shows progress: on global rank 0 of a trainer
        whose progress bar is on (every rank would print its own), or without a trainer."""
        trainer = self.trainer
        if trainer is None:
            return True
        return bool(getattr(trainer, "is_global_zero", True)) \
            and getattr(trainer, "progress_bar_callback", None) is not None

    def setup(self, stage: str | None = None) -> None:
        """Open the file and split it (once); for a fit, forget the training order of an
        earlier fit of this object: a fresh fit takes its run's seed (``run_seed``) as a new
        module would, and a resumed one the checkpoint's (Lightning restores the checkpoint,
        :meth:`load_state_dict`, after this hook)."""
        if self.data is None:  # once: the split does not change
            self._setup_once()
        if stage == "fit":
            self._shuffle_seed = None
            self._resume_at = (0, 0, 0)
        self._check_splits(stage)

    def _setup_once(self) -> None:
        # a fit's rank 0 with its progress bar on; without a trainer, open_dataset's own rule
        data = open_dataset(self.path,
                            progress=None if self.trainer is None else self._show_progress())
        t = data.u.shape[1]
        span = self.k * self.rollout_steps
        if t == 1:
            raise ValueError(f"{self.path!r} holds a steady problem ({data.pde}: one saved time "
                             "per sample), which next-step training cannot use: it needs "
                             f"trajectories of at least k * rollout_steps + 1 = {span + 1} "
                             "saved times; train its map from input to target channels "
                             "with pdesurrogate.training.SteadyDataModule and SteadyModule")
        if span >= t:
            raise ValueError(f"{self.path!r} has {t} saved times; k * rollout_steps = "
                             f"{span} must be smaller")
        self._check_model(data)
        self._split(data, "trajectories")
        times = np.asarray(data.times[:: self.k], dtype=np.float64)
        steps = np.diff(times)
        dt = float(times[-1] - times[0]) / steps.size if steps.size else 0.0
        tol = 1e-4 * abs(dt)
        single = np.array_equal(times, times.astype(np.float32))
        if single:
            # times stored as float32 (PDEBench, The Well) vary by a few float32 ulps of the
            # largest time, and must still count as evenly spaced
            tol += 4 * np.finfo(np.float32).eps * float(np.abs(times).max())
        uniform = steps.size > 0 and dt > 0 and bool(np.all(np.abs(steps - dt) <= tol))
        if uniform and not np.all(steps == dt):
            dt = _shortest_within(dt, np.finfo(np.float32 if single else np.float64).eps
                                  * float(np.abs(times).max()) / steps.size)
        self.data_info = {
            "pde": data.pde,
            "grid_shape": [int(n) for n in data.u.shape[3:]],
            "grid_names": [str(g) for g in data.grid_names],
            EXTENT_KEY: grid_extent(data.grid),
            "channel_names": list(data.channel_names),
            "param_names": list(data.params),
            "k": self.k,
            "dt": dt if uniform else None,
            "source": self._source_record(data),
        }
        self.data = data
        self._checked_splits: set[str] = set()

    def _split(self, data: FieldData, items: str) -> None:
        """Set ``train_indices``, ``val_indices``, ``test_indices`` (by ``items`` of ``data``:
        trajectories, or a steady file's samples); an empty training split is a ValueError
        naming the file and the split's sizes."""
        sizes = getattr(data, "split_sizes", None)
        if sizes is not None:  # a folder's train/, valid/ and test/ (its files in that order)
            ends = np.cumsum([0, *sizes])
            train, val, test = (np.arange(a, b) for a, b in zip(ends[:-1], ends[1:], strict=True))
        else:
            train, val, test = split_indices(len(data), self.fractions, self.seed)
        if self.max_train_trajectories is not None:
            train = train[: self.max_train_trajectories]
        if len(train) == 0:
            raise ValueError(f"{self.path!r}: the training split is empty ({len(data)} "
                             f"{items}, fractions {list(self.fractions)}, train/val/test "
                             f"= {len(train)}/{len(val)}/{len(test)})")
        self.train_indices, self.val_indices, self.test_indices = train, val, test

    def _source_record(self, data: FieldData) -> dict:
        """``data_info["source"]``: the file and the split a checkpoint was trained on (its
        path, content fingerprint, size and the split's settings)."""
        record = {
            "path": os.path.abspath(self.path),
            "fingerprint": fingerprint(data),
            "n_trajectories": len(data),
            "fractions": [float(f) for f in self.fractions],
            "seed": int(self.seed),
            "max_train_trajectories": self.max_train_trajectories,
        }
        sizes = getattr(data, "split_sizes", None)
        if sizes is not None:
            record[SPLIT_FOLDERS_KEY] = [int(k) for k in sizes]
        return record

    def _check_splits(self, stage: str | None) -> None:
        """Refuse an empty or non-finite validation or test split, each the first time a stage
        reads it: ``fit`` never reads the test split, nor ``test`` the validation one. Without
        this, an empty split (a fraction > 0 rounded to no trajectories) only shows as
        Lightning's "Total length of DataLoader is zero", and NaN as NaN metrics."""
        splits = {"validation": (self.val_indices, self.fractions[1]),
                  "test": (self.test_indices, self.fractions[2])}
        wanted = {"fit": ("validation",), "validate": ("validation",), "test": ("test",),
                  "predict": ("test",)}.get(
            stage or "", ("validation", "test"))
        todo = [name for name in wanted if name not in self._checked_splits]
        empty = [name for name in todo if len(splits[name][0]) == 0 and splits[name][1] > 0]
        if empty:
            what = " and ".join(empty) + (" splits" if len(empty) > 1 else " split")
            sizes = f"{len(self.train_indices)}/{len(self.val_indices)}/{len(self.test_indices)}"
            raise ValueError(f"{self.path!r}: the {what} would be empty: "
                             f"{len(self.data)} trajectories with fractions "
                             f"{list(self.fractions)} give train/val/test = {sizes}; use a file "
                             "with more trajectories or larger fractions for it (a fraction of 0 "
                             "turns a split off)")
        for name in todo:
            self._check_finite(self.data, name, splits[name][0])
            self._checked_splits.add(name)
        if stage == "fit" and "validation ranks" not in self._checked_splits \
                and self._sanity_check_validates():
            # the sanity check's loader, built now: its refusal under DDP (fewer validation
            # trajectories than processes, a limit_val_batches leaving a rank none) then comes
            # before the statistics pass and the model summary, not after them
            self._checked_splits.add("validation ranks")
            self.val_dataloader()
        if stage == "fit" and "empty test warned" not in self._checked_splits and not len(
                self.test_indices) and self.fractions[2] > 0:
            # else found by `pdesurrogate test` only, once the fit is over
            self._checked_splits.add("empty test warned")
            warnings.warn(f"{self.path!r}: the test split is empty ({len(self.data)} "
                          f"trajectories with fractions {list(self.fractions)} give train/val/"
                          f"test = {len(self.train_indices)}/{len(self.val_indices)}/0), so "
                          "`pdesurrogate test` of this run will refuse it; use a file with more "
                          "trajectories or a larger test fraction", UserWarning, stacklevel=2)

    def _sanity_check_validates(self) -> bool:
        """Whether the trainer runs several processes and its sanity check will build the
        validation loader (``num_sanity_val_steps`` not 0, ``limit_val_batches`` not 0);
        elsewhere the loader may never be built, and is not built early."""
        trainer = self.trainer
        if trainer is None or int(getattr(trainer, "world_size", 1) or 1) < 2:
            return False
        return bool(getattr(trainer, "num_sanity_val_steps", 0)) \
            and getattr(trainer, "limit_val_batches", 1.0) != 0

    def _check_finite(self, data: FieldData, split: str, indices) -> None:
        """Refuse NaN or Inf in the ``split`` trajectories ``indices``: its metrics would be NaN
        and training would otherwise go on as if nothing were wrong. Reads each trajectory of
        the split once (on top of the training split that the statistics read), showing its
        progress when that is long (:meth:`_show_progress`)."""
        indices = np.asarray(indices, dtype=np.int64)
        for k, v in data.params.items():
            bad = np.flatnonzero(~np.isfinite(np.asarray(v)[indices]))
            if bad.size:
                raise ValueError(f"{self.path!r}: parameter {k!r} is NaN or infinite in "
                                 f"trajectory {int(indices[bad[0]])} of the {split} split: fix "
                                 "or regenerate the file")
        on = self._show_progress() and long_pass(data, len(indices))
        share = self._rank_share()
        mine = len(indices) if share is None else len(share.part(indices))
        with progress_bar(on, f"checking the {split} split", mine) as advance:
            shared_pass(share, indices,
                        lambda part: self._first_non_finite(data, split, part, advance))

    def _first_non_finite(self, data: FieldData, split: str, indices: np.ndarray,
                          advance: Callable[[int], None]) -> None:
        """``ValueError`` at the first trajectory of ``indices`` (in order) holding NaN or Inf,
        naming it and the first time index where it does."""
        for i, t0, block in trajectory_blocks(data, indices, advance):
            if not np.isfinite(block).all():
                bad = ~np.isfinite(block.reshape(block.shape[0], -1))
                t = t0 + int(np.flatnonzero(bad.any(axis=1))[0])
                raise ValueError(f"{self.path!r} holds non-finite values (NaN or Inf) in "
                                 f"{trajectory_name(data, i)} of the {split} split, first at "
                                 "time index "
                                 f"{t} (t = {data.times[t]:g}); its {split} errors would be "
                                 "NaN: fix or regenerate the file")
            del block  # else held through the next read: two blocks' memory, not one

    def _check_model(self, data: FieldData) -> None:
        """Fail before the first batch when the trainer's model cannot take ``data``, as its
        ``in_channels``, ``dim`` and ``n_params`` describe its input: one of this package's
        models, or one of the user's own code that follows the models' contract (integer
        ``dim``, ``in_channels``, ``out_channels`` and ``n_params``; see
        :mod:`pdesurrogate.models`). A model without them is not checked."""
        model = self._described_model()
        if model is None:
            return
        c, grid, p = data.u.shape[2], data.u.shape[3:], len(data.params)
        dim, c_in, n_p = (getattr(model, a, None) for a in ("dim", "in_channels", "n_params"))
        if (dim is None or dim == len(grid)) and (c_in is None or c_in == c) \
                and not (n_p and n_p != p):
            try:
                check_grid(model, grid)
            except ValueError as e:
                # else it fails at the first forward: after the model summary, the statistics
                # pass over the training split and the sanity check's batch
                raise ValueError(f"{self.path!r} holds states on the grid {tuple(grid)}, which "
                                 f"the model cannot take: {e}; configure the model for this "
                                 "grid or train on a file that matches it") from None
            if n_p == 0 and p:
                # a parameter-blind model is a legitimate baseline, but not silently
                warnings.warn(f"{self.path!r} has parameters {list(data.params)}; the model "
                              f"({type(model).__name__}) takes none (n_params=0): they are "
                              "ignored", UserWarning, stacklevel=2)
            return
        # a model whose number of spatial axes is fixed says so (grid_dims; default: any)
        dims = getattr(model, "grid_dims", None)
        if dims is not None and len(grid) not in dims:
            n, takes = len(grid), " or ".join(f"{d}-D" for d in dims)
            why = getattr(model, "grid_dims_reason", None)
            raise ValueError(
                f"{self.path!r} holds states on a {n}-D grid {tuple(grid)}, but the model "
                f"({type(model).__name__}) is {takes} only ({why + '; ' if why else ''}"
                f"{n}-D fields are not supported): train it on a {takes} file, or for a "
                f"{n}-D grid use an FNO with {('one', 'two', 'three')[n - 1]} n_modes")
        want = " ".join(w for w in (c_in is not None and f"{c_in} channel(s)",
                                    dim is not None and f"on a {dim}-D grid",
                                    bool(n_p) and f"with {n_p} parameter(s)") if w)
        # an FNO's axes are its n_modes entries, which is what a user edits
        axes = ("n_modes, one entry per spatial axis" if hasattr(model, "n_modes")
                else "spatial axes")
        raise ValueError(
            f"{self.path!r} holds {c} channel(s) {list(data.channel_names)} on a {len(grid)}-D "
            f"grid {tuple(grid)} with {p} parameter(s) {list(data.params)}, but the model "
            f"({type(model).__name__}) takes {want}: configure the model for this file (its "
            f"in_channels, {axes}, n_params) or train on a file that matches it")

    def _described_model(self) -> nn.Module | None:
        """The trainer's model when its attributes (``in_channels``, ``dim``, ``n_params``, ...)
        describe its input, which :meth:`_check_model` then checks against the file; None
        without a trainer or for a model that does not follow the models' contract."""
        module = getattr(self.trainer, "lightning_module", None) if self.trainer else None
        model = getattr(module, "model", None)
        if not isinstance(model, nn.Module):
            return None
        # an own class's attributes describe its input only when it exposes the whole
        # contract: a lone "dim" may be a hidden width
        if model_name(model) is None and not all(
                isinstance(getattr(model, a, None), int)
                and not isinstance(getattr(model, a), bool) for a in CONTRACT_ATTRIBUTES):
            return None
        return model

    def train_dataloader(self) -> DataLoader:
        if self.rollout_steps == 1:
            ds = OneStepPairs(self.data, k=self.k, indices=self.train_indices)
        else:
            ds = RolloutWindows(self.data, self.k, self.rollout_steps, self.train_indices)
        return self._train_loader(ds)

    def val_dataloader(self) -> DataLoader:
        return self._evaluation_loader(self.val_indices, "validation")

    def test_dataloader(self) -> DataLoader:
        return self._evaluation_loader(self.test_indices, "test")

    def predict_dataloader(self) -> DataLoader:
        """``trainer.predict``: the test split's whole trajectories, as :meth:`test_dataloader`
        (our modules' ``predict_step`` rolls each out from its first frame)."""
        return self._evaluation_loader(self.test_indices, "test")

    def _evaluation_loader(self, indices, split: str) -> DataLoader:
        return evaluation_loader(StridedTrajectories(self.data, self.k, indices),
                                 self.batch_size, self.trainer, split, self.num_workers,
                                 self.pin_memory)

    def _train_loader(self, ds: Dataset) -> DataLoader:
        """The training loader: each epoch a permutation seeded by (the run's seed, epoch),
        this rank's share of it under DDP (:class:`EpochShuffle`), never drawn from torch's
        global generator; a fit resumed in the middle of an epoch starts after the batches
        its checkpoint had trained. Its own generator seeds the workers, which ignore Ctrl-C
        (:class:`~pdesurrogate.training.ctrl_c_loader.CtrlCLoader`)."""
        trainer = self.trainer
        world = int(getattr(trainer, "world_size", 1) or 1) if trainer is not None else 1
        rank = int(getattr(trainer, "global_rank", 0) or 0) if trainer is not None else 0
        if self._shuffle_seed is None:
            self._shuffle_seed = run_seed(world)
        epoch, items, batches = self._resume_at
        # a reloaded loader (reload_dataloaders_every_n_epochs) skips none
        self._resume_at = (0, 0, 0)
        if items is None:  # a checkpoint that counted batches: same batch size and world
            items = batches * self.batch_size * world
        sampler = EpochShuffle(ds, self._shuffle_seed, world, rank, epoch=epoch,
                               skip=rank_skip(items, world, rank))
        return CtrlCLoader(ds, batch_size=self.batch_size, sampler=sampler,
                           num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
                           pin_memory=self.pin_memory,
                           generator=torch.Generator().manual_seed(self._shuffle_seed))

    def state_dict(self) -> dict:
        """What a checkpoint keeps of the training order: its seed and where it stopped
        (:func:`resume_position`); plain ints, so the checkpoint loads weights-only."""
        if self._shuffle_seed is None:
            return {}
        epoch, done = resume_position(self.trainer)
        world = int(getattr(self.trainer, "world_size", 1) or 1)
        # positions of the epoch's permutation trained (every rank took done batches), not
        # batches: a resume with another batch size or device count skips the same items
        return {"shuffle_seed": self._shuffle_seed, "resume_epoch": epoch,
                "resume_items": done * self.batch_size * world}

    def load_state_dict(self, state: dict) -> None:
        """Continue the checkpoint's training order (Lightning calls this before it asks for
        the training loader); a checkpoint written before the order was saved has none."""
        if state.get("shuffle_seed") is not None:
            self._shuffle_seed = int(state["shuffle_seed"])
            items = state.get("resume_items")
            self._resume_at = (int(state.get("resume_epoch", 0)),
                               None if items is None else int(items),
                               int(state.get("resume_batches", 0)))
