"""What a rank derives from its settings (no MPI job runs here): a solver rank sends its packs
at least every quarter of ``stall_timeout`` (so a slow solver is never taken for a dead one),
and the summary names ``trainer.max_steps`` as what ended a run when it is 0 and reached (and
not when it is -1, Lightning's "no limit")."""

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

import pdesurrogate.streaming as streaming
from pdesurrogate.online import _parse, build_solver, ended_by_what
from pdesurrogate.online.solver_rank import run_solver
from pdesurrogate.streaming.client import DEFAULT_MAX_PACK_AGE_S

_spec = importlib.util.spec_from_file_location(
    "online_test_helpers", Path(__file__).parents[1] / "test_online.py")
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


@pytest.mark.parametrize(("stall_timeout", "age"), [("4", 1.0), ("null", DEFAULT_MAX_PACK_AGE_S),
                                                    ("400", DEFAULT_MAX_PACK_AGE_S)])
def test_packs_go_at_least_every_quarter_stall_timeout(tmp_path, monkeypatch, stall_timeout,
                                                       age):
    seen = {}
    monkeypatch.setattr(streaming, "run_solver_rank", lambda *a, **kw: seen.update(kw))
    cfg = helpers.write_config(tmp_path)
    ns = _parse(["--config", str(cfg), "--stall_timeout", stall_timeout], lightning=False)[1]
    assert run_solver(ns, None, build_solver(ns), ("beta",)) == 0
    assert seen["max_pack_age_s"] == age


def trainer(max_steps: int, global_step: int):
    return SimpleNamespace(fast_dev_run=False, max_steps=max_steps, global_step=global_step,
                           callbacks=[])


def test_max_steps_zero_reached_is_named():
    assert ended_by_what(trainer(0, 0), stream_ended=False) == "trainer.max_steps (0)"
    assert ended_by_what(trainer(5, 5), stream_ended=False) == "trainer.max_steps (5)"


def test_max_steps_minus_one_is_no_limit():
    assert "max_steps" not in ended_by_what(trainer(-1, 5), stream_ended=False)
