"""Two exports into one OUTDIR at the same time: without --overwrite the one that finishes
second is refused, naming the folder, and the first one's export stays whole."""

import os
from pathlib import Path

import pytest
import torch

from pdesurrogate import export_files
from pdesurrogate.export import export_surrogate
from tests.test_export_files import _module, _weights


def test_an_export_made_meanwhile_is_not_replaced_without_overwrite(tmp_path, monkeypatch):
    out = tmp_path / "model"
    real_save = export_files.save_file
    other = _module(1)

    def save_then_race(*args, **kwargs):
        real_save(*args, **kwargs)
        if not out.exists():  # the other export finishes while this one is being written
            monkeypatch.setattr(export_files, "save_file", real_save)
            export_surrogate(other, out)

    monkeypatch.setattr(export_files, "save_file", save_then_race)
    with pytest.raises(FileExistsError, match="created by someone else.*--overwrite"):
        export_surrogate(_module(0), out)
    torch.testing.assert_close(_weights(out), _weights(other), rtol=0, atol=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]



def test_an_export_put_in_between_the_renames_is_replaced_by_the_last(tmp_path, monkeypatch):
    """With --overwrite: another export renamed in after this one moved the old one aside was
    an OSError (directory not empty) and left the old export under a backup name."""
    out = tmp_path / "model"
    export_surrogate(_module(0), out)
    real_replace = os.replace
    raced = []

    def other_export_first(src, dst):
        if Path(dst) == out and not raced:
            raced.append(1)
            export_surrogate(_module(1), out)  # out is free just now: it goes in
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", other_export_first)
    mine = _module(2)
    export_surrogate(mine, out, overwrite=True)
    monkeypatch.undo()
    assert raced
    torch.testing.assert_close(_weights(out), _weights(mine), rtol=0, atol=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
