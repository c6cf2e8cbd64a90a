"""``pdesurrogate info CKPT [--json]``: what a Lightning checkpoint of ``fit`` or ``online``
holds, read weights-only as ``export`` reads it: module and model, counters, checkpoint
callbacks, training data and its fingerprint, checked against what torch finds in the same
file; a file that is no checkpoint is one error line naming it, exit status 2."""

import importlib.util
import pickle
import shlex
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from pdesurrogate.cli import main
from pdesurrogate.meta_build import meta_build
from pdesurrogate.models import build_model

# test_info.py's helpers, and through it the tiny fit of test_cli_fit.py (pytest runs with
# --import-mode=importlib: no plain import)
_spec = importlib.util.spec_from_file_location("info_tests",
                                               Path(__file__).with_name("test_info.py"))
info_tests = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(info_tests)
fit_helpers, _info, _json = info_tests.fit_helpers, info_tests._info, info_tests._json


@pytest.fixture(scope="module")
def fit_ckpt(tmp_path_factory) -> Path:
    """last.ckpt of one epoch of test_cli_fit.py's tiny fit (10 Burgers trajectories of 3
    frames on 32 points, FNO of 8 hidden channels)."""
    from pdesurrogate.datasets import generate_dataset
    from pdesurrogate.solvers import Burgers1D

    tmp = tmp_path_factory.mktemp("fit")
    data = tmp / "burgers.nc"
    generate_dataset(Burgers1D(n_points=32, nu_range=(0.01, 0.1), ic="grf"), data, samples=10,
                     times=np.linspace(0, 1, 3), seed=0, workers=1)
    root = tmp / "runs"
    assert main(["fit", "--config", fit_helpers.CONFIG, *fit_helpers.tiny(str(data), root),
                 "--trainer.enable_progress_bar", "false"]) == 0
    return root / "csv" / "version_0" / "checkpoints" / "last.ckpt"


def _rows(text: str) -> dict[str, str]:
    """The text's first line of each ``label  value`` row, by label."""
    return {line[2:].split("  ")[0]: line[2:].split("  ", 1)[1].strip()
            for line in text.splitlines()[1:] if line[2] != " "}


def test_a_fit_checkpoint_says_what_it_holds_and_export_runs_as_next_says(fit_ckpt, capsys,
                                                                           tmp_path):
    saved = torch.load(fit_ckpt, weights_only=True, map_location="cpu")
    spec = saved["hyper_parameters"]["model_spec"]
    with meta_build():
        model = build_model(spec)
    source = saved["pdesurrogate"]["data_info"]["source"]

    info = _json(fit_ckpt, capsys)
    assert info["what"] == "checkpoint" and info["written_by"] == "pdesurrogate fit"
    assert info["module"] == "pdesurrogate.training.NextStepModule"
    assert info["model"] == spec and spec["class"] == "fno" \
        and spec["init_args"]["hidden_channels"] == 8
    assert info["n_parameters"] == sum(p.numel() for p in model.parameters())
    assert info["n_weights"] == sum(v.numel() for k, v in saved["state_dict"].items()
                                    if k.startswith("model."))
    assert info["file_bytes"] == fit_ckpt.stat().st_size
    assert (info["epoch"], info["global_step"]) == (saved["epoch"], saved["global_step"]) \
        and info["global_step"] > 0
    assert (info["pde"], info["channel_names"], info["param_names"]) == ("burgers1d", ["u"],
                                                                           ["nu"])
    stats = saved["pdesurrogate"]["normalization"]
    assert info["param_ranges"] == {"nu": [stats["param_min"][0], stats["param_max"][0]]}
    assert info["normalization"] == "channel mean/std" and info["grid"]["shape"] == [32]
    assert info["trained_on"]["fingerprint"] == source["fingerprint"] \
        and info["trained_on"]["file"] == "burgers.nc"
    assert info["recipe"]["hparams"]["lr"] == saved["hyper_parameters"]["lr"] \
        and info["recipe"]["batch_size"] == 4
    [cb] = info["checkpoint_callbacks"]
    assert cb["monitor"] is None and cb["last_path"] == str(fit_ckpt)
    assert info["versions"]["lightning"] == saved["pytorch-lightning_version"]
    run = fit_ckpt.parent.parent
    assert info["next"] == [
        f"pdesurrogate test --config {run / 'config.yaml'} --ckpt_path {fit_ckpt}",
        f"pdesurrogate export {fit_ckpt} OUTDIR"]

    rc, text, err = _info(fit_ckpt, capsys)
    assert rc == 0 and err == ""
    assert text.splitlines()[0].startswith(f"{fit_ckpt}: pdesurrogate fit checkpoint, ")
    rows = _rows(text)
    assert rows["module"] == "pdesurrogate.training.NextStepModule"
    assert rows["model"] == "fno" and "hidden_channels=8" in rows["arguments"]
    assert rows["progress"].startswith(f"epoch {saved['epoch']} (from 0, as in checkpoint file "
                                       f"names), global step "
                                       f"{saved['global_step']}")
    assert rows["channels"] == "u" and rows["pde"] == "burgers1d"
    assert rows["weights"].startswith(f"{info['n_parameters']:,} parameters")
    assert source["fingerprint"] in text and "ModelCheckpoint without a monitored metric" in text

    # the export command it names runs, and the export records the same counters
    out = tmp_path / "model"
    assert main(shlex.split(info["next"][1].replace("OUTDIR", str(out)))[1:]) == 0
    capsys.readouterr()
    exported = _json(out, capsys)
    assert (exported["training_run"]["epoch"], exported["training_run"]["global_step"]) == \
        (info["epoch"], info["global_step"])


def test_an_online_checkpoint_with_a_monitored_best(fit_ckpt, capsys, tmp_path):
    """A checkpoint whose data source is a stream is an online run's; a ModelCheckpoint that
    monitors a metric shows its best score and file. (The fit's checkpoint with those two
    records replaced: an online run needs MPI.)"""
    from tests.training.test_data_source_records import STREAM

    ckpt = torch.load(fit_ckpt, weights_only=True, map_location="cpu")
    ckpt["pdesurrogate"]["data_info"]["source"] = STREAM
    best = "/runs/out/epoch=3-step=40.ckpt"
    ckpt["callbacks"] = {"ModelCheckpoint{'monitor': 'val/rel_l2', 'mode': 'min'}": {
        "monitor": "val/rel_l2", "best_model_score": torch.tensor(0.125),
        "best_model_path": best, "last_model_path": ""}}
    path = tmp_path / "model.ckpt"
    torch.save(ckpt, path)
    info = _json(path, capsys)
    assert info["written_by"] == "pdesurrogate online" and info["trained_on"] == STREAM
    assert info["checkpoint_callbacks"] == [{"monitor": "val/rel_l2", "mode": "min",
                                             "best_score": 0.125, "best_path": best,
                                             "last_path": None}]
    assert info["next"] == [f"pdesurrogate export {path} OUTDIR"]
    rc, text, _ = _info(path, capsys)
    assert rc == 0 and text.startswith(f"{path}: pdesurrogate online checkpoint, ")
    assert _rows(text)["trained on"].startswith("online stream of "
                                                "pdesurrogate.solvers.Advection1D, 24 "
                                                "simulations")
    assert "ModelCheckpoint on val/rel_l2 (min): best 0.125\n" in text
    assert f"best {best}\n" in text


def test_a_lightning_checkpoint_of_another_program(tmp_path, capsys):
    path = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"layer.weight": torch.zeros(3, 2)}, "epoch": 2,
                "global_step": 10, "hyper_parameters": {"hidden": 5}}, path)
    info = _json(path, capsys)
    assert info["written_by"] == "Lightning (not pdesurrogate)" and info["model"] is None
    assert (info["epoch"], info["global_step"], info["n_weights"]) == (2, 10, 6)
    assert info["hyper_parameters"] == ["hidden"] and info["next"] == []
    rc, text, _ = _info(path, capsys)
    assert rc == 0 and "pdesurrogate cannot test or export it" in text


def test_a_pinn_checkpoint_names_its_network_problem_and_estimator(tmp_path, capsys,
                                                                    monkeypatch):
    from lightning.pytorch import Trainer

    from pdesurrogate.pinn import SDGD, BallPoints, PINNModule, SineGordon

    monkeypatch.delenv("PL_GLOBAL_SEED", raising=False)
    torch.manual_seed(0)
    module = PINNModule(SineGordon(5, seed=4), SDGD(2), width=8, depth=2)
    trainer = Trainer(max_steps=2, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False,
                      limit_val_batches=0)
    trainer.fit(module, BallPoints(batch_size=8, steps_per_epoch=2))
    path = tmp_path / "pinn.ckpt"
    trainer.save_checkpoint(path)
    info = _json(path, capsys)
    assert info["written_by"] == "pdesurrogate PINN fit"
    assert info["model"] == {"class": "pinn_mlp", "init_args": {
        "dim": 5, "width": 8, "depth": 2, "activation": "tanh", "hard_boundary": True}}
    assert info["n_parameters"] == sum(p.numel() for p in module.net.parameters())
    assert info["problem"] == {"name": "sine_gordon", "dim": 5, "seed": 4}
    assert info["estimator"] == {"name": "sdgd", "init_args": {"dim_batch": 2}}
    assert (info["epoch"], info["global_step"]) == (trainer.current_epoch, 2)
    out = tmp_path / "exported"
    assert main(shlex.split(info["next"][0].replace("OUTDIR", str(out)))[1:]) == 0
    capsys.readouterr()
    assert _json(out, capsys)["model"] == info["model"]


class _Arbitrary:
    pass


def test_a_file_that_is_no_checkpoint_is_one_error_naming_it(fit_ckpt, tmp_path, capsys):
    """Text, a truncated checkpoint, a pickle of arbitrary objects (never unpickled: the
    weights-only load refuses the class), a zip that is not torch's, a torch file without a
    state_dict: exit status 2, one error line naming the file, no traceback."""
    files = {"notes.ckpt": b"hello\n",
             "cut.ckpt": fit_ckpt.read_bytes()[:20000],
             "plain_pickle.ckpt": pickle.dumps({"state_dict": {}})}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    torch.save({"state_dict": {}, "x": _Arbitrary()}, tmp_path / "arbitrary.ckpt")
    with zipfile.ZipFile(tmp_path / "archive.ckpt", "w") as z:
        z.writestr("a.txt", "not torch's")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "tensors.ckpt")
    for name in [*files, "arbitrary.ckpt", "archive.ckpt", "tensors.ckpt"]:
        path = tmp_path / name
        rc, out, err = _info(path, capsys)
        assert rc == 2 and out == "", (name, out)
        assert err.startswith(f"pdesurrogate info: error: ValueError: {str(path)!r}: not a "
                              "Lightning checkpoint ("), err
        assert "Traceback" not in err and len(err.splitlines()) <= 2, err


def test_a_record_of_ours_not_as_we_write_it_is_one_error_naming_file_and_key(fit_ckpt,
                                                                             tmp_path, capsys):
    """A data source missing keys gets the check export's load makes (the key named); other
    records of the wrong type one error naming the file, no traceback."""
    ckpt = torch.load(fit_ckpt, weights_only=True, map_location="cpu")
    ckpt["pdesurrogate"]["data_info"]["source"] = {"path": "/data/x.nc"}
    torch.save(ckpt, tmp_path / "source.ckpt")
    ckpt["pdesurrogate"]["data_info"] = 5
    torch.save(ckpt, tmp_path / "data_info.ckpt")
    for name, says in (("source.ckpt", "pdesurrogate.data_info.source (a file's) has unknown "
                                       "key(s) [], missing key(s) ['fingerprint'"),
                       ("data_info.ckpt", "record are not as pdesurrogate writes them")):
        path = tmp_path / name
        rc, out, err = _info(path, capsys)
        assert rc == 2 and out == ""
        assert err.startswith(f"pdesurrogate info: error: ValueError: {str(path)!r}: "), err
        assert says in err and "Traceback" not in err, err


def test_help_names_checkpoints_and_their_json_keys(capsys):
    assert main(["--help"]) == 0
    assert "a checkpoint holds" in " ".join(capsys.readouterr().out.split())
    with pytest.raises(SystemExit) as stop:
        main(["info", "--help"])
    assert stop.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "A Lightning checkpoint (.ckpt) of pdesurrogate fit or online" in text
    assert "--json keys of a checkpoint (.ckpt): what ('checkpoint')" in text
    assert "written_by" in text and "checkpoint_callbacks" in text
