"""``predict --plot`` into a folder this user cannot write in (here: a file where its folder
should be, which the root user running the tests cannot get round either): the error came
after the whole rollout, when the plot was drawn; now before it. Nothing is left behind."""

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from pdesurrogate.predict import predict_file
from pdesurrogate.surrogate import Surrogate

_spec = importlib.util.spec_from_file_location(
    "predict_test_helpers", Path(__file__).parent / "test_predict.py")
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)
model = helpers.model


def test_an_unwritable_plot_folder_is_an_error_before_the_rollout(model, tmp_path,
                                                                  monkeypatch):
    data = helpers._write(tmp_path / "d.nc", np.arange(3) * 0.2)
    (tmp_path / "not a folder").write_text("")
    rolled = []
    real = Surrogate.iterate
    monkeypatch.setattr(Surrogate, "iterate",
                        lambda self, *a, **k: rolled.append(1) or real(self, *a, **k))
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(NotADirectoryError, match="not a folder"):
        predict_file(model, data, str(tmp_path / "p.nc"),
                     plot=str(tmp_path / "not a folder" / "p.png"))
    assert rolled == []
    assert sorted(os.listdir(tmp_path)) == before
