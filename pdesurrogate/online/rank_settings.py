"""What a rank of the MPI job parses (:func:`rank_settings`): every rank the settings without the
model and the trainer, which need no Lightning; the trainer ranks then the whole config.

A solver rank never trains, and Lightning (with the model's libraries) added ~130 MB (of
~446 MB) to each solver rank of the tiny test run; a node may run dozens. The whole parse finds
what the other cannot (a misspelt model key, a trainer setting an online run refuses) on the
trainer ranks alone, after MPI has started: world rank 0 tells every rank whether it failed,
reports the error once, and every rank ends, none left waiting in MPI for a rank that has
exited.
"""

from __future__ import annotations

import sys

from pdesurrogate.online.parser import _check, _check_settings, _parse

# the exit status of every rank but world rank 0 when world rank 0 found a config error
# (rank 0 prints it and exits with the command's status for a bad config value: 2)
CONFIG_ERROR = 2


def rank_settings(argv: list[str]):
    """``(parser, cfg)`` of this rank: on a trainer rank (world rank < ``trainers``) the whole
    parser and settings, checked as outside MPI; on a solver rank those of the parser without
    Lightning (``model`` and ``trainer`` unchecked). ``None`` on a rank that is to exit with
    :data:`CONFIG_ERROR` because world rank 0 found a config error, which world rank 0 raises.

    Collective over ``COMM_WORLD``, which it initialises (``MPI_THREAD_MULTIPLE``, as
    :func:`~pdesurrogate.streaming.split_roles` would). An error the parse without Lightning
    finds is raised on every rank before MPI starts: every rank finds it, and none waits."""
    from pdesurrogate.streaming.roles import mpi

    light_parser, light, argv = _parse(argv, lightning=False)
    _check_settings(light)
    world = mpi().COMM_WORLD
    if world.rank >= light.trainers:
        return None if _from_rank_0(world, False) else (light_parser, light)
    error = None
    try:
        parser, cfg, _ = _parse(argv)
        _check(cfg)
    except BaseException as e:  # noqa: B036 - whatever it is, the other ranks must hear of it
        error = e
    failed = _from_rank_0(world, error is not None)
    if error is None and not failed:
        return parser, cfg
    if world.rank == 0:
        raise error
    if failed:
        return None
    # rank 0 parsed the same files fine (changed meanwhile?): this rank alone cannot go on
    print(f"[online rank {world.rank} (trainer)] error: {error}; aborting the MPI job",
          file=sys.stderr, flush=True)
    world.Abort(1)
    return None


def _from_rank_0(world, value: bool) -> bool:
    """World rank 0's ``value``, on every rank (collective). Waited for with naps
    (:func:`~pdesurrogate.streaming.polling.poll_until`), not MPI's busy wait: the solver ranks
    wait here while the trainer ranks import Lightning and parse (seconds), on cores those
    need."""
    import numpy as np

    from pdesurrogate.streaming.polling import poll_until

    flag = np.array([value], np.int8)
    request = world.Ibcast(flag, root=0)
    poll_until(request.Test)
    return bool(flag[0])
