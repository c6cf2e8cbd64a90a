"""predict's rel_l2 of a 2-channel file is the relative L2 of the whole frame (one norm over
both channels and every point), not the channel mean nrmse, which equals it only for one
channel (a mutation audit found the single-channel tests could not tell them apart). The
exported model's rollout is replaced by persistence, so the error of step j is j * DELTA on
channel 0 and none on channel 1."""

import numpy as np

import pdesurrogate.predict as predict
from pdesurrogate.datasets import ChannelStats, DatasetWriter
from pdesurrogate.export import export_surrogate
from pdesurrogate.models import FNO
from pdesurrogate.predict import predict_file
from pdesurrogate.training import NextStepModule

NX, SAMPLES, STEPS = 16, 3, 2
X = np.arange(NX) / NX
DELTA = 0.25 * np.cos(2 * np.pi * 3 * X)


def test_rel_l2_is_one_norm_over_both_channels(tmp_path, monkeypatch):
    net = NextStepModule(FNO(2, 2, [2], 4, 1))
    net.set_normalization(ChannelStats(mean=[1.0, 10.0], std=[1.0, 1.0], spatial_dims=1))
    net.data_info = {"pde": "two_channels", "grid_shape": [NX], "channel_names": ["a", "b"],
                     "param_names": [], "k": 1, "dt": 0.2}
    model_dir = str(export_surrogate(net, tmp_path / "persistence"))
    rng = np.random.default_rng(0)
    u0 = np.concatenate([1.0 + rng.standard_normal((SAMPLES, 1, 1, NX)),
                         10.0 + rng.standard_normal((SAMPLES, 1, 1, NX))], axis=2)
    step = np.stack([DELTA, 0 * DELTA])  # (C, NX): only channel a moves
    u = (u0 + np.arange(STEPS + 1)[None, :, None, None] * step).astype(np.float32)
    data = tmp_path / "d.nc"
    with DatasetWriter(data, "two_channels", (X,), ("x",), np.arange(STEPS + 1) * 0.2,
                       ["a", "b"], [], SAMPLES) as w:
        w.write(0, u)

    def persistence(self, u0, params=None, steps=1, lead_time=None, **kw):
        for _ in range(steps):
            yield np.array(u0, dtype=np.float32)

    monkeypatch.setattr(predict.Surrogate, "iterate", persistence)
    rep = predict_file(model_dir, str(data), str(tmp_path / "p.nc"), progress=False)
    truth = u.astype(np.float64)
    j = np.arange(STEPS + 1, dtype=float)
    err = np.linalg.norm(j[:, None] * DELTA, axis=-1)  # (F,)
    want = (err[None] / np.linalg.norm(truth.reshape(SAMPLES, STEPS + 1, -1), axis=-1)).mean(0)
    np.testing.assert_allclose(rep.rel_l2, want, rtol=1e-5, atol=1e-7)
    # the channel mean is about half of it here: the check above can tell them apart
    assert abs(rep.metrics["nrmse"][-1] - want[-1]) > 0.3 * want[-1]
