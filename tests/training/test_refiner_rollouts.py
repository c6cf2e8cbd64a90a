"""RefinerModule's three ways to roll a refiner out (``rollout``, ``sample_rollouts`` through
``step``, and the exported surrogate) run the same procedure, for a refiner of the increment
(``residual=True``) with non-trivial normalisation statistics."""

import torch

from pdesurrogate.datasets.normalization import ChannelStats
from pdesurrogate.export import export_surrogate
from pdesurrogate.loading import load
from pdesurrogate.models import ModernUNet, PDERefiner
from pdesurrogate.models.refiner import EVAL_NOISE_SEED, trajectory_generators
from pdesurrogate.training import RefinerModule


def _module() -> RefinerModule:
    torch.manual_seed(0)
    backbone = ModernUNet(1, 2, 1, hidden_channels=8, channel_mults=[1, 2], n_blocks=1,
                          n_params=1, cond=True)
    module = RefinerModule(PDERefiner(backbone, n_refine_steps=2, sigma_min=1e-1),
                           residual=True)
    module.set_normalization(ChannelStats(mean=[2.0], std=[3.0], spatial_dims=1,
                                          param_names=["nu"], param_mean=[1.0],
                                          param_std=[0.5]))
    return module.train(False)


def _by_hand(module, u0, p, steps, gen):
    """The rollout written out: normalise once, add the refined increment each step (same
    generator, its draws continuing from step to step), denormalise every state."""
    z, q = (u0 - 2.0) / 3.0, (p - 1.0) / 0.5
    out = [u0]
    with torch.no_grad():
        for _ in range(steps):
            z = z + module.model(z, q, generator=gen)
            out.append(z * 3.0 + 2.0)
    return torch.stack(out, dim=1)


def test_rollout_sample_rollouts_and_export_agree_for_a_residual_refiner(tmp_path):
    """rollout and each of sample_rollouts' samples (seed + s) equal the hand-written rollout;
    the exported surrogate equals rollout with the evaluation generators. Before, a step that
    dropped the increment's previous state (``denormalize(out)``) passed every refiner test:
    sample_rollouts was only compared with rollout for a refiner of the state."""
    module = _module()
    g = torch.Generator().manual_seed(3)
    u0, p = 2.0 + 3.0 * torch.randn(2, 1, 16, generator=g), 1.0 + torch.rand(2, 1, generator=g)

    want = _by_hand(module, u0, p, 3, torch.Generator().manual_seed(4))
    torch.testing.assert_close(module.rollout(u0, p, 3, generator=torch.Generator()
                                              .manual_seed(4)), want, atol=1e-5, rtol=1e-5)
    samples = module.sample_rollouts(u0, p, steps=3, n_samples=2, seed=4)
    torch.testing.assert_close(samples[0], want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(samples[1], _by_hand(module, u0, p, 3,
                                                    torch.Generator().manual_seed(5)),
                               atol=1e-5, rtol=1e-5)

    sur = load(export_surrogate(module, tmp_path / "residual_refiner"))
    ref = module.rollout(u0, p, 3, generator=trajectory_generators(u0, p, EVAL_NOISE_SEED))
    torch.testing.assert_close(sur.rollout(u0, p, steps=3), ref, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(sur.predict(u0, p), ref[:, 1], atol=1e-6, rtol=1e-6)
