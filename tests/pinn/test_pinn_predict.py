"""``trainer.predict`` on a PINN: ``u`` at points, as ``forward`` and an export's ``predict``.

Before, ``trainer.predict(module, datamodule=BallPoints(...))`` failed with Lightning's
"`predict_dataloader` must be implemented", and a loader of points from a ``TensorDataset``
with Lightning's default ``predict_step`` (``forward(batch)`` on the list ``[x]``) inside the
network ("'list' object has no attribute 'device'")."""

import pytest
import torch
from lightning.pytorch import Trainer
from torch.utils.data import DataLoader, TensorDataset

from pdesurrogate.pinn import BallPoints, PINNModule, Poisson


def _trainer(**kwargs) -> Trainer:
    return Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False,
                   enable_checkpointing=False, accelerator="cpu", **kwargs)


def _module() -> PINNModule:
    torch.manual_seed(0)
    return PINNModule(Poisson(dim=3, seed=1), width=8, depth=2)


def test_predict_of_ballpoints_is_u_at_its_test_points_in_test_order():
    module = _module()
    dm = BallPoints(dim=3, batch_size=2, test_points=25, seed=4)
    out = _trainer().predict(module, datamodule=dm)
    # the test points, 20 a batch (batch_size * 10), as test_dataloader hands them
    points = [b["x"] for b in dm.test_dataloader()]
    assert [tuple(u.shape) for u in out] == [(20,), (5,)]
    with torch.no_grad():
        for u, x in zip(out, points, strict=True):
            torch.testing.assert_close(u, module.net(x))


def test_predict_of_a_tensor_dataset_or_plain_tensors_gives_u_in_order():
    module = _module()
    x = torch.rand(10, 3, generator=torch.Generator().manual_seed(3)) * 0.5
    sphere = x / x.norm(dim=1, keepdim=True)
    with torch.no_grad():
        want = module.net(x)
    # in float32 under mixed precision, as forward
    from_dataset = _trainer(precision="bf16-mixed").predict(
        module, DataLoader(TensorDataset(x), batch_size=4))
    assert {u.dtype for u in from_dataset} == {torch.float32}
    torch.testing.assert_close(torch.cat(from_dataset), want)
    from_tensors = _trainer().predict(module, DataLoader(x, batch_size=4))
    torch.testing.assert_close(torch.cat(from_tensors), want)
    # on the unit sphere the hard-boundary network is exactly the boundary value, 0
    on_sphere = _trainer().predict(module, DataLoader(sphere, batch_size=10))
    torch.testing.assert_close(on_sphere[0], torch.zeros(10), atol=1e-6, rtol=0)


@pytest.mark.parametrize("batch, got", [
    ({"u": torch.zeros(4, 3)}, "a dict with keys ['u']"),
    (torch.zeros(4, 5), "(4, 5)"),
    (torch.zeros(3), "(3,)"),
])
def test_a_batch_that_is_not_points_is_one_error_saying_what_predict_takes(batch, got):
    with pytest.raises(ValueError) as caught:
        _module().predict_step(batch, 0)
    assert str(caught.value) == (
        "PINNModule.predict_step evaluates u at points: it takes batches of points (N, 3), "
        f"{{'x': (N, 3)}} (BallPoints) or (points, ...) (a TensorDataset), got {got}")
