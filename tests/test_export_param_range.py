"""A surrogate knows the parameter range it was trained on and says so when it is used outside
it: the range travels from the training split through a checkpoint into the export's
``normalization`` (``param_min`` / ``param_max``), ``Surrogate.param_range`` gives it, and
``predict`` / ``rollout`` / ``iterate`` warn once per call (``ParameterRangeWarning``) for a
value outside it, never at its bounds, never for an export that does not record it.
``pdesurrogate predict`` says it in one prefixed line for the whole file."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch import Trainer

from pdesurrogate.cli import main
from pdesurrogate.datasets import ChannelStats, DatasetWriter, open_dataset
from pdesurrogate.export import export_surrogate
from pdesurrogate.loading import load
from pdesurrogate.models import FNO
from pdesurrogate.predict import predict_file
from pdesurrogate.surrogate import ParameterRangeWarning
from pdesurrogate.training import FieldDataModule, NextStepModule
from tests.test_export import _toy_file

OLD = Path(__file__).parent / "fixtures" / "compat" / "0f8a5e0"
LO, HI = 0.1, 0.3  # 0.3 and 0.1 are not float32 numbers: float32(0.3) > 0.3


def _exported(tmp_path, param_min=(LO,), param_max=(HI,)) -> Path:
    torch.manual_seed(0)
    m = NextStepModule(FNO(1, 1, [4], 4, 1, n_params=1))
    m.set_normalization(ChannelStats(mean=[0.0], std=[1.0], param_names=["nu"],
                                     param_mean=[0.2], param_std=[0.05],
                                     param_min=list(param_min), param_max=list(param_max)))
    return export_surrogate(m, tmp_path / "sur", param_names=["nu"], channel_names=["u"],
                            pde="toy", dt=0.1)


def _range_warnings(call) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return [str(w.message) for w in caught if issubclass(w.category, ParameterRangeWarning)]


U = np.zeros((3, 1, 16), np.float32)


def test_a_checkpoint_carries_the_training_range_into_the_export(tmp_path):
    """fit on a file's training split -> .ckpt -> export -> load: the range is the training
    split's, not the whole file's."""
    with open_dataset(_toy_file(tmp_path / "toy.nc")) as data:
        nu = data.params["nu"].copy()  # 8 values, 0.05 to 0.1
    dm = FieldDataModule(str(tmp_path / "toy.nc"), batch_size=4, fractions=(0.5, 0.25, 0.25))
    trainer = Trainer(max_steps=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    trainer.fit(NextStepModule(FNO(1, 1, [4], 4, 1, n_params=1)), dm)
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    train = nu[np.asarray(dm.train_indices)]
    assert len(train) == 4 and (train.min(), train.max()) != (nu.min(), nu.max())
    sur = load(export_surrogate(tmp_path / "m.ckpt", tmp_path / "sur"))
    assert sur.param_range == {"nu": (train.min(), train.max())}
    norm = sur.config["normalization"]
    assert (norm["param_min"], norm["param_max"]) == ([train.min()], [train.max()])


def test_a_value_outside_the_range_warns_once_per_call_naming_it(tmp_path):
    sur = load(_exported(tmp_path))
    assert sur.param_range == {"nu": (LO, HI)}
    nus = np.array([0.05, 0.2, 0.35])
    for call in (lambda: sur.predict(U, nus), lambda: sur.rollout(U, {"nu": nus}, steps=4),
                 lambda: list(sur.iterate(U, nus, steps=4))):
        said = _range_warnings(call)
        assert said == ["parameter values outside the range this surrogate was trained on: "
                        "'nu' given 0.05 to 0.35 (min to max of those given), trained on "
                        "[0.1, 0.3]. Its errors grow outside its training range: these "
                        "predictions extrapolate"]
    # one value for the whole batch, and one just above the range widened by RANGE_MARGIN
    assert _range_warnings(lambda: sur.predict(U, 0.31)) == [
        "parameter values outside the range this surrogate was trained on: 'nu' given 0.31, "
        "trained on [0.1, 0.3]. Its errors grow outside its training range: these "
        "predictions extrapolate"]
    # the range [0.1, 0.3] widened by 1 % of its width: [0.098, 0.302]
    above = float(np.nextafter(np.float32(0.302), np.float32(1)))
    assert len(_range_warnings(lambda: sur.predict(U, above))) == 1
    # a tensor on the model's device too
    assert len(_range_warnings(lambda: sur.rollout(torch.zeros(3, 1, 16),
                                                   torch.tensor([[0.0], [0.2], [0.2]]),
                                                   steps=2))) == 1


def test_values_inside_and_at_the_bounds_do_not_warn(tmp_path):
    sur = load(_exported(tmp_path))
    # the bounds, as float64 and as float32 (rounded up past 0.3), within a float64 ulp, and
    # the range widened by RANGE_MARGIN of its width (held-out values just past the training
    # split's extremes)
    for nus in ([LO, 0.2, HI], np.array([LO, HI], np.float32), [np.nextafter(HI, 1.0)] * 3,
                [np.nextafter(LO, 0.0)] * 3, [0.098, 0.302], [0.0985, 0.3015],
                np.array([0.098, 0.302], np.float32)):
        assert _range_warnings(lambda n=nus: sur.rollout(U[:len(n)], np.asarray(n)[:, None],
                                                         steps=2)) == [], nus
    assert sur.outside_training_range({"nu": [LO, HI]}, 2) is None
    assert "'nu' given 0.4" in sur.outside_training_range({"nu": 0.4})


def test_no_warning_where_the_range_is_not_known(tmp_path):
    """An export written before the range (the compat fixture), and one with empty lists."""
    old = load(OLD / "exp_fno")
    assert old.param_range == {}
    u = np.zeros((2, 1, 32), np.float32)
    assert _range_warnings(lambda: old.rollout(u, [[1e3], [-1e3]], steps=2)) == []
    empty = load(_exported(tmp_path, (), ()))
    assert empty.param_range == {}
    assert _range_warnings(lambda: empty.predict(U, 1e3)) == []


@pytest.mark.parametrize("key, value, says", [
    ("param_min", [0.1, 0.2], r"normalization: param_min must have one value per parameter "
                              r"\['nu'\] \(1\) or be empty"),
    ("param_max", "0.3", r"normalization\.param_max must be a list of numbers"),
    ("param_max", [True], r"normalization\.param_max must be a list of numbers"),
    ("param_min", [None], r"normalization\.param_min must be a list of numbers"),
    ("param_min", [float("nan")], r"normalization: param_min must hold finite numbers"),
    ("param_min", [0.5], r"normalization: param_min must be <= param_max for each parameter, "
                         r"got 0\.5 > 0\.3 for 'nu'"),
])
def test_a_malformed_range_in_config_json_is_refused_naming_the_key(tmp_path, key, value, says):
    out = _exported(tmp_path)
    cfg_path = out / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["normalization"][key] = value
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"config\.json'?: " + says):
        load(out)


def test_predict_says_it_in_one_prefixed_line_for_the_whole_file(tmp_path, capsys,
                                                                  monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # rich folds long lines at the terminal's width
    sur = _exported(tmp_path)
    path = tmp_path / "in.nc"
    nu = np.array([0.2, 0.05, 0.25, 0.4, 0.15])
    with DatasetWriter(path, "toy", (np.arange(16.0),), ("x",), np.array([0.0, 0.1]), ["u"],
                       ["nu"], 5) as w:
        w.write(0, np.zeros((5, 2, 1, 16), np.float32), {"nu": nu})
    # batches of 2: the surrogate's own per-call warnings (3 batches) are not shown
    assert main(["predict", "--model", str(sur), "--input", str(path), "--out",
                 str(tmp_path / "p.nc"), "--batch-size", "2"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert lines == [f"pdesurrogate predict: warning: {str(path)!r}: parameter values outside "
                     "the range this surrogate was trained on: 'nu' given 0.05 to 0.4 (min to "
                     "max of those given), trained on [0.1, 0.3]. Its errors grow outside its "
                     "training range: these predictions extrapolate"]
    # the API warns it once too; a file within the range not at all
    said = _range_warnings(lambda: predict_file(str(sur), str(path), str(tmp_path / "q.nc"),
                                                batch_size=2))
    assert len(said) == 1
    with DatasetWriter(tmp_path / "inside.nc", "toy", (np.arange(16.0),), ("x",),
                       np.array([0.0, 0.1]), ["u"], ["nu"], 5) as w:
        w.write(0, np.zeros((5, 2, 1, 16), np.float32), {"nu": np.clip(nu, LO, HI)})
    assert _range_warnings(lambda: predict_file(str(sur), str(tmp_path / "inside.nc"),
                                                str(tmp_path / "r.nc"), batch_size=2)) == []


def test_predict_file_judges_the_trajectories_it_rolls_out_and_warns_once(tmp_path):
    """``samples`` trajectories only (a value past them is not used, so not warned about); and
    without a batch size the memory probe on the first trajectory adds no second warning."""
    sur = _exported(tmp_path)
    path = tmp_path / "in.nc"
    with DatasetWriter(path, "toy", (np.arange(16.0),), ("x",), np.array([0.0, 0.1]), ["u"],
                       ["nu"], 3) as w:
        w.write(0, np.zeros((3, 2, 1, 16), np.float32), {"nu": np.array([0.2, 0.25, 0.9])})
    assert _range_warnings(lambda: predict_file(str(sur), str(path), str(tmp_path / "a.nc"),
                                                samples=2, batch_size=2)) == []
    with DatasetWriter(tmp_path / "first.nc", "toy", (np.arange(16.0),), ("x",),
                       np.array([0.0, 0.1]), ["u"], ["nu"], 2) as w:
        w.write(0, np.zeros((2, 2, 1, 16), np.float32), {"nu": np.array([0.9, 0.2])})
    said = _range_warnings(lambda: predict_file(str(sur), str(tmp_path / "first.nc"),
                                                str(tmp_path / "b.nc")))
    assert len(said) == 1 and "'nu' given 0.2 to 0.9" in said[0]
