"""``LinkedLastCheckpoint``: ``last.ckpt`` is a hard link to the epoch's checkpoint from the
second epoch on (one write per epoch instead of two), holding what Lightning's
``ModelCheckpoint(save_last=True)`` would have written, and resumable either way."""

import os

import pytest
import torch
from lightning.pytorch import Callback, Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.demos.boring_classes import BoringModel

from pdesurrogate.training import linked_last
from pdesurrogate.training.linked_last import LinkedLastCheckpoint


class Look(Callback):
    """At each epoch's start: (inode of last.ckpt, inode of the epoch file) as they are then."""

    def __init__(self, folder):
        self.folder, self.seen = folder, []

    def on_train_epoch_start(self, trainer, module):
        last = self.folder / "last.ckpt"
        epochs = [p for p in self.folder.glob("epoch=*.ckpt")]
        self.seen.append((last.stat().st_ino if last.exists() else None,
                          [p.stat().st_ino for p in epochs]))


class CountWrites(Callback):
    def __init__(self):
        self.paths = []

    def setup(self, trainer, module, stage):
        save = trainer.strategy.save_checkpoint

        def counted(checkpoint, filepath, *a, **k):
            self.paths.append(os.path.basename(filepath))
            return save(checkpoint, filepath, *a, **k)
        trainer.strategy.save_checkpoint = counted


def _fit(root, writer, epochs=3, ckpt_path=None, extra=()):
    seed_everything(0)
    writer.dirpath = str(root / "ck")
    count = CountWrites()
    Trainer(max_epochs=epochs, limit_train_batches=2, limit_val_batches=1, logger=False,
            enable_progress_bar=False, enable_model_summary=False, default_root_dir=root,
            callbacks=[writer, count, *extra]).fit(BoringModel(), ckpt_path=ckpt_path)
    return root / "ck", count.paths


def test_last_ckpt_is_the_epochs_file_from_the_second_epoch_and_written_once(tmp_path):
    look = Look(tmp_path / "ck")
    folder, writes = _fit(tmp_path, LinkedLastCheckpoint(save_last=True), extra=[look])
    # epoch 0 wrote both files in full; epochs 1 and 2 only their epoch file
    assert writes == ["epoch=0-step=2.ckpt", "last.ckpt", "epoch=1-step=4.ckpt",
                      "epoch=2-step=6.ckpt"]
    last, (epoch_file,) = folder / "last.ckpt", list(folder.glob("epoch=*.ckpt"))
    assert epoch_file.name == "epoch=2-step=6.ckpt"
    assert os.path.samefile(last, epoch_file) and last.stat().st_nlink == 2
    assert not last.is_symlink()
    # at the start of epoch 1 last.ckpt was its own copy; at epoch 2's, the epoch-1 file
    assert look.seen[0] == (None, [])
    assert look.seen[1][0] not in look.seen[1][1]
    assert look.seen[2][1] == [look.seen[2][0]]
    assert sorted(p.name for p in folder.iterdir()) == ["epoch=2-step=6.ckpt", "last.ckpt"]


def test_it_holds_what_lightnings_writer_writes_and_lightnings_writes_twice(tmp_path):
    ours, _ = _fit(tmp_path / "a", LinkedLastCheckpoint(save_last=True))
    theirs, writes = _fit(tmp_path / "b", ModelCheckpoint(save_last=True))
    assert len(writes) == 6  # the reference: two full writes an epoch
    a = torch.load(ours / "last.ckpt", weights_only=True)
    b = torch.load(theirs / "last.ckpt", weights_only=True)
    assert a["epoch"] == b["epoch"] == 2 and a["global_step"] == b["global_step"] == 6
    for key in b["state_dict"]:
        torch.testing.assert_close(a["state_dict"][key], b["state_dict"][key], rtol=0, atol=0)
    assert a["loops"] == b["loops"]
    (key_a, state_a), = a["callbacks"].items()
    (key_b, state_b), = b["callbacks"].items()
    assert key_a == key_b and key_a.startswith("ModelCheckpoint{")  # the same state key

    def rel(state):  # paths relative to each run's folder
        return {k: (v.replace(str(tmp_path / "a"), "R").replace(str(tmp_path / "b"), "R")
                    if isinstance(v, str) else v) for k, v in state.items()
                if k != "best_k_models"}
    assert rel(state_a) == rel(state_b)
    assert state_a["last_model_path"] == str(ours / "last.ckpt")


@pytest.mark.parametrize("first", [LinkedLastCheckpoint, ModelCheckpoint])
def test_a_fit_resumes_from_either_writers_last_ckpt(tmp_path, first):
    folder, _ = _fit(tmp_path, first(save_last=True), epochs=2)
    folder, writes = _fit(tmp_path, LinkedLastCheckpoint(save_last=True), epochs=4,
                          ckpt_path=str(folder / "last.ckpt"))
    # the restored state names last.ckpt: linked at once, never a last-v1.ckpt beside it
    assert writes == ["epoch=2-step=6.ckpt", "epoch=3-step=8.ckpt"]
    assert sorted(p.name for p in folder.iterdir()) == ["epoch=3-step=8.ckpt", "last.ckpt"]
    assert torch.load(folder / "last.ckpt", weights_only=True)["epoch"] == 3


def test_where_links_fail_last_ckpt_is_written_in_full(tmp_path, monkeypatch):
    def no_links(src, dst, *a, **k):
        raise OSError(1, "Operation not permitted")
    monkeypatch.setattr(linked_last.os, "link", no_links)
    folder, writes = _fit(tmp_path, LinkedLastCheckpoint(save_last=True))
    assert writes.count("last.ckpt") == 3
    last = folder / "last.ckpt"
    assert last.stat().st_nlink == 1 and torch.load(last, weights_only=True)["epoch"] == 2
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporaries


def test_a_link_leaves_the_old_last_ckpt_until_the_new_one_is_in(tmp_path, monkeypatch):
    """A kill between the link and the rename leaves the previous last.ckpt whole (and a
    temporary the next save removes)."""
    folder = tmp_path / "ck"
    folder.mkdir()
    (folder / "last.ckpt").write_bytes(b"old")
    (folder / "new.ckpt").write_bytes(b"new")

    def killed(src, dst):
        raise KeyboardInterrupt
    monkeypatch.setattr(linked_last.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        linked_last.link_into_place(folder / "new.ckpt", folder / "last.ckpt")
    assert (folder / "last.ckpt").read_bytes() == b"old"
    assert sorted(p.name for p in folder.iterdir()) == ["last.ckpt", "new.ckpt"]
    monkeypatch.undo()
    linked_last.link_into_place(folder / "new.ckpt", folder / "last.ckpt")
    assert os.path.samefile(folder / "last.ckpt", folder / "new.ckpt")
