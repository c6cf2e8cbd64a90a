"""Flags that every rank of a DDP fit agrees on: whether any rank raised each one.

The signal callbacks (:mod:`.stop_checkpoint`, :mod:`.deferred_signals`) act on a signal only at
points every rank reaches together, once the ranks agree that one of them received it. The
agreement is a MAX all-reduce of a small CPU tensor in a gloo group of its own: on NCCL's
default group the tensor would live on the device, and reading it back would synchronise the
host with the device after every batch.

A blocking all-reduce at every training batch cost about 1 ms a batch on two CPU processes
(17 % of a small fit's step, for the two callbacks). So at the points that come once a batch
the reduction runs in the background (``later=True``): the flags given at one point are agreed
at the next, where the ranks act on them, one batch later; the points that end something (an
epoch's training, a validation pass, training) agree at once (``later=False``), and also
complete a reduction still in flight, so that no flag is dropped.
"""

from __future__ import annotations

import torch


class RankAgreement:
    """OR of a few boolean flags over the ranks of a DDP fit; in one process, the flags.

    :meth:`open` when training starts (under DDP a collective: every rank calls it),
    :meth:`any_rank` at points every rank reaches in the same order, with the same ``later`` and
    the same number of flags, :meth:`close` at the end.
    """

    def __init__(self):
        self._group = None  # the ranks' gloo group (None: one process)
        self._in_flight = None  # (work, tensor) of a background reduction not yet read

    @property
    def distributed(self) -> bool:
        """Whether :meth:`any_rank` is a collective (a DDP fit, between open and close)."""
        return self._group is not None

    def open(self, trainer) -> None:
        if (trainer.world_size > 1 and torch.distributed.is_available()
                and torch.distributed.is_initialized() and self._group is None):
            self._group = torch.distributed.new_group(backend="gloo")

    def any_rank(self, flags: list[bool], later: bool = False) -> list[bool]:
        """Each flag OR-ed over the ranks.

        ``later=False``: the ``flags`` of every rank, OR-ed now (a blocking all-reduce), and
        OR-ed with the flags still being reduced from the previous call, if it was ``later``.
        ``later=True``: the flags of the previous call if it was ``later`` (all False if not),
        while these ``flags`` are reduced in the background, for the next call to return.
        In one process: ``flags``, at once, whatever ``later``.
        """
        flags = [bool(f) for f in flags]
        if self._group is None:
            return flags
        before = self._wait()
        t = torch.tensor([int(f) for f in flags])
        if later:
            work = torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX,
                                                group=self._group, async_op=True)
            self._in_flight = (work, t)  # the tensor must live until the reduction is done
            now = [False] * len(flags)
        else:
            torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX, group=self._group)
            now = [bool(v) for v in t.tolist()]
        if before is None:
            return now
        return [a or b for a, b in zip(before, now, strict=True)]

    def _wait(self) -> list[bool] | None:
        """The result of the background reduction (None: there is none)."""
        if self._in_flight is None:
            return None
        work, t = self._in_flight
        self._in_flight = None
        work.wait()
        return [bool(v) for v in t.tolist()]

    def close(self) -> None:
        if self._group is not None and torch.distributed.is_initialized():
            self._wait()  # its flags are dropped: nothing acts after close
            torch.distributed.destroy_process_group(self._group)
        self._group = None
        self._in_flight = None
