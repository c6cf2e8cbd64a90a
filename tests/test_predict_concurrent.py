"""Two predicts with one --out (and --plot) at the same time: without --overwrite the one that
finishes second is refused, naming the file, and leaves the first one's rollout and plot."""

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


@pytest.mark.parametrize("taken", ["p.nc", "p.png"])
def test_an_output_written_meanwhile_is_not_replaced(model, tmp_path, monkeypatch, taken):
    data = helpers._write(tmp_path / "d.nc", np.arange(3) * 0.2)
    real = Surrogate.iterate

    def rollout_while_another_finishes(self, *a, **k):
        # the other predict's file lands while this one rolls out (after the checks at start)
        (tmp_path / taken).write_bytes(b"the other run's")
        return real(self, *a, **k)

    monkeypatch.setattr(Surrogate, "iterate", rollout_while_another_finishes)
    with pytest.raises(FileExistsError, match=rf"{taken}' was created by someone else.*"
                                              "--overwrite"):
        predict_file(model, data, str(tmp_path / "p.nc"), plot=str(tmp_path / "p.png"),
                     progress=False)
    assert (tmp_path / taken).read_bytes() == b"the other run's"
    # neither half of this run is left: no rollout beside another's plot, no temporaries
    assert sorted(os.listdir(tmp_path)) == sorted(["d.nc", "model", taken])
