"""``pdesurrogate online --config <a Navier-Stokes config> --solver heat2d``: the config's
solver settings that Heat2D also takes go over to it (jsonargparse's rule), said in one
warning; one that Heat2D refuses (``forcing: fno``) is refused before anything starts, naming
it and the solver it was written for. Before, nothing was said, and the run failed in the
preflight on ``forcing must be one of ['none', 'gaussian'], got 'fno'``, not saying where
``fno`` came from."""

import argparse
from pathlib import Path

import pytest

import pdesurrogate.online.command as command
from pdesurrogate.cli.solver_names import _solver_names_to_class_paths


@pytest.fixture
def launched(monkeypatch):
    """The solver each launch got (the job itself is not started)."""
    got = []
    monkeypatch.setattr(command, "_under_mpi", lambda: False)
    monkeypatch.setattr(command, "launch", lambda parser, cfg, argv: got.append(cfg.solver) or 0)
    return got


def _online(*argv: str) -> int:
    # as `pdesurrogate online` passes them: registry names on the command line translated
    return command.cmd_online(_solver_names_to_class_paths(list(argv), configs=False))


NS = ("--config", str(Path(__file__).parents[2] / "configs" / "online" / "scot_ns.yaml"))


def test_a_kept_setting_the_new_solver_refuses_is_named_with_its_solver(launched):
    with pytest.raises(argparse.ArgumentError) as err:
        _online(*NS, "--solver", "heat2d")
    msg = str(err.value)
    assert "solver.init_args.forcing='fno'" in msg, msg
    assert "NavierStokes2D" in msg and "scot_ns.yaml" in msg, msg
    assert "--solver.init_args.forcing" in msg, msg
    assert "\n" not in msg
    assert launched == []


def test_kept_settings_are_named_in_one_warning(launched, capsys):
    assert _online(*NS, "--solver", "heat2d", "--solver.init_args.forcing", "none") == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1, warnings
    assert "NavierStokes2D with Heat2D" in warnings[0] and "n=32" in warnings[0], warnings
    assert "forcing" not in warnings[0].split("also takes:")[1].split(";")[0], warnings
    assert "nu_range, ic were dropped" in warnings[0], warnings
    assert launched[0].init_args.n == 32 and launched[0].init_args.forcing == "none"


def test_the_configs_own_solver_gives_no_warning(launched, capsys):
    assert _online(*NS, "--solver.init_args.n", "16") == 0
    assert "warning" not in capsys.readouterr().err
    assert launched[0].class_path.endswith("NavierStokes2D") and launched[0].init_args.n == 16


def test_a_kept_setting_of_the_wrong_type_for_the_new_solver_is_refused_too(monkeypatch):
    """A constructor refusing a kept value with a TypeError (not only a ValueError) is the
    same refusal, not a traceback."""
    import pdesurrogate.cli.solver_class_change as change
    from pdesurrogate.online.errors import UsageError
    from pdesurrogate.online.solver_change import check_solver_change

    class Old:
        pass

    class New:
        def __init__(self, n: int = 8):
            if not isinstance(n, int):
                raise TypeError(f"n must be an int, got {n!r}")

    monkeypatch.setattr(change, "solver_class_change", lambda argv: change.SolverChange(
        Old, New, "--solver", {"n": "old.yaml"}, []))
    with pytest.raises(UsageError, match=r"solver\.init_args\.n=\[4, 4\] is a setting of the "
                                         r"solver Old \(from old\.yaml\).*New refuses it"):
        check_solver_change([], {"n": [4, 4]})
