"""``pdesurrogate fit`` and ``pdesurrogate test``: Lightning's CLI over the config's
LightningModule and LightningDataModule, with this command's checks, defaults (loggers,
callbacks, checkpoint plugin) and its ends (Ctrl-C, SIGTERM, a checkpoint that does not fit)."""

from __future__ import annotations

import os
import signal
import sys
import warnings
from collections.abc import Sequence

from pdesurrogate.cli.checkpoints import (
    _check_checkpoint_class,
    _check_checkpoint_model,
    _checked_checkpoint,
    _checkpoint_mismatch,
    _slurm_requeue_checkpoint,
)
from pdesurrogate.cli.conventions import NO_ABBREVIATIONS
from pdesurrogate.cli.exits import _sigterm_message
from pdesurrogate.cli.lightning_help import (
    _CHECKPOINT_HELP,
    _NEEDS_CONFIG,
    _lightning_description,
    _raw_description,
)
from pdesurrogate.cli.messages import console
from pdesurrogate.cli.resume_checks import _cut_epoch, _nothing_to_train, _resumes_mid_epoch
from pdesurrogate.cli.run_outputs import _fit_outputs, _stopped_resume_hint, _test_outputs
from pdesurrogate.cli.run_paths import _DEFAULT_ROOT, _loggers_follow_root, _settle_paths
from pdesurrogate.cli.trainer_callbacks import (
    _class_path,
    _is_a,
    _is_checkpoint_writer,
    _is_progress_bar,
    _saves_last,
    default_checkpoint,
)
from pdesurrogate.sigterm_unwinds import raised_while
from pdesurrogate.yaml_aliases import bound_yaml_aliases


def _lightning_cli(subcommand: str, argv: Sequence[str], run: dict | None = None) -> int:
    """Run Lightning's CLI for ``subcommand`` (fit, validate, test) over any LightningModule and
    LightningDataModule named by class_path in the config (PDEArena-style YAML). ``run``, if
    given, gets the run's Trainer once built (key ``"trainer"``), for the caller's message
    when a signal stops the command.

    No line here constructs the model: jsonargparse builds each ``class_path`` with its
    ``init_args`` (``NextStepModule(model=FNO(...))``, ``FieldDataModule(path=...)``) when
    ``CLI(...)`` (a LightningCLI subclass defined here) is called near the end; that
    subclass's methods are Lightning's hooks (argument links, checks, checkpoint handling,
    signals)."""
    from jsonargparse import Namespace
    from lightning.fabric.plugins import CheckpointIO
    from lightning.fabric.plugins.environments import (
        ClusterEnvironment,
        LightningEnvironment,
        SLURMEnvironment,
    )
    from lightning.pytorch import LightningDataModule, LightningModule
    from lightning.pytorch.cli import LightningCLI
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from pdesurrogate.online.shm_room import skip_mpi_start
    from pdesurrogate.training import checkpoint_io, progress, run_checkpoint, stop_checkpoint
    from pdesurrogate.training.curves_plot import CLASS_PATH as CURVES_PLOT
    from pdesurrogate.training.deferred_signals import DeferredSignals
    from pdesurrogate.training.finite_weights import CLASS_PATH as FINITE_WEIGHTS
    from pdesurrogate.training.slurm_step import srun_tasks_lightning_ignores
    from pdesurrogate.training.step_logs import CLASS_PATH as LEARNING_RATE_LOG

    bound_yaml_aliases()
    deferred_signals = f"{DeferredSignals.__module__}.{DeferredSignals.__qualname__}"
    if not argv:
        # else LightningCLI only says that fit.model and fit.data are required
        raise ValueError(f"pdesurrogate {subcommand} needs a config: {_NEEDS_CONFIG[subcommand]}; "
                         f"pdesurrogate {subcommand} --help lists the options")

    # the checkpoint named in the config, for errors; its trainer, for main's SIGTERM message
    ckpt: dict = {} if run is None else run

    class CLI(LightningCLI):
        def _add_subcommands(self, parser, **kwargs) -> None:
            super()._add_subcommands(parser, **kwargs)
            # Lightning's own help offers URLs, its keywords and unpickling, all refused here
            for sub in getattr(self, "_subcommand_parsers", {}).values():
                for action in sub._actions:
                    if action.dest in _CHECKPOINT_HELP:
                        action.help = _CHECKPOINT_HELP[action.dest]

        def _parse_ckpt_path(self) -> None:
            # Lightning's reads the checkpoint's hyper_parameters into the config, its
            # _class_path included: the file would choose which module is imported and which
            # class is built, and its values would win over the command line's. Here the
            # config alone (for test: the config.yaml the fit saved) says what is built; the
            # checkpoint is vetted, and must be of the class the config builds.
            run = self.config[self.config.subcommand]
            if run.get("weights_only") is False:
                raise ValueError("--weights_only false is refused: it would unpickle whatever "
                                 "the checkpoint holds, and run code in it; checkpoints are "
                                 "read weights-only")
            if "weights_only" in run:
                run.weights_only = True  # whatever torch's default is (torch < 2.6: False)
            if run.get("ckpt_path") is None and self.config.subcommand == "fit":
                # Lightning would resume from it unvetted, whoever's it is
                run.ckpt_path = _slurm_requeue_checkpoint(run.trainer.default_root_dir)
            if run.get("ckpt_path") is not None:
                checked = _checked_checkpoint(run.ckpt_path)
                ckpt["global_step"] = checked.get("global_step")
                ckpt["cut_epoch"] = _cut_epoch(checked)
                ckpt["saved_states"] = frozenset(k for k in checked if isinstance(k, str))
                _check_checkpoint_class(checked, run.ckpt_path, run.get("model"),
                                        self.config.subcommand)
                hparams = checked.get("hyper_parameters")
                ckpt["model_spec"] = (hparams.get("model_spec") if isinstance(hparams, dict)
                                      else None)

        def before_instantiate_classes(self) -> None:
            ckpt["path"] = self.config[self.subcommand].get("ckpt_path")
            if self.subcommand == "test" and not ckpt["path"]:
                # Lightning would score the model's initial random weights
                raise ValueError("pdesurrogate test needs --ckpt_path: a checkpoint written by "
                                 "pdesurrogate fit (e.g. .../checkpoints/last.ckpt), tested with "
                                 "the config.yaml that fit saved next to it")
            trainer = self.config[self.subcommand].trainer
            _settle_paths(self.config[self.subcommand])
            _loggers_follow_root(self.config[self.subcommand])
            # unless the config names its loggers, log CSV + TensorBoard under default_root_dir
            if trainer.logger in (None, True):
                from pdesurrogate.training import version_claim

                root = trainer.default_root_dir or _DEFAULT_ROOT
                # no TensorBoard hp_metric: Lightning's placeholder is a constant -1
                trainer.logger = [
                    Namespace(class_path=cls, init_args=Namespace(save_dir=root, name=name,
                                                                  **extra))
                    # version_N claimed, not listed: fits sharing a root get a folder each
                    for cls, name, extra in ((version_claim.CSV_CLASS_PATH, "csv", {}),
                                             (version_claim.TENSORBOARD_CLASS_PATH,
                                              "tensorboard", {"default_hp_metric": False}))
                ]
            # a rich progress bar unless the config turns bars off or brings its own
            callbacks = list(trainer.callbacks or [])
            if trainer.enable_progress_bar is False:
                # bars off wins over a bar in the config: the config.yaml fit saved lists the
                # bar fit added, and Lightning refuses any bar with enable_progress_bar=False
                callbacks = [c for c in callbacks if not _is_progress_bar(c)]
            # ours go first: on a saved config.yaml given again, --trainer.callbacks.KEY sets
            # KEY of the list's last callback (jsonargparse), which must stay the user's
            ours = []
            has_bar = any(_is_progress_bar(c) for c in callbacks)
            if trainer.enable_progress_bar is not False and not has_bar:
                # redrawn a few times a second, not after every batch (see .training.progress)
                ours.append(Namespace(class_path=progress.CLASS_PATH, init_args=Namespace(
                    refresh_rate=progress.REFRESH_PER_S)))
            # Slurm's requeue signal handled between batches, never inside a held lock
            # (named by class_path, so the config.yaml Lightning saves can record it)
            # (once: the config.yaml a fit saved, given to test or a resumed fit, lists it)
            if not any(_class_path(c) == deferred_signals for c in callbacks):
                ours.append(Namespace(class_path=deferred_signals))
            # SIGTERM writes last.ckpt of where the fit stopped (fit only: a test has none)
            if self.subcommand == "fit" and not any(
                    _class_path(c) == stop_checkpoint.CLASS_PATH for c in callbacks):
                ours.append(Namespace(class_path=stop_checkpoint.CLASS_PATH))
            # train/lr beside train/rel_l2 (a schedule's rate, or the constant one)
            if self.subcommand == "fit" and not any(
                    _class_path(c) == LEARNING_RATE_LOG for c in callbacks):
                ours.append(Namespace(class_path=LEARNING_RATE_LOG))
            # curves.png beside metrics.csv when the fit ends or is interrupted
            if self.subcommand == "fit" and not any(
                    _class_path(c) == CURVES_PLOT for c in callbacks):
                ours.append(Namespace(class_path=CURVES_PLOT))
            # the batch the weights become NaN stops the fit, before a checkpoint holds them
            if self.subcommand == "fit" and not any(
                    _class_path(c) == FINITE_WEIGHTS for c in callbacks):
                ours.append(Namespace(class_path=FINITE_WEIGHTS))
            callbacks = ours + callbacks
            if trainer.enable_checkpointing is False:
                # our default last.ckpt writer goes too: trainer_defaults' callbacks join when
                # the Trainer is built, after this hook, and Lightning refuses a ModelCheckpoint
                # with checkpointing off
                self.trainer_defaults = {k: v for k, v in self.trainer_defaults.items()
                                         if k != "callbacks"}
            elif writers := [c for c in callbacks if _is_checkpoint_writer(c)]:
                # the config's own writers (default_checkpoint says what a user gets)
                self.trainer_defaults = {k: v for k, v in self.trainer_defaults.items()
                                         if k != "callbacks"}
                if not any(_saves_last(c) for c in writers):
                    # first, so that theirs, not ours, is the one Lightning names last-v1.ckpt
                    callbacks.insert(0, Namespace(
                        class_path=run_checkpoint.CLASS_PATH,
                        init_args=Namespace(**run_checkpoint.INIT_ARGS)))
            trainer.callbacks = callbacks
            # checkpoints written whole or not at all, read weights-only; unless the config
            # brings its own writer (once: the config.yaml a fit saved lists ours)
            plugins = trainer.plugins if isinstance(trainer.plugins, list) else (
                [] if trainer.plugins is None else [trainer.plugins])
            if not any(_is_a(p, CheckpointIO) for p in plugins):
                plugins.append(Namespace(class_path=checkpoint_io.CLASS_PATH))
            trainer.plugins = plugins

        def instantiate_trainer(self, **kwargs):
            # srun's tasks in a job Lightning takes for an interactive shell (salloc's default
            # name): its SLURMEnvironment, given here rather than in the config, so that the
            # saved config.yaml still runs outside Slurm
            tasks = srun_tasks_lightning_ignores(os.environ)
            given = self.config_init[self.subcommand].trainer.plugins
            given = [] if given is None else given if isinstance(given, list) else [given]
            if tasks and not any(isinstance(p, ClusterEnvironment) for p in given):
                kwargs["plugins"] = [*given, SLURMEnvironment(auto_requeue=False)]
                if os.environ.get("SLURM_PROCID") == "0":
                    print(f"pdesurrogate {self.subcommand}: the Slurm job is named "
                          f"{os.environ.get('SLURM_JOB_NAME')!r} (salloc's default), which "
                          f"Lightning takes for an interactive shell; this srun step has {tasks} "
                          "tasks, so their ranks are Slurm's (salloc -J NAME avoids this note)",
                          file=sys.stderr)
            elif not any(isinstance(p, ClusterEnvironment) for p in given) \
                    and skip_mpi_start(os.environ):
                # Lightning's check for an MPI job would start MPI, whose bus error in a full
                # /dev/shm kills the process; with no launcher around it finds one process
                kwargs["plugins"] = [*given, LightningEnvironment()]
            trainer = super().instantiate_trainer(**kwargs)
            _refuse_pickled_ranks(trainer, self.subcommand)
            return trainer

        # model and Trainer are built, and nothing is written yet: the loggers make the run
        # folder (csv/version_N) and the config is saved into it as fit or test sets up. A
        # precision refused there would leave an empty version_N, and the next fit would land
        # in version_N+1 instead of the version_0 the README's next commands name.
        def before_fit(self) -> None:
            _check_trainer_precision(self.model, self.trainer, "fit")
            _check_checkpoint_model(ckpt, self.model, "fit")
            ckpt["idle"] = _nothing_to_train(self.trainer.max_steps, ckpt.get("global_step"))
            if ckpt["idle"] and self.trainer.is_global_zero:
                print(f"pdesurrogate fit: warning: {ckpt['idle']}; raise --trainer.max_steps "
                      "above it to train on", file=sys.stderr)
            cut = ckpt.get("cut_epoch")
            if cut is not None and self.trainer.max_steps == -1 and self.trainer.is_global_zero:
                epoch, done = cut
                print(f"pdesurrogate fit: warning: --ckpt_path was written when max_steps ended "
                      f"epoch {epoch} after {done} of its batches; resumed by epochs, Lightning "
                      f"counts that epoch as done and starts epoch {epoch + 1}, so the rest of "
                      f"epoch {epoch} is never trained (resume with a larger --trainer.max_steps "
                      "to continue it)", file=sys.stderr)
            ckpt["trainer"] = self.trainer
            if _resumes_mid_epoch(self.datamodule, ckpt.get("saved_states", ())):
                # Lightning warns at a mid-epoch resume of any loader without its own
                # state_dict that it restarts "unreliably"; ours continue after the batches
                # the checkpoint trained (their datamodule's state_dict)
                warnings.filterwarnings("ignore", message="You're resuming from a checkpoint "
                                        "that ended before the epoch ended")

        def before_test(self) -> None:
            _check_trainer_precision(self.model, self.trainer, "test")
            _check_checkpoint_model(ckpt, self.model, "test")
            # the fit's ModelCheckpoint state, restored in another run folder: Lightning warns
            # that its best-k bookkeeping is not reloaded there, which a test never uses
            warnings.filterwarnings("ignore", message="The dirpath has changed from")

    # we pass args= on purpose (the subcommand is ours); Lightning warns whenever sys.argv is set
    warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
    try:
        cli = CLI(
            LightningModule, LightningDataModule,
            subclass_mode_model=True, subclass_mode_data=True,
            trainer_defaults={"callbacks": [default_checkpoint()]},
            save_config_kwargs={"overwrite": True},
            # a parse error reaches main() as an exception, which prints it without the usage
            # (the formatter goes on the parent: jsonargparse gives it to the subcommand's)
            parser_kwargs={"exit_on_error": False, "formatter_class": _raw_description(),
                           **NO_ABBREVIATIONS,
                           subcommand: {"exit_on_error": False, **NO_ABBREVIATIONS,
                                        "description": _lightning_description(subcommand)}},
            args=[subcommand, *argv],
        )
    except RuntimeError as err:
        if _after_ctrl_c(err):
            return _ctrl_c_stop(ckpt.get("trainer"), subcommand)
        if ckpt.get("path") and ("size mismatch" in str(err) or "Missing key(s)" in str(err)):
            raise _checkpoint_mismatch(err, ckpt["path"], subcommand) from None
        raise
    except SIGTERMException:
        # Lightning's SIGTERM stop is a SystemExit without a code: exit 0, as if finished
        trainer = ckpt.get("trainer")
        if trainer is None or trainer.is_global_zero:
            print(_sigterm_message(subcommand, trainer), file=sys.stderr)
        return 128 + signal.SIGTERM
    except BaseException as exc:
        # Lightning ends a fit or test that Ctrl-C interrupted with sys.exit(1), and its
        # teardown then may fail in turn (a DataLoader reset twice): both are the user's stop
        if _after_ctrl_c(exc):
            return _ctrl_c_stop(ckpt.get("trainer"), subcommand)
        raise
    if cli.trainer.is_global_zero:
        from rich.markup import escape

        last = (_fit_outputs(cli.trainer, ckpt.get("idle")) if subcommand == "fit"
                else _test_outputs(cli.trainer))
        # soft_wrap: a path is never folded into pieces (a log file is 80 columns wide)
        console().print(escape(last), soft_wrap=True, highlight=False)
    return 0


def _after_ctrl_c(exc: BaseException) -> bool:
    """Whether ``exc`` is a Ctrl-C or was raised while one was handled (Lightning's
    ``sys.exit(1)`` after Ctrl-C, an error in the teardown it runs then); never with
    ``PDESURROGATE_DEBUG``, which asks for the traceback."""
    return not os.environ.get("PDESURROGATE_DEBUG") and raised_while(exc, KeyboardInterrupt)


def _ctrl_c_stop(trainer, subcommand: str) -> int:
    """Say (on rank 0) that Ctrl-C stopped ``subcommand`` and, for a fit, what it can
    resume from; the exit status of a process that SIGINT ended, 130."""
    if trainer is None or trainer.is_global_zero:
        hint = f"; {_stopped_resume_hint(trainer, subcommand)}" \
            if subcommand == "fit" and trainer is not None else ""
        print(f"pdesurrogate {subcommand}: interrupted (Ctrl-C){hint}", file=sys.stderr)
    return 128 + signal.SIGINT


def _check_trainer_precision(model, trainer, stage: str) -> None:
    """Refuse ``trainer.precision`` for ``model`` before ``stage`` (fit, test) starts, with the
    ValueError its LightningModule raises in ``setup``, where the module has that check
    (``check_trainer_precision``, as :class:`~pdesurrogate.training.NextStepModule` does);
    a module without it is left to its own ``setup``."""
    check = getattr(model, "check_trainer_precision", None)
    if callable(check):
        check(trainer.precision, stage)


def _refuse_pickled_ranks(trainer, subcommand: str) -> None:
    """Refuse a strategy that starts its ranks with multiprocessing's spawn or forkserver
    (``ddp_spawn``, ``DDPStrategy(start_method="forkserver")``, ...) before anything runs:
    those pickle the whole Trainer for each rank, which holds this command's Lightning CLI
    (a class made per run, which does not pickle), so the fit died in a traceback ending
    "Can't pickle local object". ``ddp`` starts each rank as a fresh copy of the command and
    needs no pickling."""
    method = getattr(getattr(trainer.strategy, "launcher", None), "_start_method", None)
    if method in ("spawn", "forkserver"):
        raise ValueError(f"the trainer's strategy starts its ranks with multiprocessing's "
                         f"{method!r} start method (as ddp_spawn does), which {subcommand} "
                         "cannot run: use --trainer.strategy ddp, which starts each rank as "
                         "a copy of this command (on CPU too)")


def cmd_fit(argv: Sequence[str], run: dict | None = None) -> int:
    return _releasing_unwritten_folders("fit", argv, run)


def cmd_test(argv: Sequence[str], run: dict | None = None) -> int:
    return _releasing_unwritten_folders("test", argv, run)


def _releasing_unwritten_folders(subcommand: str, argv: Sequence[str], run: dict | None) -> int:
    """:func:`_lightning_cli`, whose run folders (``csv/version_N``, ``tensorboard/version_N``)
    are removed again when it fails before writing anything into them (a model that does not
    match its data file): the next fit is ``version_N`` again, not ``version_N+1`` beside an
    empty one; the config.yaml a failed set-up saved goes with them. A folder with a
    checkpoint, metrics or hparams.yaml (saved before training starts) stays."""
    from pdesurrogate.training import version_claim

    claims = version_claim.claims_made()
    try:
        return _lightning_cli(subcommand, argv, run)
    except BaseException:
        # also rich's SystemExit on a closed stdout (the model summary into | true) and Ctrl-C
        version_claim.release_unwritten(claims)
        raise
