"""``pdesurrogate generate``: run a solver over a batch of random initial conditions and
parameters and write the dataset file."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Sequence

from pdesurrogate.cli.conventions import EXIT_STATUS, NO_ABBREVIATIONS
from pdesurrogate.cli.messages import _markup_free, _own_warnings_prefixed, console
from pdesurrogate.cli.solver_class_change import _warn_solver_change, solver_class_change
from pdesurrogate.cli.solver_names import _solver_choices, _solver_names_to_class_paths
from pdesurrogate.yaml_aliases import bound_yaml_aliases


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
