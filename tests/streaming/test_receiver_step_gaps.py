"""A simulation whose steps are not consecutive (a loop numbering its saved states by iteration:
0, 10, 20, ...) gives fewer training pairs, or none: the receiver says so once per run, naming
the simulation, its steps and the fix. Before, such a run trained on nothing, silently. A
Receiver that is never started needs no communicator, so this runs without MPI."""

import numpy as np

from pdesurrogate.streaming import FIFOBuffer, Receiver, Sample
from pdesurrogate.streaming.receiver import _Pending


def _end(r: Receiver, src: int, sim: int, steps: list[int]) -> None:
    pend = _Pending(sim)
    pend.samples = [Sample(np.zeros(8, np.float32), 0.1 * k, {"nu": 0.5}, sim, k) for k in steps]
    pend.nbytes = 32 * len(steps)
    r._pending[src] = pend
    r._on_end(src, sim, len(steps))


def _receiver(pairs: bool = True) -> Receiver:
    return Receiver(None, FIFOBuffer(capacity=100, watermark=1), [1, 2], ["nu"], pairs=pairs,
                    abort_on_error=False, switch_interval_s=None)


def test_steps_with_gaps_are_said_once_with_the_fix(capsys):
    r = _receiver()
    _end(r, 1, 7, [0, 1, 2, 3])  # consecutive: 3 pairs, nothing said
    assert capsys.readouterr().err == ""
    _end(r, 2, 8, [0, 10, 20, 30, 40, 50, 60, 70])
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert ("[receiver] simulation 8 from rank 2: steps 0, 10, 20, 30, 40, 50, ... are not "
            "consecutive, so its 8 samples made 0 training pair(s) of step k and k+1 instead "
            "of 7; number the saved states 0, 1, 2, ... (e.g. step=n // save_every)") in err
    _end(r, 1, 9, [0, 2, 4])
    assert capsys.readouterr().err == ""  # once per run
    assert len(r._commit) == 3 and r.stats()["sims_committed"] == 3


def test_one_missing_step_is_said_too_and_single_samples_need_no_order(capsys):
    r = _receiver()
    _end(r, 1, 3, [0, 1, 3, 4])
    assert "steps 0, 1, 3, 4 are not consecutive, so its 4 samples made 2 training pair(s)" \
        in capsys.readouterr().err
    r = _receiver(pairs=False)  # items are single samples: steps need not be consecutive
    _end(r, 1, 3, [0, 10, 20])
    assert capsys.readouterr().err == "" and len(r._commit) == 3
