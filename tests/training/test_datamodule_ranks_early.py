"""Under DDP, a validation split with fewer trajectories than processes is refused when the
data module sets up for a fit, before the statistics pass and the model summary. Before, the
refusal came when the sanity check built the validation loader, after both (the statistics
read the whole training split). Where the sanity check builds no loader (``limit_val_batches``
or ``num_sanity_val_steps`` 0), nothing is built early and nothing refused."""

from types import SimpleNamespace

import numpy as np
import pytest

from pdesurrogate.training import FieldDataModule

from .test_datamodule import _write


def _trainer(**kwargs):
    """The trainer attributes the data module reads at set-up, as rank 0 of two processes."""
    return SimpleNamespace(**{"world_size": 2, "global_rank": 0, "num_sanity_val_steps": 2,
                              "limit_val_batches": 1.0, "is_global_zero": True,
                              "progress_bar_callback": None, **kwargs})


def _module(tmp_path, trainer):
    # 10 trajectories, fractions (0.8, 0.1, 0.1): one validation trajectory
    path = _write(tmp_path / "toy.nc", 10, np.linspace(0.0, 1.0, 4))
    dm = FieldDataModule(str(path), batch_size=2)
    dm.trainer = trainer
    return dm


def test_too_few_validation_trajectories_refused_at_setup(tmp_path):
    dm = _module(tmp_path, _trainer())
    with pytest.raises(ValueError, match=r"the validation split holds 1 trajectory\(ies\), "
                                         r"fewer than the 2 training processes"):
        dm.setup("fit")
    assert dm._stats is None  # refused before the statistics pass


@pytest.mark.parametrize("kwargs", [{"limit_val_batches": 0}, {"num_sanity_val_steps": 0},
                                    {"world_size": 1}])
def test_not_refused_where_the_sanity_check_builds_no_loader(tmp_path, kwargs):
    dm = _module(tmp_path, _trainer(**kwargs))
    dm.setup("fit")
    assert len(dm.val_indices) == 1
