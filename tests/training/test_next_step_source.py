"""The data a checkpoint was fit on travels with it (``data_info["source"]``), and ``test``,
``validate`` and a resumed ``fit`` refuse other data or another split of it: the audit's case,
where ``test`` with the plain config scored 2 of the fit's training trajectories as "test".
"""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch import Trainer, seed_everything

from pdesurrogate.cli import main
from pdesurrogate.datasets import generate_dataset, open_dataset, split_indices
from pdesurrogate.datasets.fingerprint import fingerprint
from pdesurrogate.models import FNO
from pdesurrogate.solvers import Burgers1D
from pdesurrogate.training import FieldDataModule, NextStepModule

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "configs" / "fit" / "fno_burgers.yaml")


def _burgers(path: Path, seed: int = 0) -> str:
    """10 Burgers trajectories of 3 frames on 32 points."""
    generate_dataset(Burgers1D(n_points=32, nu_range=(0.01, 0.1), ic="grf"), path, samples=10,
                     times=np.linspace(0, 1, 3), seed=seed, workers=1, progress=False)
    return str(path)


def _trainer(**kw) -> Trainer:
    return Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                   enable_model_summary=False, accelerator="cpu", devices=1, **kw)


def _module() -> NextStepModule:
    return NextStepModule(FNO(1, 1, [4], 8, 2, n_params=1))


@pytest.fixture
def fitted(tmp_path):
    """A checkpoint fit on fractions (0.6, 0.2, 0.2), seed 3, under seed_everything(7)."""
    data = _burgers(tmp_path / "burgers.nc")
    seed_everything(7)
    dm = FieldDataModule(data, batch_size=4, fractions=(0.6, 0.2, 0.2), seed=3)
    module = _module()
    trainer = _trainer(max_epochs=1)
    trainer.fit(module, dm)
    ckpt = tmp_path / "fit.ckpt"
    trainer.save_checkpoint(ckpt)
    return data, ckpt, dm


def test_checkpoint_records_its_data_and_split(fitted):
    data, ckpt, dm = fitted
    saved = torch.load(ckpt, weights_only=True)["pdesurrogate"]
    assert saved["data_info"]["source"] == {
        "path": os.path.abspath(data), "fingerprint": fingerprint(open_dataset(data)),
        "n_trajectories": 10, "fractions": [0.6, 0.2, 0.2], "seed": 3,
        "max_train_trajectories": None}
    assert saved["seed_everything"] == 7


def test_other_split_refused_in_test_validate_and_resumed_fit(fitted):
    """Each stage that reads a split of the data refuses the checkpoint with another one,
    naming the settings of both and the fix, before a number is computed."""
    data, ckpt, _ = fitted
    for stage in ("test", "validate"):
        with pytest.raises(ValueError, match=rf"'{ckpt}': this {stage} reads another split of "
                                             r"the data than the checkpoint was fit on.*"
                                             r"fractions \[0\.6, 0\.2, 0\.2\] \(checkpoint\) vs "
                                             r"\[0\.8, 0\.1, 0\.1\] \(now\); seed 3 \(checkpoint\) "
                                             r"vs 0 \(now\)\. To .* use the config the checkpoint "
                                             r"was fit with"):
            getattr(_trainer(), stage)(_module(), FieldDataModule(data, batch_size=4),
                                       ckpt_path=ckpt, verbose=False)
    with pytest.raises(ValueError, match=r"this fit reads another split.*max_train_trajectories "
                                         r"None \(checkpoint\) vs 3 \(now\)\. To resume its fit"):
        _trainer(max_epochs=2).fit(_module(), FieldDataModule(
            data, batch_size=4, fractions=(0.6, 0.2, 0.2), seed=3, max_train_trajectories=3),
            ckpt_path=ckpt)


def test_same_split_of_moved_file_accepted(fitted, tmp_path):
    """A moved file (another path, the same content) is the same data: test runs on the fit's
    test split, and a resumed fit records where the data is now."""
    data, ckpt, dm = fitted
    moved = tmp_path / "elsewhere" / "renamed.nc"
    moved.parent.mkdir()
    os.rename(data, moved)
    dm2 = FieldDataModule(str(moved), batch_size=4, fractions=(0.6, 0.2, 0.2), seed=3)
    (res,) = _trainer().test(_module(), dm2, ckpt_path=ckpt, verbose=False)
    assert np.isfinite(res["test/rel_l2"])
    assert dm2.test_indices.tolist() == dm.test_indices.tolist()
    module = _module()
    trainer = _trainer(max_epochs=2)
    trainer.fit(module, FieldDataModule(str(moved), batch_size=4, fractions=(0.6, 0.2, 0.2),
                                        seed=3), ckpt_path=ckpt)
    assert module.data_info["source"]["path"] == str(moved)
    assert module.seed_everything == 7  # the fit's, from the checkpoint


def test_regenerated_file_refused(fitted):
    """The same path, the same split settings, other contents (regenerated with another
    seed): its splits are not the fit's trajectories."""
    data, ckpt, _ = fitted
    before = fingerprint(open_dataset(data))
    os.remove(data)
    _burgers(Path(data), seed=1)
    after = fingerprint(open_dataset(data))
    with pytest.raises(ValueError, match=rf"this test reads other data than the checkpoint was "
                                         rf"fit on.*data fingerprint {before} of '{data}' "
                                         rf"\(checkpoint\) vs {after} of '{data}' \(now\)\..*"
                                         r"a regenerated or changed file needs a new fit"):
        _trainer().test(_module(), FieldDataModule(data, batch_size=4, fractions=(0.6, 0.2, 0.2),
                                                   seed=3), ckpt_path=ckpt, verbose=False)


def test_checkpoint_without_source_still_tests(fitted, tmp_path):
    """A checkpoint written before sources were recorded tests as before, on whatever split
    the datamodule makes (nothing to compare it with)."""
    data, ckpt, _ = fitted
    raw = torch.load(ckpt, weights_only=True)
    del raw["pdesurrogate"]["data_info"]["source"]
    old = tmp_path / "old.ckpt"
    torch.save(raw, old)
    (res,) = _trainer().test(_module(), FieldDataModule(data, batch_size=4), ckpt_path=old,
                             verbose=False)
    assert np.isfinite(res["test/rel_l2"])


def test_cli_test_with_the_plain_config_refused_with_the_saved_one_accepted(tmp_path, capsys):
    """The audit's scenario on the command line: fit with --data.init_args.fractions and
    --data.init_args.seed; ``test`` with the plain config (the same model) is one error that
    names both splits and the config.yaml fit saved; with that config.yaml it scores the fit's
    own test split."""
    data = _burgers(tmp_path / "burgers.nc")
    root = tmp_path / "runs"
    common = ["--data.init_args.path", data, "--data.init_args.batch_size", "4",
              "--model.init_args.model.init_args.hidden_channels", "8",
              "--trainer.enable_model_summary", "false", "--trainer.accelerator", "cpu",
              "--trainer.enable_progress_bar", "false", "--trainer.num_sanity_val_steps", "0"]
    assert main(["fit", "--config", CONFIG, *common, "--trainer.max_epochs", "1",
                 "--trainer.default_root_dir", str(root),
                 "--data.init_args.fractions", "[0.6,0.2,0.2]",
                 "--data.init_args.seed", "3"]) == 0
    run = root / "csv" / "version_0"
    ckpt, saved = run / "checkpoints" / "last.ckpt", run / "config.yaml"
    capsys.readouterr()
    rc = main(["test", "--config", CONFIG, *common, "--ckpt_path", str(ckpt),
               "--trainer.default_root_dir", str(tmp_path / "t1")])
    err = capsys.readouterr().err
    assert rc == 2
    assert (f"pdesurrogate test: error: ValueError: '{ckpt}': this test reads another split of "
            "the data than the checkpoint was fit on, so its test split would hold other "
            "trajectories (possibly ones the model trained on): fractions [0.6, 0.2, 0.2] "
            "(checkpoint) vs [0.8, 0.1, 0.1] (now); seed 3 (checkpoint) vs 0 (now). To test "
            f"this checkpoint, use the config.yaml the fit saved: --config {saved}") in err, err
    # the plain config's test split holds trajectories the fit trained on: why it is refused
    fit_train = split_indices(10, (0.6, 0.2, 0.2), 3)[0]
    assert set(split_indices(10, (0.8, 0.1, 0.1), 0)[2]) & set(fit_train)
    rc = main(["test", "--config", str(saved), "--ckpt_path", str(ckpt),
               "--trainer.default_root_dir", str(tmp_path / "t2")])
    assert rc == 0, capsys.readouterr().err



def test_other_k_refused(fitted):
    """The same split at another k: the model's steps would meet other saved times."""
    data, ckpt, _ = fitted
    with pytest.raises(ValueError, match=r"this test reads the data at another k \(saved times "
                                         r"per model step\).*k 1 \(checkpoint\) vs 2 \(now\)"):
        _trainer().test(_module(), FieldDataModule(data, batch_size=4, k=2,
                                                   fractions=(0.6, 0.2, 0.2), seed=3),
                        ckpt_path=ckpt, verbose=False)


def test_settings_that_leave_the_stages_trajectories_alone_are_accepted(fitted):
    """test and validate compare the trajectories they read, not every split setting: a
    different max_train_trajectories leaves the validation and test splits as the fit's (the
    review's case, refused before with a message that said they would differ). A resumed fit,
    which reads the training split, still refuses it (previous test)."""
    data, ckpt, dm = fitted
    dm2 = FieldDataModule(data, batch_size=4, fractions=(0.6, 0.2, 0.2), seed=3,
                          max_train_trajectories=3)
    module = _module()
    (res,) = _trainer().test(module, dm2, ckpt_path=ckpt, verbose=False)
    assert np.isfinite(res["test/rel_l2"]) and dm2.test_indices.tolist() == \
        dm.test_indices.tolist()
    # the module (and an export of it) still records the fit's split, not this test's
    assert module.data_info["source"]["max_train_trajectories"] is None
    (res,) = _trainer().validate(_module(), FieldDataModule(
        data, batch_size=4, fractions=(0.6, 0.2, 0.2), seed=3, max_train_trajectories=3),
        ckpt_path=ckpt, verbose=False)
    assert np.isfinite(res["val/rel_l2"])


def test_other_file_refused_pointing_to_predict(fitted, tmp_path):
    """test on another file (a held-out one) is refused, and the message says how to score
    the model on it: export, then predict."""
    data, ckpt, _ = fitted
    other = _burgers(tmp_path / "heldout.nc", seed=5)
    with pytest.raises(ValueError, match=r"this test reads other data.*to score it on another "
                                         r"file \(a held-out one\), export it and run "
                                         r"pdesurrogate predict --input FILE"):
        _trainer().test(_module(), FieldDataModule(other, batch_size=4,
                                                   fractions=(0.6, 0.2, 0.2), seed=3),
                        ckpt_path=ckpt, verbose=False)


def test_differences_are_judged_by_the_trajectories_each_stage_reads():
    """source_differences, directly: settings that give the same trajectories for a stage
    are no difference for it; k matters only to a module that steps k saved times."""
    from pdesurrogate.training.data_source import source_differences

    def info(**src):
        base = {"fingerprint": "f", "path": "a.nc", "n_trajectories": 10,
                "fractions": [0.6, 0.2, 0.2], "seed": 3, "max_train_trajectories": None}
        return {"k": src.pop("k", 1), "source": {**base, **src}}

    fit = info()
    assert source_differences(fit, info(max_train_trajectories=3), "test") == []
    assert source_differences(fit, info(max_train_trajectories=3), "validate") == []
    assert source_differences(fit, info(max_train_trajectories=3), "fit") == [
        "max_train_trajectories None (checkpoint) vs 3 (now)"]
    assert source_differences(fit, info(seed=4), "test") == ["seed 3 (checkpoint) vs 4 (now)"]
    assert source_differences(fit, info(path="b.nc"), "fit") == []
    assert source_differences(fit, info(k=2), "test") == ["k 1 (checkpoint) vs 2 (now)"]
    assert source_differences(fit, info(k=2), "test", compare_k=False) == []
    assert source_differences(fit, info(fingerprint="g"), "test")[0].startswith(
        "data fingerprint f of 'a.nc' (checkpoint) vs g of 'a.nc' (now)")
