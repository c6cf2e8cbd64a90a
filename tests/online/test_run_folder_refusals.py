"""The run folder's refusals before any MPI job starts: a ``--resume`` that changes what the
run trains on (its seed, its simulations) is refused naming the key and both values; a fresh
run refuses a folder holding an earlier run's ``model/`` (it would be overwritten); a finished
run is never resumed, while a stopped or incomplete one is."""

import importlib.util
import json
import re
from pathlib import Path

import pytest

from pdesurrogate.online import (
    UsageError,
    _check_config_file,
    _check_out,
    _parse,
    _write_config_file,
)

_spec = importlib.util.spec_from_file_location(
    "online_test_helpers", Path(__file__).parents[1] / "test_online.py")
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


@pytest.mark.parametrize(("args", "change"), [(["--seed", "1"], "seed (0 -> 1)"),
                                              (["--simulations", "25"], "simulations (24 -> 25)")])
def test_a_resume_that_changes_what_the_run_trains_on_is_refused(tmp_path, args, change):
    cfg, out = helpers.write_config(tmp_path), tmp_path / "run"
    parser, ns, _ = _parse(["--config", str(cfg), "--out", str(out)], lightning=False)
    _write_config_file(parser, ns, out)
    parser, ns, _ = _parse(["--config", str(cfg), "--out", str(out), "--resume", *args],
                           lightning=False)
    with pytest.raises(UsageError, match=rf"settings differ .*: {re.escape(change)}\."):
        _check_config_file(parser, ns, out)


def test_a_fresh_run_refuses_a_folder_holding_an_earlier_model(tmp_path):
    out = tmp_path / "run"
    (out / "model").mkdir(parents=True)
    with pytest.raises(UsageError, match=r"model' exists \(an earlier run's model\)"):
        _check_out(out, resume=False)


@pytest.mark.parametrize(("status", "refused"), [("stopped", False), ("incomplete", False),
                                                 ("finished", True)])
def test_only_a_finished_run_is_refused_a_resume(tmp_path, status, refused):
    (tmp_path / "summary.json").write_text(json.dumps({"status": status}))
    (tmp_path / "checkpoint").mkdir()
    (tmp_path / "checkpoint" / "manifest.json").write_text(json.dumps(
        {"trainers": 1, "global_step": 1, "simulations": 4, "committed": 0}))
    if refused:
        with pytest.raises(UsageError, match="holds a finished run"):
            _check_out(tmp_path, resume=True)
    else:
        _check_out(tmp_path, resume=True)
