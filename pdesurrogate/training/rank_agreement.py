"""Flags that every rank of a DDP fit agrees on: whether any rank raised each one.

The signal callbacks (:mod:`.stop_checkpoint`, :mod:`.deferred_signals`) act on a signal only at
points every rank reaches together, once the ranks agree that one of them received it. The
agreement is a MAX all-reduce of a small CPU tensor in a gloo group of its own: on NCCL's
default group the tensor would live on the device, and reading it back would synchronise the
host with the device after every batch.
"""

from __future__ import annotations

import torch


class RankAgreement:
    """OR of a few boolean flags over the ranks of a DDP fit; in one process, the flags.

    :meth:`open` when training starts (under DDP a collective: every rank calls it),
    :meth:`any_rank` at points every rank reaches in the same order, :meth:`close` at the end.
    """

    def __init__(self):
        self._group = None  # the ranks' gloo group (None: one process)

    @property
    def distributed(self) -> bool:
        """Whether :meth:`any_rank` is a collective (a DDP fit, between open and close)."""
        return self._group is not None

    def open(self, trainer) -> None:
        if (trainer.world_size > 1 and torch.distributed.is_available()
                and torch.distributed.is_initialized() and self._group is None):
            self._group = torch.distributed.new_group(backend="gloo")

    def any_rank(self, flags: list[bool]) -> list[bool]:
        """Each flag OR-ed over the ranks (the same number of flags on every rank)."""
        if self._group is None:
            return [bool(f) for f in flags]
        t = torch.tensor([int(bool(f)) for f in flags])
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX, group=self._group)
        return [bool(v) for v in t.tolist()]

    def close(self) -> None:
        if self._group is not None and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group(self._group)
        self._group = None
