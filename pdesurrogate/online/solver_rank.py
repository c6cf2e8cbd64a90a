"""A solver rank (:func:`run_solver`): the config's solver alone, running the simulations the
scheduler hands it and streaming their samples to the trainer ranks."""

from __future__ import annotations


def build_solver(cfg):
    """The config's solver alone, built as the full parser builds it (the same class and
    arguments): what a solver rank needs, without the model, whose build imports its
    libraries (neuraloperator, ...) and holds its weights in every solver rank."""
    from jsonargparse import ArgumentParser, Namespace

    from pdesurrogate.solvers import Solver

    p = ArgumentParser()
    p.add_subclass_arguments(Solver, "solver", required=True)
    return p.instantiate(Namespace(solver=cfg.solver)).solver


def run_solver(cfg, roles, solver, names) -> int:
    from pdesurrogate.online.errors import UsageError
    from pdesurrogate.streaming import run_solver_rank, solver_simulation
    from pdesurrogate.streaming.client import DEFAULT_MAX_PACK_AGE_S
    from pdesurrogate.streaming.sample import BadSampleError

    simulate = solver_simulation(solver, cfg.n_steps, cfg.dt)
    # any exception of a simulation (divergence or a solver error) fails that simulation: the
    # scheduler reruns it with a new seed, at most max_retries times
    # a slow solver's packs go at least every few seconds, well within the trainer's
    # stall_timeout: otherwise a simulation of small fields longer than it is one silent pack
    age = DEFAULT_MAX_PACK_AGE_S
    if cfg.stall_timeout is not None:
        age = min(age, cfg.stall_timeout / 4)
    try:
        run_solver_rank(roles, simulate, names, credits=cfg.credits,
                        window_bytes=max(1, int(cfg.window_mb * 2**20)),
                        pack_bytes=cfg.pack_kb * 1024, retry_on=(Exception,),
                        max_pack_age_s=age, chain_s=cfg.chain_ms / 1000)
    except BadSampleError as err:
        # the config's solver breaks the Solver contract (a state of another shape or dtype):
        # one line naming it, as for a bad config value, not a traceback through the stream
        raise UsageError(str(err)) from None
    return 0
