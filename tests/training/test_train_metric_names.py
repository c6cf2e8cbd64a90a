"""Each module's ``train_metric_names`` (what check_training_monitors lets a callback's monitor
name) holds every ``train/`` metric its training step logs: a name it lacks would refuse a
monitor that works. A bare call of training_step, its ``log`` recorded."""

import pytest
import torch

from pdesurrogate.models import FNO
from pdesurrogate.training import All2AllModule, NextStepModule, RefinerModule
from tests.training.test_all2all import _scot
from tests.training.test_next_step import CAPEModule, CAPEWrapper, UNet
from tests.training.test_refiner import _refiner


def _logged(module, batch, steps: int = 1) -> set[str]:
    names = set()
    module.log = lambda name, *a, **k: names.add(name)
    for i in range(steps):
        module.training_step(batch, i)
    return names


def _pairs(c: int, b: int = 8, grid=(16,)) -> dict:
    g = torch.Generator().manual_seed(0)
    return {"input": torch.randn(b, c, *grid, generator=g),
            "target": torch.randn(b, c, *grid, generator=g), "params": torch.rand(b, 1)}


@pytest.mark.filterwarnings("ignore")
def test_every_logged_training_metric_is_named():
    torch.manual_seed(0)
    cape = NextStepModule(CAPEWrapper(UNet(1, 2, 1, 4, n_levels=2),
                                      CAPEModule(1, 1, 2, modes=4, hidden=4)))
    window = {"u": torch.randn(4, 3, 1, 16), "params": torch.rand(4, 1)}
    curriculum = NextStepModule(FNO(1, 1, [4], 8, 1, n_params=1), rollout_steps=2,
                                curriculum=True)
    all2all = All2AllModule(_scot())
    a2a_batch = {**_pairs(2, 4, (8, 8)), "lead_time": torch.full((4,), 0.1)}
    seen = set()
    for module, batch, steps in ((cape, _pairs(1, 4) | {"params": torch.rand(4, 2)}, 1),
                                 (curriculum, window, 1), (all2all, a2a_batch, 1),
                                 (RefinerModule(_refiner(2)), _pairs(1), 4)):
        logged = _logged(module, batch, steps)
        assert logged <= set(module.train_metric_names()), type(module).__name__
        seen |= logged
    # the optional ones were logged, so checked
    assert {"train/aux_weight", "train/teacher_forced_steps", "train/rel_l1",
            "train/mse_noise", "train/mse_step0"} <= seen
