"""PDE-Refiner (Lippe et al., NeurIPS 2023): a next-step model refined by denoising.

One network ``f(u_prev, estimate, p, k)`` plays two roles, told apart by the step ``k``:

* ``k = 0``: from ``u_prev`` alone (the estimate is zeros) predict the next state ``u``;
* ``k = 1..K``: the estimate is the next state plus Gaussian noise of std
  ``sigma_k = sigma_min ** (k / K)``; predict that noise.

Inference (:meth:`PDERefiner.forward`) runs ``K + 1`` network evaluations::

    u_hat = f(u_prev, 0, p, 0)
    for k = 1..K:
        noisy = u_hat + sigma_k eps,   eps ~ N(0, I)
        u_hat = noisy - sigma_k f(u_prev, noisy, p, k)

The noise levels fall geometrically (from ``sigma_min ** (1/K)`` to ``sigma_min``), so each
refinement step works on finer, lower-amplitude detail than the last: this is how the refiner
learns the small high-frequency components a plain MSE model ignores. Because the refinement
is stochastic, rollouts from several noise seeds differ; their spread estimates the model's
uncertainty (see :func:`rollout_samples`). ``K = 0`` is a plain one-step MSE model.

The backbone is any model of our interface with a ``cond`` argument (the step ``k``, (B,)), e.g.
:class:`~pdesurrogate.models.modern_unet.ModernUNet` with ``cond=True``, taking
``in_channels = 2 C`` (previous state and estimate) and giving ``out_channels = C``.
"""

from __future__ import annotations

import hashlib
import inspect
import math
from collections.abc import Sequence

import torch
from torch import nn

from ._checks import check_grid, check_int
from ._precision import FLOAT_DTYPES, full_float32


class PDERefiner(nn.Module):
    """Refinement wrapper around a conditioned backbone (module docstring).

    Args:
        backbone: ``forward(x: (B, 2C, *grid), params: (B, P) | None, cond: (B,)) ->
            (B, C, *grid)``, with ``in_channels = 2 * out_channels``.
        n_refine_steps: ``K >= 0``, refinement steps after the initial prediction.
        sigma_min: ``0 < sigma_min < 1``, noise std of the last refinement step.

    ``forward(u: (B, C, *grid), params: (B, P) | None, generator=None) -> (B, C, *grid)``: the
    refined next state; the noise comes from ``generator``: one ``torch.Generator`` for the
    whole batch, a sequence of ``B`` generators (sample ``i`` draws its noise from the ``i``-th
    alone, so its result does not depend on what else is in the batch), or None (torch's global
    generator). Generators live on ``u``'s device.
    """

    def __init__(self, backbone: nn.Module, n_refine_steps: int = 3, sigma_min: float = 2e-7):
        super().__init__()
        if not isinstance(backbone, nn.Module):
            raise ValueError(f"backbone must be an nn.Module, got {type(backbone).__name__}")
        c_in, c_out = getattr(backbone, "in_channels", None), getattr(backbone, "out_channels",
                                                                      None)
        if not isinstance(c_in, int) or not isinstance(c_out, int) or c_in != 2 * c_out:
            raise ValueError(f"backbone must have in_channels = 2 * out_channels (previous state "
                             f"and current estimate), got in_channels={c_in}, "
                             f"out_channels={c_out}")
        if "cond" not in inspect.signature(backbone.forward).parameters \
                or getattr(backbone, "cond", True) is False:
            raise ValueError(f"backbone {type(backbone).__name__} must be conditioned on the "
                             "refinement step: forward(u, params, cond=...) (e.g. ModernUNet "
                             "with cond=True)")
        self.backbone = backbone
        self.n_refine_steps = check_int("n_refine_steps", n_refine_steps, 0)
        if isinstance(sigma_min, bool) or not isinstance(sigma_min, (int, float)) \
                or not 0 < sigma_min < 1 or not math.isfinite(sigma_min):
            raise ValueError(f"sigma_min must be a number in (0, 1), got {sigma_min!r}")
        self.sigma_min = float(sigma_min)
        self.in_channels = self.out_channels = c_out
        self.dim = getattr(backbone, "dim", None)
        self.n_params = int(getattr(backbone, "n_params", 0))

    @property
    def weight_dtypes(self) -> tuple[torch.dtype, ...]:
        """The dtypes the refiner runs in cast whole: with refinement steps float32 and float64
        only, as their noise (std down to ``sigma_min``) is below bfloat16's and float16's
        resolution (see :meth:`network`); its backbone may restrict them further."""
        return FLOAT_DTYPES if self.n_refine_steps == 0 else (torch.float32, torch.float64)

    def evaluation_noise(self, u0: torch.Tensor, params: torch.Tensor | None
                         ) -> list[torch.Generator] | None:
        """The generators an evaluation rollout from ``u0`` ``(B, C, *grid)`` draws its noise
        from: one per trajectory, seeded from :data:`EVAL_NOISE_SEED`, ``u0`` and the
        parameters this model takes (:func:`trajectory_generators`); None without refinement
        steps. RefinerModule's validation/test and an exported surrogate use it alike."""
        if self.n_refine_steps == 0:
            return None
        return trajectory_generators(u0, params if self.n_params else None, EVAL_NOISE_SEED)

    def sigma(self, k: torch.Tensor | int) -> torch.Tensor:
        """Noise std of refinement step ``k`` (``1..K``): ``sigma_min ** (k / K)``."""
        k = torch.as_tensor(k, dtype=torch.float64)
        return (self.sigma_min ** (k / max(self.n_refine_steps, 1))).to(torch.float32)

    def check_grid(self, grid: tuple[int, ...]) -> None:
        """A ValueError unless the backbone takes ``grid`` (its own ``check_grid``, if any)."""
        check_grid(self.backbone, grid)

    def network(self, u_prev: torch.Tensor, estimate: torch.Tensor, params: torch.Tensor | None,
                k: torch.Tensor, refining: bool | None = None) -> torch.Tensor:
        """One backbone evaluation: ``k = 0`` predicts the state (``estimate`` zeros), ``k >= 1``
        the noise in ``estimate``. ``k`` is ``(B,)`` (ints). ``refining``: whether any ``k`` is
        ``>= 1``, as the caller knows it; None reads it from ``k``, which waits for the device
        (a GPU's queue drains before the host can branch on a value computed there).

        Mixed precision: an evaluation with any ``k >= 1`` in the batch runs with autocast off,
        in the inputs' dtype (float32), since the noise it must see has std down to
        ``sigma_min`` (2e-7 by default) relative to an O(1) state, below the resolution of
        bfloat16 (2^-8) and float16 (2^-11): cast to those by the first convolution, the noisy
        estimate equals the clean one and the refinement learns nothing. TF32 (cuDNN
        convolutions by default on Ampere and later GPUs, matrix products after
        ``torch.set_float32_matmul_precision("high")``; resolution about 5e-4) is off there
        for the same reason (:func:`~pdesurrogate.models._precision.full_float32`). ``k = 0``
        alone follows autocast and TF32.
        """
        x = torch.cat([u_prev, estimate], dim=1)
        if refining is None:
            refining = self.n_refine_steps > 0 and bool((k > 0).any())
        if not refining:
            return self.backbone(x, params, cond=k)
        with full_float32(x.device):
            return self.backbone(x, params, cond=k)

    def forward(self, u: torch.Tensor, params: torch.Tensor | None = None,
                generator: torch.Generator | Sequence[torch.Generator] | None = None
                ) -> torch.Tensor:
        b = u.shape[0]
        per_sample = generator is not None and not isinstance(generator, torch.Generator)
        if per_sample and len(generator) != b:
            raise ValueError(f"generator: one per sample expected, got {len(generator)} for a "
                             f"batch of {b}")
        step = torch.zeros(b, dtype=torch.long, device=u.device)
        est = self.network(u, torch.zeros_like(u), params, step, refining=False)
        for k in range(1, self.n_refine_steps + 1):
            sigma = self.sigma(k).to(u.device, u.dtype)
            if per_sample:
                noise = torch.stack([torch.randn(est.shape[1:], generator=g, device=u.device,
                                                 dtype=u.dtype) for g in generator])
            else:
                noise = torch.randn(est.shape, generator=generator, device=u.device,
                                    dtype=u.dtype)
            noisy = est + sigma * noise
            est = noisy - sigma * self.network(u, noisy, params, step + k, refining=True)
        return est


@torch.no_grad()
def rollout_samples(step, u0: torch.Tensor, params: torch.Tensor | None, steps: int,
                    n_samples: int, seed: int = 0) -> torch.Tensor:
    """``n_samples`` stochastic rollouts of a refiner: ``(B, C, *grid) -> (n_samples, B,
    steps + 1, C, *grid)`` (``u0`` first), sample ``s`` drawing its noise from seed ``seed + s``.

    ``step(u, params, generator)`` advances a batch by one step (e.g. a :class:`PDERefiner` or
    ``RefinerModule.step``). Their spread over the first axis is the refiner's uncertainty.
    """
    check_int("steps", steps, 0)
    check_int("n_samples", n_samples, 1)
    out = []
    for s in range(n_samples):
        gen = torch.Generator(device=u0.device).manual_seed(seed + s)
        x, traj = u0, [u0]
        for _ in range(steps):
            x = step(x, params, gen)
            traj.append(x)
        out.append(torch.stack(traj, dim=1))
    return torch.stack(out)


# the seed of the evaluation noise: RefinerModule's validation/test and an exported
# surrogate's predictions draw each trajectory's noise from trajectory_generators(.., this)
EVAL_NOISE_SEED = 0


def trajectory_generators(u0: torch.Tensor, params: torch.Tensor | None,
                          seed: int = 0) -> list[torch.Generator]:
    """One noise generator per trajectory, on ``u0``'s device, seeded from ``seed`` and the
    trajectory's own inputs: the bytes of its first state ``u0[i]`` ``(C, *grid)`` and its
    parameters ``params[i]`` ``(P,)`` (as float64, so the dtype they arrive in does not matter
    for float32 data and below).

    A rollout that draws sample ``i``'s noise from the ``i``-th generator (``PDERefiner.forward``
    takes the list) is a deterministic function of ``(u0[i], params[i], seed)``: the same for
    any batch size, batch order, split or number of processes, and it leaves torch's global
    generator alone. Two trajectories with the same first state and parameters get the same
    noise (their rollouts are the same anyway).
    """
    first = u0.detach().flatten(1).to("cpu", torch.float64).numpy()
    pars = (params.detach().reshape(len(first), -1) if params is not None
            else u0.new_zeros(len(first), 0)).to("cpu", torch.float64).numpy()
    gens = []
    for a, q in zip(first, pars, strict=True):
        h = hashlib.blake2b(digest_size=8, key=int(seed).to_bytes(8, "little", signed=True))
        h.update(a.tobytes())
        h.update(q.tobytes())
        # manual_seed takes at most 64 bits; keep 63 so it is never read as negative
        gens.append(torch.Generator(device=u0.device).manual_seed(
            int.from_bytes(h.digest(), "little") & (2 ** 63 - 1)))
    return gens
