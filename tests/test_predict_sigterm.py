"""``pdesurrogate predict`` stopped by SIGTERM (``kill``, Slurm's ``scancel``) mid-rollout: one
line on stderr, exit status 143, the old ``--out`` and ``--plot`` intact and none of its
temporary files left beside them. Before, SIGTERM's default action ended it on the spot,
leaving ``.p.nc.<host>.<pid>.<random>.tmp`` and the plot's temporary behind."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from pdesurrogate.datasets import DatasetWriter

from .test_predict import NX, model  # noqa: F401 (model: an exported FNO, a fixture)

N = 2000


@pytest.mark.slow  # a subprocess run of several seconds: make test's 10 minutes
def test_sigterm_mid_rollout_leaves_old_outputs_and_no_temporaries(tmp_path, model):  # noqa: F811
    x, times = np.arange(NX) / NX, np.linspace(0, 1, 6)
    u = np.sin(2 * np.pi * x)[None, None, None] * (1 + times)[None, :, None, None]
    data = tmp_path / "in.nc"
    with DatasetWriter(data, "burgers1d", (x,), ("x",), times, ["u"], ["nu"], N) as w:
        w.write(0, np.repeat(u, N, 0).astype(np.float32), {"nu": np.full(N, 0.1)})
    out = tmp_path / "out"
    out.mkdir()
    (out / "p.nc").write_text("old rollout")
    (out / "p.png").write_text("old plot")
    # one trajectory at a time: thousands of batches, far longer than the signal takes
    proc = subprocess.Popen(
        [sys.executable, "-m", "pdesurrogate.cli", "predict", "--model", model, "--input",
         str(data), "--out", str(out / "p.nc"), "--plot", str(out / "p.png"), "--batch-size",
         "1", "--overwrite"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        # the plot's temporary is opened after the rollout's, just before the rollout starts
        while not any(f.startswith(".p.png.") for f in os.listdir(out)):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no temporary plot file appeared"
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, (proc.returncode, stderr)
    assert stderr.strip() == "pdesurrogate predict: stopped by SIGTERM; no partial output is " \
                             "left", stderr
    assert "wrote" not in stdout, stdout
    assert sorted(os.listdir(out)) == ["p.nc", "p.png"]
    assert (out / "p.nc").read_text() == "old rollout"
    assert (out / "p.png").read_text() == "old plot"
