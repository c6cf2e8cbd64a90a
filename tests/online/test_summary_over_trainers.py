"""``summary.json`` of a run with two trainer ranks (``_finish`` on trainer rank 0, the other
rank's record gathered; fakes stand in for the receiver and the communicator, no MPI): the
trainer idle fraction is the mean over the ranks, while samples and rates are added up; the
ranks' discarded and dropped simulations are listed once, for the run."""

import json
from collections import defaultdict
from types import SimpleNamespace

import pytest

from pdesurrogate.online.summary import _finish
from pdesurrogate.streaming import Scheduler


class FakeReceiver:
    """A receiver's counters: the given ones, 0 for every other key ``stats()`` has."""

    def __init__(self, committed, discarded=(), dropped=(), **counts):
        self.committed_sims = set(committed)
        self.discarded_sims, self.dropped_sims = set(discarded), set(dropped)
        self._counts = counts
        self.buffer = SimpleNamespace(stats=dict)

    def stats(self):
        return defaultdict(int, self._counts)


def rank_record(rank, receiver, idle):
    return {"rank": rank, "receiver": receiver.stats(), "prior": {"samples": 0, "bytes": 0},
            "buffer": {}, "monitor": {"idle_fraction": idle},
            "committed_sims": sorted(receiver.committed_sims),
            "discarded_sims": sorted(receiver.discarded_sims),
            "dropped_sims": sorted(receiver.dropped_sims)}


def finish_two_ranks(tmp_path, mine: FakeReceiver, other: FakeReceiver, simulations: int,
                     scheduler, idle=(0.1, 0.5)) -> dict:
    """``summary.json`` as trainer rank 0 writes it, holding ``mine`` with ``idle[0]``, with
    rank 1's record (``other``, ``idle[1]``) gathered, after a stop."""
    record = rank_record(1, other, idle=idle[1])
    comm = SimpleNamespace(gather=lambda own, root: [own, record])
    _finish(tmp_path, SimpleNamespace(resume=False, simulations=simulations, n_steps=6),
            SimpleNamespace(global_step=3), mine,
            SimpleNamespace(summary={"idle_fraction": idle[0]}),
            SimpleNamespace(comm=comm, rank_in_role=0), scheduler, 1.0, "stopped",
            "a stop signal", None, {"samples": 0, "bytes": 0})
    return json.loads((tmp_path / "summary.json").read_text())


def test_the_idle_fraction_is_the_mean_over_trainer_ranks(tmp_path):
    scheduler = Scheduler({"beta": (0.2, 1.0)}, 2)
    for _ in range(2):
        scheduler.report_done(scheduler.next_task(n_trainers=2).sim_id)
    s = finish_two_ranks(tmp_path, FakeReceiver([0], samples=7, samples_per_s=2.0),
                         FakeReceiver([1], samples=5, samples_per_s=3.0), 2, scheduler)
    assert s["idle_fraction"] == pytest.approx(0.3, rel=1e-12)
    assert (s["samples_received"], s["samples_per_s"]) == (12, 5.0)
    assert s["committed_sim_ids"] == [0, 1] and s["undelivered_sim_ids"] == []


def test_discarded_and_dropped_simulations_are_listed_once_for_the_run(tmp_path):
    """Rank 0 discarded 2 and dropped 4, rank 1 discarded 3 and dropped 5 (simulations 0 and
    1 committed): the run's lists hold them all, and the ranks' records only count them. Each
    rank's committed ids stay in its record (which rank trained on which simulation)."""
    scheduler = Scheduler({"beta": (0.2, 1.0)}, 6, max_retries=0)
    mine = FakeReceiver([0], discarded=[2], dropped=[4], sims_discarded=1, sims_dropped=1)
    other = FakeReceiver([1], discarded=[3], dropped=[5], sims_discarded=1, sims_dropped=1)
    s = finish_two_ranks(tmp_path, mine, other, 6, scheduler)
    assert (s["discarded_sim_ids"], s["dropped_sim_ids"]) == ([2, 3], [4, 5])
    assert (s["sims_discarded"], s["sims_dropped"]) == (2, 2)
    assert s["committed_sim_ids"] == [0, 1] and s["undelivered_sim_ids"] == [2, 3, 4, 5]
    for rank, t in enumerate(s["trainers"]):
        assert t["rank"] == rank and t["committed_sims"] == [rank]
        assert (t["receiver"]["sims_discarded"], t["receiver"]["sims_dropped"]) == (1, 1)
        # the ids are in the run's lists, not again here
        assert "discarded_sims" not in t and "dropped_sims" not in t
