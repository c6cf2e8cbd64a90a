"""``pdesurrogate fit`` with a ``--trainer.precision`` the model cannot run in: refused with one
error line before the loggers make a run folder, so the next fit is still ``version_0``."""

import importlib.util
from pathlib import Path

import torch

from pdesurrogate.cli import main

_spec = importlib.util.spec_from_file_location("cli_fit_test_helpers",
                                               Path(__file__).with_name("test_cli_fit.py"))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)
data = helpers.data  # the fixture: 10 Burgers trajectories of 3 frames on 32 points


def _fit(data: str, root: Path, *extra: str) -> list[str]:
    return ["fit", "--config", helpers.CONFIG, *helpers.tiny(data, root),
            "--trainer.enable_progress_bar", "false", *extra]


def test_a_refused_precision_leaves_no_run_folder(tmp_path, data, capsys):
    """Before, the check ran in NextStepModule.setup, after the loggers and the saved config
    had made csv/version_0 and tensorboard/version_0: each refused try took a version number,
    and the next good fit went to version_1."""
    root = tmp_path / "runs"
    for precision in ("64-true", "bf16-true"):  # FNO's complex weights: float32 only
        rc = main(_fit(data, root, "--trainer.precision", precision))
        err = capsys.readouterr().err
        assert rc == 2, err
        assert (f"pdesurrogate fit: error: ValueError: trainer.precision={precision!r} "
                "cannot run FNO:") in err, err
        assert "Traceback" not in err, err
        left = sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []
        assert not [p for p in left if "version_" in p], left
    assert main(_fit(data, root)) == 0
    assert (root / "csv" / "version_0" / "checkpoints" / "last.ckpt").is_file()
    assert not (root / "csv" / "version_1").exists()


def test_a_fit_from_a_checkpoint_past_max_steps_says_why_it_trained_nothing(tmp_path, data,
                                                                          capsys):
    """max_steps counts the checkpoint's steps (Lightning's rule for a resumed fit; a fit
    fine-tuned from an online run's checkpoint continues its step count the same way), so a
    max_steps at or below them trains nothing: still exit 0 (a requeued finished fit), but
    with a warning before and the reason on the final line. Before, it printed only "no
    checkpoint written"."""
    root = tmp_path / "runs"
    assert main(_fit(data, root)) == 0
    ckpt = root / "csv" / "version_0" / "checkpoints" / "last.ckpt"
    step = torch.load(ckpt, weights_only=True)["global_step"]
    assert step >= 2
    capsys.readouterr()
    rc = main(_fit(data, root, "--ckpt_path", str(ckpt), "--trainer.max_epochs", "5",
                   "--trainer.max_steps", str(step - 1)))
    err = " ".join(capsys.readouterr().err.split())
    assert rc == 0, err
    why = (f"--trainer.max_steps {step - 1} is at or below the step of --ckpt_path ({step}; "
           "max_steps counts the checkpoint's steps too): nothing to train")
    assert f"pdesurrogate fit: warning: {why}; raise --trainer.max_steps above it" in err, err
    assert f"; checkpoint {ckpt.parent}" in err and err.endswith(f".ckpt ({why})"), err
    # a checkpoint without a checkpoint writer's state, as an online run's: none written
    online = tmp_path / "online.ckpt"
    torch.save({k: v for k, v in torch.load(ckpt, weights_only=True).items()
                if k != "callbacks"}, online)
    rc = main(_fit(data, root, "--ckpt_path", str(online), "--trainer.max_epochs", "5",
                   "--trainer.max_steps", str(step)))
    err = " ".join(capsys.readouterr().err.split())
    why = why.replace(f"max_steps {step - 1} ", f"max_steps {step} ")
    assert rc == 0 and f"warning: {why};" in err, err
    assert err.endswith(f"; no checkpoint written ({why})"), err
    # one step more than the checkpoint's trains, without the warning
    rc = main(_fit(data, root, "--ckpt_path", str(ckpt), "--trainer.max_epochs", "5",
                   "--trainer.max_steps", str(step + 1)))
    err = capsys.readouterr().err
    assert rc == 0 and "nothing to train" not in err, err


def test_a_pinn_fit_with_a_refused_precision_leaves_no_run_folder(tmp_path, capsys):
    """The PINN module's refusal (bf16-true: its residual needs float32) comes before the
    Trainer makes a run folder too, as the field modules' does."""
    root = tmp_path / "pinn"
    config = helpers.ROOT / "configs" / "fit" / "pinn_poisson_1000d.yaml"
    rc = main(["fit", "--config", str(config),
               "--model.init_args.problem.init_args.dim", "4",
               "--model.init_args.estimator.init_args.dim_batch", "2",
               "--model.init_args.width", "8", "--data.init_args.steps_per_epoch", "2",
               "--trainer.max_epochs", "1", "--trainer.default_root_dir", str(root),
               "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false",
               "--trainer.precision", "bf16-true"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "trainer.precision='bf16-true'" in err and "Traceback" not in err, err
    assert not root.exists() or not [p for p in root.rglob("version_*")]
