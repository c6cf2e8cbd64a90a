"""pdesurrogate.export_files: what --overwrite may replace (an export folder, nothing else), a
replace that a kill cannot turn into no model at all, the leftovers of killed exports, and the
bounded read of config.json (a regular file of at most a few MiB of JSON)."""

import json
import os
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import torch

from pdesurrogate.datasets import ChannelStats
from pdesurrogate.export import export_surrogate
from pdesurrogate.loading import load
from pdesurrogate.models import FNO
from pdesurrogate.temp_files import host_tag
from pdesurrogate.training import NextStepModule

# the host part of temporary names (pdesurrogate.temp_files)
HOST = host_tag()


def _module(seed: int) -> NextStepModule:
    """A tiny 1-D FNO surrogate, its weights drawn from ``seed``."""
    torch.manual_seed(seed)
    m = NextStepModule(FNO(1, 1, [4], 8, 2))
    m.set_normalization(ChannelStats(mean=[0.5], std=[2.0], spatial_dims=1, param_names=[],
                                     param_mean=[], param_std=[]))
    m.data_info = {"pde": "toy", "grid_shape": [16], "channel_names": ["a"],
                   "param_names": [], "k": 1, "dt": 0.1}
    return m


def _weights(source) -> torch.Tensor:
    """The first tensor of an export's (a path's) or a module's model."""
    model = load(source).model if isinstance(source, Path) else source.model
    return next(iter(model.state_dict().values()))


def _ckpt(module, path: Path) -> Path:
    from lightning.pytorch import Trainer

    trainer = Trainer(max_epochs=0, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False)
    trainer.strategy.connect(module)
    path.parent.mkdir(parents=True, exist_ok=True)
    trainer.save_checkpoint(path)
    return path


def test_overwrite_replaces_an_export_and_nothing_else(tmp_path, monkeypatch):
    """--overwrite replaces an export folder; a folder with other files, a file, a link, the
    folder holding the checkpoint, the current folder and one above it are refused with one
    FileExistsError naming the folder and why, and are left as they were."""
    out = export_surrogate(_module(0), tmp_path / "model")
    export_surrogate(_module(1), out, overwrite=True)
    torch.testing.assert_close(_weights(out), _weights(_module(1)), rtol=0, atol=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no backup, no temporary

    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=rf"{project}' exists and is not replaced: it "
                                              r"holds 'notes.txt', not only an export"):
        export_surrogate(_module(0), project, overwrite=True)
    assert (project / "notes.txt").read_text() == "mine"

    run = tmp_path / "run"
    ckpt = _ckpt(_module(0), run / "checkpoints" / "config.json")  # named like an export file
    for folder in (run, ckpt.parent):  # the run's folder; the checkpoint's, an export by its names
        with pytest.raises(FileExistsError, match=rf"{folder}' exists and is not replaced: it "
                                                  rf"holds the checkpoint being exported, "
                                                  rf"'{ckpt}'"):
            export_surrogate(str(ckpt), folder, overwrite=True)
    assert ckpt.is_file()

    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(FileExistsError, match="it is a file, not an export folder"):
        export_surrogate(_module(0), afile, overwrite=True)
    link = tmp_path / "link"
    link.symlink_to(out)
    with pytest.raises(FileExistsError, match="it is a symbolic link"):
        export_surrogate(_module(0), link, overwrite=True)

    # the current folder, even one holding an export only, and a folder above it
    monkeypatch.chdir(out)
    for target, why in ((".", "it is the current folder"),
                        (str(tmp_path), f"it holds the current folder '{out}'")):
        with pytest.raises(FileExistsError, match=why):
            export_surrogate(_module(2), target, overwrite=True)
    assert sorted(os.listdir(out)) == ["config.json", "model.safetensors"]
    assert (project / "notes.txt").read_text() == "mine" and afile.read_text() == "x"


def test_a_failed_replace_keeps_the_old_export(tmp_path, monkeypatch):
    """An error while the new export is renamed in leaves the old one loadable, nothing else."""
    out = export_surrogate(_module(0), tmp_path / "model")
    before = _weights(out)
    real = os.replace

    def failing(src, dst):
        if Path(dst) == out:
            raise OSError("disk gone")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(OSError, match="disk gone"):
        export_surrogate(_module(1), out, overwrite=True)
    monkeypatch.undo()
    torch.testing.assert_close(_weights(out), before, rtol=0, atol=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_kill_between_the_renames_is_recovered_by_the_next_export(tmp_path):
    """SIGKILL after the old export was moved aside and before the new one is in: the next
    export to that folder restores the old one (saying so), then goes on as asked."""
    out = export_surrogate(_module(0), tmp_path / "model")
    before = _weights(out)
    ckpt = _ckpt(_module(1), tmp_path / "run" / "last.ckpt")
    # a checkpoint as the source: the exporting process needs no Lightning (starts faster)
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from pdesurrogate.export import export_surrogate
        real = os.replace
        def replace(src, dst):
            if Path(dst) == Path({str(out)!r}):
                os.kill(os.getpid(), signal.SIGKILL)
            return real(src, dst)
        os.replace = replace
        export_surrogate({str(ckpt)!r}, {str(out)!r}, overwrite=True)
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert r.returncode == -9, r.stderr
    assert not out.exists()  # what the kill left: no model under its name

    with pytest.warns(UserWarning, match=rf"restored '{out}' from .*killed while replacing"):
        with pytest.raises(FileExistsError, match="pass --overwrite"):
            export_surrogate(_module(2), out)
    torch.testing.assert_close(_weights(out), before, rtol=0, atol=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "run"]


def test_temporaries_of_killed_exports_are_removed(tmp_path):
    """The temporary folder a killed export left (its process gone) goes with the next export
    to the same folder, with a warning; the export's own temporary is random, never reused."""
    out = export_surrogate(_module(0), tmp_path / "model")
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    left = tmp_path / f".model.{HOST}.{p.pid}.00112233445566ff.tmp"
    left.mkdir()
    (left / "config.json").write_text("{")
    with pytest.warns(UserWarning, match=rf"removed .*{left.name}.*process {p.pid}"):
        export_surrogate(_module(1), out, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


@pytest.fixture
def exported(tmp_path):
    return export_surrogate(_module(0), tmp_path / "model")


def _swap_config(out: Path, make) -> Path:
    cfg = out / "config.json"
    cfg.unlink()
    make(cfg)
    return cfg


def test_config_not_a_regular_file_is_refused(exported):
    """A config.json that is a link to a device or a FIFO is refused without reading it (a
    FIFO blocked load for ever, /dev/zero was read until memory ran out)."""
    cfg = _swap_config(exported, lambda p: p.symlink_to("/dev/null"))
    with pytest.raises(ValueError, match=rf"{cfg}' is not a regular file \(a device\)"):
        load(exported)

    cfg.unlink()
    os.mkfifo(cfg)
    result = {}

    def run():
        try:
            load(exported)
        except Exception as e:  # noqa: BLE001 (the test looks at it below)
            result["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(10)
    if t.is_alive():  # it blocked opening the FIFO: free it, then fail
        with open(cfg, "w"):
            pass
        t.join(10)
        pytest.fail("load blocked on a FIFO config.json")
    assert isinstance(result.get("error"), ValueError)
    assert re.search(r"is not a regular file \(a FIFO\)", str(result["error"]))


def test_config_a_folder_is_refused_naming_it(exported):
    """A config.json that is a folder is one ValueError naming it (os.fdopen's
    IsADirectoryError named only the descriptor: 'Is a directory: 3')."""
    cfg = _swap_config(exported, lambda p: p.mkdir())
    with pytest.raises(ValueError, match=rf"{cfg}' is not a regular file \(a folder\)"):
        load(exported)


def test_config_too_large_or_too_deep_is_one_error(exported):
    """config.json is read up to its limit, 4 MiB (valid JSON padded beyond it is refused),
    and a nesting too deep for the parser is one ValueError naming it (a RecursionError
    traceback before)."""
    cfg_path = exported / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg_path.write_text(json.dumps(cfg) + " " * 5 * 2**20)
    with pytest.raises(ValueError, match=rf"{cfg_path}' is larger than 4 MiB"):
        load(exported)
    cfg_path.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(ValueError, match=rf"{cfg_path}' is not valid JSON: nested too deeply"):
        load(exported)

