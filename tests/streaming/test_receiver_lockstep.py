"""Lockstep training on uneven streams (receiver_lockstep.py runs should_continue over
COMM_SELF with a fake second trainer rank, in a subprocess): a rank starving below its
watermark while another rank's receiver waits for room in its full buffer draws what it
holds instead of waiting for the stall timeout, and a stall error names the other rank's
full buffer and this rank's size and watermark."""

import pytest


@pytest.fixture(scope="module")
def runs(run_script) -> list[dict]:
    return run_script("receiver_lockstep.py")


def test_a_starving_rank_draws_what_it_holds_while_another_waits_for_room(runs):
    """2 items held of a watermark of 5, the other rank's receiver waiting for room: the
    ranks agree to go on after one waiting round (watermark lowered to 1, the buffer's
    watermark attribute unchanged), well within the 3 s stall timeout, and the batch is
    drawable at once."""
    blocked = runs[0]
    assert blocked["go"] is True and blocked["error"] == ""
    assert blocked["rounds"] == 2 and blocked["seconds"] < 2
    assert blocked["lowered"] is True and blocked["watermark"] == 5
    assert blocked["drawable"] == [True]


def test_the_watermark_comes_back_only_before_the_next_vote(runs):
    """The round that agrees to go on also agrees that no receiver waits for room any more.
    This rank voted ready on the lowered watermark, so the batch must still be drawable (if
    the watermark were restored at once, the draw would wait for 5 items, with no stall
    timeout, while the other rank trains on). The next call votes on the watermark of 5
    again: 1 item held, so it waits until the stall timeout."""
    freed = runs[1]
    assert freed["drawable"] == [True]
    assert freed["go"] is None and "buffer holds 1 items, watermark 5" in freed["error"]
    assert freed["lowered"] is False


def test_without_a_full_buffer_elsewhere_the_watermark_holds(runs):
    """Nobody waits for room: the rank keeps waiting for its watermark until stall_timeout,
    and the error names this rank's size and watermark."""
    r = runs[2]
    assert r["go"] is None and r["lowered"] is False
    assert "buffer holds 2 items, watermark 5" in r["error"]
    assert "a trainer rank's receiver waits for room" not in r["error"]


def test_a_stall_with_a_full_buffer_elsewhere_says_so(runs):
    """Nothing held (less than a batch): lowering the watermark cannot help; after the stall
    timeout the error says a trainer rank's receiver waits for room in its full buffer,
    besides the dead-solver causes."""
    r = runs[3]
    assert r["go"] is None
    assert "a trainer rank's receiver waits for room in its full buffer" in r["error"]
    assert "another trainer rank's full buffer may hold the solvers" in r["error"]
    assert "buffer holds 0 items, watermark 5" in r["error"]


def test_a_rank_whose_receiver_failed_votes_before_it_raises(runs):
    """Before, it raised before the ranks' vote, so with abort_on_error=False (library use)
    the other trainer ranks waited in that vote for ever. Now it votes "failed" first, then
    raises its own error."""
    r = runs[4]
    assert r["here"] is True and r["go"] is None
    assert r["rounds"] == 1
    assert "the receiver thread failed" in r["error"] and "OSError" in r["error"]


def test_a_rank_learns_from_the_vote_that_another_rank_failed(runs):
    """Before, a rank whose data was ready went on training (should_continue returned True)
    while the other rank had raised, and then waited for it in the next vote for ever."""
    r = runs[5]
    assert r["here"] is False and r["go"] is None and r["rounds"] == 1
    assert "another trainer rank failed" in r["error"], r["error"]
