"""A torch ``IterableDataset`` that draws training items from a training buffer.

Each item is a dict of tensors:

* ``"input"``: ``(C, *grid)``, the state at step k (or the only state for single samples);
* ``"target"``: ``(C, *grid)``, the state at step k+1 of the same simulation (pairs only);
* ``"params"``: ``(P,)``, the PDE parameters in ``param_names`` order;
* ``"t"``: scalar, time of the input; ``"dt"``: scalar, target time minus input time (pairs);
* ``"sim_id"``, ``"step"``: scalar int64 tensors.

Iteration ends when the stream has ended and the buffer is drained. With ``sync`` (e.g.
:meth:`Receiver.should_continue <pdesurrogate.streaming.receiver.Receiver.should_continue>`) the
dataset asks all trainer ranks before each group of ``batch_size`` items, so distributed ranks
yield the same number of batches (a last group smaller than ``batch_size`` is not drawn).

With ``collate=True`` the dataset yields whole batches instead: the dict above with a leading
batch axis (what ``default_collate`` makes of ``batch_size`` items), drawn with one
:meth:`~.buffers.TrainingBuffer.get_many` and built with one ``np.stack`` per field instead of
several small tensors per item; use it with ``DataLoader(batch_size=None)``.
This is what online training uses: per-item tensors plus ``default_collate`` cost the training
loop more time between steps than drawing the items (``benchmarks/streaming.py --part b``).

The buffer lives in this process, filled by the receiver thread: use it with
``DataLoader(num_workers=0)`` (workers would get copies of an empty buffer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from .buffers import TrainingBuffer
from .sample import Item, Pair, Sample


def _tensor(a, dtype: torch.dtype) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a.to(dtype)
    return torch.from_numpy(np.ascontiguousarray(a)).to(dtype)


def to_training_item(item: Item, param_names: Sequence[str],
                     dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """The dict of tensors (see module docstring) for one buffer item."""
    first = item.input if isinstance(item, Pair) else item
    if not isinstance(first, Sample):
        raise TypeError(f"buffer items must be Sample or Pair, got {type(item).__name__}")
    try:
        params = [first.params[n] for n in param_names]
    except KeyError as err:
        raise KeyError(f"sample of simulation {first.sim_id} has no parameter {err}; it has "
                       f"{sorted(first.params)}") from None
    out = {
        "input": _tensor(first.fields, dtype),
        "params": torch.tensor(params, dtype=dtype),
        "t": torch.tensor(float(first.t), dtype=dtype),
        "sim_id": torch.tensor(first.sim_id, dtype=torch.int64),
        "step": torch.tensor(first.step, dtype=torch.int64),
    }
    if isinstance(item, Pair):
        out["target"] = _tensor(item.target.fields, dtype)
        out["dt"] = torch.tensor(item.dt, dtype=dtype)
    return out


def collate_items(items: Sequence[Item], param_names: Sequence[str],
                  dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """One batch from buffer items: the dict of :func:`to_training_item` with a leading batch
    axis (equal to ``default_collate`` of the items' dicts). All items must be of one kind
    (all :class:`Pair` or all :class:`Sample`) and have fields of one shape."""
    if not items:
        raise ValueError("collate_items needs at least one item")
    is_pair = isinstance(items[0], Pair)
    firsts = []
    for item in items:
        first = item.input if isinstance(item, Pair) else item
        if not isinstance(first, Sample):
            raise TypeError(f"buffer items must be Sample or Pair, got {type(item).__name__}")
        if isinstance(item, Pair) != is_pair:
            raise TypeError("a batch mixes Pair and Sample items")
        firsts.append(first)
    try:
        params = [[f.params[n] for n in param_names] for f in firsts]
    except KeyError as err:
        bad = next(f for f in firsts if any(n not in f.params for n in param_names))
        raise KeyError(f"sample of simulation {bad.sim_id} has no parameter {err}; it has "
                       f"{sorted(bad.params)}") from None
    out = {
        "input": _stack([f.fields for f in firsts], dtype),
        "params": torch.tensor(params, dtype=dtype),
        "t": torch.tensor([float(f.t) for f in firsts], dtype=dtype),
        "sim_id": torch.tensor([f.sim_id for f in firsts], dtype=torch.int64),
        "step": torch.tensor([f.step for f in firsts], dtype=torch.int64),
    }
    if is_pair:
        out["target"] = _stack([it.target.fields for it in items], dtype)
        out["dt"] = torch.tensor([it.dt for it in items], dtype=dtype)
    return out


def _stack(arrays: list, dtype: torch.dtype) -> torch.Tensor:
    if all(isinstance(a, np.ndarray) for a in arrays):
        return torch.from_numpy(np.stack(arrays)).to(dtype)
    return torch.stack([_tensor(a, dtype) for a in arrays])


class BufferDataset(IterableDataset):
    """Training items drawn from ``buffer`` until the end of the stream.

    Args:
        buffer: the training buffer the receiver fills.
        param_names: order of the values in ``"params"``.
        dtype: floating dtype of the tensors.
        batch_size: group size for ``sync`` (the DataLoader's batch size).
        sync: optional ``sync(n) -> bool`` called before each group of ``batch_size`` items;
            False ends the iteration on every rank.
        collate: yield each group of ``batch_size`` items as one batch
            (:func:`collate_items`; a last group cut short by the end of the stream is yielded
            as a smaller batch); use with ``DataLoader(batch_size=None)``.
    """

    def __init__(self, buffer: TrainingBuffer, param_names: Sequence[str],
                 dtype: torch.dtype = torch.float32, batch_size: int = 1,
                 sync: Callable[[int], bool] | None = None, collate: bool = False):
        super().__init__()
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        if not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating torch dtype, got {dtype}")
        self.buffer, self.param_names, self.dtype = buffer, tuple(param_names), dtype
        self.batch_size, self.sync, self.collate = batch_size, sync, bool(collate)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        if get_worker_info() is not None:
            raise RuntimeError("BufferDataset reads an in-process buffer: use "
                               "DataLoader(num_workers=0)")
        if self.collate:
            yield from self._batches()
            return
        while True:
            if self.sync is not None and not self.sync(self.batch_size):
                return
            for _ in range(self.batch_size if self.sync is not None else 1):
                item = self.buffer.get()
                if item is None:
                    return
                yield to_training_item(item, self.param_names, self.dtype)

    def _batches(self) -> Iterator[dict[str, torch.Tensor]]:
        while True:
            if self.sync is not None and not self.sync(self.batch_size):
                return
            items = self.buffer.get_many(self.batch_size)
            if items:
                yield collate_items(items, self.param_names, self.dtype)
            if len(items) < self.batch_size:
                return
