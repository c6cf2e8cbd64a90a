"""The ``pdesurrogate`` command: one subcommand per way into the platform.

This module and :mod:`pdesurrogate.online` (the ``online`` command's ranks) are the only ones
that wire solvers, datasets, training and streaming together: the other parts depend only
downwards (solvers on numpy/torch, datasets on solvers, streaming on
solvers and mpi4py, training on models, datasets and streaming), never on each other sideways
or on this module. Each subcommand parses its own arguments with jsonargparse, so YAML configs
map one-to-one onto constructor arguments and a misspelt key is an error that names it.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import logging
import math
import os
import re
import signal
import sys
import textwrap
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from pdesurrogate.allocator import tune_malloc
from pdesurrogate.sigterm_unwinds import Terminated, raised_while, sigterm_unwinds
from pdesurrogate.startup_gc import import_without_gc
from pdesurrogate.text_locale import (
    escape_unencodable_output,
    non_utf8_config,
    utf8_text_files,
)
from pdesurrogate.yaml_aliases import bound_yaml_aliases, check_yaml_aliases

# Every parser here takes whole option names only: argparse would otherwise take a prefix for
# the option it begins (--trainer.max_epoch for --trainer.max_epochs, --ckpt for --ckpt_path,
# --sample for --samples), and a misspelt key would be a silent guess instead of an error.
NO_ABBREVIATIONS = {"allow_abbrev": False}

# what every command's exit status means, for scripts (Make, Snakemake, CI) that branch on it;
# online adds its own (1, 3) to its --help
EXIT_STATUS = (
    "Exit status: 0 done; 2 an error, said on stderr in a line starting 'pdesurrogate "
    "COMMAND: error:' (a bad option or value, a missing input, an existing output without "
    "--overwrite, a failure on the way); 130 stopped by Ctrl-C, 143 by SIGTERM; 141 stdout "
    "closed early (| head, | grep -q), as SIGPIPE would; 1 an unexpected error (a traceback: "
    "a bug to report).")


def _markup_free(path) -> str:
    """``path`` as text for a rich line with markup: a file name such as ``a[/b].nc`` or
    ``[bold]x.nc`` is a markup tag to rich (an error, or a name printed without it)."""
    from rich.markup import escape

    return escape(str(path))


def console():
    """A rich console on stderr. Imported late on purpose: typing caches unions and hands out
    the first of ``Union[float, int]`` / ``Union[int, float]`` for both, and with rich imported
    first Lightning's Trainer arguments come out ``Union[float, int]``, so jsonargparse parsed
    ``--trainer.limit_train_batches 1`` as 1.0 (every batch). Lightning must load first."""
    from rich.console import Console

    from pdesurrogate.datasets.progress import redraws

    err = Console(stderr=True)
    # a log file (Slurm's, a pipe, CI, also with FORCE_COLOR): rich would fold lines at 80
    # columns, mid-path and mid-number; whole lines there, for grep and for copying a path
    err.soft_wrap = not redraws(err)
    return err


# -- generate ---------------------------------------------------------------------------------
def _solver_classes() -> dict[str, str]:
    """Registry name -> class name of every solver (``burgers1d`` -> ``Burgers1D``)."""
    from pdesurrogate.solvers import SOLVERS

    return {name: cls.__name__ for name, cls in SOLVERS.items()}


def _solver_choices() -> str:
    return ", ".join(f"{name} ({cls})" for name, cls in _solver_classes().items())


def _generate_parser():
    from jsonargparse import ActionConfigFile, ArgumentParser, DefaultHelpFormatter

    from pdesurrogate.solvers import Solver

    class Help(DefaultHelpFormatter):
        def _get_help_string(self, action):
            # --solver is required (checked by jsonargparse), although its action says
            # "type: Optional[Solver], default: null": its own help says what it takes
            if getattr(action, "dest", None) == "solver":
                return action.help
            return super()._get_help_string(action)

    p = ArgumentParser(
        prog="pdesurrogate generate",
        description=(
            "Generate a dataset file (netCDF4/HDF5) by running a PDE solver over a batch of "
            "random initial conditions and parameters. Example: pdesurrogate generate "
            "--config configs/data/burgers1d.yaml --samples 64 --out data/burgers_small.nc "
            "(pdesurrogate configs --copy . writes the shipped configs to ./configs/)"
        ),
        epilog=("It writes --out alone, under a temporary name renamed when complete; the "
                "progress and the line naming the file go to stderr, stdout stays empty. "
                + EXIT_STATUS),
        exit_on_error=False,  # main() prints the error without the usage
        formatter_class=Help,
        **NO_ABBREVIATIONS,
    )
    p.add_argument("--config", action=ActionConfigFile, help="YAML file with the keys below.")
    p.add_subclass_arguments(
        Solver, "solver", required=True, as_group=False,
        help=("The solver (required): a name or class, "
              + _solver_choices().replace("%", "%%")
              + "; its constructor arguments as --solver.NAME VALUE, or in a config as "
              "solver: {class_path: ..., init_args: {...}}. --solver.help NAME lists them. "
              "A --solver of another class than the config's keeps the config's init_args "
              "that it also takes (as jsonargparse does; a warning lists them)."),
    )
    p.add_argument("--samples", type=int, default=100, help="Number of trajectories.")
    p.add_argument("--t_end", type=float, default=1.0, help="Final time of each trajectory.")
    p.add_argument("--n_times", type=int, default=11,
                   help="Number of stored times, evenly spaced over [0, t_end] (both included).")
    p.add_argument("--times", type=list[float] | None, default=None,
                   help="Explicit stored times, strictly increasing (overrides t_end/n_times).")
    p.add_argument("--out", type=str, required=True, help="Output file (.nc).")
    p.add_argument("--overwrite", action="store_true",
                   help="Replace --out if it exists (without it an existing file is an error, "
                        "reported before anything is solved).")
    p.add_argument("--seed", type=int, default=0,
                   help="Seed, 0 <= seed < 2**63; same seed, same file, whatever --batch_size "
                        "and --workers (each sample is drawn from its own seed, stored in the "
                        "file). The parameters and initial states are always identical; the "
                        "states of heat2d and darcy2d agree to within the SOR tolerance (their "
                        "bandit learns from earlier solves), of burgers1d and navier_stokes2d "
                        "with an automatic time step across batch sizes to within the "
                        "time-stepping error (the step is shared by a batch). Two runs with "
                        "the same options and workers write the same values bit for bit (only "
                        "the file's history attribute, when and how it was written, differs).")
    p.add_argument("--batch_size", type=int, default=32,
                   help="Trajectories solved together (speed and memory: the samples drawn do "
                        "not depend on it; see --seed).")
    p.add_argument("--workers", type=int | None, default=None,
                   help="Worker processes (default: the CPUs this process may use: its "
                        "affinity, e.g. a Slurm allocation, and a cgroup v2 quota, e.g. "
                        "docker --cpus).")
    p.add_argument("--max_retries", type=int, default=3,
                   help="Redraws of a batch whose solve diverged before giving up.")
    p.add_argument("--compression", type=str | None, default=None,
                   help="Compress the states u: gzip (netCDF4's own; ncdump reads it) or lzf "
                        "(faster, weaker; netCDF-C tools need the HDF5 LZF plugin); they read "
                        "back bit for bit. Default: uncompressed, since Navier-Stokes data "
                        "shrink only 1.1-1.3x and every read of a compressed file pays for "
                        "its decompression.")
    p.add_argument("--compression_level", type=int | None, default=None,
                   help="With --compression gzip: 0 (stored) to 9 (smallest); default 4.")
    return p


_SOLVER_OPTIONS = ("--solver", "--solver.class_path", "--solver.help")


def _solver_option_value(value: str) -> str:
    """A ``--solver`` value with a registry name translated: a name (``burgers1d``), or the
    same as a YAML mapping (``{class_path: burgers1d, init_args: {...}}``)."""
    import yaml

    from pdesurrogate.solvers import solver_class_path

    if not value.lstrip().startswith("{"):
        return solver_class_path(value)
    try:
        given = yaml.safe_load(value)
    except yaml.YAMLError:
        return value  # jsonargparse reports it
    path = solver_class_path(given)
    if path == given:
        return value
    return yaml.safe_dump(path, default_flow_style=True, sort_keys=False).strip()


def _solver_names_to_class_paths(argv: Sequence[str], configs: bool = True) -> list[str]:
    """``argv`` with a solver's registry name (``burgers1d``) given to ``--solver`` (alone or
    as a mapping's ``class_path``), ``--solver.class_path`` or ``--solver.help``, or
    (``configs``) as ``solver`` / ``solver.class_path`` in a ``--config`` file, replaced by its
    class path (:func:`pdesurrogate.solvers.solver_class_path`). A config that needs it is
    passed on as YAML text."""
    import yaml

    from pdesurrogate.solvers import solver_class_path

    out = list(argv)
    for i, arg in enumerate(out):
        name, eq, value = arg.partition("=")
        if name in _SOLVER_OPTIONS and eq:
            out[i] = f"{name}={_solver_option_value(value)}"
        elif arg in _SOLVER_OPTIONS and i + 1 < len(out):
            out[i + 1] = _solver_option_value(out[i + 1])
        elif configs and name == "--config" and (eq or i + 1 < len(out)):
            path = value if eq else out[i + 1]
            try:
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                check_yaml_aliases(text, f"config {path!r}")
                cfg = yaml.safe_load(text)
            except (OSError, yaml.YAMLError):
                continue  # jsonargparse reports it (given the path, it names the file)
            if not isinstance(cfg, dict) or "solver" not in cfg:
                continue
            solver = solver_class_path(cfg["solver"])
            if solver == cfg["solver"]:
                continue
            text = yaml.safe_dump({**cfg, "solver": solver}, sort_keys=False)
            out[i:i + 1 + (not eq)] = [f"--config={text}"] if eq else ["--config", text]
    return out


def _clearer_parse_error(err: argparse.ArgumentError) -> argparse.ArgumentError:
    """jsonargparse's messages for a missing option (it names keys: ``out, solver``) and an
    unknown solver (``Expected a dot import path string``), as the options and names to use."""
    msg = str(err)
    missing = re.fullmatch(r"the following arguments are required: (.*)", msg.strip())
    if missing:
        keys = ", ".join(f"--{k.strip()}" for k in missing.group(1).split(","))
        return argparse.ArgumentError(None, f"the following arguments are required: {keys}")
    unknown = re.search(r"Expected a dot import path string: (\S+)", msg)
    if unknown and msg.startswith('Parser key "solver"'):
        return argparse.ArgumentError(None, f"--solver: unknown solver {unknown.group(1)!r}; "
                                            f"choose a name or class: {_solver_choices()}")
    return err


def _solver_class(value) -> type | None:
    """The class a ``solver`` value names: a registry name (``ks1d``), a solver's class name
    (``KS1D``) or an import path; None for anything else (jsonargparse reports it)."""
    import importlib

    from pdesurrogate.solvers import SOLVERS

    if not isinstance(value, str):
        return None
    by_name = {**{c.__name__: c for c in SOLVERS.values()}, **SOLVERS}
    if value in by_name:
        return by_name[value]
    module, _, name = value.rpartition(".")
    try:
        found = getattr(importlib.import_module(module), name, None) if module else None
    except Exception:  # whatever fails to import, jsonargparse reports
        return None
    return found if isinstance(found, type) else None


def _takes(cls: type, name: str) -> bool:
    """Whether ``cls``'s constructor takes an argument ``name``."""
    import inspect

    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):  # no signature to read: jsonargparse decides
        return True
    return any(p.name == name and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
               or p.kind is p.VAR_KEYWORD for p in params)


def _yaml_value(text: str):
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text  # jsonargparse reports it


class SolverChange(NamedTuple):
    """A ``--solver`` (or a later ``--config``) that changed the solver's class while init_args
    given for the class before it were kept, as jsonargparse keeps them."""

    old: type  # the class before the change
    new: type  # the class after it
    where: str  # the option that changed the class
    kept: dict[str, str]  # init_arg given for an earlier class -> where it was given
    dropped: list[str]  # init_args given earlier that ``new`` does not take


def solver_class_change(argv: Sequence[str]) -> SolverChange | None:
    """The last change of the solver's class in ``argv`` (generate's options, in order), if
    init_args given for an earlier class went over to the new one; else None. jsonargparse
    keeps, when a later ``--solver``, ``--solver.class_path`` or ``--config`` names another
    class, the init_args given so far that the new class also takes (its maintainers' rule:
    only what is given changes), and drops the rest; a name they share may mean something
    else there (Burgers1D's ``length: 1.0`` is not KS1D's 64). Defaults are not carried, nor
    is an init_arg given again after the change."""
    given: dict[str, tuple[str, type | None]] = {}  # init_arg -> where, for which class
    cls: type | None = None
    change: tuple[type, type, str, list[str]] | None = None

    def solver(value, where: str) -> None:
        nonlocal cls, change
        if isinstance(value, dict):
            new = _solver_class(value.get("class_path")) if "class_path" in value else cls
            args = value.get("init_args")
        else:
            new, args = _solver_class(value), None
        if new is not None and cls is not None and new is not cls:
            dropped = [k for k in given if not _takes(new, k)]
            for k in dropped:
                del given[k]
            change = (cls, new, where, dropped)
        cls = new if new is not None else cls
        for k in args if isinstance(args, dict) else ():
            given[k] = (where, cls)

    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if name not in ("--config", "--solver") and not name.startswith("--solver."):
            continue  # another option, or a value (flags such as --overwrite take none)
        if not eq:
            if i + 1 == len(argv):
                continue  # jsonargparse reports the missing value
            value = argv[i + 1]
        if name == "--config":
            text, where = value, "a --config value"
            if os.path.isfile(value):
                where = f"config {value!r}"
                try:
                    with open(value, encoding="utf-8") as f:
                        text = f.read()
                except OSError:
                    continue  # jsonargparse reports it
            check_yaml_aliases(text, where)
            cfg = _yaml_value(text)
            if isinstance(cfg, dict) and "solver" in cfg:
                solver(cfg["solver"], where)
        elif name == "--solver":
            solver(_yaml_value(value), f"--solver {value}")
        elif name == "--solver.class_path":
            solver({"class_path": value}, f"--solver.class_path {value}")
        elif name == "--solver.init_args":
            solver({"init_args": _yaml_value(value)}, name)
        elif name.startswith("--solver.") and name != "--solver.help":
            key = name.removeprefix("--solver.").removeprefix("init_args.").split(".")[0]
            given[key] = (name, cls)
    kept = {k: w for k, (w, c) in given.items() if c is not cls}
    if change is None or not kept:
        return None
    old, new, where, dropped = change
    return SolverChange(old, new, where, kept, dropped)


def _warn_solver_change(change: SolverChange, init_args) -> None:
    """Say which init_args ``change`` carried to the new solver, with their values."""
    kept = ", ".join(f"{k}={init_args[k]!r}" for k in change.kept if k in init_args)
    sources = sorted(set(change.kept.values()))
    dropped = (f"; the others were dropped ({', '.join(change.dropped)})"
               if change.dropped else "")
    old, new = change.old.__name__, change.new.__name__
    print(f"pdesurrogate generate: warning: {change.where} replaced the solver {old} with "
          f"{new}, and the init_args given before it that {new} also takes went over to it "
          f"(jsonargparse keeps them): {kept} (from {', '.join(sources)}){dropped}. If they "
          f"are not meant for {new}, give its own as --solver.init_args.NAME VALUE after "
          f"--solver, or start from a config of {new} (pdesurrogate configs lists them).",
          file=sys.stderr)


def cmd_generate(argv: Sequence[str]) -> int:
    import numpy as np

    from pdesurrogate.datasets import generate_dataset

    bound_yaml_aliases()
    parser = _generate_parser()
    try:
        cfg = parser.parse_args(_solver_names_to_class_paths(argv))
    except argparse.ArgumentError as err:
        raise _clearer_parse_error(err) from None
    change = solver_class_change(argv)
    if change is not None:
        _warn_solver_change(change, cfg.solver.init_args)
    init = parser.instantiate(cfg)
    if cfg.samples <= 0:
        parser.error(f"--samples must be positive, got {cfg.samples}")
    if getattr(init.solver, "steady", False):
        times = np.zeros(1)  # a steady solve stores one slice
    elif cfg.times is not None:
        times = np.asarray(cfg.times, dtype=float)
    else:
        if cfg.n_times < 1:
            parser.error(f"--n_times must be >= 1, got {cfg.n_times}")
        if cfg.n_times > 1 and not cfg.t_end > 0:
            parser.error(f"--t_end must be > 0 to store --n_times {cfg.n_times} different "
                         f"times (evenly spaced over [0, t_end]), got {cfg.t_end}")
        times = np.linspace(0.0, cfg.t_end, cfg.n_times)
    # its own warnings (a killed writer's temporary removed, ...) as the solver-change one
    # above, not in Python's FILE:LINE: UserWarning format with a source line
    with _own_warnings_prefixed("generate"):
        report = generate_dataset(
            init.solver, os.path.expanduser(cfg.out), samples=cfg.samples, times=times,
            seed=cfg.seed, batch_size=cfg.batch_size, workers=cfg.workers,
            max_retries=cfg.max_retries, overwrite=cfg.overwrite, compression=cfg.compression,
            compression_level=cfg.compression_level,
        )
    console().print(
        f"[green]wrote[/green] {_markup_free(report.path)}: {report.samples} samples in "
        f"{report.seconds:.1f} s ({report.samples_per_second:.1f} samples/s)"
    )
    return 0


# -- fit / test (LightningCLI) ---------------------------------------------------------------
# what fit and test say when given no arguments: test scores a fit's run, so it takes the
# config that fit saved there (the shipped one would build a model without the fit's overrides)
_NEEDS_CONFIG = {
    "fit": "pdesurrogate fit --config configs/fit/NAME.yaml (one per experiment in "
           "configs/fit/; pdesurrogate configs lists the shipped ones, --copy . writes them out), "
           "or --model and --data",
    "test": "pdesurrogate test --config RUN/config.yaml --ckpt_path RUN/checkpoints/last.ckpt, "
            "RUN being the run folder a fit names at its end (e.g. "
            "runs/fno_burgers/csv/version_0) and config.yaml the config it saved there",
}


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


def _settle_paths(run) -> None:
    """``~`` in the run folder and the data file's path, as a shell would (a YAML value is
    never expanded: ``~/runs`` was a folder named ``~`` here); the data file's path made
    absolute, since the config.yaml a fit saves is given again from other folders (``test
    --config RUN/config.yaml``), where a relative one named another file or none."""
    trainer = run.trainer
    if isinstance(trainer.default_root_dir, str):
        trainer.default_root_dir = os.path.expanduser(trainer.default_root_dir)
    data = run.get("data")
    init = data.get("init_args") if data is not None and hasattr(data, "get") else None
    path = init.get("path") if init is not None and hasattr(init, "get") else None
    if isinstance(path, str) and path and "://" not in path:
        init.path = os.path.abspath(os.path.expanduser(path))


# where fit and test log when neither the config nor the command line names default_root_dir
_DEFAULT_ROOT = "runs"


def _loggers_follow_root(run) -> None:
    """A logger in the config whose ``save_dir`` is the ``trainer.default_root_dir`` that the
    ``--config`` files name (``runs`` where they name none) logs under the run's root as
    parsed, command line included: the config.yaml a fit saved, given again with another
    ``--trainer.default_root_dir`` (``test`` into another folder, a fit re-run elsewhere),
    writes its run folder there. A logger with a ``save_dir`` of its own keeps it."""
    from jsonargparse import Namespace, get_loader

    trainer = run.trainer
    loggers = (trainer.logger if isinstance(trainer.logger, list)
               else [trainer.logger] if isinstance(trainer.logger, Namespace) else [])
    # Told apart by the saved file alone: the loggers the CLI adds (before_instantiate_classes,
    # after this call) are saved with save_dir written out, equal to the fit's
    # default_root_dir, and the command line replaces that root but not their save_dir. So the
    # root the files name, read again here, is what they followed. This also moves the loggers
    # of config.yaml files saved before (older ones name Lightning's own classes), needs no
    # marker or other form in the saved file, and a user's logger under default_root_dir moves
    # with it as the generated ones do.
    # the root in force in the file that named the loggers: a later file naming another root
    # (--config run/config.yaml --config root.yaml) moves them as the command line does
    named = followed = None
    for path in run.get("config") or []:
        # None: a YAML string given as --config, which jsonargparse keeps no text of
        loaded = get_loader("yaml")(path.read_text()) if path is not None else None
        section = loaded.get("trainer") if isinstance(loaded, dict) else None
        if isinstance(section, dict):
            named = section.get("default_root_dir", named)
            if "logger" in section:
                followed = (named,)
    old, new = (_folder_key(root or _DEFAULT_ROOT)
                for root in (followed[0] if followed else named, trainer.default_root_dir))
    if old == new:
        return
    for logger in loggers:
        init = logger.get("init_args")
        if isinstance(init, Namespace) and isinstance(init.get("save_dir"), str) \
                and _folder_key(init.save_dir) == old:
            init.save_dir = trainer.default_root_dir or _DEFAULT_ROOT


def _folder_key(path) -> str:
    """``path`` as one spelling of its folder: ``~`` expanded, absolute, no trailing ``/``."""
    return os.path.abspath(os.path.expanduser(str(path)))


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


def _stopped_resume_hint(trainer, subcommand: str) -> str:
    """What a fit stopped by SIGTERM leaves to resume from: the checkpoint
    :class:`~pdesurrogate.training.stop_checkpoint.StopCheckpoint` wrote where it stopped, else
    the run's last ``last.ckpt`` (its batches since then are trained again), else none."""
    from pdesurrogate.training.stop_checkpoint import StopCheckpoint

    if subcommand != "fit" or trainer is None:
        return "nothing was saved"
    saved = next((c.saved for c in trainer.callbacks
                  if isinstance(c, StopCheckpoint) and c.saved), None)
    if saved:
        return f"resume from where it stopped with --ckpt_path {saved}"
    writer = trainer.checkpoint_callback
    last = getattr(writer, "last_model_path", "") if writer is not None else ""
    if last and os.path.isfile(last):
        return (f"resume with --ckpt_path {last} (the run's newest checkpoint; what was "
                "trained after it is trained again)")
    return "no checkpoint was written: a new fit starts from the beginning"


def _resumes_mid_epoch(datamodule, saved_states) -> bool:
    """Whether ``datamodule``'s training batches continue where a checkpoint written in the
    middle of an epoch stopped: ours (:class:`~pdesurrogate.training.FieldDataModule` and its
    subclasses, :class:`~pdesurrogate.pinn.BallPoints`) do from the state they keep in the
    checkpoint, under their class name, one of ``saved_states`` (the checkpoint's top-level
    keys). A checkpoint written before they kept it restarts the epoch's order at its start,
    as Lightning warns."""
    from pdesurrogate.pinn.points import BallPoints
    from pdesurrogate.training import FieldDataModule

    return (isinstance(datamodule, (FieldDataModule, BallPoints))
            and type(datamodule).__qualname__ in saved_states)


def _cut_epoch(checkpoint: dict) -> tuple[int, int] | None:
    """``(epoch, batches)`` where the fit that wrote ``checkpoint`` ended an epoch before its
    last batch (``max_steps`` reached in the middle of it), else None. A checkpoint written in
    the middle of an epoch that was still running (Slurm's ``hpc_ckpt``, a stop on SIGTERM)
    is none: Lightning resumes it where it stopped."""
    try:
        fit = checkpoint["loops"]["fit_loop"]
        epochs = fit["epoch_progress"]["current"]
        batches = fit["epoch_loop.batch_progress"]
        done = int(batches["current"]["processed"])
        if epochs["processed"] > epochs["completed"] and not batches["is_last_batch"] and done:
            return int(epochs["completed"]), done
    except (KeyError, TypeError):
        pass
    return None


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


def default_checkpoint():
    """The checkpoint writer a fit gets: ``last.ckpt`` after each epoch (what a resumed or
    requeued fit starts from). Lightning writes ``last.ckpt`` only in an epoch where it saved
    a top-k checkpoint, so ``save_top_k`` stays 1 (without a monitor: the newest epoch's, a
    second copy of ``last.ckpt``); with ``save_top_k=0`` a killed fit had no checkpoint.

    A config's own ``ModelCheckpoint`` (a subclass too) replaces it only where it does the
    same: ``save_last: true`` in the run's ``checkpoints/``, every epoch, without a
    ``monitor`` and with ``save_top_k`` not 0 (see :func:`_saves_last`). Beside any other,
    fit adds :class:`~pdesurrogate.training.run_checkpoint.RunCheckpoint` before it, so
    ``last.ckpt`` is still written every epoch for a resumed or requeued fit (its top-k copy:
    ``epoch=N-step=M-last.ckpt``); theirs, if it has ``save_last`` in the same folder, is named
    ``last-v1.ckpt`` by Lightning. ``--trainer.enable_checkpointing false`` adds none.

    It is a :class:`~pdesurrogate.training.linked_last.LinkedLastCheckpoint`: from the second
    epoch on, ``last.ckpt`` is a hard link to the epoch's file, not a second copy of it."""
    from pdesurrogate.training.linked_last import LinkedLastCheckpoint

    return LinkedLastCheckpoint(save_last=True)


def _is_checkpoint_writer(callback) -> bool:
    """Whether a trainer callback is a Lightning ``ModelCheckpoint`` (see :func:`_is_a`)."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    return _is_a(callback, ModelCheckpoint)


def _saves_last(callback) -> bool:
    """Whether a ``ModelCheckpoint`` of the config (an instance, or its ``class_path`` and
    ``init_args``) writes ``last.ckpt`` as a file in the run's ``checkpoints/`` after every
    epoch, as fit's own writer does: ``save_last: true``, no ``monitor`` (with one, Lightning
    rewrites ``last.ckpt`` only in epochs that improved it), ``save_top_k`` not 0 (then only
    when training ends), every epoch, and no ``dirpath``. ``save_last: link`` makes
    ``last.ckpt`` a symbolic link, which the Slurm scripts' search for checkpoints skips."""
    def arg(name, default=None):
        if isinstance(callback, dict) or hasattr(callback, "class_path"):
            args = callback.get("init_args") if isinstance(callback, dict) else getattr(
                callback, "init_args", None)
            value = args.get(name, default) if args is not None else default
        else:
            value = getattr(callback, name, getattr(callback, f"_{name}", default))
        return default if value is None else value

    return (arg("save_last") is True and arg("monitor") is None and arg("save_top_k", 1) != 0
            and arg("every_n_epochs", 1) == 1 and arg("every_n_train_steps", 0) == 0
            and arg("train_time_interval") is None and arg("dirpath") is None)


def _class_path(callback) -> str | None:
    """The ``class_path`` of a trainer callback as a config gives it (None for an instance)."""
    path = callback.get("class_path") if isinstance(callback, dict) else getattr(
        callback, "class_path", None)
    return path if isinstance(path, str) else None


def _is_a(item, base: type) -> bool:
    """Whether a trainer callback or plugin (an instance, or a ``class_path`` as a config gives
    it) is a ``base``. A class that does not import is none (jsonargparse reports it)."""
    import importlib

    if isinstance(item, base):
        return True
    path = _class_path(item)
    module, _, name = path.rpartition(".") if path else ("", "", "")
    try:
        cls = getattr(importlib.import_module(module), name, None) if module else None
    except Exception:  # whatever fails to import, jsonargparse reports when it builds it
        return False
    return isinstance(cls, type) and issubclass(cls, base)


def _is_progress_bar(callback) -> bool:
    """Whether a trainer callback is a Lightning progress bar (see :func:`_is_a`)."""
    from lightning.pytorch.callbacks.progress import ProgressBar

    return _is_a(callback, ProgressBar)


def _nothing_to_train(max_steps: int, global_step) -> str | None:
    """Why a fit from a checkpoint at ``global_step`` trains nothing, or None: Lightning's
    ``max_steps`` counts the steps the checkpoint holds (a resumed fit continues its step
    count, an online run's checkpoint too), so at or below its step the fit ends at once.
    Lightning takes that as a finished run, not an error, and so does fit: a Slurm requeue of
    a fit that already reached max_steps resumes from its last.ckpt, and must end cleanly."""
    if max_steps is None or max_steps < 0 or not isinstance(global_step, int):
        return None
    if global_step < max_steps:
        return None
    return (f"--trainer.max_steps {max_steps} is at or below the step of --ckpt_path "
            f"({global_step}; max_steps counts the checkpoint's steps too): nothing to train")


def _fit_outputs(trainer, idle: str | None = None) -> str:
    """Where a finished fit left its results: the run folder (logs, the config.yaml that
    ``test`` needs) and the checkpoint to resume, test or export; where there is none and
    the fit had nothing to train (``idle``, from :func:`_nothing_to_train`), why. Called on
    rank 0 alone (see :func:`_run_folder`)."""
    folder = _run_folder(trainer)
    ckpt = trainer.checkpoint_callback
    last = (getattr(ckpt, "last_model_path", "") or getattr(ckpt, "best_model_path", "")
            if ckpt is not None else "")
    # fast_dev_run puts a logger that writes nothing in place of the run's (its save_dir None)
    where = ("fit: no run folder (--trainer.fast_dev_run logs nothing)" if trainer.fast_dev_run
             else f"fit: run folder {folder}")
    why = f" ({idle})" if idle else ""
    if last:  # after nothing was trained: the checkpoint the fit started from recorded it
        return f"{where}; checkpoint {last}{why}"
    return f"{where}; no checkpoint written" + (
        " (--trainer.enable_checkpointing false)" if ckpt is None else why)


def _run_folder(trainer) -> str:
    """The folder of a fit's or test's first logger (``<default_root_dir>/csv/version_N``),
    worked out as ``Trainer.log_dir`` does but without its broadcast to the other ranks
    (called on rank 0 alone, after the others may have exited); without loggers,
    ``default_root_dir``."""
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    logger = trainer.loggers[0] if trainer.loggers else None
    return (trainer.default_root_dir if logger is None else logger.log_dir
            if isinstance(logger, (CSVLogger, TensorBoardLogger)) else logger.save_dir)


def _test_outputs(trainer) -> str:
    """Where a finished test logged its metrics: each test opens a run folder of its own
    (the next ``version_N``), which a script reading its ``metrics.csv`` could only guess.
    Above it, a line for each Fourier-band error that is NaN because the grid holds no mode
    of that band: Lightning's table prints ``nan``, which reads like a failed run."""
    return "\n".join([*_empty_band_notes(trainer), _test_folder(trainer)])


def _empty_band_notes(trainer) -> list[str]:
    """``test: test/frmse_high is n/a: ...`` for each ``test/frmse_<band>`` metric (and its
    ``_ar`` twin) that is NaN."""
    from pdesurrogate.metrics import band_limits

    notes = []
    for name, value in trainer.callback_metrics.items():
        band = name.removeprefix("test/frmse_").removesuffix("_ar")
        if name.startswith("test/frmse_") and math.isnan(float(value)):
            notes.append(f"test: {name} is n/a (nan in the table): the grid has no Fourier "
                         f"mode with {band_limits(band)}")
    return notes


def _test_folder(trainer) -> str:
    if trainer.fast_dev_run:
        return ("test: no run folder (--trainer.fast_dev_run logs nothing): the metrics are "
                "only in the table on stdout")
    if not trainer.loggers:
        return ("test: no run folder (--trainer.logger false): the metrics are only in the "
                "table on stdout")
    return f"test: run folder {_run_folder(trainer)}"


def _raw_description():
    """jsonargparse's help formatter, keeping the description's line breaks (its examples)."""
    from jsonargparse import DefaultHelpFormatter

    class RawDescription(argparse.RawDescriptionHelpFormatter, DefaultHelpFormatter):
        pass

    return RawDescription


_CHECKPOINT_HELP = {
    "ckpt_path": "A checkpoint file (a local path, e.g. .../checkpoints/last.ckpt) to resume "
                 "from (fit) or to score (test); read weights-only. URLs and Lightning's "
                 "keywords (best, last, hpc, registry) are refused.",
    "weights_only": "Always true here: a checkpoint is read weights-only (false is refused: "
                    "it would unpickle, and run, whatever the file holds).",
}

_LIGHTNING_HELP = {
    "fit": """\
Train a LightningModule on a LightningDataModule from a YAML config (one per experiment in
configs/fit/; `pdesurrogate configs --copy .` writes the shipped ones there), e.g.

  pdesurrogate fit --config configs/fit/fno_burgers.yaml
  pdesurrogate fit --config configs/fit/fno_burgers.yaml --trainer.max_epochs 5 \\
      --model.init_args.lr 3e-4 --trainer.devices 2 --trainer.strategy ddp

Every constructor argument can be set in the file or overridden as --trainer.*,
--model.init_args.*, --data.init_args.*; an unknown key is an error naming it.
CSV logs (metrics.csv, drawn as curves.png at the end), the config as run and checkpoints
(last.ckpt) go to <default_root_dir>/csv/version_N/ (printed at the end),
TensorBoard logs to <default_root_dir>/tensorboard/version_N/; resume with --ckpt_path
.../last.ckpt. In a log file (Slurm, | tee) progress is a plain line every 30 s, not a bar.
Under Slurm (e.g. slurm/train.sbatch, in a checkout of the repository), SIGUSR1 before the
time limit writes a checkpoint and requeues the job, which resumes from it. SIGTERM writes
last.ckpt where the fit stopped and exits 143, naming it; a resumed fit continues exactly.
Weights that turn NaN or inf stop the fit (exit 2) before any checkpoint holds them.
Then: pdesurrogate export .../last.ckpt OUTDIR; pdesurrogate test (see its --help).""",
    "test": """\
Score a checkpoint on the test split of its data, e.g.

  pdesurrogate test --config runs/fno_burgers/csv/version_0/config.yaml \\
      --ckpt_path runs/fno_burgers/csv/version_0/checkpoints/last.ckpt

Use the config.yaml that fit saved beside the checkpoint: it holds the fit's overrides,
and the plain config would build another model. Metrics are printed and logged (test/*)
in a new csv/version_N under the fit's default_root_dir, or under the folder given as
--trainer.default_root_dir (a logger with a save_dir of its own keeps it).""",
}


# where fit's and test's output goes, for a script that reads it
_LIGHTNING_STREAMS = {
    "fit": "stdout: the progress (a bar on a terminal, else plain lines) and Lightning's model "
           "summary; stderr: warnings, errors and the last line, 'fit: run folder DIR; "
           "checkpoint CKPT' (or '; no checkpoint written'); a fit that fails after it "
           "trained names its run folder and the checkpoint to resume from below its error.",
    "test": "stdout: Lightning's table of the test metrics; stderr: warnings, errors and the "
            "last line, 'test: run folder DIR' (a new version_N each time: its metrics.csv "
            "holds the metrics).",
}


def _lightning_description(subcommand: str) -> str:
    """``subcommand``'s --help text: its description, then its streams and exit statuses
    (wrapped here: the help keeps the description's line breaks)."""
    return "\n\n".join([_LIGHTNING_HELP[subcommand],
                         textwrap.fill(_LIGHTNING_STREAMS[subcommand], 88),
                         textwrap.fill(EXIT_STATUS, 88)])


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


def _slurm_requeue_checkpoint(root: str | None) -> str | None:
    """The checkpoint a fit without ``--ckpt_path`` resumes from in a Slurm job: the newest
    ``hpc_ckpt_N.ckpt`` in the run folder ``root`` (Lightning writes one when Slurm signals a
    job before its time limit, then requeues it) where this job is such a requeue
    (``SLURM_RESTART_COUNT`` >= 1); None where the folder holds none, or outside Slurm.

    Lightning resumes from the newest one in the folder of any job, requeued or not, and
    without the checks ``--ckpt_path`` gets. In a folder that array tasks share, or one reused
    from an earlier run, that is another run's state: a sweep's trial trained on from another
    trial's weights and exited 0. So a job that is no requeue is refused, naming the file."""
    from lightning.fabric.plugins.environments import SLURMEnvironment

    with warnings.catch_warnings():
        # Lightning's own detect gives its advice (srun installed but not used) once, later
        warnings.simplefilter("ignore")
        if not SLURMEnvironment.detect():
            return None
    folder = os.path.expanduser(root) if root else os.getcwd()
    try:
        found = [(int(m[1]), name) for name in os.listdir(folder)
                 if (m := re.fullmatch(r"hpc_ckpt_(\d+)\.ckpt", name))]
    except OSError:
        return None  # no run folder yet: nothing to resume
    if not found:
        return None
    path = os.path.join(folder, max(found)[1])
    restarts = os.environ.get("SLURM_RESTART_COUNT", "").strip()
    if restarts.isdigit() and int(restarts) >= 1:
        return path
    raise ValueError(
        f"{path!r} is a Slurm requeue checkpoint, and this job "
        f"({os.environ.get('SLURM_JOB_ID', 'of unknown id')}) is no requeue "
        f"(SLURM_RESTART_COUNT {restarts or 'unset'}): Lightning would resume from it, though "
        "it may be another run's (array tasks sharing --trainer.default_root_dir, or an "
        "earlier run in the same folder). Give each run its own --trainer.default_root_dir, "
        "or resume from it on purpose with --ckpt_path")


# values of ckpt_path that Lightning takes for keywords, not files ("registry:NAME" too)
_CKPT_KEYWORDS = ("best", "last", "hpc", "registry")


def _checked_checkpoint(path: str) -> dict:
    """The checkpoint ``--ckpt_path`` names, read weights-only (no code in it runs). Refused,
    each with one ValueError line (FileNotFoundError if there is nothing at ``path``): a URL
    (Lightning would download it and unpickle it), one of Lightning's keywords, anything but
    a regular file, and a file :func:`~pdesurrogate.export_files.read_checkpoint` refuses."""
    from pdesurrogate.export_files import read_checkpoint
    from pdesurrogate.training.checkpoint_io import is_url

    path = os.fspath(path)
    if is_url(path):
        raise ValueError(f"--ckpt_path {path!r}: a URL; checkpoints are read from local files "
                         "only (Lightning would download it and unpickle it, which runs any "
                         "code in it): download it, then give its path")
    if path.lower() in _CKPT_KEYWORDS or path.lower().startswith("registry:"):
        raise ValueError(f"--ckpt_path {path!r}: give the checkpoint file's path (e.g. "
                         f".../checkpoints/last.ckpt; ./{path} for a file of that name); "
                         "Lightning's keywords best, last, hpc and registry are not taken")
    if os.path.exists(path) and not os.path.isdir(path) and not os.path.isfile(path):
        raise ValueError(f"--ckpt_path {path!r}: not a regular file (a checkpoint written by "
                         "pdesurrogate fit, e.g. .../checkpoints/last.ckpt)")
    return read_checkpoint(path)


def _saved_config_hint(ckpt: str, subcommand: str) -> str:
    """Which config to run ``subcommand`` with: the config.yaml the fit saved beside the
    checkpoint's ``checkpoints/`` folder, named if it is there; for the checkpoint of an
    online run (``OUT/checkpoint/model.ckpt``, whose config.yaml is an online config), the
    model section of that config."""
    from pdesurrogate.online.checkpoint import CHECKPOINT

    folder = Path(ckpt).parent
    saved = folder.parent / "config.yaml"
    if folder.name == CHECKPOINT and (folder / "manifest.json").exists():
        return (f"{subcommand} with a config whose model section is the online run's "
                f"({saved})")
    return (f"{subcommand} with the config that fit saved: --config {saved}" if saved.exists()
            else f"{subcommand} with the config the checkpoint was trained with (fit saves it "
            "as config.yaml next to its checkpoints/ folder)")


def _imported(path: str) -> object | None:
    """What the dotted ``path`` names in a module that is already imported (None if its
    module is not imported: nothing is imported here)."""
    module, _, name = path.rpartition(".")
    loaded = sys.modules.get(module)
    return getattr(loaded, name, None) if loaded is not None else None


def _check_checkpoint_class(checkpoint: dict, path: str, model, subcommand: str) -> None:
    """Refuse a checkpoint whose recorded LightningModule class (the ``_class_path`` of its
    ``hyper_parameters``, as LightningCLI records it) is not the one the config builds
    (``model``: the config's ``model`` entry). The checkpoint's class is never imported: it is
    the config's class by name, or by another name for it in a module already imported (a
    re-export: ``pdesurrogate.training.NextStepModule`` is
    ``pdesurrogate.training.next_step.NextStepModule``). A checkpoint that records no class
    passes."""
    hparams = checkpoint.get("hyper_parameters")
    recorded = hparams.get("_class_path") if isinstance(hparams, dict) else None
    built = model.get("class_path") if hasattr(model, "get") else None
    if not (isinstance(recorded, str) and isinstance(built, str)) or recorded == built:
        return
    cls = _imported(built)
    if cls is None or _imported(recorded) is not cls:
        raise ValueError(f"--ckpt_path {path!r} was written by a {recorded} (its "
                         f"hyper_parameters' _class_path), but the config builds a {built}; "
                         f"{_saved_config_hint(path, subcommand)}")


def _check_checkpoint_model(ckpt: dict, module, subcommand: str) -> None:
    """Refuse a ``--ckpt_path`` whose network was built with other arguments than the one the
    config builds (``ckpt["model_spec"]``: the checkpoint's recorded spec, None without one).
    Weights of the wrong shape fail to load anyway; this catches the arguments that hold no
    weights (a CAPE module's ``padding_mode`` or ``gate``, ...), with which the checkpoint's
    weights would load into another function and be trained or scored as if it were the
    same. A spec written before an argument existed counts with the value it was built with
    (:data:`~pdesurrogate.models.SPEC_DEFAULTS_BEFORE`)."""
    from pdesurrogate.models import complete_spec, own_classes, spec_differences

    saved, built = ckpt.get("model_spec"), getattr(module, "model_spec", None)
    if saved is None or not isinstance(built, dict):
        return
    path = ckpt.get("path")
    # a model of the user's own code: the config imported its class (class_path), and the
    # checkpoint's name for it is only looked up among those
    models = own_classes(module.model)
    try:
        trained = complete_spec(saved, "model_spec", models)
    except ValueError as err:
        raise ValueError(f"--ckpt_path {path!r}: its hyper_parameters' {err}") from None
    diffs = spec_differences(trained, complete_spec(built, "model", models))
    if diffs:
        listed = "; ".join(f"{where}: {a!r} in the checkpoint, {b!r} in the config"
                           for where, a, b in diffs)
        flags = " ".join(f"--model.init_args.model.{where} {_flag_value(a)}"
                         for where, a, _ in diffs)
        # an argument the checkpoint's spec lacks was added after an older pdesurrogate wrote
        # it; the config.yaml that fit saved lacks it too, so offering it would not help
        newer = [where for where, _, _ in diffs if not _spec_has(saved, where)]
        why = (f"; {', '.join(newer)}: added after an older pdesurrogate wrote the "
               "checkpoint, whose model was built as above (a config.yaml saved then lacks it "
               "and gets today's default)" if newer else "")
        rest = ("" if len(newer) == len(diffs)
                else f", or {_saved_config_hint(path, subcommand)}")
        raise ValueError(f"--ckpt_path {path!r} holds a model built with other arguments than "
                         f"the config's ({listed}); set them as the checkpoint has them "
                         f"(under model.init_args.model: {flags}){why}{rest}")


def _spec_has(spec, where: str) -> bool:
    """Whether the dotted path ``where`` (as ``init_args.cape.init_args.padding_mode``) is
    written in the model spec ``spec`` as the checkpoint holds it."""
    for key in where.split("."):
        if not isinstance(spec, dict) or key not in spec:
            return False
        spec = spec[key]
    return True


def _flag_value(value) -> str:
    """``value`` as typed after a command-line flag (a string bare, the rest as JSON)."""
    return value if isinstance(value, str) else json.dumps(value)


def _checkpoint_mismatch(err: RuntimeError, ckpt: str, subcommand: str) -> ValueError:
    """The error for a checkpoint whose weights do not fit the model the config builds; the
    usual cause is a fit run with ``--model.*`` overrides that the plain config lacks."""
    first = (str(err).strip().splitlines()[1:2] or [""])[0].strip()
    return ValueError(f"{ckpt!r} does not fit the model this config builds ({first} ...); "
                      f"{_saved_config_hint(ckpt, subcommand)}")


# -- export / predict -------------------------------------------------------------------------
def _names(text: str) -> list[str]:
    """``"nu,kappa"`` -> ``["nu", "kappa"]``; an empty name is an error."""
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return names


def _channel_pairs(text: str) -> dict[str, str]:
    """``"nu=a,k=b"`` -> ``{"nu": "a", "k": "b"}`` (``--channels``); anything else is an error."""
    pairs = [item.split("=") for item in _names(text)]
    if not all(len(p) == 2 and all(n.strip() for n in p) for p in pairs) \
            or len({p[0].strip() for p in pairs}) != len(pairs):
        raise argparse.ArgumentTypeError(f"expected FILE_CHANNEL=MODEL_CHANNEL pairs, comma-"
                                          f"separated, each file channel once, got {text!r}")
    return {f.strip(): m.strip() for f, m in pairs}


MODEL_CLASS_HELP = (
    "a model of your own code that the export holds, as MODULE.CLASS (e.g. mynet.MyNet; several "
    "comma-separated): MODULE is imported (put its folder on PYTHONPATH, as for fit) and the "
    "class handed over. Only what is typed here is imported, never a name read from a file")


def _own_models(names: list[str] | None) -> dict:
    """``{qualified name: class}`` for each ``MODULE.CLASS`` of ``--model-class``, its module
    imported: the ``models=`` that lets an export naming it build. The user typed these names,
    as they type a fit config's ``class_path``; a name read from ``config.json`` or a
    checkpoint is never imported. One ValueError naming the flag for a name that is not
    MODULE.CLASS, a module that cannot be found, or an attribute that is no model class; an
    error raised inside the user's module comes through as it is."""
    import importlib

    from torch import nn

    from pdesurrogate.models import qualified_name

    models = {}
    for text in names or []:
        parts = text.split(".")
        if len(parts) < 2 or not all(p.isidentifier() for p in parts):
            raise ValueError(f"--model-class {text!r}: expected MODULE.CLASS, e.g. mynet.MyNet")
        obj, rest = None, []
        for i in range(len(parts) - 1, 0, -1):  # the longest prefix that is a module
            module = ".".join(parts[:i])
            try:
                obj, rest = importlib.import_module(module), parts[i:]
                break
            except ModuleNotFoundError as e:
                # only this name missing means "not a module here"; a module missing inside
                # the user's code is their error, shown as it is
                if e.name is None or not (module == e.name or module.startswith(e.name + ".")):
                    raise
        if obj is None:
            raise ValueError(f"--model-class {text!r}: No module named {parts[0]!r}; put the "
                             f"folder that holds {parts[0]}.py on PYTHONPATH (e.g. "
                             "PYTHONPATH=. for the current folder)")
        for attr in rest:
            if not hasattr(obj, attr):
                raise ValueError(f"--model-class {text!r}: {obj.__name__!r} has no {attr!r}")
            obj = getattr(obj, attr)
        if not isinstance(obj, type) or not issubclass(obj, nn.Module):
            raise ValueError(f"--model-class {text!r} is {obj!r}, not an nn.Module class")
        # under the name a fit records it by (mynet.MyNet typed for mynet.core.MyNet too)
        models[qualified_name(obj)] = obj
    return models


def cmd_export(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(
        prog="pdesurrogate export", **NO_ABBREVIATIONS,
        description="Export a Lightning checkpoint as a shareable surrogate directory "
                    "(config.json + model.safetensors; loading it never unpickles anything).",
        epilog="Example: pdesurrogate export "
               "runs/fno_burgers/csv/version_0/checkpoints/last.ckpt models/fno_burgers (the "
               "checkpoint a fit names at its end); then pdesurrogate predict --model "
               "models/fno_burgers ... or pdesurrogate.load('models/fno_burgers') in Python. "
               "It writes OUTDIR alone (built under a temporary name, renamed when "
               "complete); the line 'exported OUTDIR' goes to stderr, stdout stays empty. "
               + EXIT_STATUS)
    p.add_argument("ckpt", help="checkpoint written by `pdesurrogate fit` (e.g. .../last.ckpt)")
    p.add_argument("outdir", help="directory to create")
    p.add_argument("--overwrite", action="store_true",
                   help="replace OUTDIR if it is an earlier export (a folder holding nothing "
                        "but config.json and model.safetensors); anything else is refused")
    known = p.add_argument_group(
        "what only the training data can tell", "needed for a checkpoint whose module never saw "
        "a FieldDataModule (trained with plain DataLoaders); a fit's checkpoint records them, "
        "and a value that contradicts the record is refused")
    # comma-separated, not nargs="+", which would take CKPT and OUTDIR after it as names
    known.add_argument("--param-names", "--param_names", type=_names, metavar="NAME[,NAME...]",
                       help="the PDE parameters, in the order of the model's params columns")
    known.add_argument("--channel-names", "--channel_names", type=_names,
                       metavar="NAME[,NAME...]", help="the state's channels, in order")
    known.add_argument("--pde", help="the PDE's name (e.g. burgers1d)")
    known.add_argument("--dt", type=float, help="the time one model step advances")
    p.add_argument("--model-class", "--model_class", type=_names, metavar="MODULE.CLASS",
                   help=MODEL_CLASS_HELP + " (a fit records such a model under this name when "
                        "it stores each constructor argument as an attribute of the same name)")
    args = p.parse_args(argv)
    from pdesurrogate.export import export_surrogate

    if not os.path.exists(args.ckpt):
        p.error(f"checkpoint {args.ckpt!r} does not exist")
    models = _own_models(args.model_class)
    out = export_surrogate(args.ckpt, args.outdir, overwrite=args.overwrite,
                           param_names=args.param_names, channel_names=args.channel_names,
                           pde=args.pde, dt=args.dt, models=models)
    console().print(f"[green]exported[/green] {_markup_free(out)}")
    return 0


@contextlib.contextmanager
def _own_warnings_prefixed(command: str):
    """Within it, a warning raised in this package's own files is printed to stderr as
    ``pdesurrogate COMMAND: warning: MESSAGE``, as fit and generate print theirs, not in
    Python's ``FILE:LINE: UserWarning: MESSAGE`` with the source line; another library's is
    shown as before (its file and line say where it comes from)."""
    import importlib.util

    # each package's own folder: in a source checkout pdesurrogate's __path__ also holds the
    # checkout's root, and with it a .venv inside it, whose libraries are not ours
    ours = tuple(str(Path(importlib.util.find_spec(name).origin).resolve().parent) + os.sep
                 for name in ("pdesurrogate", "pdesurrogate.datasets", "pdesurrogate.solvers",
                              "pdesurrogate.streaming"))
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if str(Path(filename).resolve()).startswith(ours):
            print(f"pdesurrogate {command}: warning: {message}", file=sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def cmd_predict(argv: Sequence[str]) -> int:
    from pdesurrogate.predict_budget import BATCH_MEMORY, MAX_BATCH

    p = argparse.ArgumentParser(
        prog="pdesurrogate predict", **NO_ABBREVIATIONS,
        description="Roll an exported surrogate out from the initial states of a dataset file "
                    "and write the rollout as netCDF; where the file holds the truth, the "
                    "relative L2 error per step is printed and stored in the output's "
                    "attribute rel_l2_vs_truth, and PDEBench-style errors (RMSE, nRMSE, The "
                    "Well's VRMSE, max, cRMSE, bRMSE, fRMSE by Fourier band; "
                    "pdesurrogate.metrics) in <name>_vs_truth.",
        epilog="Example: pdesurrogate predict --model models/fno_burgers --input "
               "data/burgers1d_heldout.nc --out pred.nc --plot pred.png (the input: a file "
               "of pdesurrogate generate with the training data's solver settings and another "
               "--seed, or a PDEBench or The Well file). It writes --out and --plot alone "
               "(each under a temporary name, renamed when complete); the progress, the lines "
               "naming them and the errors vs truth go to stderr, stdout stays empty. "
               + EXIT_STATUS)
    p.add_argument("--model", required=True, help="exported surrogate directory")
    p.add_argument("--input", required=True, help="dataset file (ours, PDEBench, The Well)")
    p.add_argument("--out", required=True, help="output netCDF file for the rollout")
    p.add_argument("--steps", type=int, default=None,
                   help="model steps (default: as many as the input's stored times cover; "
                        "refused for a steady map, e.g. Darcy a -> u, which predicts its "
                        "targets once per sample)")
    p.add_argument("--samples", type=int, default=None, help="first N trajectories only")
    p.add_argument("--batch-size", "--batch_size", type=int, default=None,
                   help="trajectories rolled out together (default: as many as fit in about "
                        f"{BATCH_MEMORY // 2**20} MiB for their rollout, their truth and the "
                        "model's activations, measured on the first trajectory; at most "
                        f"{MAX_BATCH}: on a 128x128 grid a few, on a small one {MAX_BATCH}). "
                        "Only the model's float32 kernels may round a trajectory differently "
                        "in another batch size (~1e-7)")
    p.add_argument("--plot", default=None, help="PNG of prediction vs truth and error vs time")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    p.add_argument("--lead-time", "--lead_time", type=float, default=None,
                   help="lead-time models (scOT) only: the time of one rollout step "
                        "(default: the dt it was trained at), e.g. the input's spacing")
    p.add_argument("--overwrite", action="store_true",
                   help="replace --out and --plot if they exist (default: refuse)")
    p.add_argument("--any-grid", "--any_grid", action="store_true",
                   help="roll a model other than an FNO out on a file whose grid is not its "
                        "training grid (default: refused, since its convolutions or patches "
                        "span grid cells, not lengths; an FNO runs on any grid without it)")
    p.add_argument("--compression", choices=("gzip", "lzf"), default=None,
                   help="compress the rollout's states u as generate --compression does: gzip "
                        "(ncdump reads it) or lzf (faster, weaker); default: uncompressed")
    p.add_argument("--compression-level", "--compression_level", type=int, default=None,
                   help="with --compression gzip: 0 (stored) to 9 (smallest); default 4")
    p.add_argument("--model-class", "--model_class", type=_names, metavar="MODULE.CLASS",
                   help=MODEL_CLASS_HELP)
    p.add_argument("--channels", type=_channel_pairs, default=None,
                   metavar="FILE_CHANNEL=MODEL_CHANNEL",
                   help="steady maps only: read the file's channel under the model's name, "
                        "e.g. --channels nu=a for a model trained on darcy2d (coefficient a) "
                        "and a PDEBench 2D_DarcyFlow file (coefficient nu); several "
                        "comma-separated. A time-dependent model takes the file's channels by "
                        "position and refuses it")
    args = p.parse_args(argv)
    # after parsing: --help needs no torch
    from pdesurrogate.predict import metrics_table, predict_file

    models = _own_models(args.model_class)
    with _own_warnings_prefixed("predict"):
        rep = predict_file(args.model, args.input, args.out, steps=args.steps,
                           samples=args.samples, batch_size=args.batch_size, plot=args.plot,
                           device=args.device, overwrite=args.overwrite,
                           lead_time=args.lead_time, models=models,
                           compression=args.compression,
                           compression_level=args.compression_level,
                           any_grid=args.any_grid, channels=args.channels)
    if rep.steps == 0:  # a steady map: one prediction per sample
        console().print(f"[green]wrote[/green] {_markup_free(rep.out)}: the targets of "
                        f"{rep.samples} samples, predicted {rep.batch_size} at a time, in "
                        f"{rep.seconds:.1f} s")
    else:
        rate = rep.samples * rep.steps / max(rep.seconds, 1e-9)
        console().print(f"[green]wrote[/green] {_markup_free(rep.out)}: {rep.samples} "
                        f"trajectories x {rep.steps} steps, rolled out {rep.batch_size} at a "
                        f"time, in {rep.seconds:.1f} s ({rate:,.0f} trajectory steps/s)")
    for line in (rep.note or "").splitlines():
        # the API's note says "warning: ..."; the command's lines say whose, as fit's do
        console().print(f"pdesurrogate predict: {line}" if line.startswith("warning: ")
                        else line, markup=False)
    if rep.rel_l2_samples is not None:
        import numpy as np

        r = rep.rel_l2_samples
        console().print(f"relative L2 vs truth over {r.size} samples: mean {r.mean():.4g}, "
                        f"median {np.median(r):.4g}, max {r.max():.4g} (sample "
                        f"{int(r.argmax())})")
    elif rep.rel_l2 is not None:
        console().print(f"relative L2 vs truth: first step {rep.rel_l2[1]:.4g}, "
                      f"last step {rep.rel_l2[-1]:.4g}, mean {rep.rel_l2[1:].mean():.4g}")
    if rep.metrics is not None:
        err = console()
        # a terminal folds a row wider than it cell by cell: a narrow one gets short lines
        err.print(metrics_table(rep.metrics, rep.samples, None if err.soft_wrap else err.width),
                  markup=False, highlight=False)
    if rep.rel_l2_test is not None and rep.steps == 0:
        console().print(f"relative L2 vs truth on the held-out test split alone "
                        f"({len(rep.test_indices)} samples): mean {rep.rel_l2_test[0]:.4g}")
    elif rep.rel_l2_test is not None:  # the input was the training file (the note says so)
        r = rep.rel_l2_test
        console().print(f"relative L2 vs truth on the held-out test split alone "
                        f"({len(rep.test_indices)} trajectories): first step {r[1]:.4g}, "
                        f"last step {r[-1]:.4g}, mean {r[1:].mean():.4g}")
    if rep.plot:
        console().print(f"plot: {rep.plot}", markup=False)
    return 0


# -- compare --------------------------------------------------------------------------------
def _label_pair(text: str) -> tuple[str, str]:
    """``"fno=models/fno"`` -> ``("fno", "models/fno")`` (``--label``)."""
    name, eq, folder = text.partition("=")
    if not eq or not name.strip() or not folder:
        raise argparse.ArgumentTypeError(f"expected NAME=DIR, got {text!r}")
    return name.strip(), folder


def cmd_compare(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(
        prog="pdesurrogate compare", **NO_ABBREVIATIONS,
        description="Roll several exported surrogates out over the same dataset file, each "
                    "exactly as pdesurrogate predict does (no rollout file is kept), and print "
                    "a leaderboard: one row per model, sorted by the mean relative L2 error vs "
                    "truth over the model steps (best first, marked *), with predict's "
                    "PDEBench-style errors (means over the steps; max_error the maximum), the "
                    "parameter count and predict's seconds per trajectory. Every model is "
                    "checked against the file before any rollout; one that cannot run on it "
                    "(PDE, grid, channels, parameters, time spacing), or models that would "
                    "compare different frames of the file (another dt), or a steady map among "
                    "time-steppers, is an error naming the model's folder.",
        epilog="Example: pdesurrogate compare --input data/burgers1d_heldout.nc --model "
               "models/fno_burgers --model models/unet_burgers --label cape=models/cape_burgers "
               "--plot compare.png --json compare.json. The table goes to stdout (plain aligned "
               "text where stdout is not a terminal); progress and notes to stderr. " + EXIT_STATUS)
    p.add_argument("--input", required=True, help="dataset file (ours, PDEBench, The Well)")
    p.add_argument("--model", action="append", default=[], metavar="DIR",
                   help="an exported surrogate directory; give one per model (labelled by "
                        "its folder's name)")
    p.add_argument("--label", action="append", type=_label_pair, default=[], metavar="NAME=DIR",
                   help="the model in DIR, labelled NAME (added if no --model names it)")
    p.add_argument("--steps", type=int, default=None,
                   help="model steps (default: as many as the input's stored times cover)")
    p.add_argument("--samples", type=int, default=None, help="first N trajectories only")
    p.add_argument("--batch-size", "--batch_size", type=int, default=None,
                   help="trajectories rolled out together (default: predict's)")
    p.add_argument("--plot", default=None, metavar="PNG",
                   help="image of every model's relative L2 vs rollout step, log y")
    p.add_argument("--json", default=None, metavar="OUT.json",
                   help="the leaderboard as JSON, with each model's errors per step")
    p.add_argument("--overwrite", action="store_true",
                   help="replace --plot and --json if they exist (default: refuse)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    p.add_argument("--any-grid", "--any_grid", action="store_true",
                   help="as predict --any-grid, for every model")
    p.add_argument("--channels", type=_channel_pairs, default=None,
                   metavar="FILE_CHANNEL=MODEL_CHANNEL",
                   help="steady maps only, as predict --channels, for every model")
    p.add_argument("--model-class", "--model_class", type=_names, metavar="MODULE.CLASS",
                   help=MODEL_CLASS_HELP)
    args = p.parse_args(argv)
    # after parsing: --help needs no torch
    from pdesurrogate.compare import compare_models, render_rich, render_text

    labels: dict[str, str] = {}
    for name, folder in args.label:
        if name in labels:
            raise argparse.ArgumentError(None, f"--label {name}= is given twice")
        labels[name] = folder
    with _own_warnings_prefixed("compare"):
        rep = compare_models(args.input, args.model, labels, steps=args.steps,
                             samples=args.samples, batch_size=args.batch_size, plot=args.plot,
                             json_path=args.json, device=args.device, overwrite=args.overwrite,
                             any_grid=args.any_grid, channels=args.channels,
                             models=_own_models(args.model_class))
    for r in rep.results:
        for line in (r.note or "").splitlines():
            warned = line.startswith("warning: ")
            console().print(f"pdesurrogate compare: {'warning: ' * warned}{r.label}: "
                            f"{line.removeprefix('warning: ')}", markup=False)
        if r.test_split_line:  # the note above says it is reported
            console().print(f"pdesurrogate compare: {r.label}: {r.test_split_line}",
                            markup=False)
    if sys.stdout.isatty():
        from rich.console import Console

        Console().print(render_rich(rep))
    else:
        print(render_text(rep))
    for flag, path in (("plot", rep.plot), ("json", rep.json)):
        if path:
            console().print(f"{flag}: {path}", markup=False)
    return 0


# -- info -----------------------------------------------------------------------------------
def cmd_info(argv: Sequence[str]) -> int:
    from pdesurrogate.info import JSON_KEYS, describe, render

    p = argparse.ArgumentParser(
        prog="pdesurrogate info", **NO_ABBREVIATIONS,
        description=textwrap.fill(
            "Say what an exported surrogate folder or a dataset file holds, without "
            "running or loading it (as ncdump -h or h5ls, for our layouts). An export "
            "(config.json + model.safetensors; a time-stepping surrogate, a steady map "
            "or a PINN): its model class and constructor arguments, number of "
            "parameters (from the safetensors header), PDE, channels, parameters with "
            "their training range, grid, dt, normalisation, the data and run it was "
            "trained on and the versions that wrote it; it is checked as "
            "pdesurrogate.load checks it. A dataset file (ours, PDEBench, The Well): "
            "its layout, PDE, shape and dimensions, channels, each parameter's min and "
            "max over the file, times, grid extents, size and global attributes; its "
            "fields are never read.", 88),
        epilog="Examples:\n  pdesurrogate info models/fno_burgers\n  pdesurrogate info "
               "data/burgers1d.nc --json | jq .params\n\n"
               + "\n\n".join(textwrap.fill(text, 88) for text in (
                   *JSON_KEYS, "The description goes to stdout, errors to stderr. "
                   + EXIT_STATUS)),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", metavar="PATH",
                   help="an exported surrogate folder or a dataset file")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (keys below) instead of the aligned text")
    args = p.parse_args(argv)
    info = describe(args.path)
    print(json.dumps(info, indent=2) if args.json else render(info))
    return 0


# -- online ---------------------------------------------------------------------------------
def cmd_online(argv: Sequence[str]) -> int:
    import importlib.util

    # the launcher stops and checkpoints the job by signalling its process group, and locks
    # the run folder: without these (Windows) it failed in a traceback ("No module named
    # 'fcntl'", "module 'signal' has no attribute 'SIGUSR1'")
    lacks = [name for name, there in (
        ("fcntl", importlib.util.find_spec("fcntl") is not None),
        ("signal.SIGUSR1", hasattr(signal, "SIGUSR1")),
        ("signal.SIGHUP", hasattr(signal, "SIGHUP")),
        ("os.killpg", hasattr(os, "killpg"))) if not there]
    if lacks:
        print(f"pdesurrogate online: error: it runs on Linux and macOS only: this platform lacks "
              f"{', '.join(lacks)}, which its launcher needs (on Windows, run it under WSL)",
              file=sys.stderr)
        return 2
    from pdesurrogate.online import cmd_online as run

    bound_yaml_aliases()
    # names on the command line only: online passes the --config path on to the ranks as
    # given, and its own parser translates a name in the file as it reads it
    return run(_solver_names_to_class_paths(argv, configs=False))


# -- configs ----------------------------------------------------------------------------------
def cmd_configs(argv: Sequence[str]) -> int:
    from pdesurrogate import shipped_configs as shipped

    p = argparse.ArgumentParser(
        prog="pdesurrogate configs", **NO_ABBREVIATIONS,
        description="The YAML configs that ship with the package (data: generate; fit: fit; "
                    "online: online). Without options, list them with what each is for.",
        epilog="Then e.g.: pdesurrogate configs --copy . && pdesurrogate generate --config "
               "configs/data/burgers1d.yaml --out data/burgers1d.nc. The list, --path's "
               "file and --copy's line go to stdout, errors to stderr. " + EXIT_STATUS)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--copy", metavar="DIR",
                       help="write them as DIR/configs/{data,fit,online}/NAME.yaml, the paths "
                            "the help texts and the README use (refused, before anything is "
                            "written, if one exists with other content: your edits stay)")
    which.add_argument("--path", metavar="KIND/NAME",
                       help="print the installed file of one, e.g. fit/fno_burgers")
    p.add_argument("--overwrite", action="store_true",
                   help="with --copy: replace existing files of the same names")
    args = p.parse_args(argv)
    if args.overwrite and args.copy is None:
        p.error("--overwrite goes with --copy DIR")
    if args.path is not None:
        print(shipped.installed_path(args.path))
        return 0
    if args.copy is not None:
        written = shipped.copy_configs(args.copy, overwrite=args.overwrite)
        folder = Path(args.copy) / "configs"
        same = len(shipped.shipped_configs()) - len(written)
        kept = f"; {same} already there, identical" if same else ""
        kinds = sorted({f.parent.name + "/" for f in written})
        print(f"wrote {len(written)} configs to {folder}{os.sep}"
              + (f" ({', '.join(kinds)})" if kinds else "") + kept)
        return 0
    configs = shipped.shipped_configs()
    width = max(len(c.key) for c in configs)
    for c in configs:
        print(f"{c.key:<{width}}  {c.description}")
    print("\nUse one with --config $(pdesurrogate configs --path KIND/NAME), or copy them all "
          "to ./configs/ with pdesurrogate configs --copy . (the paths the examples use).")
    return 0


def _missing_config_hint(message: str) -> str | None:
    """For a ``--config configs/KIND/NAME.yaml`` that does not exist (jsonargparse: ``File
    does not exist: '...'``), where the shipped configs are: a pip install has no such folder."""
    missing = re.search(r"File does not exist: '([^']*)'", message)
    if not missing or not re.search(r"(^|/)configs/(data|fit|online)/[^/]+$",
                                    missing.group(1).replace(os.sep, "/")):
        return None
    return ("the configs ship with the package: pdesurrogate configs --copy . writes them to "
            "./configs/ (pdesurrogate configs lists them)")


# what a command that needs a config says when given no arguments at all
_FIRST_RUN = {
    "generate": "pdesurrogate generate --config configs/data/burgers1d.yaml --out "
                "data/burgers1d.nc",
    "online": "pdesurrogate online --config configs/online/burgers_fno.yaml --out runs/demo",
}


def _first_run_hint(argv: Sequence[str]) -> str | None:
    """For ``generate`` or ``online`` given no arguments (jsonargparse only names the
    required keys, which a config gives): an example run and where its config comes from."""
    if len(argv) != 1 or argv[0] not in _FIRST_RUN:
        return None
    return (f"e.g. {_FIRST_RUN[argv[0]]} (pdesurrogate configs lists the shipped configs, "
            "pdesurrogate configs --copy . writes them to ./configs/)")


def _missing_module_hint(message: str) -> str | None:
    """For a class_path whose module does not import (``No module named 'x'``): where Python
    looks. The ``pdesurrogate`` command has no current folder on its import path."""
    missing = re.search(r"No module named '([^'.]+)", message)
    if not missing or missing.group(1) in ("pdesurrogate", "lightning", "torch"):
        return None
    return (f"a module of yours named by class_path must be importable: put the folder that "
            f"holds {missing.group(1)}.py on PYTHONPATH (e.g. PYTHONPATH=. for the current "
            "folder)")


# -- dispatch ---------------------------------------------------------------------------------
# lines of jsonargparse's union errors that repeat what the innermost error already says
_PARSE_NOISE = ("Does not validate against any of the Union subtypes", "Subtypes:", "Errors:",
                "Given value type:", "Given value:", "Expected a <class 'NoneType'>")


def condense_parse_error(message: str) -> str:
    """jsonargparse's error for a nested class (``Parser key "model": ... Errors: - Problem
    with given class_path ...``, dozens of lines with the whole value printed twice) reduced
    to its innermost errors, each prefixed by the path of keys and classes that leads to it."""
    path: list[tuple[int, str]] = []
    leaves = []
    for line in message.splitlines():
        text = line.strip()
        if not text or text.removeprefix("- ").startswith(_PARSE_NOISE):
            continue
        indent = len(line) - len(line.lstrip())
        while path and path[-1][0] >= indent:
            path.pop()
        key = re.fullmatch(r'Parser key "([^"]+)":', text)
        cls = re.fullmatch(r"- Problem with given class_path '([^']+)':", text)
        if key or cls:
            path.append((indent, key.group(1) if key else f"({cls.group(1)})"))
            continue
        where = " > ".join(p for _, p in path)
        leaves.append(f"{where}: {text.removeprefix('- ')}" if where else text)
    return "\n".join(leaves) or message


COMMANDS: dict[str, tuple[str, Callable[[Sequence[str]], int]]] = {
    "generate": ("run a solver and write a dataset file", cmd_generate),
    "fit": ("train a surrogate (LightningCLI: --config configs/fit/NAME.yaml)", cmd_fit),
    "test": ("evaluate a trained checkpoint on the test split (--ckpt_path)", cmd_test),
    "online": ("train online from solver ranks streaming over MPI (--config "
               "configs/online/NAME.yaml)", cmd_online),
    "export": ("export a checkpoint as config.json + model.safetensors", cmd_export),
    "predict": ("roll an exported surrogate out over a dataset file", cmd_predict),
    "compare": ("rank several exported surrogates on one dataset file (a leaderboard)",
                cmd_compare),
    "info": ("say what an export folder or a dataset file holds, without loading it",
             cmd_info),
    "configs": ("list the shipped YAML configs, or --copy DIR them out", cmd_configs),
}


# what decides the behaviour of a run, in the order a bug report wants them
_REPORTED = ("torch", "lightning", "neuraloperator", "numpy", "mpi4py", "mpich", "h5py",
             "xarray", "safetensors")


def version_report() -> str:
    """``pdesurrogate X (Python Y; torch Z, ...)``: read from the installed packages' metadata,
    so nothing heavy is imported; a library that is not installed shows as ``-``."""
    from importlib import metadata

    from pdesurrogate import __version__

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "-"

    libs = ", ".join(f"{d} {version(d)}" for d in _REPORTED)
    return f"pdesurrogate {__version__} (Python {sys.version.split()[0]}; {libs})"


def _condensed_errors() -> tuple[type[Exception], ...]:
    """The exceptions ``main`` prints as one line: the usual types of a user's mistake, and
    Lightning's MisconfigurationException (contradicting Trainer settings), if Lightning is
    loaded (it is only imported by the commands that train)."""
    errors: tuple[type[Exception], ...] = (ValueError, TypeError, OSError, RuntimeError)
    lightning = sys.modules.get("lightning.fabric.utilities.exceptions")
    misconfigured = getattr(lightning, "MisconfigurationException", None)
    return errors if misconfigured is None else (*errors, misconfigured)


def _no_tips(record: logging.LogRecord) -> bool:
    """A logging filter that drops Lightning's "💡 Tip:" lines. One function, so that a
    logger given it by every call of :func:`main` in a process holds it once (``addFilter``
    skips a filter it already has; a new lambda per call was a new filter each time)."""
    return not str(record.msg).startswith("💡 Tip:")


# commands that handle SIGTERM themselves: generate (its message names the file), online (its
# launcher). fit and test have Lightning's handler (and fit's checkpoint of where it stopped)
# only while the Trainer runs; main's stops them before (imports, the config, building the
# model and data) and after it, where SIGTERM's default action ended them with no word
_OWN_SIGTERM = frozenset({"generate", "online"})

# what each command imports on every run anyway, imported first by startup_gc (a help text
# needs less: it gets none); online's ranks import Lightning only on trainer ranks, info
# imports torch only for an export folder
_STARTUP_IMPORTS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("fit", "test"), ("torch", "lightning.pytorch", "pdesurrogate.training")),
    **dict.fromkeys(("generate", "online", "export", "predict", "compare"), ("torch",)),
}


def _sigterm_message(command: str, trainer=None) -> str:
    """The line a command stopped by SIGTERM prints: for fit and test, what is left to resume
    from (as when Lightning's handler stopped them; ``trainer``: the run's, if built), else
    that no partial output is left."""
    if command in _LIGHTNING_HELP:
        return (f"pdesurrogate {command}: stopped by SIGTERM; "
                + _stopped_resume_hint(trainer, command))
    return f"pdesurrogate {command}: stopped by SIGTERM; no partial output is left"


def _default_sigint() -> None:
    """An ``atexit`` hook: from here on Ctrl-C ends the process as SIGINT's default action
    does (status 130 in a shell, nothing printed), not as a KeyboardInterrupt inside
    another exit hook ("Exception ignored in atexit callback" and its traceback, after the
    command's output was complete, and a library's temporary folder left half removed)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stdout_closed() -> bool:
    """Whether stdout, or stderr, is a pipe whose reader has exited (``| head -1``,
    ``| grep -q``, ``2>&1 | head -1``), as the kernel reports it (POLLERR on the pipe's
    writing end): a BrokenPipeError from anywhere else (a worker's pipe, a socket) is an
    error of the command's own."""
    return _pipe_closed(sys.stdout) or _pipe_closed(sys.stderr)


def _pipe_closed(stream) -> bool:
    import select

    try:
        poller = select.poll()
        poller.register(stream.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no file behind it (captured), no poll
        return False


def _stdout_gone() -> int:
    """The end of a command whose stdout was closed: what is left in stdout's buffer goes to
    /dev/null (else Python's flush at exit printed "Exception ignored ... BrokenPipeError"),
    and the status a process that SIGPIPE killed has, 141, as ``yes | head -1`` gives
    (Python ignores SIGPIPE: the command got a BrokenPipeError instead, a traceback or an
    "error:" line with status 2 or 1 before). A closed stderr (``2>&1 | head -1``) likewise:
    its buffer's flush at exit failed, and the command ended with status 120."""
    for stream in (sys.stdout, sys.stderr):
        if _pipe_closed(stream):
            _drop_stdout(stream)
    return 128 + signal.SIGPIPE


def _rich_pipe_exit(exc: SystemExit) -> bool:
    """Whether ``exc`` is rich's end of a process whose console's pipe closed: its
    ``Console.on_broken_pipe`` sends stdout to /dev/null and raises SystemExit(1) (a fit's
    model summary or test's table into ``| grep -q``, a message into ``2>&1 | head -1``);
    the command ended with status 1, or 120, where a print's closed pipe gives 141."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return isinstance(exc.__context__, BrokenPipeError) and tb is not None \
        and tb.tb_frame.f_code.co_name == "on_broken_pipe" \
        and tb.tb_frame.f_globals.get("__name__", "").startswith("rich.")


def _help_pipe_exit(exc: SystemExit) -> bool:
    """Whether ``exc`` is argparse's successful exit (``--help``, jsonargparse's
    ``--print_config``) with stdout a pipe whose reader has gone (``fit --help | head -1``).
    argparse's ``_print_message`` drops the OSError of its write, so a help longer than stdout's
    buffer (fit's, test's, online's: 20-36 kB) ended with status 0, while a shorter one, still
    in the buffer at main's flush, ended with SIGPIPE's 141."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return exc.code in (0, None) and tb is not None and tb.tb_frame.f_code.co_name == "exit" \
        and tb.tb_frame.f_globals.get("__name__") == "argparse" and _pipe_closed(sys.stdout)


def _drop_stdout(stream=None) -> None:
    """Send what is left in stdout's (or ``stream``'s) buffer, and anything written later, to
    /dev/null: a stdout that cannot be written keeps its buffer, and Python's flush at exit
    failed on it again ("Exception ignored ... OSError", status 120) after the command's own
    error line."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, (stream or sys.stdout).fileno())
    finally:
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            return _main(argv)
        finally:
            # here, where a closed pipe can still be told apart (argparse's --help and usage
            # errors leave by SystemExit, with the text still in stdout's buffer)
            if sys.stdout is not None:
                sys.stdout.flush()
    except BrokenPipeError:
        if _stdout_closed():
            return _stdout_gone()
        raise
    except SystemExit as exc:
        if _rich_pipe_exit(exc) or _help_pipe_exit(exc):
            return _stdout_gone()
        raise
    except OSError as exc:
        # the flush above, or a print outside the command's own error handling, on a full
        # disk (> out.txt) or a device gone: Python's flush at exit said "Exception ignored"
        # and ended with status 120. With PDESURROGATE_DEBUG, _main raises the command's own
        # errors too (a missing file): those keep their traceback
        if os.environ.get("PDESURROGATE_DEBUG"):
            raise
        print(f"pdesurrogate: error: writing stdout: {exc}", file=sys.stderr)
        try:
            _drop_stdout()
        except (AttributeError, OSError, ValueError):  # no file behind stdout (captured)
            pass
        return 2
    finally:
        # registered last, so that it runs before the exit hooks the command's libraries
        # registered (atexit runs them last in, first out)
        atexit.unregister(_default_sigint)
        atexit.register(_default_sigint)


def _main(argv: Sequence[str] | None) -> int:
    fresh_process = argv is None  # run as a program (console script, -m, online's ranks)
    argv = list(sys.argv[1:] if argv is None else argv)
    top = argparse.ArgumentParser(
        prog="pdesurrogate", **NO_ABBREVIATIONS,
        description="Numerical PDE solvers -> datasets or MPI streams -> neural surrogates.",
        epilog="Run `pdesurrogate COMMAND --help` for a command's options, what it writes\n"
               "where, and its exit status.\n"
               "The configs/KIND/NAME.yaml files the help texts name ship with the package:\n"
               "`pdesurrogate configs --copy .` writes them to ./configs/.\n\n"
               + textwrap.fill(EXIT_STATUS + " online adds its own (see its --help).", 88),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("-V", "--version", action="store_true",
                     help="print the versions of pdesurrogate and of the libraries it runs on "
                          "(for bug reports) and exit")
    sub = top.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_, _) in COMMANDS.items():
        sub.add_parser(name, help=help_, add_help=False)
    if argv and argv[0] in ("-V", "--version"):
        print(version_report())
        return 0
    if argv and argv[0] in ("-h", "--help"):
        top.print_help()
        return 0
    if not argv:
        # a script's empty $(STEP) is a mistake, not a success: the help, and status 2
        top.print_help(sys.stderr)
        print(f"pdesurrogate: error: no COMMAND given; choose from {', '.join(COMMANDS)}",
              file=sys.stderr)
        return 2
    if argv[0] not in COMMANDS:
        top.print_usage(sys.stderr)
        print(f"pdesurrogate: error: unknown command {argv[0]!r}; "
              f"choose from {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    # every command allocates and frees the same large arrays over and over (solver steps,
    # training steps): keep freed memory for reuse instead of faulting it in again
    tune_malloc()
    # LC_ALL=C without Python's coercion: configs (YAML is UTF-8) and our files read as UTF-8
    utf8_text_files()
    escape_unencodable_output()
    # Lightning 2.6 calls a pytree API that torch deprecated, and advertises a cloud logger at
    # every Trainer: nothing a user of this command can act on
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_no_tips)
    run: dict = {}  # fit and test put their Trainer here, for the messages
    try:
        command, args = COMMANDS[argv[0]][1], argv[1:]
        not_utf8 = non_utf8_config(args)
        if not_utf8:
            raise argparse.ArgumentError(None, not_utf8)
        # in a user's own Python, freezing its objects would keep its garbage alive for ever
        imports = (_STARTUP_IMPORTS.get(argv[0], ())
                   if fresh_process and not {"-h", "--help"} & set(args) else ())
        if argv[0] in _OWN_SIGTERM:
            import_without_gc(imports)
            return command(args)
        # else SIGTERM ends the process where it is: a predict's temporary rollout, an
        # export's temporary folder stayed behind
        with sigterm_unwinds(lambda: _sigterm_message(argv[0], run.get("trainer"))):
            import_without_gc(imports)
            return command(args, run) if argv[0] in _LIGHTNING_HELP else command(args)
    except Terminated as exc:
        return exc.code
    except argparse.ArgumentError as exc:
        if os.environ.get("PDESURROGATE_DEBUG"):
            raise
        hint = (_missing_config_hint(str(exc)) or _missing_module_hint(str(exc))
                or _first_run_hint(argv))
        print(f"pdesurrogate {argv[0]}: error: {condense_parse_error(str(exc))}\n"
              + (f"{hint}\n" if hint else "")
              + f"(pdesurrogate {argv[0]} --help lists the options)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"pdesurrogate {argv[0]}: interrupted (Ctrl-C)", file=sys.stderr)
        return 130
    except _condensed_errors() as exc:
        if isinstance(exc, BrokenPipeError) and _stdout_closed():
            # stdout's reader has exited: main ends the command quietly, but a fit (its
            # progress lines: | head) says where it stopped, having run for a while
            stopped = _failed_fit_outputs(argv[0], run.get("trainer"), exc)
            if stopped:
                print(f"pdesurrogate fit: stopped: the reader of its stdout exited\n{stopped}",
                      file=sys.stderr)
            raise
        if os.environ.get("PDESURROGATE_DEBUG"):
            raise
        # the user's mistake is the innermost cause (e.g. a constructor's ValueError wrapped by
        # jsonargparse); print it alone rather than a traceback from deep inside a library
        root = exc
        while root.__cause__ is not None:
            root = root.__cause__
        print(f"pdesurrogate {argv[0]}: error: {type(root).__name__}: {root}", file=sys.stderr)
        failed_fit = _failed_fit_outputs(argv[0], run.get("trainer"), root)
        if failed_fit:
            print(failed_fit, file=sys.stderr)
        print("(set PDESURROGATE_DEBUG=1 for the full traceback)", file=sys.stderr)
        return 2


def _failed_fit_outputs(command: str, trainer, error: BaseException) -> str | None:
    """For a fit that failed after it trained (on rank 0): its run folder and what a rerun
    can resume from, which the line a finished fit ends with would have said; a script or a
    user rerunning the step had to look for them. None for anything else (nothing trained:
    a rerun starts afresh), and for the NaN stop, whose error already names the checkpoint."""
    if command != "fit" or trainer is None or not trainer.is_global_zero \
            or not trainer.global_step:
        return None
    from pdesurrogate.training.finite_weights import NonFiniteWeights

    if isinstance(error, NonFiniteWeights):
        return None
    hint = _stopped_resume_hint(trainer, command)
    if hint.startswith("resume"):
        hint = f"once the cause is fixed, {hint}"
    return f"pdesurrogate fit: run folder {_run_folder(trainer)}; {hint}"
