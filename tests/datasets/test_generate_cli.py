"""`pdesurrogate generate` (the command in front of generate_dataset): options, names and
messages. Tiny advection1d runs (16 points, 2 samples)."""

from pathlib import Path

import pytest

from pdesurrogate.cli import main
from pdesurrogate.datasets import open_dataset

ROOT = Path(__file__).resolve().parents[2]

SMALL = ["--solver.n_points", "16", "--samples", "2", "--n_times", "2", "--t_end", "0.1",
         "--workers", "1"]


def test_help_says_what_the_file_depends_on_and_what_solver_takes(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["generate", "--help"])
    assert stop.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "same seed, same file, whatever --batch_size and --workers" in out
    assert "--overwrite Replace --out if it exists" in out
    assert "The solver (required): a name or class, advection1d (Advection1D), burgers1d " \
           "(Burgers1D)" in out
    # the Solver docstring's first line was a group heading; --solver read "Optional, null"
    assert "Base class" not in out and "Optional[Solver]" not in out


def test_missing_options_are_named_as_options(capsys):
    assert main(["generate"]) == 2
    err = capsys.readouterr().err
    assert "error: the following arguments are required: --out, --solver\n" in err, err


@pytest.mark.parametrize("how", ["option", "equals", "class_path", "config", "config_name"])
def test_registry_names_select_the_solver(tmp_path, how):
    """The registry name (README, make_solver, the file's pde attribute) works wherever a
    class does: --solver NAME, --solver=NAME, --solver.class_path NAME, a config's class_path
    or its solver: NAME."""
    out = tmp_path / "a.nc"
    config = tmp_path / "c.yaml"
    config.write_text("solver:\n  class_path: advection1d\n  init_args: {n_points: 16}\n"
                      if how == "config" else "solver: advection1d\n")
    choose = {"option": ["--solver", "advection1d"], "equals": ["--solver=advection1d"],
              "class_path": ["--solver.class_path", "advection1d"],
              "config": ["--config", str(config)],
              "config_name": ["--config", str(config)]}[how]
    assert main(["generate", *choose, *SMALL, "--out", str(out)]) == 0
    with open_dataset(out) as d:
        assert d.pde == "advection1d" and d.u.shape == (2, 2, 1, 16)


def test_unknown_solver_lists_the_names(tmp_path, capsys):
    assert main(["generate", "--solver", "burgers", "--out", str(tmp_path / "x.nc")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == ("pdesurrogate generate: error: --solver: unknown solver 'burgers'; choose "
                      "a name or class: advection1d (Advection1D), burgers1d (Burgers1D), ks1d "
                      "(KS1D), navier_stokes2d (NavierStokes2D), heat2d (Heat2D), darcy2d "
                      "(Darcy2D)"), err


def test_existing_out_needs_overwrite(tmp_path, capsys):
    """An existing --out is refused before solving (the file is untouched); --overwrite
    replaces it."""
    out = tmp_path / "a.nc"
    out.write_text("hours of compute")
    args = ["generate", "--solver", "advection1d", *SMALL, "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"FileExistsError: {str(out)!r} exists; pass --overwrite (overwrite=True) to " \
           "replace it" in err, err
    assert out.read_text() == "hours of compute"
    assert main([*args, "--overwrite"]) == 0
    with open_dataset(out) as d:
        assert d.u.shape == (2, 2, 1, 16)


@pytest.mark.parametrize("args, message", [
    (["--t_end", "0", "--n_times", "4"],
     "--t_end must be > 0 to store --n_times 4 different times (evenly spaced over [0, t_end]), "
     "got 0.0"),
    (["--times", "[0, 0.1, 0.1]"], "times must be strictly increasing, got times[2] = 0.1 after "
                                   "times[1] = 0.1"),
    (["--seed", str(2**64)], f"seed must be an int in [0, 2**63), got {2**64}"),
    (["--out", ""], "the output path is empty; expected a file name such as 'advection1d.nc'"),
])
def test_bad_values_are_one_line(tmp_path, capsys, args, message):
    """Repeated times, a seed that does not fit int64, an empty --out: one line each, nothing
    written (was: times [0, 0, 0, 0] written; dtype('O') has no native HDF5 equivalent;
    "output '' is a folder")."""
    assert main(["generate", "--solver", "advection1d", *SMALL, "--out",
                 str(tmp_path / "x.nc"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err.splitlines()[0], err
    assert list(tmp_path.iterdir()) == []


def test_compression_is_an_option_and_a_bad_one_is_one_line(tmp_path, capsys):
    """--compression / --compression_level (or the same keys in a config) reach the file;
    without them it is uncompressed; a bad value is one line and nothing is written."""
    import h5py
    import numpy as np

    base = ["generate", "--solver", "advection1d", *SMALL]
    assert main([*base, "--out", str(tmp_path / "plain.nc")]) == 0
    assert main([*base, "--out", str(tmp_path / "gz.nc"), "--compression", "gzip",
                 "--compression_level", "2"]) == 0
    config = tmp_path / "c.yaml"
    config.write_text("compression: lzf\n")
    assert main([*base, "--config", str(config), "--out", str(tmp_path / "lzf.nc")]) == 0
    with open_dataset(tmp_path / "plain.nc") as plain:
        for name, filters in (("plain", (None, None)), ("gz", ("gzip", 2)),
                              ("lzf", ("lzf", None))):
            with h5py.File(tmp_path / f"{name}.nc") as f:
                assert (f["u"].compression, f["u"].compression_opts) == filters
            with open_dataset(tmp_path / f"{name}.nc") as d:
                np.testing.assert_array_equal(d.u[:], plain.u[:])
    capsys.readouterr()

    assert main([*base, "--out", str(tmp_path / "bad.nc"), "--compression", "zip"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == ("pdesurrogate generate: error: ValueError: compression must be None "
                      "(uncompressed), 'gzip' or 'lzf', got 'zip'"), err
    assert not (tmp_path / "bad.nc").exists()

    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--compression COMPRESSION Compress the states u: gzip" in out
    assert "--compression_level COMPRESSION_LEVEL With --compression gzip: 0 (stored) to 9" in out


BURGERS = "configs/data/burgers1d.yaml"
KS_TAKES = ("n_points", "length", "nu_range", "ic")  # Burgers1D's init_args KS1D also takes


@pytest.mark.parametrize(("argv", "kept", "dropped"), [
    (["--config", BURGERS, "--solver", "ks1d"], KS_TAKES, ["scheme"]),
    (["--config", BURGERS, "--overwrite", "--solver=ks1d"], KS_TAKES, ["scheme"]),
    (["--config", BURGERS, "--solver.class_path", "pdesurrogate.solvers.KS1D",
      "--solver.length=64"], ("n_points", "nu_range", "ic"), ["scheme"]),
    (["--config", BURGERS, "--solver", "{class_path: KS1D, init_args: {n_points: 32, length: "
      "64, nu_range: [1, 2]}}"], ("ic",), ["scheme"]),
    (["--solver", "burgers1d", "--solver.init_args.n_points", "64", "--solver", "ks1d"],
     ("n_points",), []),
    # the same class again, or a change that re-gives everything, carries nothing
    (["--config", BURGERS, "--solver", "Burgers1D"], None, None),
    (["--config", BURGERS, "--config", "configs/data/ks1d.yaml"], None, None),
    (["--solver", "ks1d", "--solver.init_args.n_points", "64"], None, None),
])
def test_solver_class_change_names_what_jsonargparse_carries(argv, kept, dropped,
                                                             monkeypatch):
    """solver_class_change names the init_args given for an earlier class that a later
    --solver, --solver.class_path or --config carried over to a new one, as jsonargparse
    does: those the new class also takes and that are not given again after the change; the
    others it drops. Each kept one is, after parsing, the value given for the earlier class."""
    import yaml

    from pdesurrogate.cli.generate_command import _generate_parser
    from pdesurrogate.cli.solver_class_change import solver_class_change
    from pdesurrogate.cli.solver_names import _solver_names_to_class_paths

    monkeypatch.chdir(ROOT)
    change = solver_class_change(argv)
    if kept is None:
        assert change is None, change
        return
    assert (change.old.__name__, change.new.__name__) == ("Burgers1D", "KS1D")
    assert sorted(change.kept) == sorted(kept) and change.dropped == dropped, change
    parsed = _generate_parser().parse_args(_solver_names_to_class_paths([*argv, "--out", "x"]))
    burgers = (yaml.safe_load((ROOT / BURGERS).read_text())["solver"]["init_args"]
               if argv[0] == "--config" else {"n_points": 64})
    for k in kept:
        assert parsed.solver.init_args[k] == pytest.approx(burgers[k]), k


def test_generate_warns_when_solver_replaces_the_configs_class(tmp_path, capsys,
                                                                monkeypatch):
    """generate --config burgers1d.yaml --solver ks1d: the file is made with the Burgers
    values KS1D also takes (jsonargparse's rule), and a warning lists each with its value,
    the config it came from and what was dropped. Before, nothing was said."""
    import json

    import h5py
    import yaml

    monkeypatch.chdir(ROOT)
    out = tmp_path / "ks.nc"
    assert main(["generate", "--config", BURGERS, "--solver", "ks1d", "--solver.init_args."
                 "n_points", "32", "--samples", "1", "--n_times", "2", "--t_end", "0.001",
                 "--workers", "1", "--out", str(out)]) == 0
    err = " ".join(capsys.readouterr().err.split())
    burgers = yaml.safe_load((ROOT / BURGERS).read_text())["solver"]["init_args"]
    with h5py.File(out) as f:
        settings = json.loads(f.attrs["solver_settings"])
    assert "warning: --solver ks1d replaced the solver Burgers1D with KS1D" in err, err
    for k in ("length", "nu_range", "ic"):
        assert settings[k] == burgers[k], (k, settings)
        assert f"{k}={tuple(burgers[k]) if isinstance(burgers[k], list) else burgers[k]!r}" \
            in err, (k, err)
    assert "n_points=" not in err and settings["n_points"] == 32  # given after --solver
    assert f"(from config {BURGERS!r}); the others were dropped (scheme)" in err, err
