"""The PDEBench-style errors of :mod:`pdesurrogate.metrics` for the trajectories of a test.

``pdesurrogate test`` logs, beside ``test/rel_l2``, each of :data:`pdesurrogate.metrics.NAMES`
(``test/rmse``, ``test/nrmse``, ``test/vrmse``, ``test/max_error``, ``test/crmse``,
``test/brmse``, ``test/frmse_low``, ``test/frmse_mid``, ``test/frmse_high``; the names of
``predict``'s ``<name>_vs_truth`` attributes; ``All2AllModule`` logs those of its autoregressive
rollout as ``test/<name>_ar``, beside its ``test/rel_l2_ar``). Each is computed per trajectory,
step and channel by :func:`~pdesurrogate.metrics.trajectory_errors` (in float64, on the host),
averaged over channels, then over the steps ``1..S`` of the rollout (the true first frame is
left out, as for ``test/rel_l2``), then over the test split's trajectories; ``max_error`` is
instead the maximum over channels, steps and trajectories. The trajectory means are sums and
counts added over the ranks (:class:`~pdesurrogate.training.evaluation.TrajectoryMeans`) and the
maximum the maximum over the ranks, so every trajectory counts once whatever the batch size or
number of processes. These are the numbers ``pdesurrogate predict`` prints in its table's
``mean`` column for the same model and trajectories (it averages over trajectories first, then
over steps: the same value up to rounding).

The rollout and the truth are in physical units (the modules' rollouts denormalise every
step), so the errors are too, as ``predict``'s are. A trajectory whose rollout (or truth) is not
finite gets NaN for every error, which the mean (and the maximum) then carries, as
``test/rel_l2`` would. Validation does not compute them: they take a host copy and one FFT per
trajectory and step.
"""

from __future__ import annotations

import numpy as np
import torch

from pdesurrogate.metrics import NAMES, trajectory_errors

from .losses import precise_dtype


def rollout_errors(pred: torch.Tensor, truth: torch.Tensor) -> dict[str, torch.Tensor]:
    """``{name: (B,)}`` float64 on the host for each of :data:`~pdesurrogate.metrics.NAMES`:
    one trajectory's error over the steps ``1..S`` (the mean over them; ``max_error``: the
    maximum), from ``pred`` and ``truth`` of shape ``(B, S + 1, C, *grid)`` (frame 0 the true
    initial state, not scored). NaN for a trajectory with a NaN or inf in either."""
    if pred.shape != truth.shape:
        raise ValueError(f"pred and truth must have the same shape (B, S + 1, C, *grid), got "
                         f"{tuple(pred.shape)} and {tuple(truth.shape)}")
    if pred.ndim < 4 or pred.shape[1] < 2:
        raise ValueError(f"expected (B, S + 1, C, *grid) with S >= 1 steps and a grid axis, got "
                         f"shape {tuple(pred.shape)}")
    p, t = _host(pred[:, 1:]), _host(truth[:, 1:])
    b = p.shape[0]
    finite = (np.isfinite(p).reshape(b, -1).all(axis=1)
              & np.isfinite(t).reshape(b, -1).all(axis=1))
    out = {name: np.full(b, np.nan) for name in NAMES}
    if finite.any():
        errs = trajectory_errors(p[finite], t[finite])
        for name in NAMES:
            reduce = np.max if name == "max_error" else np.mean
            out[name][finite] = reduce(errs[name], axis=1)
    return {name: torch.from_numpy(v) for name, v in out.items()}


def add_rollout_errors(means, prefix: str, pred: torch.Tensor, truth: torch.Tensor,
                       suffix: str = "") -> None:
    """Add :func:`rollout_errors` of a batch to ``means`` (a
    :class:`~pdesurrogate.training.evaluation.TrajectoryMeans`) as ``{prefix}/{name}{suffix}``:
    ``max_error`` as a maximum, the others as means over trajectories."""
    # on the batch's device, as the other keys' sums, which TrajectoryMeans stacks together
    dtype = precise_dtype(truth.device)
    for name, values in rollout_errors(pred, truth).items():
        means.add(f"{prefix}/{name}{suffix}", values.to(device=truth.device, dtype=dtype),
                  reduce="max" if name == "max_error" else "mean")


def _host(x: torch.Tensor) -> np.ndarray:
    """``x`` as a numpy array on the host; half precisions (numpy has no bfloat16) as float32,
    the dtype ``predict``'s rollouts have."""
    x = x.detach()
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    return x.cpu().numpy()
