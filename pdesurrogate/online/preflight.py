"""Before the MPI job starts: build once what every rank builds from the config, so that a bad
value fails in one line (:func:`_preflight`); the buffer's size against the training items it
must hold (:func:`check_buffer_size`), and against one simulation when several trainer ranks
draw in lockstep (:func:`check_lockstep_room`); the whole run's items against one batch
(:func:`check_stream_holds_a_batch`); the module's training against the stream's pairs
(:func:`check_one_step_training`); the model against the solver's states and against
``trainer.precision`` (:func:`check_trainer_precision`); ``stats_trajectories`` against the
parameters' normalisation scale it must measure (:func:`check_stats_spread`)."""

from __future__ import annotations

import math

from pdesurrogate.online.errors import UsageError
from pdesurrogate.online.parameter_box import _parameter_box


def _preflight(parser, cfg) -> list[str]:
    """Build, once, what every rank builds from the config (solver, model, parameter box,
    buffer): a bad value then fails here in one line, before an MPI job starts. Returns
    warnings to be shown (settings that work, but not as the user may expect)."""
    from pdesurrogate.streaming import Scheduler, make_buffer

    init = parser.instantiate(cfg)
    if getattr(init.solver, "steady", False):
        raise UsageError(f"online config: solver {init.solver.name} is steady (one solution per "
                         "parameter set, no time steps to stream): online next-step training "
                         "needs a time-dependent solver; for a steady problem write a dataset "
                         "with pdesurrogate generate")
    box = _parameter_box(cfg, init.solver)
    try:
        Scheduler(box, cfg.simulations, cfg.sampling, cfg.seed, cfg.max_retries)
    except ValueError as e:
        raise UsageError(f"online config: parameters: {e}") from None
    check_stream_holds_a_batch(cfg)
    check_one_step_training(init.model)
    _check_model_takes_solver(init.model, init.solver)
    check_trainer_precision(cfg.trainer, init.model)
    max_bytes = None if cfg.buffer.max_mb is None else int(cfg.buffer.max_mb * 1e6)
    try:
        make_buffer(cfg.buffer.kind, capacity=cfg.buffer.capacity,
                    watermark=cfg.buffer.watermark, max_bytes=max_bytes, seed=cfg.seed)
    except ValueError as e:
        raise UsageError(f"online config: buffer: {e}") from None
    return [w for w in (check_buffer_size(cfg, init.solver), check_lockstep_room(cfg, init.solver),
                        check_stats_spread(cfg, box)) if w]


def check_stats_spread(cfg, box: dict[str, tuple[float, float]]) -> str | None:
    """A warning (the text) when ``stats_trajectories`` is 1 and ``box`` (the parameter box,
    ``{name: (low, high)}``) lets a parameter vary: the parameters' normalisation std is
    measured over the statistics trajectories' parameter sets, and one set has no spread, so
    the trainer ranks normalise the parameters by 1 (their scale unmeasured; a viscosity in
    [5e-4, 1e-3] then reaches the model as differences of ~1e-4). None otherwise."""
    varying = [k for k, (lo, hi) in box.items() if hi > lo]
    if cfg.stats_trajectories != 1 or not varying:
        return None
    return (f"stats_trajectories is 1: the normalisation std of the parameters "
            f"({', '.join(varying)}) is measured over the statistics trajectories' parameter "
            f"sets, and one trajectory has one set, with no spread; they are divided by 1 "
            f"instead (unscaled, the model barely tells them apart). Set stats_trajectories: "
            f"2 or more (the shipped configs use 8 to 16)")


def check_stream_holds_a_batch(cfg) -> None:
    """A UsageError where the whole run streams fewer training items (``simulations *
    n_steps`` pairs of consecutive states) than one batch: a trainer rank stops when its
    stream has ended with fewer than ``batch_size`` items (whatever the buffer), so every
    simulation would run and the run then end with no training step."""
    items = cfg.simulations * cfg.n_steps
    if items < cfg.batch_size:
        raise UsageError(
            f"online config: simulations ({cfg.simulations}) x n_steps ({cfg.n_steps}) = "
            f"{items} training pairs in the whole run, fewer than batch_size "
            f"({cfg.batch_size}): no trainer rank could draw a batch, and the run would end "
            "with no training step after every simulation ran; raise simulations or n_steps, "
            "or lower batch_size")


def check_one_step_training(module) -> None:
    """A UsageError where the LightningModule ``module`` trains on rollouts of several steps
    (``rollout_steps`` above 1, as NextStepModule takes it): the stream hands pairs of
    consecutive states, and its first training step failed inside the MPI job (the batch has
    2 frames), after the solvers had started."""
    steps = getattr(module, "rollout_steps", 1)
    if isinstance(steps, int) and not isinstance(steps, bool) and steps > 1:
        raise UsageError(
            f"online config: model.init_args.rollout_steps ({steps}): an online run streams "
            "pairs of consecutive states, so its model trains one step at a time; set "
            "rollout_steps to 1 (and no curriculum), or train on rollouts from a dataset "
            "file with pdesurrogate fit")


# bytes per value of the states the solver ranks send (solver_simulation's float32)
STATE_ITEMSIZE = 4


def check_buffer_size(cfg, solver) -> str | None:
    """``buffer.capacity`` and ``buffer.max_mb`` against the training items they must hold: a
    UsageError when the capacity is below ``batch_size`` in a buffer whose draws remove items
    (fifo, firo), when not even
    one fits (the buffer would refuse the first simulation inside the MPI job), or when fewer
    than ``batch_size`` fit in a buffer whose draws remove items (fifo, firo: full below a
    batch, it can never serve one, and its ``wait_ready`` fails in the middle of the run); a
    warning (the text) when fewer than ``buffer.watermark`` fit (training then starts below
    the watermark: the buffer lowers it while a producer waits for room); None otherwise. An
    item is a :class:`~pdesurrogate.streaming.Pair` of consecutive states ``(C, *grid)``, each
    counted whole: ``2 * C * prod(grid) * 4`` bytes."""
    if cfg.buffer.capacity < cfg.batch_size and _draws_remove(cfg.buffer.kind):
        raise UsageError(
            f"online config: buffer.capacity ({cfg.buffer.capacity}) is below batch_size "
            f"({cfg.batch_size}): a {cfg.buffer.kind} buffer draws each item once, so full "
            f"below a batch it can never serve one; raise buffer.capacity or lower batch_size")
    if cfg.buffer.max_mb is None:
        return None
    max_bytes = int(cfg.buffer.max_mb * 1e6)  # as the trainer ranks build the buffer
    state = (solver.channels, *solver.shape)
    item = 2 * math.prod(state) * STATE_ITEMSIZE
    what = (f"training items of {item:,} bytes (pairs of float32 states of shape "
            f"{state})")
    fits = max_bytes // item
    if fits < 1:
        raise UsageError(f"online config: buffer.max_mb ({cfg.buffer.max_mb:g} MB) holds no "
                         f"{what}; raise it to at least {_mb_holding(item):g}")
    if fits < cfg.batch_size and _draws_remove(cfg.buffer.kind):
        raise UsageError(
            f"online config: buffer.max_mb ({cfg.buffer.max_mb:g} MB) holds {fits} {what}, "
            f"fewer than batch_size ({cfg.batch_size}): a {cfg.buffer.kind} buffer draws each "
            f"item once, so full below a batch it can never serve one; raise buffer.max_mb to "
            f"at least {_mb_holding(cfg.batch_size * item):g} or lower batch_size")
    if fits >= cfg.buffer.watermark:
        return None
    return (f"buffer.max_mb ({cfg.buffer.max_mb:g} MB) holds {fits} {what}, fewer than "
            f"buffer.watermark ({cfg.buffer.watermark}): training will start with {fits} "
            f"item(s), not {cfg.buffer.watermark} (the buffer lowers its watermark while the "
            f"solvers wait for room); raise buffer.max_mb to "
            f"{_mb_holding(cfg.buffer.watermark * item):g} or lower buffer.watermark")


def check_lockstep_room(cfg, solver) -> str | None:
    """A warning (the text) when several trainer ranks draw from fifo or firo buffers that hold
    fewer than ``buffer.watermark + n_steps`` items (one simulation's pairs past the
    watermark); None otherwise. The trainer ranks draw in lockstep, and a simulation is
    committed whole: a rank whose buffer cannot take the next simulation holds the solvers on
    its credits, and if another rank then holds less than a batch, both wait. The receiver
    lets solvers finish past a full buffer within a bound, but a rank whose simulations never
    add up to a batch stalls at it (``stall_timeout``); a reservoir buffer serves a batch from
    what it holds and does not starve."""
    if cfg.trainers < 2 or not _draws_remove(cfg.buffer.kind):
        return None
    held = cfg.buffer.capacity
    if cfg.buffer.max_mb is not None:
        item = 2 * math.prod((solver.channels, *solver.shape)) * STATE_ITEMSIZE
        held = min(held, int(cfg.buffer.max_mb * 1e6) // item)
    need = cfg.buffer.watermark + cfg.n_steps
    if held >= need:
        return None
    what = "buffer.capacity" if held == cfg.buffer.capacity else "buffer.max_mb"
    return (f"{cfg.trainers} trainer ranks draw from {cfg.buffer.kind} buffers that hold "
            f"{held} items ({what}), fewer than buffer.watermark + n_steps ({need}: one "
            f"simulation's pairs past the watermark); the ranks draw in lockstep and a "
            f"simulation is committed whole, so a rank whose buffer is full can hold the "
            f"solvers while another starves, and the run may stall (stall_timeout). Use a "
            f"reservoir buffer, or buffers that hold at least {need} items")


def _draws_remove(kind: str) -> bool:
    """Whether a buffer of ``kind`` removes the items it serves (fifo, firo), so that it must
    hold a whole batch at once; a reservoir serves a batch from fewer, with repetition."""
    from pdesurrogate.streaming import make_buffer

    try:
        return make_buffer(kind, capacity=1).removes_on_get
    except ValueError as e:
        raise UsageError(f"online config: buffer: {e}") from None


def _mb_holding(nbytes: int) -> float:
    """The least ``buffer.max_mb`` of at most 3 significant digits that the trainer ranks turn
    into at least ``nbytes`` bytes (``int(max_mb * 1e6)``: a value printed rounded down, or
    one a float makes a byte short, would still be refused)."""
    mb = float(f"{nbytes / 1e6:.3g}")
    while int(mb * 1e6) < nbytes:  # one unit up in the third digit (its place may move up)
        mb = float(f"{mb + 10.0 ** (math.floor(math.log10(mb)) - 2):.3g}")
    return mb


def check_trainer_precision(trainer, module) -> None:
    """``trainer.precision`` (``trainer``: the config's ``trainer`` group) against the
    LightningModule ``module``: a UsageError with the module's own refusal (its
    ``check_trainer_precision``, as NextStepModule has) where the precision casts the weights
    to a dtype the model cannot run or train in; else it would fail in the trainer rank's
    setup, after the job started and wrote ``OUT``. Lightning's aliases (64 for 64-true) are
    read as Lightning reads them; a value Lightning refuses is left to it."""
    from lightning.fabric.plugins.precision import precision as lightning_precision

    # Lightning's private alias table: a Lightning without it leaves aliases unread, not
    # every online run broken
    ALIASES = getattr(lightning_precision, "_PRECISION_INPUT_STR_ALIAS_CONVERSION", {})
    precision = str(trainer.get("precision"))
    check = getattr(module, "check_trainer_precision", None)
    if not callable(check):
        return
    try:
        check(ALIASES.get(precision, precision), "fit")
    except ValueError as e:
        raise UsageError(f"online config: {e}") from None


def _check_model_takes_solver(module, solver) -> None:
    """One forward pass of ``module`` on a zero state of the solver's shape ``(1, C, *grid)``
    with its parameters: a model built for other channels, grid dimension, parameters or
    window sizes fails here, in one line, instead of in the trainer rank after the job has
    started."""
    import inspect

    import torch

    grid = tuple(len(g) for g in solver.grid)
    names = list(solver.param_names)
    u = torch.zeros(1, solver.channels, *grid)
    params = torch.zeros(1, len(names)) if names else None
    extra = {"lead_time": 1.0} if "lead_time" in inspect.signature(module.forward).parameters \
        else {}
    try:
        with torch.no_grad():
            out = module(u, params, **extra)
        if tuple(out.shape) != tuple(u.shape):
            raise ValueError(f"it returns shape {tuple(out.shape)} for {tuple(u.shape)}")
    except (RuntimeError, ValueError, TypeError) as e:
        raise UsageError(
            f"online config: the model ({type(getattr(module, 'model', module)).__name__}) "
            f"cannot take the solver's states: {solver.channels} channel(s) on a {len(grid)}-D "
            f"grid {grid} with {len(names)} parameter(s) {names}: {e}") from None
