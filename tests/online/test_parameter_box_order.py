"""The parameter box an online run draws from: in the solver's ``param_names`` order whatever
the order the config gives them in (the scheduler sends values in box order and the solver ranks
read them in ``param_names`` order), and a parameter fixed at one value (``[v, v]``) is taken."""

import importlib.util
import json
from pathlib import Path

from pdesurrogate.online import _parameter_box, _parse
from pdesurrogate.solvers import Advection1D, Heat2D

_spec = importlib.util.spec_from_file_location(
    "online_test_helpers", Path(__file__).parents[1] / "test_online.py")
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


def box_for(tmp_path, solver, parameters: str):
    cfg = helpers.write_config(tmp_path)
    ns = _parse(["--config", str(cfg), "--parameters", parameters], lightning=False)[1]
    return _parameter_box(ns, solver)


def test_a_parameter_fixed_at_one_value_is_taken(tmp_path):
    assert box_for(tmp_path, Advection1D(n_points=32), "{beta: [0.5, 0.5]}") \
        == {"beta": (0.5, 0.5)}


def test_the_box_follows_the_solvers_parameter_order(tmp_path):
    solver = Heat2D(n=16)
    names = list(solver.param_names)
    assert len(names) == 2
    given = {n: [float(v) for v in getattr(solver, f"{n}_range")] for n in reversed(names)}
    box = box_for(tmp_path, solver, json.dumps(given))
    assert list(box) == names
    assert box == {n: tuple(given[n]) for n in names}
