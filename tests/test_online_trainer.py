"""How ``pdesurrogate online`` sets up and reports its Lightning trainer, without an MPI job:
what ended the training, as the summary says it (it blamed "max_steps or max_time" for
whatever stopped the trainer), checkpoints written through :class:`AtomicCheckpointIO` in both
the single-trainer and the DDP set-up, a run without validation (``limit_val_batches: 0``)
said so, and a solver rank's solver built without the model."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset

_spec = importlib.util.spec_from_file_location("online_test_helpers",
                                               Path(__file__).with_name("test_online.py"))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


class Endless(IterableDataset):
    """A stream that never ends, as the online buffer is until the solvers are done."""

    def __iter__(self):
        while True:
            yield torch.ones(2, 1)


def tiny_module():
    import lightning.pytorch as pl

    class Tiny(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(1, 1)

        def training_step(self, batch, i):
            return self.lin(batch).pow(2).mean()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    return Tiny()


def fitted(**trainer_args):
    import lightning.pytorch as pl

    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, max_epochs=-1, accelerator="cpu",
                         **trainer_args)
    trainer.fit(tiny_module(), DataLoader(Endless(), batch_size=None))
    return trainer


@pytest.mark.parametrize(("trainer_args", "says"), [
    ({"max_steps": 4}, "trainer.max_steps (4)"),
    ({"fast_dev_run": 2}, "trainer.fast_dev_run (2): a quick check of 2 step(s)"),
    ({"max_time": {"seconds": 1}}, "trainer.max_time ("),
])
def test_the_summary_names_the_setting_that_ended_training(trainer_args, says):
    from pdesurrogate.online import ended_by_what

    trainer = fitted(**trainer_args)
    assert ended_by_what(trainer, stream_ended=False).startswith(says)
    # the stream ending first is what ended it, whatever the trainer's settings
    assert ended_by_what(trainer, stream_ended=True).startswith("the stream: ")


def test_a_trainer_stopped_by_its_model_is_not_said_to_hit_a_limit():
    from lightning.pytorch.callbacks import Callback

    from pdesurrogate.online import ended_by_what

    class StopAt3(Callback):
        def on_train_batch_end(self, trainer, *args):
            trainer.should_stop = trainer.global_step >= 3

    trainer = fitted(max_steps=100, callbacks=[StopAt3()])
    said = ended_by_what(trainer, stream_ended=False)
    assert "trainer.should_stop" in said and "max_steps" not in said, said


def test_checkpoints_are_written_atomically_with_one_trainer_and_with_ddp(tmp_path):
    """Both set-ups of run_trainer: the single trainer's plugins, and DDP among trainer ranks
    (a DDPStrategy with the ranks' own cluster environment); each checkpoint goes through
    AtomicCheckpointIO (it went through Lightning's default writer, via TMPDIR, not fsync'd),
    and the single trainer keeps Lightning away from srun's SLURM variables."""
    import lightning.pytorch as pl
    from lightning.fabric.plugins.environments import LightningEnvironment
    from lightning.pytorch.strategies import DDPStrategy

    from pdesurrogate.online import trainer_plugins
    from pdesurrogate.training.checkpoint_io import AtomicCheckpointIO
    from pdesurrogate.training.trainer_ranks import TrainerRanksEnvironment

    plugins = trainer_plugins(single=True)
    assert any(isinstance(p, LightningEnvironment) for p in plugins)
    single = pl.Trainer(plugins=plugins, accelerator="cpu", devices=1, logger=False)
    assert isinstance(single.strategy.checkpoint_io, AtomicCheckpointIO)
    env = TrainerRanksEnvironment(1, 0, 0, 0, "localhost", 29555)
    ddp = pl.Trainer(strategy=DDPStrategy(cluster_environment=env,
                                          process_group_backend="gloo"),
                     plugins=trainer_plugins(single=False), accelerator="cpu", devices=1,
                     num_nodes=1, logger=False)
    assert isinstance(ddp.strategy.checkpoint_io, AtomicCheckpointIO)
    assert ddp.strategy.cluster_environment is env


def test_a_run_without_validation_says_so(capsys):
    """trainer.limit_val_batches 0: Lightning validates nothing (and returned no results, which
    failed the run after all its training); the summary says why there is no error figure."""
    from pdesurrogate.online import _print_summary

    s = {"status": "finished", "global_step": 7, "ended_by": "the stream",
         "committed_simulations": 3, "simulations": 3, "abandoned_sim_ids": [],
         "sims_failed": 0, "sims_dropped": 0, "malformed_messages": 0, "samples_received": 21,
         "mb_received": 0.01, "idle_fraction": 0.1,
         "validation_skipped": "trainer.limit_val_batches is 0"}
    _print_summary(s, Path("out"))
    text = " ".join(capsys.readouterr().err.split())
    assert "validation │ none: trainer.limit_val_batches is 0" in text, text
    assert "rel L2" not in text, text


@pytest.mark.slow  # ~9 s on 2 cores: make test-all runs it
def test_a_solver_rank_builds_the_solver_without_the_model(tmp_path):
    """The same solver as the full config builds, and no model library imported (every solver
    rank built the model, and held neuraloperator and wandb, for nothing)."""
    from pdesurrogate.online import _parse

    cfg = helpers.write_config(tmp_path)
    code = ("import json, sys; from pdesurrogate.online import _parse, build_solver; "
            f"_, cfg, _ = _parse(['--config', {str(cfg)!r}]); s = build_solver(cfg); "
            "print(json.dumps([type(s).__qualname__, s.settings(), "
            "[m for m in ('neuralop', 'wandb') if m in sys.modules]]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    name, settings, imported = json.loads(proc.stdout.splitlines()[-1])
    parser, ns, _ = _parse(["--config", str(cfg)])
    full = parser.instantiate(ns).solver
    assert (name, settings) == (type(full).__qualname__, json.loads(json.dumps(
        full.settings())))
    assert imported == []
