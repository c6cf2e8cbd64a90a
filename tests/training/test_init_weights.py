"""A new fit started from a trained model's weights (``init_weights``: an export folder or a
Lightning checkpoint) holds exactly those weights when its first step starts, with its own
data's normalisation, and records where they came from; a resumed fit keeps its checkpoint's
weights; weights of another shape, a pickle and a missing path are refused with one error."""

import json
import pickle
from pathlib import Path

import pytest
import torch
import yaml
from lightning.pytorch import Callback, Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint

from pdesurrogate import export_surrogate, load
from pdesurrogate.models import FNO, UNet
from pdesurrogate.training import FieldDataModule, NextStepModule

ROOT = Path(__file__).resolve().parents[2]
N, T, NX = 10, 6, 32


def _fno(hidden: int = 8) -> FNO:
    return FNO(1, 1, [4], hidden, 2, n_params=1)


class AtFirstStep(Callback):
    """Keeps the model's weights (and calls ``check(module)``) as training starts, after any
    checkpoint is restored and before the first optimizer step."""

    def __init__(self, check=None):
        self.state, self.check = None, check

    def on_train_start(self, trainer, pl_module):
        self.state = {k: v.detach().clone() for k, v in pl_module.model.state_dict().items()}
        if self.check is not None:
            self.check(pl_module)


def _fit(module, data, root, epochs: int = 1, ckpt_path=None, callbacks=()):
    trainer = Trainer(default_root_dir=root, max_epochs=epochs, accelerator="cpu", devices=1,
                      logger=False, enable_progress_bar=False, enable_model_summary=False,
                      num_sanity_val_steps=0,
                      callbacks=[ModelCheckpoint(dirpath=root, save_last=True), *callbacks])
    trainer.fit(module, FieldDataModule(data, batch_size=4), ckpt_path=ckpt_path)
    return trainer


@pytest.fixture
def pretrained(tmp_path, advection_file):
    """(data file, its fit's last.ckpt, that fit's export), 1 epoch of an FNO on advection."""
    data = str(advection_file)
    seed_everything(0)
    _fit(NextStepModule(_fno(), lr=1e-2), data, tmp_path / "pre")
    ckpt = tmp_path / "pre" / "last.ckpt"
    return data, ckpt, export_surrogate(str(ckpt), tmp_path / "export")


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_fit_from_an_export_starts_with_its_weights_and_predictions(pretrained, tmp_path):
    """Same file: the new fit's rollout before its first step is the export's, and its export
    says which weights it started from and the data those were fit on."""
    data, _, export = pretrained
    surrogate = load(export)
    dm = FieldDataModule(data, batch_size=4)
    dm.setup("test")
    batch = next(iter(dm.test_dataloader()))
    u, p = batch["u"], batch["params"]

    def same_rollout(module):
        with torch.no_grad():
            ours = module.rollout(u[:, 0], p, T - 1)
        theirs = surrogate.rollout(u[:, 0], {"c": p[:, 0]}, steps=T - 1)
        assert torch.equal(ours, theirs)

    seed_everything(1)  # other initial weights than the pretrained fit's
    module = NextStepModule(_fno(), lr=1e-2, init_weights=str(export))
    fresh = {k: v.clone() for k, v in module.model.state_dict().items()}
    first = AtFirstStep(same_rollout)
    trainer = _fit(module, data, tmp_path / "fine", callbacks=[first])
    assert _same(first.state, dict(surrogate.model.state_dict()))
    assert not _same(first.state, fresh)
    assert trainer.global_step > 0 and not _same(module.model.state_dict(), first.state)
    out = export_surrogate(module, tmp_path / "fine_export")
    prov = json.loads((out / "config.json").read_text())["provenance"]
    assert prov["init_weights"] == str(export.resolve())
    before = json.loads((export / "config.json").read_text())["provenance"]["data_source"]
    assert prov["fine_tuned_from"] == [before]
    load(out)  # the new keys pass load's strict checks
    from pdesurrogate.info import describe, render

    described = describe(out)  # pdesurrogate info's record and its table
    assert described["init_weights"] == str(export.resolve())
    row = [line.split() for line in render(described).splitlines() if "started from" in line]
    assert row == [["started", "from", "the", "weights", "of", str(export.resolve())]], row


def test_other_pde_keeps_the_weights_with_its_own_normalisation(pretrained, tmp_path,
                                                                burgers_file):
    """Pretrained on advection, fine-tuned on Burgers (other statistics): the model gives the
    export's output for the same normalised input, while the module normalises with the
    Burgers file's statistics."""
    _, _, export = pretrained
    other = str(burgers_file(NX, N, T))
    surrogate = load(export)
    pretrained_mean = json.loads((export / "config.json").read_text())["normalization"]["mean"]
    x, p = torch.randn(3, 1, NX), torch.randn(3, 1)

    def same_model(module):
        assert abs(module.stats.mean[0] - pretrained_mean[0]) > 0.5, (module.stats.mean,
                                                                      pretrained_mean)
        with torch.no_grad():
            assert torch.equal(module.model(x, p), surrogate.model(x, p))

    first = AtFirstStep(same_model)
    _fit(NextStepModule(_fno(), init_weights=str(export)), other, tmp_path / "fine",
         callbacks=[first])
    assert first.state is not None


def test_checkpoint_path_works_and_a_resumed_fit_keeps_the_checkpoints_weights(pretrained,
                                                                              tmp_path):
    data, ckpt, export = pretrained
    saved = torch.load(ckpt, weights_only=True)["state_dict"]
    want = {k[len("model."):]: v for k, v in saved.items() if k.startswith("model.")}
    first = AtFirstStep()
    _fit(NextStepModule(_fno(), init_weights=str(ckpt)), data, tmp_path / "from_ckpt",
         callbacks=[first])
    assert _same(first.state, want)

    # a fit from the export, one epoch, then resumed: its checkpoint's weights, not the export's
    fine = tmp_path / "fine"
    _fit(NextStepModule(_fno(), lr=1e-2, init_weights=str(export)), data, fine)
    mid = torch.load(fine / "last.ckpt", weights_only=True)
    mid_state = {k[len("model."):]: v for k, v in mid["state_dict"].items()
                 if k.startswith("model.")}
    assert not _same(mid_state, dict(load(export).model.state_dict()))
    resumed, at = NextStepModule(_fno(), lr=1e-2, init_weights=str(export)), AtFirstStep()
    trainer = _fit(resumed, data, fine, epochs=2, ckpt_path=fine / "last.ckpt", callbacks=[at])
    assert _same(at.state, mid_state) and trainer.global_step > mid["global_step"]
    assert resumed.data_info["init_weights"] == str(export.resolve())

    # a module loaded from that checkpoint and fit again keeps its weights too
    again, at = NextStepModule.load_from_checkpoint(fine / "last.ckpt"), AtFirstStep()
    assert again.init_weights == str(export)
    _fit(again, data, tmp_path / "again", epochs=1, callbacks=[at])
    final = torch.load(fine / "last.ckpt", weights_only=True)["state_dict"]
    assert _same(at.state, {k[len("model."):]: v for k, v in final.items()
                            if k.startswith("model.")})


def test_weights_of_other_shapes_or_class_are_one_error_naming_them(pretrained, tmp_path):
    data, _, export = pretrained
    with pytest.raises(ValueError, match=r"init_weights .*does not fit this fit's model \('fno'\)"
                       r": \d+ tensor\(s\) of other shapes \(.*: \(8, .*\) in the file, "
                       r"\(16, .*\) in this fit's model.*hidden_channels=8 in the file, 16 here"):
        _fit(NextStepModule(_fno(hidden=16), init_weights=str(export)), data, tmp_path / "h")
    unet = UNet(1, 1, 1, hidden_channels=4, n_levels=1, n_params=1)
    with pytest.raises(ValueError, match=r"holds the weights of a 'fno' model; this fit trains "
                                         r"a 'unet'"):
        _fit(NextStepModule(unet, init_weights=str(export)), data, tmp_path / "u")


class Trap:
    """Unpickling it would create the file ``path``."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_a_pickle_a_missing_path_and_a_run_folder_are_refused(pretrained, tmp_path):
    data, _, _ = pretrained
    trap = tmp_path / "unpickled"
    plain = tmp_path / "weights.pkl"
    plain.write_bytes(pickle.dumps({"state_dict": Trap(trap)}))
    archive = tmp_path / "weights.pt"
    torch.save({"state_dict": Trap(trap)}, archive)
    for path, why in ((plain, "plain pickle"), (archive, "weights-only load refuses")):
        with pytest.raises(ValueError, match=rf"init_weights: '.*{path.name}': not a Lightning "
                                             rf"checkpoint \(.*{why}.*export folder"):
            _fit(NextStepModule(_fno(), init_weights=str(path)), data, tmp_path / "p")
    assert not trap.exists()
    with pytest.raises(FileNotFoundError, match=r"init_weights '.*nowhere' does not exist; "
                                                r"give an export folder"):
        _fit(NextStepModule(_fno(), init_weights=str(tmp_path / "nowhere")), data,
             tmp_path / "m")
    with pytest.raises(ValueError, match=r"folder without config.json and model.safetensors"):
        _fit(NextStepModule(_fno(), init_weights=str(tmp_path / "pre")), data, tmp_path / "r")


def test_cli_fit_from_an_export_records_it_and_resumes(tmp_path, advection_file, capsys):
    """``pdesurrogate fit --model.init_args.init_weights EXPORT``: the saved config.yaml and the
    export record it; the fit resumed with that config keeps its checkpoint; a missing path is
    one line."""
    from pdesurrogate.cli import main

    data = str(advection_file)
    tiny = ["--data.init_args.path", data, "--data.init_args.batch_size", "4",
            "--model.init_args.model.init_args.hidden_channels", "8",
            "--model.init_args.model.init_args.n_modes", "[4]",
            "--trainer.max_epochs", "1", "--trainer.num_sanity_val_steps", "0",
            "--trainer.enable_model_summary", "false", "--trainer.accelerator", "cpu",
            "--trainer.enable_progress_bar", "false"]
    config = str(ROOT / "configs" / "fit" / "fno_burgers.yaml")
    assert main(["fit", "--config", config, *tiny,
                 "--trainer.default_root_dir", str(tmp_path / "pre")]) == 0
    export = export_surrogate(str(next((tmp_path / "pre").rglob("last.ckpt"))),
                              tmp_path / "export")
    root = tmp_path / "fine"
    assert main(["fit", "--config", config, *tiny, "--trainer.default_root_dir", str(root),
                 "--model.init_args.init_weights", str(export)]) == 0
    saved = next(root.rglob("config.yaml"))
    assert yaml.safe_load(saved.read_text())["model"]["init_args"]["init_weights"] == str(export)
    ckpt = next(root.rglob("last.ckpt"))
    out = export_surrogate(str(ckpt), tmp_path / "fine_export")
    prov = json.loads((out / "config.json").read_text())["provenance"]
    assert prov["init_weights"] == str(export.resolve())
    assert main(["fit", "--config", str(saved), "--ckpt_path", str(ckpt),
                 "--trainer.max_epochs", "2"]) == 0
    capsys.readouterr()
    assert main(["fit", "--config", config, *tiny, "--trainer.default_root_dir", str(root),
                 "--model.init_args.init_weights", str(tmp_path / "nowhere")]) != 0
    err = capsys.readouterr().err
    assert "init_weights '" in err and "does not exist; give an export folder" in err, err
