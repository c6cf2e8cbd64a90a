"""A command imports what its work needs and no more: each start-up is paid on every run (and
``make test`` starts hundreds). Each case runs the command in a fresh Python through
``pdesurrogate.cli.main`` and reads ``sys.modules`` after it."""

import json
import os
import re
import subprocess
import sys

from pdesurrogate.datasets import generate_dataset
from pdesurrogate.solvers import Burgers1D

# run in the child: the command, then the loaded top-level packages among ROOTS, as JSON
_CHILD = """
import json, sys
from pdesurrogate.cli import main
code = main(json.loads(sys.argv[1]))
roots = {m.split(".")[0] for m in sys.modules}
print(json.dumps({"code": code, "loaded": sorted(roots & set(json.loads(sys.argv[2])))}))
"""


def _run(argv: list[str], roots: list[str], cwd) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(argv), json.dumps(roots)],
                         capture_output=True, text=True, cwd=cwd, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_generate_runs_a_solver_without_scipy(tmp_path):
    # scipy.sparse is for the SOR of any sparse matrix (solvers.linear.sor), which no solver's
    # time step calls: importing it cost every generate (and every online solver rank)
    # 0.2-0.4 s, with numpy.f2py and charset_normalizer that scipy pulls in
    out = tmp_path / "b.nc"
    got = _run(["generate", "--solver", "burgers1d", "--solver.n_points", "16", "--samples",
                "2", "--n_times", "2", "--t_end", "0.01", "--out", str(out)],
               ["scipy", "torch"], tmp_path)
    assert got == {"code": 0, "loaded": ["torch"]}  # torch: the solver's own library
    assert out.is_file()


def test_info_describes_a_dataset_file_without_torch(tmp_path, capsys):
    path = tmp_path / "d.nc"
    generate_dataset(Burgers1D(n_points=16), path, samples=2, times=[0.0, 0.01],
                     progress=False)
    capsys.readouterr()
    # torch's import is 1-2 s of a command that otherwise reads an HDF5 header
    got = _run(["info", str(path)], ["torch", "h5py"], tmp_path)
    assert got == {"code": 0, "loaded": ["h5py"]}


def test_predict_and_compare_help_without_torch(tmp_path):
    # a help text is read often; it quotes predict's batch budget (predict_budget), nothing
    # that needs torch (2 s of a 0.2-s command)
    for command in ("predict", "compare"):
        out = subprocess.run([sys.executable, "-m", "pdesurrogate", command, "--help"],
                             capture_output=True, text=True, cwd=tmp_path, timeout=120,
                             env={**os.environ, "PYTHONVERBOSE": "1"})
        assert out.returncode == 0 and "usage: pdesurrogate " + command in out.stdout
        # -v's import trace names each module as it is imported
        assert not re.search(r"^import 'torch'", out.stderr, re.M), command


def test_load_and_info_of_an_export_without_dynamo(tmp_path):
    # both build the export's model on the meta device first; its initialisation's draws and
    # scalings there ran through torch's reference kernels, which imported torch._dynamo and
    # sympy: 1-2 s of every load, predict and info of an FNO, CAPE, scOT or PINN export
    from pdesurrogate.export import export_surrogate
    from pdesurrogate.models import FNO
    from pdesurrogate.training import NextStepModule

    module = NextStepModule(FNO(2, 2, [4], 8, 2))
    module.data_info = {"pde": "toy", "grid_shape": [16], "channel_names": ["a", "b"],
                        "param_names": [], "k": 1, "dt": 0.1}
    out = export_surrogate(module, tmp_path / "sur")
    child = ("import json, sys, pdesurrogate\n"
             "pdesurrogate.load(sys.argv[1])\n"
             "print(json.dumps(sorted({'torch._dynamo', 'sympy'} & set(sys.modules))))\n")
    run = subprocess.run([sys.executable, "-c", child, str(out)], capture_output=True,
                         text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.strip().splitlines()[-1]) == []
    assert _run(["info", str(out)], ["sympy", "torch"], tmp_path) == {"code": 0,
                                                                     "loaded": ["torch"]}
