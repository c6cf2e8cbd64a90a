"""A fit that failed in set-up (a model that does not match its data file) left the
``csv/version_N`` it claimed empty (and ``tensorboard/version_N`` with an event file's opening
record alone), so the next fit landed in ``version_N+1`` and a user's folder filled with empty
versions. The failed fit now releases them; a folder holding anything a run wrote stays."""

import struct

from pdesurrogate.cli import main
from pdesurrogate.training import version_claim
from tests import test_cli_fit as fit

data = fit.data  # the fixture: 10 Burgers trajectories


def test_a_fit_failing_in_set_up_leaves_no_version_folder(tmp_path, data, capsys):
    root = tmp_path / "runs"
    wrong = ["--model.init_args.model.init_args.in_channels", "5"]
    assert main(["fit", "--config", fit.CONFIG, *fit.tiny(data, root), *wrong]) == 2
    assert "5 channel(s)" in capsys.readouterr().err
    assert not root.exists()  # csv/ and tensorboard/ above them too (the fit made them)


def _event_file(folder, records: int) -> None:
    """An event file of ``records`` TFRecords, the first TensorBoard's version record."""
    out = b""
    for k in range(records):
        data = b"\x11" + b"\x00" * 8 + b"\x1a\x0dbrain.Event:2" if k == 0 else b"\x2a\x05value"
        out += struct.pack("<Q", len(data)) + b"\0" * 4 + data + b"\0" * 4
    (folder / "events.out.tfevents.1.host.1.0").write_bytes(out)


def test_only_this_process_s_unwritten_claims_are_released(tmp_path):
    since = version_claim.claims_made()
    made = {}
    for name in ("csv", "tensorboard", "ckpt", "scalars"):
        n = version_claim.claim_version(str(tmp_path), name, 0)
        made[name] = tmp_path / name / f"version_{n}"
    _event_file(made["tensorboard"], 1)
    _event_file(made["scalars"], 2)  # a logged value after the opening record
    (made["ckpt"] / "checkpoints").mkdir()
    (made["csv"].parent / "version_7").mkdir()  # another process's claim
    removed = version_claim.release_unwritten(since)
    assert sorted(removed) == sorted(str(made[n].resolve()) for n in ("csv", "tensorboard"))
    assert not made["csv"].exists() and not made["tensorboard"].exists()
    assert (made["ckpt"] / "checkpoints").is_dir()
    assert made["scalars"].is_dir() and any(made["scalars"].iterdir())
    assert (made["csv"].parent / "version_7").is_dir()
    assert version_claim.release_unwritten(since) == []  # released once
