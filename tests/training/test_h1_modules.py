"""``loss="rel_h1"`` on NextStepModule and SteadyModule: refused when misspelt, the per-step loss
that training_step returns, periodic where the data is (SteadyModule's overfit on it:
test_steady.py)."""

import warnings

import pytest
import torch

from pdesurrogate.models import FNO
from pdesurrogate.training import FieldDataModule, NextStepModule, SteadyModule
from pdesurrogate.training.losses import RelativeH1, relative_l2


@pytest.mark.parametrize("cls", [NextStepModule, SteadyModule])
def test_a_loss_not_offered_is_refused_naming_it(cls):
    with pytest.raises(ValueError, match=r"loss must be one of \['rel_l2', 'rel_h1'\], "
                                         r"got 'h1'"):
        cls(FNO(1, 1, [4], 4, 1), loss="h1")
    assert cls(FNO(1, 1, [4], 4, 1)).loss == "rel_l2"


def _bare_step(module, batch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log without a trainer
        with torch.no_grad():
            return float(module.training_step(batch, 0))


def test_next_step_trains_on_the_wrapped_h1_of_a_periodic_file(burgers_file):
    """On a Burgers file (periodic) the loss of a step is RelativeH1 with wrapped derivatives
    of the prediction against the next frame, normalised: neither relative L2 nor the walled
    H1; train_metric_names name train/rel_h1."""
    torch.manual_seed(0)
    dm = FieldDataModule(str(burgers_file(32, 4, 3)), batch_size=4, fractions=(1.0, 0.0, 0.0))
    dm.setup("fit")
    module = NextStepModule(FNO(1, 1, [6], 8, 1, n_params=1), loss="rel_h1")
    module.data_info = dm.data_info
    module.set_normalization(dm.stats)
    batch = next(iter(dm.train_dataloader()))
    got = _bare_step(module, batch)
    u, p = module._window(batch)
    u, p = module.normalize(u), module.normalize_params(p)
    with torch.no_grad():
        pred = module(u[:, 0], p)
    assert got == pytest.approx(float(RelativeH1((True,))(pred, u[:, 1])), rel=1e-6)
    for other in (RelativeH1((False,))(pred, u[:, 1]), relative_l2(pred, u[:, 1])):
        assert got != pytest.approx(float(other), rel=1e-3)
    assert module.train_metric_names() == ["train/loss", "train/rel_h1"]
