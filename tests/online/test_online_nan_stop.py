"""``pdesurrogate online`` whose weights turn NaN (a learning rate far too large) ends the job
with one error naming the problem and the config keys to change, exporting nothing and leaving
no checkpoint of NaN weights; before, it trained NaN to the end of the stream and exported a
NaN model with exit status 0."""

import importlib.util
import re
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "online_test_helpers", Path(__file__).parents[1] / "test_online.py")
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

pytestmark = pytest.mark.skipif(not (helpers.BIN / "mpiexec").exists(),
                                reason="no mpiexec next to python")


@pytest.mark.slow  # 15-25 s; the message itself: tests/training/test_finite_weights.py
def test_nan_weights_end_the_job_with_one_error_and_no_export(tmp_path):
    out = tmp_path / "run"
    proc = helpers.run(["--config", str(helpers.write_config(tmp_path)), "--out", str(out),
                        "--model.init_args.lr", "1e12"], tmp_path, timeout=240)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0, text
    assert re.search(r"\[online rank 0 \(trainer\)\] error: NonFiniteWeights: the weights were "
                     r"found NaN or infinite after epoch 0, batch \d+ ", text), text
    assert "model.init_args.lr, it was 1e+12" in text, text
    assert "Traceback" not in text, text
    assert not (out / "model").exists() and not list(out.rglob("*.safetensors")), \
        sorted(p.name for p in out.rglob("*"))
    assert not (out / "checkpoint").exists()
