"""all2all: pair counts and lead times, the grouped relative L1 loss, training and validation of
a tiny scOT, checkpoint reload, and export -> load -> identical predictions at any lead time."""

import numpy as np
import pytest
import torch
from lightning.pytorch import Callback, Trainer
from torch.utils.data import DataLoader

from pdesurrogate.datasets import DatasetWriter, open_dataset
from pdesurrogate.export import export_surrogate
from pdesurrogate.loading import load
from pdesurrogate.models import FNO, ScOT
from pdesurrogate.training import All2AllDataModule, All2AllModule, relative_l1

N, T, NY, NX = 6, 5, 16, 16


@pytest.fixture
def advection2d_file(tmp_path):
    """``u(x, y, t) = sum_m a_m sin(2 pi (m x + y) - 2 pi m c t)`` with two channels (u and
    -u), parameter ``c``: N=6 trajectories, T=5 times (dt = 0.1), 16 x 16."""
    rng = np.random.default_rng(0)
    y, x = np.arange(NY) / NY, np.arange(NX) / NX
    times = np.arange(T) * 0.1
    c = rng.uniform(0.5, 1.0, N)
    u = np.zeros((N, T, 2, NY, NX), np.float32)
    for n in range(N):
        a = rng.standard_normal(2)
        for j, t in enumerate(times):
            f = sum(a[m] * np.sin(2 * np.pi * ((m + 1) * (x[None] - c[n] * t) + y[:, None]))
                    for m in range(2))
            u[n, j, 0], u[n, j, 1] = f, -f
    path = tmp_path / "adv2d.nc"
    with DatasetWriter(path, "advection2d", (y, x), ("y", "x"), times, ["u", "v"], ["c"],
                       N) as w:
        w.write(0, u, {"c": c})
    return path


def _scot() -> ScOT:
    torch.manual_seed(0)
    return ScOT(2, 2, embed_dim=8, depths=[1, 1], num_heads=[2, 2], skip_blocks=[1],
                window_size=4, patch_size=2, n_params=1, time_scale=0.4)


def _trainer(**kw) -> Trainer:
    return Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                   enable_model_summary=False, accelerator="cpu", devices=1, **kw)


def test_relative_l1_groups():
    """Sum over groups of ||e_g||_1 / ||target_g||_1; default one group per channel."""
    target = torch.tensor([[[1.0, -1.0], [2.0, 2.0], [0.0, 4.0]]])  # (1, 3, 2)
    pred = target + torch.tensor([[[1.0, 0.0], [0.0, -1.0], [1.0, 1.0]]])
    assert relative_l1(pred, target).item() == pytest.approx(1 / 2 + 1 / 4 + 2 / 4)
    assert relative_l1(pred, target, [[0], [1, 2]]).item() == pytest.approx(1 / 2 + 3 / 8)
    assert relative_l1(pred, target, reduction="none").shape == (1,)


@pytest.mark.parametrize("pairs", ["all2all", "one_step"])
def test_pairs_per_trajectory(advection2d_file, pairs):
    """all2all: (K+1)(K+2)/2 pairs per trajectory of K+1 = T times, each with lead time
    t_j - t_i and the frames of those times; one_step: K pairs with lead dt."""
    dm = All2AllDataModule(str(advection2d_file), batch_size=4, fractions=(4 / 6, 1 / 6, 1 / 6),
                           pairs=pairs)
    dm.setup("fit")
    ds = dm.train_dataset()
    k = T - 1
    per = (k + 1) * (k + 2) // 2 if pairs == "all2all" else k
    assert len(ds) == len(dm.train_indices) * per
    u, times = open_dataset(advection2d_file).u, np.arange(T) * 0.1
    leads, seen = [], set()
    for i in range(per):
        item = ds[i]  # the first training trajectory
        lead = float(item.get("lead_time", item["dt"]))
        a = int(np.argmin([np.abs(u[dm.train_indices[0], j] - item["input"].numpy()).max()
                           for j in range(T)]))
        b = int(np.argmin([np.abs(u[dm.train_indices[0], j] - item["target"].numpy()).max()
                           for j in range(T)]))
        assert lead == pytest.approx(times[b] - times[a], abs=1e-6) and a <= b
        leads.append(lead)
        seen.add((a, b))
    assert len(seen) == per
    if pairs == "one_step":
        assert leads == pytest.approx([0.1] * k)
    batch = next(iter(dm.train_dataloader()))
    assert batch["input"].shape == (4, 2, NY, NX)


def test_fit_validate_and_reload(advection2d_file, tmp_path):
    """A tiny scOT trained on all2all pairs: the loss falls, validation logs the direct error
    per lead time and the autoregressive error, and the checkpoint reloads with this class's
    own hyper-parameters (no NextStepModule-only keys)."""
    dm = All2AllDataModule(str(advection2d_file), batch_size=8, fractions=(4 / 6, 1 / 6, 1 / 6))
    module = All2AllModule(_scot(), lr=3e-3, channel_groups=[[0, 1]])
    losses = []

    class Rec(Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            losses.append(float(outputs["loss"]))

    trainer = Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False,
                      accelerator="cpu", devices=1, max_epochs=4, callbacks=[Rec()],
                      default_root_dir=tmp_path)
    trainer.fit(module, dm)
    assert np.mean(losses[-4:]) < 0.7 * np.mean(losses[:4])
    metrics = trainer.callback_metrics
    for key in ["val/rel_l2", "val/rel_l2_ar"] + [f"val/rel_l2_lead_{j}" for j in range(1, T)]:
        assert key in metrics and torch.isfinite(metrics[key])
    assert "rollout_steps" not in module.hparams and module.hparams["channel_groups"] == [[0, 1]]
    # streamed validation trajectories carry no times: evenly spaced by the data's dt
    with_times = trainer.validate(module, dm.val_dataloader(), verbose=False)[0]
    no_times = [{"u": v["u"], "params": v["params"]} for v in dm.val_dataloader().dataset]
    without = trainer.validate(module, DataLoader(no_times, batch_size=8), verbose=False)[0]
    assert without["val/rel_l2"] == pytest.approx(with_times["val/rel_l2"], rel=1e-6)
    ckpt = tmp_path / "m.ckpt"
    trainer.save_checkpoint(ckpt)
    again = All2AllModule.load_from_checkpoint(ckpt, weights_only=True)
    u0, p = torch.randn(2, 2, NY, NX), torch.rand(2, 1)
    torch.testing.assert_close(again.predict_at(u0, p, 0.2), module.predict_at(u0, p, 0.2))
    assert again.step_time() == pytest.approx(0.1)


def test_export_load_same_outputs(advection2d_file, tmp_path):
    """load(export(m)) predicts exactly what the module predicts, at any lead time in one call
    (a number or one per sample) and by autoregressive steps (default: the data's dt)."""
    dm = All2AllDataModule(str(advection2d_file), batch_size=8, fractions=(4 / 6, 1 / 6, 1 / 6))
    module = All2AllModule(_scot(), residual=True)
    _trainer(max_steps=2, limit_val_batches=0).fit(module, dm)
    sur = load(export_surrogate(module, tmp_path / "scot"))
    u0, p = torch.randn(3, 2, NY, NX), 0.5 + 0.5 * torch.rand(3, 1)
    for lead in (0.0, 0.1, 0.35, torch.tensor([0.1, 0.2, 0.4])):
        torch.testing.assert_close(sur.predict(u0, p, lead_time=lead),
                                   module.predict_at(u0, p, lead), atol=0, rtol=0)
    torch.testing.assert_close(sur.predict(u0, p), module.predict_at(u0, p, 0.1), atol=0, rtol=0)
    torch.testing.assert_close(sur.rollout(u0, p, steps=3), module.rollout(u0, p, 3),
                               atol=0, rtol=0)
    torch.testing.assert_close(sur.rollout(u0, p, steps=2, lead_time=0.2),
                               module.rollout(u0, p, 2, lead_time=0.2), atol=0, rtol=0)
    one = sur.predict(u0[0].numpy(), {"c": float(p[0, 0])}, lead_time=0.3)
    assert isinstance(one, np.ndarray) and one.shape == (2, NY, NX)
    assert sur.config["model"]["class"] == "scot"
    with pytest.raises(ValueError, match=r"lead_time must be a number or have shape \(3,\)"):
        sur.predict(u0, p, lead_time=[0.1, 0.2])


def test_fixed_step_surrogate_refuses_lead_time(tmp_path):
    from pdesurrogate.training import NextStepModule

    m = NextStepModule(FNO(1, 1, [4], 8, 1))
    m.data_info = {"pde": "toy", "grid_shape": [16], "channel_names": ["u"], "param_names": [],
                   "k": 1, "dt": 0.1}
    sur = load(export_surrogate(m, tmp_path / "fno"))
    with pytest.raises(ValueError, match="takes no lead_time"):
        sur.predict(torch.randn(1, 1, 16), lead_time=0.5)


def test_module_checks():
    with pytest.raises(ValueError, match="conditioned on the lead time"):
        All2AllModule(FNO(1, 1, [4], 8, 1))
    with pytest.raises(ValueError, match="channel_groups"):
        All2AllModule(_scot(), channel_groups=[[0]])
    with pytest.raises(ValueError, match="channel_groups"):
        All2AllModule(_scot(), channel_groups=[[0, 1], [1]])
    with pytest.raises(ValueError, match="pairs must be one of"):
        All2AllDataModule("x.nc", pairs="all")
    m = All2AllModule(_scot())
    with pytest.raises(ValueError, match="no default lead time"):
        m.step_time()
