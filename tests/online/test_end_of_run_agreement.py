"""The end of an online run is decided together by the trainer ranks (``_undelivered``, on
trainer rank 0 with the other rank's record gathered; fakes stand in for the receiver and the
communicator, no MPI): when a trainer limit met one rank whose stream had ended and another
whose stream was still open, the run ended by that limit on both, so that no rank alone
writes the incomplete run's checkpoint (a collective) while the other goes on."""

from types import SimpleNamespace

import pytest

from pdesurrogate.online.summary import _undelivered
from pdesurrogate.streaming import Scheduler


def end_of_run(mine_ended: bool, other_ended: bool, other_committed: list[int]):
    """_undelivered on rank 0 (committed 0 and 1 of 4; the scheduler abandoned 3)."""
    scheduler = Scheduler({"beta": (0.2, 1.0)}, 4, max_retries=0)
    for _ in range(4):
        task = scheduler.next_task(n_trainers=2)
        if task.sim_id == 3:
            scheduler.report_failed(3)
        else:
            scheduler.report_done(task.sim_id)
    comm = SimpleNamespace(gather=lambda record, root: [record, (other_committed, other_ended)],
                           bcast=lambda value, root: value)
    receiver = SimpleNamespace(committed_sims={0, 1})
    return _undelivered(SimpleNamespace(comm=comm, rank_in_role=0), receiver, scheduler, 4,
                        mine_ended)


@pytest.mark.parametrize(("mine", "other", "ended"), [
    (True, True, True), (True, False, False), (False, True, False), (False, False, False)])
def test_the_stream_ended_only_if_it_ended_on_every_trainer_rank(mine, other, ended):
    """Simulation 2 was neither committed nor abandoned (the other rank's frozen receiver
    discarded it): the run is incomplete only if every rank's stream ended; if one rank's
    had not, the limit ended the run, whatever this rank saw."""
    assert end_of_run(mine, other, []) == ([2], ended)


def test_every_simulation_committed_or_abandoned_leaves_none_undelivered():
    assert end_of_run(True, True, [2]) == ([], True)
