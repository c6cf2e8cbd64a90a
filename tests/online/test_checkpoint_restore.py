"""What a ``--resume`` reads from ``checkpoint/`` before training (no MPI job runs here): a
manifest whose counts are out of range is refused naming the key, and the stream state of
every trainer rank counts: a simulation any rank committed is done, so none is trained on
twice, and each done simulation still counts for the trainer it went to."""

import json

import pytest
import torch

from pdesurrogate.online import UsageError
from pdesurrogate.online.checkpoint import _read_manifest, _restore
from pdesurrogate.streaming import Scheduler

GOOD = {"trainers": 1, "global_step": 1, "simulations": 4, "committed": 0}


@pytest.mark.parametrize(("bad", "value"), [("trainers", 0), ("trainers", True),
                                            ("global_step", -1), ("simulations", -1),
                                            ("committed", -1), ("committed", 1.5)])
def test_a_manifest_count_out_of_range_is_refused_naming_the_key(tmp_path, bad, value):
    (tmp_path / "manifest.json").write_text(json.dumps({**GOOD, bad: value}))
    with pytest.raises(UsageError, match=rf"wrong or missing: {bad}\)"):
        _read_manifest(tmp_path)


def test_the_lowest_counts_are_a_manifest(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps(GOOD | {"global_step": 0}))
    assert _read_manifest(tmp_path)["trainers"] == 1


class FakeRoles:
    """Trainer rank ``rank_in_role`` of ``size`` (``_restore`` reads ``comm.size`` alone)."""

    def __init__(self, size: int, rank: int):
        self.comm = type("Comm", (), {"size": size})()
        self.rank_in_role = rank


def test_a_resume_counts_every_trainers_committed_simulations_done(tmp_path):
    box = {"beta": (0.2, 1.0)}
    run = Scheduler(box, 6, "halton", 0, 2)
    tasks = [run.next_task(rank=2, n_trainers=2) for _ in range(4)]
    mine = {t: sorted(task.sim_id for task in tasks if task.trainer == t) for t in (0, 1)}
    assert mine[0] and mine[1]  # the scheduler spread them over both trainers
    for sim in mine[0]:  # rank 0's commits reached the scheduler before the checkpoint,
        run.report_done(sim)  # rank 1's were still in flight there
    ck = tmp_path / "checkpoint"
    ck.mkdir()
    (ck / "manifest.json").write_text(json.dumps(
        {"trainers": 2, "global_step": 3, "simulations": 6, "committed": 4}))
    state = run.state_dict()
    for r in (0, 1):
        torch.save({"committed_sims": mine[r], "scheduler": state,
                    "received": {"samples": 7 * len(mine[r]), "bytes": 1}},
                   ck / f"stream-trainer{r}.pt")
    restored = []
    receiver = type("Receiver", (), {"restore": staticmethod(restored.append)})()
    scheduler = Scheduler(box, 6, "halton", 0, 2)
    _, prior = _restore(tmp_path, FakeRoles(2, 1), receiver, scheduler,
                        lambda weights_only=True: None)
    assert scheduler.done == {0, 1, 2, 3}
    # each done simulation still counts for the trainer it went to
    assert scheduler.assigned == {t.sim_id: t.trainer for t in tasks}
    assert [t.sim_id for t in iter(lambda: scheduler.next_task(n_trainers=2), None)] == [4, 5]
    # rank 1 gets its own stream state and what it had received
    assert restored[0]["committed_sims"] == mine[1]
    assert prior == {"samples": 7 * len(mine[1]), "bytes": 1}
