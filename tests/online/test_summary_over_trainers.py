"""``summary.json`` of a run with two trainer ranks (``_finish`` on trainer rank 0, the other
rank's record gathered; fakes stand in for the receiver and the communicator, no MPI): the
trainer idle fraction is the mean over the ranks, while samples and rates are added up."""

import json
from collections import defaultdict
from types import SimpleNamespace

import pytest

from pdesurrogate.online.summary import _finish
from pdesurrogate.streaming import Scheduler


class FakeReceiver:
    """A receiver's counters: the given ones, 0 for every other key ``stats()`` has."""

    def __init__(self, committed, **counts):
        self.committed_sims, self.discarded_sims, self.dropped_sims = set(committed), set(), set()
        self._counts = counts
        self.buffer = SimpleNamespace(stats=dict)

    def stats(self):
        return defaultdict(int, self._counts)


def rank_record(rank, receiver, idle):
    return {"rank": rank, "receiver": receiver.stats(), "prior": {"samples": 0, "bytes": 0},
            "buffer": {}, "monitor": {"idle_fraction": idle},
            "committed_sims": sorted(receiver.committed_sims), "discarded_sims": [],
            "dropped_sims": []}


def test_the_idle_fraction_is_the_mean_over_trainer_ranks(tmp_path):
    scheduler = Scheduler({"beta": (0.2, 1.0)}, 2)
    for _ in range(2):
        scheduler.report_done(scheduler.next_task(n_trainers=2).sim_id)
    mine = FakeReceiver([0], samples=7, samples_per_s=2.0)
    other = rank_record(1, FakeReceiver([1], samples=5, samples_per_s=3.0), idle=0.5)
    comm = SimpleNamespace(gather=lambda record, root: [record, other])
    _finish(tmp_path, SimpleNamespace(resume=False, simulations=2, n_steps=6),
            SimpleNamespace(global_step=3), mine, SimpleNamespace(summary={"idle_fraction": 0.1}),
            SimpleNamespace(comm=comm, rank_in_role=0), scheduler, 1.0, "stopped",
            "a stop signal", None, {"samples": 0, "bytes": 0})
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["idle_fraction"] == pytest.approx(0.3, rel=1e-12)
    assert (s["samples_received"], s["samples_per_s"]) == (12, 5.0)
    assert s["committed_sim_ids"] == [0, 1] and s["undelivered_sim_ids"] == []
