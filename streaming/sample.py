"""What travels on the wire and sits in a training buffer.

A :class:`Sample` is one saved state of one simulation: ``fields (C, *grid)``, the simulated
time ``t``, the PDE parameters as named floats, the simulation id and the step index. It has
the same meaning as one ``u(sample, time, ...)`` slice of a dataset file.

Next-step training needs input/target pairs of consecutive saved steps of the same simulation.
They are formed on the trainer (:class:`~pdesurrogate.streaming.receiver.Receiver` with
``pairs=True``) from samples of a committed simulation, so each state crosses the network once;
a :class:`Pair` shares the arrays of its two samples (no copy).

``to_state`` / ``from_state`` turn buffer items into plain python values and torch tensors that
``torch.save`` / ``torch.load(weights_only=True)`` accept, for checkpoints.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, SupportsFloat, Union

import numpy as np
import torch

ArrayLike = Union[np.ndarray, torch.Tensor]


# slots: the receiver makes one per field it receives (hundreds of thousands a second for
# 4 KiB fields), and a __dict__ each was as much again for the allocator and the garbage
# collector
@dataclass(slots=True)
class Sample:
    """One saved state of one simulation.

    Attributes:
        fields: array ``(C, *grid)`` (numpy on the trainer side; numpy or torch when sent).
        t: simulated time of the state (the solver's time unit).
        params: PDE parameters, name -> float (e.g. ``{"beta": 0.4}``).
        sim_id: id of the simulation (scheduler task) it belongs to, >= 0.
        step: index of the saved state within its simulation, >= 0 (0 = initial condition).
    """

    fields: ArrayLike
    t: float
    params: dict[str, float] = field(default_factory=dict)
    sim_id: int = 0
    step: int = 0

    @property
    def nbytes(self) -> int:
        """Bytes held by ``fields``."""
        f = self.fields
        if type(f) is np.ndarray:  # the receiver's arrays, per put: skip torch's isinstance
            return f.nbytes
        if isinstance(f, torch.Tensor):
            return int(f.numel() * f.element_size())
        return int(f.nbytes)

    def to_state(self) -> dict[str, Any]:
        fields = self.fields
        if not isinstance(fields, torch.Tensor):
            fields = torch.from_numpy(np.ascontiguousarray(fields))
        return {"fields": fields, "t": float(self.t), "params": {k: float(v) for k, v in
                self.params.items()}, "sim_id": int(self.sim_id), "step": int(self.step)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Sample:
        fields = state["fields"]
        if isinstance(fields, torch.Tensor):
            fields = fields.numpy()
        return cls(fields=fields, t=float(state["t"]), params=dict(state["params"]),
                   sim_id=int(state["sim_id"]), step=int(state["step"]))


@dataclass(slots=True)
class Pair:
    """Consecutive saved states ``input`` (step k) and ``target`` (step k+1) of one simulation."""

    input: Sample
    target: Sample

    def __post_init__(self) -> None:
        if self.input.sim_id != self.target.sim_id:
            raise ValueError(f"Pair: samples of different simulations "
                             f"({self.input.sim_id} and {self.target.sim_id})")

    @property
    def sim_id(self) -> int:
        return self.input.sim_id

    @property
    def nbytes(self) -> int:
        return self.input.nbytes + self.target.nbytes

    @property
    def dt(self) -> float:
        """Time between input and target."""
        return float(self.target.t - self.input.t)

    def to_state(self) -> dict[str, Any]:
        return {"input": self.input.to_state(), "target": self.target.to_state()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Pair:
        return cls(Sample.from_state(state["input"]), Sample.from_state(state["target"]))


Item = Union[Sample, Pair]


def item_to_state(item: Item) -> dict[str, Any]:
    """Checkpointable form of a buffer item (tagged so :func:`item_from_state` can rebuild it)."""
    if isinstance(item, Pair):
        return {"kind": "pair", **item.to_state()}
    if isinstance(item, Sample):
        return {"kind": "sample", **item.to_state()}
    raise TypeError(f"buffer items must be Sample or Pair, got {type(item).__name__}")


def item_from_state(state: dict[str, Any]) -> Item:
    kind = state.get("kind")
    if kind == "pair":
        return Pair.from_state(state)
    if kind == "sample":
        return Sample.from_state(state)
    raise ValueError(f"buffer item state: kind must be 'sample' or 'pair', got {kind!r}")


def pairs_of(samples: list[Sample]) -> list[Pair]:
    """Pairs of consecutive steps (sorted by ``step``) of one simulation's samples.

    Steps must be consecutive integers (k, k+1); a gap means a sample is missing, and the
    two around it are not paired.
    """
    ordered = sorted(samples, key=lambda s: s.step)
    return [Pair(a, b) for a, b in zip(ordered, ordered[1:], strict=False) if b.step == a.step + 1]


class BadSampleError(ValueError):
    """What a solver's loop gave :class:`~.client.StreamClient` breaks the stream's contract:
    ``open``'s parameters (not a mapping of the run's names to finite numbers), or ``send``'s
    fields (not 1..4 dims ``(C, *grid)`` of float16/32/64, or another shape or dtype than the
    simulation's first sample), step or time. The same mistake would recur in every
    simulation, so :func:`~.client.run_solver_rank` ends the rank with it instead of failing
    and resubmitting simulations. The message names the value and what was expected."""


def check_finite_params(params: Mapping[str, SupportsFloat]) -> dict[str, float]:
    """``params`` (name -> a number: Python, numpy or a one-element tensor) as name -> float,
    or :class:`BadSampleError` naming the parameter unless every value is a finite number."""
    if not isinstance(params, Mapping):
        raise BadSampleError(f"params must be a mapping name -> number, e.g. {{'nu': 0.1}}, "
                             f"got {type(params).__name__} {params!r}")
    out = {}
    for k, v in params.items():
        try:
            x = float(v)
        except (TypeError, ValueError, RuntimeError):
            # a tensor or array of several values, a string, None
            raise BadSampleError(f"parameter {k!r} must be one number, got {v!r}") from None
        if not math.isfinite(x):
            raise BadSampleError(f"parameter {k!r} must be finite, got {x!r}")
        out[str(k)] = x
    return out
