"""A trainer rank (:func:`run_trainer`): Lightning training on the stream, DDP among the trainer
ranks, checkpoints, and the run's end.

Per trainer rank: a held-out validation set and a small set for the normalisation statistics
are generated once by the same solver (never streamed; the same on every trainer rank, and each
validates on its own share of the held-out trajectories);
:class:`~pdesurrogate.training.stream_data.StreamDataModule` feeds the same LightningModule that
``pdesurrogate fit`` trains; :class:`~pdesurrogate.training.stream_monitor.StreamMonitor` logs
samples/s, MB/s, buffer fill, seen counts and the idle fraction (CSV + TensorBoard under ``out``).
"""

from __future__ import annotations

import json
import socket
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from pdesurrogate.online.checkpoint import (
    CHECKPOINT,
    _fit_loads_weights_only,
    _restore,
    _write_checkpoint,
)
from pdesurrogate.online.launcher import INCOMPLETE
from pdesurrogate.online.parser import TRAINER_REFUSED, TRAINER_SKIP
from pdesurrogate.online.summary import _finish, _undelivered

if TYPE_CHECKING:
    from pdesurrogate.datasets import ChannelStats

# the seeds of the held-out validation and statistics sets: the run's seed plus these
VALIDATION_SEED_OFFSET = 1_000_003
STATS_SEED_OFFSET = 2_000_003


def stream_source(cfg, box: dict[str, tuple[float, float]]) -> dict:
    """What an online run trains on, as checkpoints and the export record it
    (``data_info["source"]``, exported as ``provenance.data_source``; the form:
    :mod:`pdesurrogate.datasets.source`): the solver's class and arguments, the parameter
    ``box`` the scheduler draws from, its sampling, seed, simulations and retries, the saved
    steps, and the held-out validation and statistics sets' sizes and seeds. A solver argument
    JSON cannot hold is recorded as its ``str``."""
    from pdesurrogate.datasets.source import online_source

    spec = cfg.solver.as_dict() if hasattr(cfg.solver, "as_dict") else dict(cfg.solver)
    init_args = json.loads(json.dumps(spec.get("init_args") or {}, default=str))
    return online_source(
        {"class_path": spec["class_path"], "init_args": init_args}, box, cfg.sampling,
        cfg.seed, cfg.simulations, cfg.max_retries, cfg.n_steps, cfg.dt,
        validation=(cfg.validation.trajectories, cfg.seed + VALIDATION_SEED_OFFSET),
        statistics=(cfg.stats_trajectories, cfg.seed + STATS_SEED_OFFSET))


def stream_data_info(solver, names: list[str], dt: float, source: dict) -> dict:
    """The ``data_info`` of an online run (what its checkpoints and export record of its
    data, as :class:`~pdesurrogate.training.FieldDataModule` records a file's): the solver's
    PDE, grid shape, spatial axes' names (those a file it generates has: its ``grid_names``,
    else ours) and extents (of the node coordinates that file stores), channel names, the
    parameters ``names``, one step of ``dt`` and the stream's ``source``
    (:func:`stream_source`)."""
    from pdesurrogate.datasets.generate import solver_grid
    from pdesurrogate.datasets.grid_extent import EXTENT_KEY, grid_extent

    coords, axes = solver_grid(solver)
    return {"pde": solver.name, "grid_shape": list(solver.shape),
            "grid_names": list(axes), EXTENT_KEY: grid_extent(coords),
            "channel_names": list(solver.channel_names), "param_names": list(names),
            "k": 1, "dt": float(dt), "source": source}


def trajectories(solver, box: dict, n: int, seed: int, n_steps: int, dt: float):
    """``n`` trajectories ``(n, n_steps + 1, C, *grid)`` with parameters drawn in ``box``
    (``(n, P)``), as the solver ranks make them (initial states from ``solver.sample``)."""
    from pdesurrogate.streaming import draw_parameters

    u0, _ = solver.sample(n, seed)
    pts = draw_parameters(box, n, "random", seed)
    params = {k: torch.tensor(pts[:, j], dtype=u0.dtype) for j, k in enumerate(box)}
    u = solver.solve(u0, params, [k * dt for k in range(n_steps + 1)])
    return u, torch.stack([params[k] for k in box], dim=1)


def trainer_stats(u: torch.Tensor, params: torch.Tensor, names: list[str],
                  box: dict[str, tuple[float, float]] | None = None):
    """The normalisation statistics (:class:`~pdesurrogate.datasets.ChannelStats`) of the
    statistics trajectories ``u`` ``(n, T, C, *grid)`` and their parameters ``params``
    ``(n, P)`` named ``names``: per channel over trajectories, times and grid points, per
    parameter over the ``n`` parameter sets.

    The parameters' training range (``param_min``, ``param_max``) is ``box``, the box
    ``{name: (low, high)}`` the scheduler draws every simulation's parameters from, not the
    few statistics trajectories' values (a surrogate warns outside it); None: not known."""
    from pdesurrogate.datasets import ChannelStats

    axes = (0, 1, *range(3, u.ndim))
    # one trajectory has one parameter set, whose (sample) std is undefined: torch gave NaN
    # with a warning about degrees of freedom; 0 (no spread measured) divides by 1, as the
    # preflight's warning (check_stats_spread) says
    param_std = params.std(0) if len(params) > 1 else torch.zeros(params.shape[1])
    return ChannelStats(mean=u.mean(dim=axes).tolist(), std=u.std(dim=axes).tolist(),
                        spatial_dims=u.ndim - 3, param_names=names,
                        param_mean=params.mean(0).tolist(), param_std=param_std.tolist(),
                        param_min=[box[k][0] for k in names] if box is not None else [],
                        param_max=[box[k][1] for k in names] if box is not None else [])


def held_out_sets(cfg, solver, box: dict[str, tuple[float, float]], names
                  ) -> tuple[torch.Tensor, torch.Tensor, ChannelStats]:
    """What a trainer rank makes before it trains: the held-out validation trajectories and
    their parameters (:func:`trajectories`, ``cfg.validation.trajectories`` of them) and the
    normalisation statistics of ``cfg.stats_trajectories`` more (:func:`trainer_stats`), whose
    parameter range is ``box``, the box the scheduler draws from."""
    val_u, val_p = trajectories(solver, box, cfg.validation.trajectories,
                                cfg.seed + VALIDATION_SEED_OFFSET, cfg.n_steps, cfg.dt)
    st_u, st_p = trajectories(solver, box, cfg.stats_trajectories, cfg.seed + STATS_SEED_OFFSET,
                              cfg.n_steps, cfg.dt)
    return val_u, val_p, trainer_stats(st_u, st_p, list(names), box)


def trainer_buffer(cfg, rank: int):
    """Trainer rank ``rank``'s (0-based among the trainer ranks) empty training buffer, as
    ``cfg.buffer`` sets it (``kind``, ``capacity`` and ``watermark`` in items; ``max_mb``, if
    not None, in MB of 10**6 bytes).

    Its rng is seeded with ``cfg.seed + rank``: the run's seed makes a run repeat, and the rank
    gives each DDP trainer rank its own random draws and evictions (seeded alike, two ranks
    holding alike items would draw them in the same order). A resumed run replaces the rng
    state with the checkpoint's."""
    from pdesurrogate.streaming import make_buffer

    max_bytes = None if cfg.buffer.max_mb is None else int(cfg.buffer.max_mb * 1e6)
    return make_buffer(cfg.buffer.kind, capacity=cfg.buffer.capacity,
                       watermark=cfg.buffer.watermark, max_bytes=max_bytes,
                       seed=cfg.seed + rank)


def ddp_layout(local_size: int, local_rank: int, node_rank: int, n_nodes: int, world_size: int,
               world_rank: int, visible_gpus: list[tuple[int, int, str | None]] | None
               ) -> tuple[int, int, int, int]:
    """How Lightning sees the trainer ranks: ``(devices, num_nodes, node_rank, local_rank)``.

    ``local_size``/``local_rank``: trainer ranks on this node and this one's index among them;
    ``node_rank``/``n_nodes``: this node's index among the nodes holding trainers;
    ``visible_gpus``: per trainer rank (by world rank), the GPUs it sees, the trainer ranks on
    its node and, where it sees one, that GPU's identity (host and UUID; None if unknown);
    None on CPU.

    Lightning gives local rank ``r`` the device ``cuda:r`` and checks that ``devices`` GPUs are
    visible. That fits ranks that see all of their node's GPUs; under Slurm's
    ``--gpus-per-task=1`` each rank sees only its own, so each is then presented as a node of
    one device (``cuda:0``, its GPU). Any other mix cannot be placed and is refused, and so
    are ranks that would share one GPU (two trainer ranks on a one-GPU machine).
    """
    from pdesurrogate.online.errors import UsageError

    if visible_gpus is None or all(seen >= on_node for seen, on_node, _ in visible_gpus):
        return local_size, n_nodes, node_rank, local_rank
    if all(seen == 1 for seen, _, _ in visible_gpus):
        ids = [gpu for _, _, gpu in visible_gpus if gpu is not None]
        shared = sorted({gpu for gpu in ids if ids.count(gpu) > 1})
        if shared:
            raise UsageError(
                f"trainer ranks would share a GPU ({', '.join(shared)}): DDP needs a GPU per "
                f"trainer rank; lower --trainers to the GPUs there are, or give each rank its "
                f"own (srun --gpus-per-task=1)")
        return 1, world_size, world_rank, 0
    raise UsageError(
        f"the trainer ranks see {[seen for seen, _, _ in visible_gpus]} GPUs (by rank), while "
        f"{[on_node for _, on_node, _ in visible_gpus]} trainer ranks share their nodes: give "
        f"each trainer rank all of its node's GPUs (e.g. srun --gpus-per-node=N) or exactly "
        f"one (--gpus-per-task=1)")


def _gpu_identity() -> tuple[int, str | None]:
    """The GPUs this process sees and, if one, which (host and UUID), to tell apart ranks that
    each see their own GPU from ranks that all see the same one."""
    n = torch.cuda.device_count()
    uuid = getattr(torch.cuda.get_device_properties(0), "uuid", None) if n == 1 else None
    # a build that reports no UUID, or an all-zero one, cannot tell devices apart: unknown
    known = uuid is not None and str(uuid).strip("-0") != ""
    return n, f"{socket.gethostname()}/GPU-{uuid}" if known else None


def _ddp(roles, accelerator_is_gpu: bool):
    """Strategy, devices and num_nodes for the trainer ranks (DDP among them)."""
    from lightning.pytorch.strategies import DDPStrategy

    from pdesurrogate.streaming.roles import mpi
    from pdesurrogate.training.trainer_ranks import TrainerRanksEnvironment

    MPI = mpi()
    comm = roles.comm
    local = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.rank)
    leader = local.rank == 0
    nodes = comm.Split(0 if leader else MPI.UNDEFINED, key=comm.rank)
    node_rank = nodes.rank if leader else 0
    node_rank = local.bcast(node_rank, root=0)
    n_nodes = comm.allreduce(1 if leader else 0)
    if comm.rank == 0:
        with socket.socket() as s:
            s.bind(("", 0))
            port = s.getsockname()[1]
        addr = socket.gethostname()
    else:
        port, addr = None, None
    port, addr = comm.bcast((port, addr), root=0)
    if accelerator_is_gpu:
        n_gpus, gpu = _gpu_identity()
        visible = comm.allgather((n_gpus, local.size, gpu))
    else:
        visible = None
    devices, n_nodes, node_rank, local_rank = ddp_layout(
        local.size, local.rank, node_rank, n_nodes, comm.size, comm.rank, visible)
    env = TrainerRanksEnvironment(comm.size, comm.rank, local_rank, node_rank, addr, port)
    strategy = DDPStrategy(cluster_environment=env,
                           process_group_backend="nccl" if accelerator_is_gpu else "gloo")
    return strategy, devices, n_nodes


def trainer_plugins(single: bool) -> list:
    """The online trainer's Lightning plugins:
    :class:`~pdesurrogate.training.checkpoint_io.AtomicCheckpointIO` (a checkpoint written whole
    or not at all, beside itself and fsync'd, not through ``$TMPDIR``) and, for a ``single``
    trainer rank, :class:`~lightning.fabric.plugins.environments.LightningEnvironment`, so that
    Lightning never reads srun's SLURM variables (they count every rank, solvers too)."""
    from lightning.fabric.plugins.environments import LightningEnvironment

    from pdesurrogate.training.checkpoint_io import AtomicCheckpointIO

    return [AtomicCheckpointIO(), *([LightningEnvironment()] if single else [])]


def ended_by_what(trainer, stream_ended: bool) -> str:
    """What ended the training of a run that was not stopped by a signal, for the summary: the
    stream, or the trainer setting (named with its value) that stopped it first."""
    if stream_ended:
        return ("the stream: every simulation was delivered and the buffer drawn down (for "
                "more steps, raise simulations in a new run)")
    if trainer.fast_dev_run:
        return (f"trainer.fast_dev_run ({trainer.fast_dev_run!r}): a quick check of "
                f"{trainer.global_step} step(s), not a training run")
    if trainer.max_steps is not None and 0 <= trainer.max_steps <= trainer.global_step:
        return f"trainer.max_steps ({trainer.max_steps})"
    from lightning.pytorch.callbacks import Timer

    timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
    remaining = None if timer is None else timer.time_remaining()
    if remaining is not None and remaining <= 0:
        return f"trainer.max_time ({timer.time_elapsed():.0f} s of training)"
    return ("the trainer stopped before the stream ended (trainer.should_stop, set by the model "
            "or a callback)")


def run_trainer(cfg, init, roles, solver, scheduler, names, flag) -> int:
    import lightning.pytorch as pl
    from lightning.pytorch.loggers import CSVLogger

    from pdesurrogate.datasets.generate import solver_grid
    from pdesurrogate.streaming import Receiver
    from pdesurrogate.training.finite_weights import FiniteWeights
    from pdesurrogate.training.step_logs import LearningRateLog
    from pdesurrogate.training.stream_data import StreamDataModule
    from pdesurrogate.training.stream_monitor import StreamMonitor
    from pdesurrogate.training.tensorboard_logger import OpenTensorBoardLogger

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out, rank = Path(cfg.out), roles.rank_in_role
    box = dict(scheduler.param_box)
    val_u, val_p, stats = held_out_sets(cfg, solver, box, names)
    data_info = stream_data_info(solver, names, cfg.dt, stream_source(cfg, box))

    buffer = trainer_buffer(cfg, rank)
    # a simulation sends exactly n_steps + 1 states: the receiver's default bound (4096) would
    # drop every simulation of a longer run, and the run would train on nothing
    receiver = Receiver.from_roles(roles, buffer, names, scheduler=scheduler,
                                   stall_timeout=cfg.stall_timeout,
                                   max_pending_samples=cfg.n_steps + 1)
    ckpt_path, prior = None, {"samples": 0, "bytes": 0}
    if cfg.resume:
        ckpt_path, prior = _restore(out, roles, receiver, scheduler, pl.Trainer.fit)
    flag.receiver = receiver
    if flag.requested:
        receiver.request_stop()
    receiver.start()

    module = init.model
    dm = StreamDataModule(buffer, receiver, names, cfg.batch_size, val_u, val_p, stats,
                          data_info)

    def checkpoint(trainer, freeze: bool = False) -> None:
        _write_checkpoint(out, trainer, receiver, roles, cfg, freeze, prior)

    monitor = StreamMonitor(receiver, buffer, log_every_n_steps=cfg.trainer.log_every_n_steps
                            or 20, checkpoint=checkpoint,
                            checkpoint_every_n_steps=cfg.checkpoint_every_n_steps)
    # NaN weights end the job before a checkpoint or the export holds them
    callbacks: list = [monitor, LearningRateLog(), FiniteWeights(str(out / CHECKPOINT))]
    # the refused keys are at Lightning's defaults here (_check_trainer)
    targs = {k: v for k, v in dict(cfg.trainer).items()
             if k not in TRAINER_SKIP and k not in TRAINER_REFUSED}
    # Lightning writes logged values only every log_every_n_steps (unset: 50); at another period
    # than the monitor's, the stream metrics would reach the files at few steps or none
    targs["log_every_n_steps"] = monitor.log_every_n_steps
    if targs.get("enable_progress_bar") is not False:
        from pdesurrogate.training.progress import rich_progress_bar

        callbacks.append(rich_progress_bar("Online training steps"))
    gpu = targs.get("accelerator") in ("gpu", "cuda") or (
        targs.get("accelerator") in (None, "auto") and torch.cuda.is_available())
    if roles.comm.size > 1:
        strategy, devices, num_nodes = _ddp(roles, gpu)
    else:
        strategy, devices, num_nodes = "auto", 1, 1
    targs["plugins"] = trainer_plugins(single=roles.comm.size == 1)
    # this command places the ranks itself (or runs under the srun that placed them), so
    # Lightning's advice to prepend srun does not apply
    warnings.filterwarnings("ignore", message="The `srun` command is available")
    # one event file from fit through the final validation (closed at the end); no hp_metric:
    # Lightning's TensorBoard placeholder is a constant -1
    tensorboard = OpenTensorBoardLogger(out, name="tensorboard", default_hp_metric=False)
    trainer = pl.Trainer(
        **targs, strategy=strategy, devices=devices, num_nodes=num_nodes, callbacks=callbacks,
        logger=[CSVLogger(out, name="csv"), tensorboard],
        max_epochs=-1, val_check_interval=cfg.validation.every_n_steps,
        check_val_every_n_epoch=None, default_root_dir=out, enable_checkpointing=False,
    )
    t0 = time.perf_counter()
    # weights-only, whatever torch's default (torch < 2.6: False) or TORCH_FORCE_NO_WEIGHTS_ONLY_
    # LOAD say: the checkpoint is a file in the run folder, not code
    trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path,
                **_fit_loads_weights_only(pl.Trainer.fit))
    train_s = time.perf_counter() - t0

    if receiver.stopped:
        checkpoint(trainer, freeze=True)
        receiver.join()
        _finish(out, cfg, trainer, receiver, monitor, roles, scheduler, train_s, "stopped",
                "a stop signal (checkpoint written)", None, prior)
        tensorboard.close()
        return 0
    # the stream ended on some trainer rank (end_agreed: this rank's may still be draining;
    # its receiver commits what completes, past the buffer, and join returns at the end)
    stream_ended = receiver.ended or receiver.end_agreed
    if not stream_ended:
        # the trainer's own limit (max_steps, max_time) came first: take no more simulations,
        # let the solvers finish the ones they are in (discarded, reported) and end the stream
        receiver.snapshot(freeze=True)
    receiver.join()
    # agreed: a limit that met one rank's ended stream and another's open one ended the run
    # on both (each rank deciding alone, only one would write the checkpoint below)
    lost, stream_ended = _undelivered(roles, receiver, scheduler, cfg.simulations,
                                      stream_ended)
    ended_by = ended_by_what(trainer, stream_ended)
    status = "finished"
    if lost and stream_ended:
        # simulations neither committed nor abandoned (a receiver dropped them): the run is
        # not finished; a checkpoint in which they are not done lets --resume run them again
        checkpoint(trainer, freeze=True)
        status = "incomplete"
        ended_by = (f"the stream, but {len(lost)} simulation(s) were not delivered (ids in "
                    f"summary.json, undelivered_sim_ids): --resume runs them again")
    # the trainer ranks split the held-out trajectories among themselves (rank r of W takes
    # r, r + W, ...; none repeated, none padded) and add their error sums before dividing, so
    # each trajectory counts once (training/evaluation.py); trainer.limit_val_batches 0: none
    # (Lightning returns no results), and the model is exported all the same
    results = trainer.validate(module, datamodule=dm, verbose=False)
    val = results[0] if results else None
    _finish(out, cfg, trainer, receiver, monitor, roles, scheduler, train_s, status,
            ended_by, val, prior, module=module, val_u=val_u, val_p=val_p, lost=lost,
            grid=solver_grid(solver))
    tensorboard.close()
    # every trainer rank returns it (the lost list is agreed), so mpiexec or srun exits with
    # it whichever rank it reports
    return INCOMPLETE if status == "incomplete" else 0
