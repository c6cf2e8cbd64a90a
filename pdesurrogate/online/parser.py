"""The parser of ``pdesurrogate online`` (keys = the YAML's keys) and the checks of its values
that the parser cannot make.

Trainer settings a stream cannot honour (:data:`TRAINER_REFUSED`: min_steps, overfit_batches,
...) are refused, naming the key; ``trainer.limit_val_batches: 0`` runs no validation and still
exports.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, Literal

from pdesurrogate.online.errors import UsageError

# trainer arguments the online run decides itself
TRAINER_SKIP = {"strategy", "devices", "num_nodes", "plugins", "callbacks", "logger",
                "max_epochs", "val_check_interval", "check_val_every_n_epoch",
                "use_distributed_sampler", "default_root_dir", "enable_checkpointing",
                "reload_dataloaders_every_n_epochs", "limit_train_batches"}
# trainer arguments that make no sense for a stream: parsed (a config copied from a fit may
# hold them), left out of --help, and refused with the reason unless at Lightning's default
_STREAM_LENGTH = ("the run's length is set by the stream (training ends when every simulation "
                  "was delivered and the buffer drawn down) and by trainer.max_steps or "
                  "trainer.max_time")
TRAINER_REFUSED = {
    "min_steps": f"an online run cannot promise a minimum: {_STREAM_LENGTH}; past the stream's "
                 f"end Lightning would wait for data that never comes (and ignore a stop "
                 f"signal). For more steps raise simulations",
    "min_epochs": f"an online run has one endless epoch: {_STREAM_LENGTH}. For more steps "
                  f"raise simulations",
    "overfit_batches": "Lightning repeats that many batches of a dataset of known length; "
                       "a stream has neither (the run would end after that many steps, on the "
                       "first few simulations). For a smaller run lower simulations",
    "limit_test_batches": "an online run never tests (it validates on held-out trajectories: "
                          "trainer.limit_val_batches)",
    "limit_predict_batches": "an online run never predicts (it validates on held-out "
                             "trajectories: trainer.limit_val_batches)",
}


# the title of the solver's group in --help (jsonargparse's: the base class's docstring)
SOLVER_TITLE = "Solver (solver: class_path and init_args; --solver.help NAME)"

# the keys the parser without Lightning takes unchecked, and only from config files
LIGHTNING_KEYS = ("model", "trainer")

# jsonargparse loads this parser's configs (and values) with _load_yaml
PARSER_MODE = "pdesurrogate-online-yaml"


def _load_yaml(text: str) -> Any:
    """jsonargparse's YAML loader, and a config's solver may be a registry name, as on the
    command line (`--solver burgers1d`). Done here, where the file is read, so that the
    config's path stays what the user gave (the ranks re-read it)."""
    from jsonargparse import get_loader

    value = get_loader("yaml")(text)
    if isinstance(value, dict) and "solver" in value:
        from pdesurrogate.solvers import solver_class_path

        value = {**value, "solver": solver_class_path(value["solver"])}
    return value


def build_parser(*, lightning: bool = True):
    """The jsonargparse parser of ``pdesurrogate online`` (keys = the YAML's keys).

    ``lightning=False``: the parser of a solver rank, which never trains: ``model`` and
    ``trainer`` are taken from the config files as they are, unchecked, and left out of the
    command line (:func:`_parse` drops them there), so that Lightning is not imported (it
    added ~130 MB to each solver rank of the tiny test run, and a node may run dozens). Every
    other key is parsed and checked as by the whole parser."""
    import yaml
    from jsonargparse import ActionConfigFile, ArgumentParser, set_loader

    from pdesurrogate.solvers import Solver

    set_loader(PARSER_MODE, _load_yaml, (yaml.YAMLError,))
    p = ArgumentParser(
        prog="pdesurrogate online",
        description=(
            "Online training: solver ranks stream samples over MPI into Lightning training "
            "(nothing is written to disk but the logs, checkpoints and the exported model). "
            "Example: pdesurrogate online --config configs/online/burgers_fno.yaml (a checkout "
            "of the repository has configs/; after a pip install, `pdesurrogate configs --copy "
            ".` writes the shipped configs there)"),
        epilog=(
            "Stopping and resuming: Ctrl-C, SIGTERM, SIGHUP or SIGUSR1 (under your own "
            "mpiexec: SIGUSR1) write OUT/checkpoint/ and stop, and so does a job whose "
            "launcher was killed; continue with `pdesurrogate online "
            "--config OUT/config.yaml --resume` (same budget). A checkpoint is also written "
            "every checkpoint_every_n_steps, so a run whose rank died resumes the same way. "
            "A finished run leaves in OUT config.yaml, the logs, model/, summary.json, the "
            "plots and online.lock (the run's lock file, kept on purpose: deleting it would "
            "let two runs hold a lock on OUT at once). "
            "Exit status: 0 finished; 128 + the signal's number when stopped by a signal "
            "(130 for Ctrl-C; resumable); 1 the MPI job failed; 2 a bad option or config "
            "value (nothing started); 3 the stream ended but some simulations were not "
            "delivered (summary.json names them; --resume runs them), under your own "
            "mpiexec or srun too."),
        exit_on_error=False,  # the command prints the error without the usage
        # `--sim 7` is an error, not --simulations: a prefix that later names two options
        # would silently change meaning, and one that names a refused key would slip past
        allow_abbrev=False,
        parser_mode=PARSER_MODE,
    )
    p.add_argument("--config", action=ActionConfigFile, help="YAML file with the keys below.")
    p.add_argument("--out", type=str, default="runs/online",
                   help="Run directory: logs, checkpoint/, model/, summary.json, plots.")
    p.add_argument("--resume", type=bool, default=False,
                   help="Continue the run in --out from its checkpoint (same budget).")
    p.add_argument("--seed", type=int, default=0, help="Seed of parameters and initial states.")
    p.add_argument("--trainers", type=int, default=1, help="Trainer ranks (the first ranks).")
    p.add_argument("--solvers", type=int, default=2,
                   help="Solver ranks when this command starts the MPI job itself (under "
                        "mpiexec/srun: all ranks that are not trainers).")
    p.add_argument("--mpiexec", type=str | None, default=None,
                   help="mpiexec used to start the job (default: the one next to this Python).")
    p.add_subclass_arguments(Solver, "solver", required=True,
                             help="The solver: class_path (or a registry name: burgers1d, "
                                  "ks1d, ...) and init_args.")
    p.add_argument("--parameters", type=dict[str, list[float]] | None, default=None,
                   help="Box {name: [low, high]} the scheduler draws PDE parameters from "
                        "(default: the solver's <name>_range).")
    p.add_argument("--simulations", type=int, default=100, help="Budget: simulations to run.")
    p.add_argument("--sampling", type=Literal["random", "halton", "lhs"], default="halton",
                   help="How parameter sets are drawn.")
    p.add_argument("--max_retries", type=int, default=2,
                   help="Reruns (new seed) of a simulation that raised or diverged.")
    p.add_argument("--n_steps", type=int, default=20, help="Saved steps per simulation.")
    p.add_argument("--dt", type=float, default=0.05, help="Time between saved steps.")
    p.add_argument("--buffer.kind", type=Literal["fifo", "firo", "reservoir"],
                   default="reservoir", help="Training buffer policy (Melissa's).")
    p.add_argument("--buffer.capacity", type=int, default=2000, help="Items per trainer.")
    p.add_argument("--buffer.watermark", type=int, default=200,
                   help="Training waits until the buffer holds this many items.")
    p.add_argument("--buffer.max_mb", type=float | None, default=None,
                   help="Optional bound on the buffer's memory (MB).")
    p.add_argument("--batch_size", type=int, default=32, help="Training items per batch.")
    p.add_argument("--validation.trajectories", type=int, default=32,
                   help="Held-out trajectories (generated once by the same solver).")
    p.add_argument("--validation.every_n_steps", type=int, default=200,
                   help="Validate every this many training steps.")
    p.add_argument("--stats_trajectories", type=int, default=16,
                   help="Trajectories generated for the normalisation statistics.")
    p.add_argument("--checkpoint_every_n_steps", type=int, default=200,
                   help="Periodic checkpoint (0: only on a signal).")
    p.add_argument("--stall_timeout", type=float | None, default=300.0,
                   help="Seconds without data after which a waiting trainer gives up.")
    p.add_argument("--credits", type=int, default=8,
                   help="Messages a solver may have ahead of its trainer. Few keeps solvers from "
                        "racing ahead of training: where solver and trainer ranks share cores, a "
                        "solver streaming flat out takes CPU from training (benchmarks/"
                        "streaming.py, in a checkout of the repository, part b: idle 6.0 % with "
                        "1024, 3.7 % with 8). Raise it when "
                        "solvers have their own cores and fields are small.")
    p.add_argument("--window_mb", type=float, default=40.0,
                   help="MB (2**20 bytes) a solver may have ahead of its trainer (room for ten "
                        "4 MiB packs, or a few large fields).")
    p.add_argument("--pack_kb", type=int, default=4096,
                   help="Fields of up to half this size (KiB) travel in packs of up to this "
                        "size, one message per pack (consecutive steps of one simulation); "
                        "0: one message (and header) per field.")
    p.add_argument("--chain_ms", type=float, default=50.0,
                   help="A pack whose simulation ended takes the next simulations' samples "
                        "(same trainer, shape and dtype; up to 64) for this many milliseconds "
                        "after the first ended: short simulations share messages (chain "
                        "packs). 0: each simulation's last pack goes when it ends.")
    p.add_argument("--threads", type=int | None, default=None,
                   help="torch threads per trainer rank (0 or null: torch's default; solver "
                        "ranks use 1).")
    if not lightning:
        for key in LIGHTNING_KEYS:
            p.add_argument(f"--{key}", type=_unchecked, default=None, help=argparse.SUPPRESS)
        p.groups["solver"].title = SOLVER_TITLE
        return p
    from lightning.pytorch import LightningModule, Trainer

    p.add_subclass_arguments(LightningModule, "model", required=True,
                             help="The LightningModule trained (as in `pdesurrogate fit`).")
    p.add_class_arguments(Trainer, "trainer", instantiate=False, skip=TRAINER_SKIP,
                          help="Lightning Trainer arguments (max_steps, accelerator, ...).")
    for action in p._actions:
        if action.dest.removeprefix("trainer.") in TRAINER_REFUSED:
            action.help = argparse.SUPPRESS
    # jsonargparse titles these groups with the base classes' docstrings or reprs
    p.groups["solver"].title = SOLVER_TITLE
    p.groups["model"].title = "Model (model: a LightningModule's class_path and init_args)"
    return p


def _parse(argv: list[str], *, lightning: bool = True):
    """``(parser, cfg, argv)``: the parser (:func:`build_parser` with ``lightning``), the
    settings parsed from ``argv``, and ``argv`` as parsed (a bare ``--resume`` made
    ``--resume true``), which a rank parses again. Without ``lightning`` the command line's
    ``--model*`` and ``--trainer*`` options are left out (the whole parse checks them)."""
    # a bare `--resume` reads as `--resume true`
    argv = [a for a in argv]
    for i, a in enumerate(argv):
        if a == "--resume" and (i + 1 == len(argv) or argv[i + 1].startswith("--")):
            argv[i:i + 1] = ["--resume", "true"]
            break
    parser = build_parser(lightning=lightning)
    cfg = parser.parse_args(argv if lightning else _without_lightning(argv))
    # ~ as a shell would: a YAML value is never expanded (out: ~/runs was a folder named ~)
    cfg.out = os.path.expanduser(cfg.out)
    return parser, cfg, argv


def _unchecked(value: Any) -> Any:
    """A value as the config file gives it. A function, not a type: jsonargparse would check a
    value against a type (``Any`` and ``dict`` included), and import the classes it names."""
    return value


def _without_lightning(argv: list[str]) -> list[str]:
    """``argv`` less its ``--model*`` and ``--trainer*`` options (``--model.x=1``, or
    ``--model.x`` and its value: every one of them takes one, never starting with ``--``)."""
    kept, i = [], 0
    while i < len(argv):
        name = argv[i].partition("=")[0]
        if any(name == f"--{k}" or name.startswith(f"--{k}.") for k in LIGHTNING_KEYS):
            has_value = "=" not in argv[i] and i + 1 < len(argv) \
                and not argv[i + 1].startswith("--")
            i += 1 + has_value
            continue
        kept.append(argv[i])
        i += 1
    return kept


def _check(cfg) -> None:
    """Check the settings the parser cannot (:func:`_check_settings`), then the trainer's
    (:func:`_check_trainer`, which imports Lightning)."""
    _check_settings(cfg)
    _check_trainer(cfg.trainer)


def _check_settings(cfg) -> None:
    """Every check of :func:`_check` but the trainer's: what a parse without Lightning
    (``_parse(..., lightning=False)``) can check."""
    for key, low in (("trainers", 1), ("solvers", 1), ("simulations", 1), ("n_steps", 1),
                     ("batch_size", 1), ("validation.trajectories", 1),
                     ("validation.every_n_steps", 1), ("stats_trajectories", 1),
                     ("checkpoint_every_n_steps", 0), ("max_retries", 0), ("credits", 1),
                     ("pack_kb", 0)):
        v = cfg[key]
        if not isinstance(v, int) or v < low:
            raise UsageError(f"online config: {key} must be an integer >= {low}, got {v!r}")
    if not cfg.dt > 0:
        raise UsageError(f"online config: dt must be > 0, got {cfg.dt!r}")
    if not cfg.window_mb > 0:
        raise UsageError(f"online config: window_mb must be > 0, got {cfg.window_mb!r}")
    if not (isinstance(cfg.chain_ms, (int, float)) and cfg.chain_ms >= 0):
        raise UsageError(f"online config: chain_ms must be >= 0, got {cfg.chain_ms!r}")
    # the solver ranks derive their packs' max age from it (a quarter): a bad value would
    # first show up inside the MPI job, as that derived value
    if cfg.stall_timeout is not None and not cfg.stall_timeout > 0:
        raise UsageError(f"online config: stall_timeout must be a number of seconds > 0 (or "
                         f"null: wait forever), got {cfg.stall_timeout!r}")
    if cfg.threads is not None and not (isinstance(cfg.threads, int) and cfg.threads >= 0):
        raise UsageError(f"online config: threads must be an integer >= 0 (0 or null: torch's "
                         f"default), got {cfg.threads!r}")
    # each trainer rank validates on its own share of the held-out trajectories
    if cfg.validation.trajectories < cfg.trainers:
        raise UsageError(f"online config: validation.trajectories ({cfg.validation.trajectories})"
                         f" must be at least trainers ({cfg.trainers}): each trainer rank "
                         f"validates on its own share")


def _check_trainer(trainer) -> None:
    """Refuse a :data:`TRAINER_REFUSED` key set to anything but Lightning's default, naming it
    and saying why (``trainer``: the config's ``trainer`` group)."""
    import inspect

    from lightning.pytorch import Trainer

    defaults = inspect.signature(Trainer.__init__).parameters
    for key, why in TRAINER_REFUSED.items():
        value = trainer.get(key, defaults[key].default)
        if value != defaults[key].default:
            raise UsageError(f"online config: trainer.{key} ({value!r}): {why}; remove it")
