"""``Scheduler.load_state_dict`` as a resume uses it: an abandoned simulation is never handed
out again (the docstring's promise), and a state saved for another parameter box is refused."""

import pytest

from pdesurrogate.streaming import Scheduler

BOX = {"nu": (0.01, 0.1), "beta": (-1.0, 1.0)}


def test_a_resume_never_reruns_an_abandoned_simulation():
    s = Scheduler(BOX, n_simulations=3, seed=0, max_retries=0)
    s.report_failed(s.next_task().sim_id)
    assert s.abandoned == {0}
    r = Scheduler(BOX, n_simulations=3, seed=0, max_retries=0)
    r.load_state_dict(s.state_dict())
    assert r.abandoned == {0}
    assert [t.sim_id for t in iter(r.next_task, None)] == [1, 2]


def test_a_state_of_another_box_is_refused():
    state = Scheduler(BOX, 3).state_dict()
    with pytest.raises(ValueError, match=r"param_box .* differs from"):
        Scheduler({"nu": (0.01, 0.2), "beta": (-1.0, 1.0)}, 3).load_state_dict(state)
