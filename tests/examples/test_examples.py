"""The gallery in examples/ runs as examples/README.md says, each script with its --tiny sizes
in a folder of the test's own (nothing written into the checkout), and each model it trains
learns: the validation error falls, and the held-out error beats what a model that learnt
nothing scores (copying the first state; predicting the training mean)."""

import json
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run(tmp_path: Path, script: str, *args: str, timeout: int = 240
         ) -> subprocess.CompletedProcess:
    # one thread as the examples set themselves; no .pyc beside examples/tiny_cnn.py, which
    # the own-model example imports (a file in the checkout)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True,
                          text=True, timeout=timeout, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _val_curve(stdout: str) -> list[float]:
    return [float(v) for v in re.findall(r"^epoch \d+: val/rel_l2 (\S+)$", stdout, re.MULTILINE)]


def _run_cli_example(tmp_path: Path, script: str, out: Path, commands: tuple[str, ...]
                     ) -> tuple[subprocess.CompletedProcess, list[float], float, float]:
    """Runs an example that types pdesurrogate commands, with --tiny (6 epochs), and checks
    that it showed each of ``commands`` as run and printed a validation curve of 6 epochs and
    the held-out 10-step error; returns the run, the curve, and the held-out errors of the
    model and of copying the first state."""
    proc = _run(tmp_path, script, "--out", str(out), "--tiny")
    log = proc.stdout + proc.stderr
    # the commands a user would type, shown as they ran
    for cmd in commands:
        assert re.search(rf"^\$ pdesurrogate {cmd} ", proc.stdout, re.MULTILINE), log
    curve = _val_curve(proc.stdout)
    assert len(curve) == 6, log
    m = re.search(r"^held-out mean rel L2 over 10 steps: (\S+) "
                  r"\(copying the first state: (\S+)\)$", proc.stdout, re.MULTILINE)
    assert m, log
    return proc, curve, float(m.group(1)), float(m.group(2))


@pytest.mark.parametrize("script", ["train_in_python.py", "own_model.py", "steady_darcy.py",
                                    "own_data.py"])
def test_example_help_names_its_output_folder_and_tiny_sizes(tmp_path, monkeypatch, capsys,
                                                             script):
    # in this process (runpy): the libraries the example imports are loaded once for all
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # own_model.py puts examples/ first
    monkeypatch.setattr(sys, "argv", [script, "--help"])
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    sys.modules.pop("tiny_cnn", None)
    assert exc.value.code == 0
    usage = capsys.readouterr().out
    assert usage.startswith("usage:"), usage
    for flag in ("--out", "--tiny", "--epochs"):
        assert flag in usage, usage
    assert list(tmp_path.iterdir()) == []  # --help writes nothing


@pytest.mark.slow
def test_train_in_python_learns_exports_and_plots(tmp_path):
    out = tmp_path / "out"
    proc = _run(tmp_path, "train_in_python.py", "--out", str(out), "--tiny")
    log = proc.stdout + proc.stderr
    curve = _val_curve(proc.stdout)
    assert len(curve) == 6, log  # --tiny's 6 epochs, each validated
    assert curve[-1] < 0.75 * curve[0], log  # 0.95 -> 0.48 measured
    steps = re.findall(r"^  step +(\d+) +t=\S+ +(\S+) \| (\S+)$", proc.stdout, re.MULTILINE)
    assert [int(s) for s, _, _ in steps] == list(range(1, 11)), log
    m = re.search(r"^held-out mean rel L2: (\S+) \(copying the first state: (\S+)\)$",
                  proc.stdout, re.MULTILINE)
    assert m, log
    model_err, copy_err = float(m.group(1)), float(m.group(2))
    assert model_err == pytest.approx(np.mean([float(e) for _, e, _ in steps]), abs=2e-4), log
    assert model_err < 0.75 * copy_err, log  # 0.47 against 0.82 measured
    assert (out / "rollout.png").read_bytes()[:8] == PNG_MAGIC

    import pdesurrogate
    from pdesurrogate.datasets import open_dataset

    sur = pdesurrogate.load(out / "model")
    held = open_dataset(out / "burgers_heldout.nc")
    traj = sur.rollout(held.u[:2, 0], {"nu": held.params["nu"][:2]}, steps=3)
    assert traj.shape == (2, 4, 1, 64) and np.isfinite(traj).all()


@pytest.mark.slow
def test_own_model_trains_through_the_cli_and_loads_with_its_class(tmp_path):
    out = tmp_path / "out"
    proc, curve, model_err, copy_err = _run_cli_example(tmp_path, "own_model.py", out,
                                                        ("generate", "fit", "export"))
    log = proc.stdout + proc.stderr
    assert curve[-1] < 0.75 * curve[0], log  # 0.47 -> 0.11 measured
    assert model_err < 0.5 * copy_err, log  # 0.13 against 0.82 measured
    assert "loaded TinyCNN from" in proc.stdout, log

    # the export records the user's class by name, and loading needs it handed over
    config = json.loads((out / "model" / "config.json").read_text())
    assert config["model"]["class"] == "tiny_cnn.TinyCNN"
    import pdesurrogate

    with pytest.raises(ValueError, match="tiny_cnn.TinyCNN"):
        pdesurrogate.load(out / "model")


@pytest.mark.slow
def test_steady_darcy_learns_a_to_u(tmp_path):
    out = tmp_path / "out"
    proc = _run(tmp_path, "steady_darcy.py", "--out", str(out), "--tiny")
    log = proc.stdout + proc.stderr
    m = re.search(r"^val/rel_l2 of u: (\S+) untrained, (\S+) after 15 epochs$", proc.stdout,
                  re.MULTILINE)
    assert m, log
    assert float(m.group(2)) < 0.5 * float(m.group(1)), log  # 0.53 -> 0.15 measured
    m = re.search(r"^held-out rel L2 of u over 8 samples: mean (\S+), max (\S+) "
                  r"\(predicting the training mean: (\S+)\)$", proc.stdout, re.MULTILINE)
    assert m, log
    assert float(m.group(1)) < 0.85 * float(m.group(3)), log  # 0.13 against 0.20 measured
    assert (out / "darcy.png").read_bytes()[:8] == PNG_MAGIC

    import pdesurrogate

    sur = pdesurrogate.load(out / "model")
    assert sur.predict(np.full((1, 1, 16, 16), 3.0, np.float32)).shape == (1, 1, 16, 16)


@pytest.mark.slow
def test_own_data_trains_fit_export_predict_on_arrays_written_by_the_user(tmp_path):
    out = tmp_path / "out"
    proc, curve, model_err, copy_err = _run_cli_example(tmp_path, "own_data.py", out,
                                                        ("fit", "export", "predict"))
    log = proc.stdout + proc.stderr
    assert curve[-1] < 0.75 * curve[0], log  # 0.65 -> 0.24 measured
    assert model_err < 0.5 * copy_err, log  # 0.14 against 0.45 measured

    from pdesurrogate.datasets import open_dataset

    # the files hold the user's arrays as the reader and the model see them
    with open_dataset(out / "heat_train.nc") as train, \
            open_dataset(out / "heat_heldout.nc") as held:
        assert train.shape == (24, 11, 1, 64) and held.shape == (4, 11, 1, 64)
        for data in (train, held):
            assert data.channel_names == ("u",) and data.grid_names == ("x",)
            assert set(data.params) == {"kappa"}
            assert ((0.005 <= data.params["kappa"]) & (data.params["kappa"] <= 0.02)).all()
        # the heat equation keeps the mean and damps the rest
        u = held.u[:]
        np.testing.assert_allclose(u.mean(axis=-1)[:, -1], u.mean(axis=-1)[:, 0], atol=1e-5)
        assert (np.abs(u[:, -1]).max(axis=-1) < np.abs(u[:, 0]).max(axis=-1)).all()
    # the export knows the data's PDE and parameter by the names the user gave
    config = json.loads((out / "model" / "config.json").read_text())
    assert config["pde"] == "heat1d_own" and config["param_names"] == ["kappa"], config
