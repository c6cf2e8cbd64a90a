"""The receiver's accounting guards and the trainers' agreement, without mpiexec
(receiver_guards.py runs a Receiver over COMM_SELF in a subprocess, so this process never
starts MPI): a resumed run never commits a simulation twice, a simulation is committed only
if exactly the samples its END announces arrived, a header with a NaN parameter is counted
as malformed and its simulation dropped, and should_continue goes on only if every trainer
rank can draw and none asked to stop."""

import pytest


@pytest.fixture(scope="module")
def runs(run_script) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in run_script("receiver_guards.py"):
        out.setdefault(r.pop("scenario"), []).append(r)
    return out


def test_a_resumed_run_never_commits_a_simulation_twice(runs):
    """Restored with simulation 0 committed, the receiver gets 0, 1 and 2 again: 0 is counted
    a duplicate and none of its samples enter the buffer."""
    (r,) = runs["resume_dup"]
    assert r["sims_duplicate"] == 1 and r["sims_committed"] == 2
    assert r["stored"] == [[s, k] for s in (1, 2) for k in range(3)]
    assert r["committed_sims"] == [0, 1, 2]


def test_a_simulation_commits_only_with_exactly_the_samples_its_end_announces(runs):
    """5 samples with an END of 4, 2 with an END of 3, 4 whose last pack's END flag says 3:
    all three dropped; only the simulation whose END matches is stored. A count mismatch is
    a dropped simulation, not a malformed message."""
    (r,) = runs["end_count"]
    assert r["stored"] == [[1, k] for k in range(3)] and r["committed_sims"] == [1]
    assert r["sims_committed"] == 1 and r["sims_dropped"] == 3
    assert r["malformed"] == 0


def test_a_nan_parameter_is_malformed_and_drops_its_simulation(runs):
    """Both DATA headers of simulation 5 carry nu = NaN: 2 malformed (non_finite_meta),
    simulation 5 dropped at its END, the next simulation stored as usual."""
    (r,) = runs["nan_params"]
    assert r["malformed_by_reason"] == {"non_finite_meta": 2} and r["malformed"] == 2
    assert r["sims_dropped"] == 1 and r["sims_committed"] == 1
    assert r["stored"] == [[6, 0], [6, 1]] and r["params"] == [0.5]


def test_trainers_go_on_only_if_every_rank_can_and_none_stops(runs):
    """should_continue with a second trainer rank: True only when both can draw and neither
    asked to stop; a rank whose stream ended empty ends training on both; a stop asked on
    either rank ends it with ``stopped`` set."""
    got = {(r["mine"], tuple(r["other"]), r["stop_here"]): (r["go"], r["stopped"])
           for r in runs["agree"]}
    assert got == {
        ("ready", (1, 2), False): (True, False),
        ("ready", (0, 2), False): (False, False),  # the other rank's stream ended
        ("ended", (1, 2), False): (False, False),  # this rank's stream ended
        ("ready", (1, 0), False): (False, True),  # the other rank asked to stop
        ("ready", (1, 2), True): (False, True),  # this rank asked to stop
    }


def test_a_split_header_announcing_a_huge_count_allocates_as_messages_arrive(runs):
    """A split pack header of 1024 samples of 64 KiB whose first message has the wrong size:
    the pack is malformed (payload_size) and its simulation dropped, the stream stays in step
    (the next simulation is stored), and the receiver took at most one chunk of 16 arrays
    from its pool, not 1024 (64 MiB) before any sample had arrived."""
    (r,) = runs["split_huge"]
    assert r["malformed_by_reason"] == {"payload_size": 1} and r["sims_dropped"] == 1
    assert r["stored"] == [[8, 0], [8, 1]] and r["committed_sims"] == [8]
    assert 1 <= r["allocated"] <= 16


def test_a_split_header_with_a_huge_sample_shape_is_malformed_not_allocated(runs):
    """2 samples of 8 TiB announced (nbytes consistent), 8-byte messages sent: counted
    malformed (payload_size) before any array is taken, its simulation dropped, the next
    simulation stored. Before, the receiver asked its pool for the announced arrays first and
    its thread died of MemoryError (the script then exits non-zero)."""
    (r,) = runs["split_huge_shape"]
    assert r["malformed_by_reason"] == {"payload_size": 1} and r["sims_dropped"] == 1
    assert r["stored"] == [[8, 0], [8, 1]] and r["committed_sims"] == [8]


def test_a_stopped_receiver_keeps_its_back_pressure_until_the_freezing_snapshot(runs):
    """Full buffer, stop agreed, 3 more simulations sent: until the stop's freezing snapshot
    none is taken (the scheduler still hands out tasks then: taking them would grow the
    commit queue past the buffer without bound); after it they are discarded, the snapshot
    holds simulation 0's 2 items that did not fit, and the stream ends."""
    assert [r["commit_bytes"] for r in runs["stop_held"]] == [2**20, 1]
    for r in runs["stop_held"]:
        assert r["ended"] is True and r["go"] is False and r["stopped"] is True
        assert r["committed_before_freeze"] == 1
        assert r["snapshot_commit_queue"] == 2 and r["snapshot_committed_sims"] == [0]
        assert r["discarded"] == [1, 2, 3] and r["committed_sims"] == [0]


def test_after_an_agreed_end_a_full_receiver_takes_the_rest_of_its_stream(runs):
    """The other rank's stream ended, this rank's buffer is full with 2 items waiting: the
    ranks agree to end, and the receiver takes simulation 1 and DONE and ends, with 1
    committed whole past the buffer (4 items not buffered), also with commit_bytes 1 (the
    waiting items' bytes used to stop the loop taking any message, and join hung)."""
    assert [r["commit_bytes"] for r in runs["end_held"]] == [2**20, 1]
    for r in runs["end_held"]:
        assert r["go"] is False and r["ended"] is True and r["end_agreed"] is True
        assert r["committed_sims"] == [0, 1] and r["items_not_buffered"] == 4


def test_the_buffer_counts_the_bytes_its_items_hold(runs):
    """The receiver hands the buffer each item's size, one per simulation, instead of the
    buffer asking each item: the counts must be the items' own, for samples and for pairs
    (two fields each)."""
    for name in ("resume_dup", "end_count", "nan_params"):
        (r,) = runs[name]
        assert r["nbytes"][0] == r["nbytes"][1] > 0, name
    (r,) = runs["pair_bytes"]
    assert r["pairs"] == [[4, 0], [4, 1], [8, 0]]
    assert r["nbytes"] == [3 * 2 * 4 * 4] * 2  # 4-point float32 fields (receiver_guards.py)
