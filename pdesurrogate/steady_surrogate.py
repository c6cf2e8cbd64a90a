"""``SteadySurrogate``: a loaded steady map, input channels -> target channels (Darcy flow's
coefficient ``a`` -> pressure ``u``), what :func:`pdesurrogate.load` returns for an export of
``"kind": "steady"`` (:mod:`pdesurrogate.export`).

A :class:`~pdesurrogate.surrogate.Surrogate` in all it checks (grid, channels, parameters and
their training range, finite inputs, devices, numpy in / numpy out): only what one call
computes differs, one map instead of a time step, so it has no rollout.
"""

from __future__ import annotations

from typing import overload

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from pdesurrogate.surrogate import Params, Surrogate, Values


class SteadySurrogate(Surrogate):
    """A steady map: :meth:`predict` takes the inputs ``(B, C_in, *grid)`` (or ``(C_in,
    *grid)``) in physical units, the channels ``inputs`` of the data, and returns the targets
    ``(B, C_out, *grid)`` (``targets``) in physical units, no gradients. Parameters as
    :meth:`Surrogate.predict` takes them (none for a model built with ``n_params=0``).
    :meth:`rollout` and :meth:`iterate` are refused: there are no time steps.
    """

    def __init__(self, model: nn.Module, config: dict):
        super().__init__(model, config)
        names = self._config["channel_names"]
        self.inputs = list(self._config["inputs"])
        self.targets = list(self._config["targets"])
        self._in = [names.index(n) for n in self.inputs]
        self._out_channels = [names.index(n) for n in self.targets]

    @property
    def input_names(self) -> list[str]:
        return list(self.inputs)

    def _scaled(self, v: torch.Tensor, which: list[int]) -> torch.Tensor:
        return self._view(v[which])

    def _norm(self, x: torch.Tensor) -> torch.Tensor:
        if self._u_mean is None:
            return x
        return (x - self._scaled(self._u_mean, self._in)) / self._scaled(self._u_std, self._in)

    def _denorm(self, y: torch.Tensor) -> torch.Tensor:
        if self._u_mean is None:
            return y
        return y * self._scaled(self._u_std, self._out_channels) \
            + self._scaled(self._u_mean, self._out_channels)

    @overload
    def predict(self, x: torch.Tensor, params: Params = None,
                lead_time: Values | None = None, *, any_grid: bool = False) -> torch.Tensor: ...
    @overload
    def predict(self, x: npt.ArrayLike, params: Params = None,
                lead_time: Values | None = None, *, any_grid: bool = False) -> np.ndarray: ...

    @torch.no_grad()
    def predict(self, x: Values, params: Params = None, lead_time: Values | None = None, *,
                any_grid: bool = False) -> torch.Tensor | np.ndarray:
        """The targets of inputs ``x``: ``(B, C_in, *grid)`` -> ``(B, C_out, *grid)``
        (unbatched in, unbatched out). ``lead_time`` is refused (no time); ``any_grid`` as for
        :meth:`Surrogate.predict`."""
        x, is_np, batched, dev, p, _, _ = self._start(x, params, lead_time, "x", any_grid)
        y = self._denorm(self.model(self._norm(x), p))
        want = (x.shape[0], len(self.targets), *x.shape[2:])
        if tuple(y.shape) != want:
            raise ValueError(f"the model returned targets of shape {tuple(y.shape)}, expected "
                             f"{want} (targets {self.targets})")
        return self._out(y, is_np, batched, dev)

    def _no_steps(self, what: str) -> ValueError:
        return ValueError(f"this surrogate is a steady map (inputs {self.inputs} -> targets "
                          f"{self.targets}), which has no time steps to {what}: use "
                          "predict(x) for the targets of inputs x")

    def rollout(self, *args, **kwargs):  # type: ignore[override]
        raise self._no_steps("roll out")

    def iterate(self, *args, **kwargs):  # type: ignore[override]
        raise self._no_steps("iterate")

    def __repr__(self) -> str:
        identity = ", normalization='identity'" if self._config["normalization"] is None else ""
        return (f"SteadySurrogate(model={self._config['model']['class']!r}, "
                f"pde={self._config['pde']!r}, inputs={self.inputs}, targets={self.targets}, "
                f"params={self.param_names}{identity})")
