"""`pdesurrogate generate` (the command in front of generate_dataset): options, names and
messages. Tiny advection1d runs (16 points, 2 samples)."""

import pytest

from pdesurrogate.cli import main
from pdesurrogate.datasets import open_dataset

SMALL = ["--solver.n_points", "16", "--samples", "2", "--n_times", "2", "--t_end", "0.1",
         "--workers", "1"]


def test_help_says_what_the_file_depends_on_and_what_solver_takes(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["generate", "--help"])
    assert stop.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "same seed and batch_size, same file" in out
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
