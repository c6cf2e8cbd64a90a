"""``SteadyDataModule``: loaders of (input channels, target channels) of steady problems.

A steady problem has no time: a file of it holds one saved time per sample, whose channels
are a coefficient and the solution it gives, e.g. Darcy flow ``-div(a grad u) = 1``
(``pdesurrogate generate --config configs/data/darcy2d.yaml``: channels ``[a, u]``; PDEBench's
``2D_DarcyFlow_*`` files: ``[nu, u]``). The learning task is the operator from some channels to
the others (``a -> u``, the FNO paper's section 5.2), not a step in time, so this is its own
datamodule beside :class:`~pdesurrogate.training.FieldDataModule` (whose next-step windows
need two or more saved times); it is one (a subclass), and keeps its split, statistics, finite
checks, training order, resume position and ``data_info`` record: only what a sample is
differs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from pdesurrogate.datasets import FieldData, open_dataset
from pdesurrogate.datasets.grid_extent import EXTENT_KEY, grid_extent
from pdesurrogate.models._checks import check_grid

from .datamodule import DEFAULT_FRACTIONS, FieldDataModule, _param_rows
from .evaluation import evaluation_loader
from .next_step import keep_own_hparams

#: the input and target channels of the steady problems whose files declare them by their
#: PDE and channel names: ours (``darcy2d``, :class:`~pdesurrogate.solvers.Darcy2D`) and
#: PDEBench's Darcy flow (its reader names the coefficient ``nu``; its PDE name is the file's
#: stem without parameters and split: ``2D_DarcyFlow`` for ``2D_DarcyFlow_beta1.0_Train``)
DECLARED_MAPS: dict[tuple[str, tuple[str, ...]], tuple[list[str], list[str]]] = {
    ("darcy2d", ("a", "u")): (["a"], ["u"]),
    ("2D_DarcyFlow", ("nu", "u")): (["nu"], ["u"]),
}


class SteadyPairs(Dataset):
    """The samples ``indices`` of a steady file as input/target pairs.

    Item: ``input`` ``(C_in, *grid)`` (the channels ``inputs``, positions in the file's
    channels), ``target`` ``(C_out, *grid)`` (``targets``), ``params`` ``(P,)`` in
    ``data.params`` order; physical units.
    """

    def __init__(self, data: FieldData, inputs: Sequence[int], targets: Sequence[int],
                 indices: Sequence[int]):
        self.data = data
        self.inputs, self.targets = list(inputs), list(targets)
        self.indices = np.asarray(indices, dtype=np.int64)
        self._params = _param_rows(data, self.indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} samples")
        fields = np.asarray(self.data.u[int(self.indices[i]), 0])
        return {"input": torch.from_numpy(np.ascontiguousarray(fields[self.inputs])),
                "target": torch.from_numpy(np.ascontiguousarray(fields[self.targets])),
                "params": self._params[i]}


def _names_arg(name: str, v) -> list[str] | None:
    if v is None:
        return None
    if isinstance(v, str) or not isinstance(v, Sequence) or not v \
            or not all(isinstance(s, str) and s for s in v) or len(set(v)) != len(v):
        raise ValueError(f"{name} must be None or a non-empty list of distinct channel names, "
                         f"got {v!r}")
    return list(v)


class SteadyDataModule(FieldDataModule):
    """Loaders over one file of a steady problem (one saved time per sample), or a folder of
    them, split by sample.

    Args:
        path: dataset file (ours, or PDEBench's Darcy flow; see :func:`open_dataset`), or a
            folder of them read as one (split by its ``train/``, ``valid/`` and ``test/``
            subfolders where it has them), as for :class:`FieldDataModule`.
        inputs: the channels the model takes, by name (None: the file's declared map,
            :data:`DECLARED_MAPS`; ``[a]`` for ``darcy2d``).
        targets: the channels it predicts, by name (None: as ``inputs``; ``[u]``).
        batch_size: samples per batch.
        fractions: train/val/test fractions of the samples (sum to 1), split as
            :class:`FieldDataModule` splits trajectories
            (:func:`~pdesurrogate.datasets.torch_datasets.split_indices`).
        seed: seed of the split (an int >= 0).
        num_workers, pin_memory: as for :class:`FieldDataModule`.
        max_train_samples: use only the first this many training samples (None: all).

    Batches: ``input`` ``(B, C_in, *grid)``, ``target`` ``(B, C_out, *grid)``, ``params``
    ``(B, P)``, physical units (the module normalises). ``stats`` are
    :class:`~pdesurrogate.datasets.ChannelStats` of every channel of the file over the training
    samples; ``data_info`` is :class:`FieldDataModule`'s with ``inputs`` and ``targets`` (their
    names), ``k`` 1 and ``dt`` None. ``setup`` raises ValueError naming the file for a file of
    two or more saved times (train those with :class:`FieldDataModule`), for a channel name
    the file lacks (naming the channels it has), for a file without a declared map when
    ``inputs`` or ``targets`` are not given, and for a model that cannot take the inputs.
    """

    def __init__(self, path: str, inputs: list[str] | None = None,
                 targets: list[str] | None = None, batch_size: int = 32,
                 fractions: tuple[float, float, float] = DEFAULT_FRACTIONS, seed: int = 0,
                 num_workers: int = 0, max_train_samples: int | None = None,
                 pin_memory: bool = False):
        self.inputs, self.targets = _names_arg("inputs", inputs), _names_arg("targets", targets)
        super().__init__(path, batch_size=batch_size, k=1, fractions=fractions, seed=seed,
                         num_workers=num_workers, max_train_trajectories=max_train_samples,
                         pin_memory=pin_memory)
        self.save_hyperparameters()
        keep_own_hparams(self)
        self.input_index: list[int] = []
        self.target_index: list[int] = []

    def _resolve_channels(self, data: FieldData) -> tuple[list[str], list[str]]:
        """The ``(inputs, targets)`` names: those given, else the file's declared map."""
        names = list(data.channel_names)
        declared = DECLARED_MAPS.get((data.pde, tuple(names)))
        inputs = self.inputs or (declared[0] if declared else None)
        targets = self.targets or (declared[1] if declared else None)
        if inputs is None or targets is None:
            missing = " and ".join(k for k, v in (("inputs", inputs), ("targets", targets))
                                   if v is None)
            raise ValueError(f"{self.path!r} (pde {data.pde!r}, channels {names}) declares no "
                             f"input and target channels: give {missing} (channel names)")
        for key, chosen in (("inputs", inputs), ("targets", targets)):
            for name in chosen:
                if name not in names:
                    raise ValueError(f"{self.path!r} has no channel {name!r} (given in {key}); "
                                     f"its channels are {names}")
        return list(inputs), list(targets)

    def _setup_once(self) -> None:
        data = open_dataset(self.path,
                            progress=None if self.trainer is None else self._show_progress())
        t = data.u.shape[1]
        if t != 1:
            raise ValueError(f"{self.path!r} holds {t} saved times per trajectory, a "
                             "time-dependent problem: SteadyDataModule maps channels of one "
                             "steady solution per sample; train on it with FieldDataModule "
                             "(next-step) or All2AllDataModule")
        inputs, targets = self._resolve_channels(data)
        names = list(data.channel_names)
        self.input_index = [names.index(n) for n in inputs]
        self.target_index = [names.index(n) for n in targets]
        self._check_model(data)
        self._split(data, "samples")
        self.data_info = {
            "pde": data.pde,
            "grid_shape": [int(n) for n in data.u.shape[3:]],
            "grid_names": [str(g) for g in data.grid_names],
            EXTENT_KEY: grid_extent(data.grid),
            "channel_names": names,
            "param_names": list(data.params),
            "inputs": inputs,
            "targets": targets,
            "k": 1,
            "dt": None,
            "source": self._source_record(data),
        }
        self.data = data
        self._checked_splits = set()

    def _check_model(self, data: FieldData) -> None:
        """Fail before the first batch when the trainer's model cannot take the inputs: its
        ``in_channels``/``out_channels`` against the inputs/targets, its ``dim`` and grid
        against the file's, its ``n_params`` against the file's parameters (a model of the
        user's own code is checked only when it exposes the models' whole contract)."""
        model = self._described_model()
        if model is None:
            return
        grid, p = data.u.shape[3:], len(data.params)
        wants = [("in_channels", len(self.input_index), "input channels"),
                 ("out_channels", len(self.target_index), "target channels"),
                 ("dim", len(grid), "spatial axes")]
        for attr, have, what in wants:
            v = getattr(model, attr, None)
            if v is not None and v != have:
                raise ValueError(
                    f"{self.path!r} gives {have} {what} (channels {list(data.channel_names)}, "
                    f"grid {tuple(grid)}), but the model ({type(model).__name__}) has {attr} = "
                    f"{v}: configure the model for this file or choose other inputs/targets")
        n_p = getattr(model, "n_params", None)
        if n_p and n_p != p:
            raise ValueError(f"{self.path!r} has {p} parameter(s) {list(data.params)}, but the "
                             f"model ({type(model).__name__}) takes n_params = {n_p}")
        try:
            check_grid(model, grid)
        except ValueError as e:
            raise ValueError(f"{self.path!r} holds fields on the grid {tuple(grid)}, which the "
                             f"model cannot take: {e}") from None

    def _pairs(self, indices) -> SteadyPairs:
        return SteadyPairs(self.data, self.input_index, self.target_index, indices)

    def train_dataloader(self) -> DataLoader:
        return self._train_loader(self._pairs(self.train_indices))

    def _evaluation_loader(self, indices, split: str) -> DataLoader:
        return evaluation_loader(self._pairs(indices), self.batch_size, self.trainer, split,
                                 self.num_workers, self.pin_memory)
