"""Writers whose file cannot be written whole (a full disk or quota; here a file size limit,
RLIMIT_FSIZE, lowered in this process for one write, whose EFBIG reaches the writer as ENOSPC
does): an OSError naming the file the user asked for, nothing left under a temporary name, and
an earlier file under that name unchanged.

- ``export`` (pdesurrogate/export_files.py): safetensors' SafetensorError ("I/O error: File too
  large (os error 27)"), a traceback from the command, became an OSError naming
  ``model.safetensors``.
- fit's checkpoints (training/checkpoint_io.py) and ``atomic_write`` (temp_files.py: online's
  checkpoint parts, summary, plots, curves.png): an OSError naming no file, or torch's zip
  writer's "RuntimeError: unexpected pos" raised while it unwound, became the write's OSError
  naming the checkpoint.
- ``configs --copy`` (shipped_configs.py): "OSError: [Errno 28] No space left on device",
  naming nothing, became the error naming the config; the configs copied before stay whole.
- fit's loggers (training/version_claim.py: metrics.csv, hparams.yaml, TensorBoard's events):
  Lightning's error naming nothing (seen with fit on an 8 KiB tmpfs) names the run folder.
"""

import contextlib
import errno
import os
import resource
import signal

import pytest
import torch

from pdesurrogate.datasets import ChannelStats
from pdesurrogate.export import export_surrogate
from pdesurrogate.loading import load
from pdesurrogate.models import FNO
from pdesurrogate.shipped_configs import copy_configs, shipped_configs
from pdesurrogate.temp_files import atomic_write
from pdesurrogate.training import NextStepModule
from pdesurrogate.training.checkpoint_io import AtomicCheckpointIO
from pdesurrogate.training.version_claim import CSVLogger


@contextlib.contextmanager
def file_size_limit(nbytes: int):
    """Files of this process limited to ``nbytes`` for the block: a write past it fails with
    EFBIG (SIGXFSZ, which would kill the process, ignored meanwhile)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old)


def _module(width: int) -> NextStepModule:
    torch.manual_seed(width)
    m = NextStepModule(FNO(1, 1, [8], width, 2, n_params=1), residual=True)
    m.set_normalization(ChannelStats(mean=[0.0], std=[1.0], spatial_dims=1, param_names=["nu"],
                                     param_mean=[0.1], param_std=[0.02]))
    m.data_info = {"pde": "burgers1d", "grid_shape": [32], "channel_names": ["u"],
                   "param_names": ["nu"], "k": 1, "dt": 0.2}
    return m


def test_export_past_the_limit_names_the_weights_and_keeps_the_earlier_export(tmp_path):
    out = tmp_path / "model"
    export_surrogate(_module(4), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    big = _module(32)  # weights of about 300 KB; its config.json (2 KB) fits
    with file_size_limit(64 * 1024), pytest.raises(OSError) as err:
        export_surrogate(big, out, overwrite=True)
    assert err.value.errno == errno.EFBIG, err.value
    assert str(err.value) == f"[Errno 27] File too large: '{out / 'model.safetensors'}'"
    assert sorted(os.listdir(tmp_path)) == ["model"]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    load(out)


def test_checkpoint_past_the_limit_names_it_and_keeps_the_earlier_one(tmp_path):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"w": torch.ones(10)}, path)
    before = path.read_bytes()
    with file_size_limit(64 * 1024), pytest.raises(OSError) as err:
        io.save_checkpoint({"w": torch.zeros(100_000)}, path)
    assert err.value.errno == errno.EFBIG, err.value
    assert str(err.value) == f"[Errno 27] File too large: '{path}'"
    assert os.listdir(tmp_path) == ["last.ckpt"] and path.read_bytes() == before


@pytest.mark.parametrize("size", [100_000, 16_300])
def test_atomic_write_past_the_limit_names_the_file(tmp_path, size):
    """torch.save through atomic_write (online's checkpoint parts): the write's OSError. Before,
    100_000 floats came out as torch's "RuntimeError: unexpected pos", 16_300 (just past the
    limit) as an OSError naming no file."""
    path = tmp_path / "stream-trainer0.pt"
    atomic_write(path, lambda f: f.write(b"old"))
    with file_size_limit(64 * 1024), pytest.raises(OSError) as err:
        atomic_write(path, lambda f: torch.save({"w": torch.zeros(size)}, f))
    assert err.value.errno == errno.EFBIG, err.value
    assert str(err.value) == f"[Errno 27] File too large: '{path}'"
    assert os.listdir(tmp_path) == ["stream-trainer0.pt"] and path.read_bytes() == b"old"


def test_configs_copy_past_the_limit_names_the_config_and_leaves_whole_files(tmp_path):
    limit = 1024  # the data configs fit under it, several fit and online configs do not
    shipped = {f"{c.kind}/{c.name}.yaml": c.file.read_bytes() for c in shipped_configs()}
    too_big = [k for k, data in shipped.items() if len(data) > limit]
    assert too_big and len(too_big) < len(shipped)  # the limit falls among the files
    with file_size_limit(limit), pytest.raises(OSError) as err:
        copy_configs(tmp_path)
    assert err.value.errno == errno.EFBIG, err.value
    failed = err.value.filename
    assert str(err.value) == f"[Errno 27] File too large: '{failed}'"
    assert failed.removeprefix(f"{tmp_path / 'configs'}/") in too_big, failed
    left = {str(p.relative_to(tmp_path / "configs")): p.read_bytes()
            for p in (tmp_path / "configs").rglob("*") if p.is_file() or p.is_symlink()}
    assert left and set(left) <= set(shipped), sorted(left)  # no temporary among them
    assert all(shipped[name] == data for name, data in left.items())


@pytest.mark.parametrize("end", ["save", "finalize"])
def test_csv_logger_past_the_limit_names_its_run_folder(tmp_path, end):
    logger = CSVLogger(tmp_path, name="csv")
    for step in range(50):
        logger.log_metrics({"train_loss": 1.0 / (step + 1), "val_loss": 2.0}, step)
    with file_size_limit(256), pytest.raises(OSError) as err:
        logger.save() if end == "save" else logger.finalize("success")
    assert err.value.errno == errno.EFBIG, err.value
    assert str(err.value) == f"[Errno 27] File too large: '{tmp_path / 'csv' / 'version_0'}'"
