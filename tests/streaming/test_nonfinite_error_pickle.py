"""``NonFiniteFieldsError`` is a ``SolverDivergedError`` with arguments of its own: pickled and
back (from a worker process) it is the same error, and it has the attributes every
``SolverDivergedError`` has (``params``, ``hint``), so code that handles any divergence can
read them."""

import pickle

from pdesurrogate.solvers.base import SolverDivergedError
from pdesurrogate.streaming.client import NonFiniteFieldsError


def test_pickled_and_back_it_is_the_same_error_with_every_divergence_attribute():
    e = NonFiniteFieldsError(7, 3, 0.25)
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is NonFiniteFieldsError and isinstance(back, SolverDivergedError)
    assert str(back) == str(e) == "simulation 7: NaN/inf in the fields sent at step 3 (t=0.25)"
    assert (back.sim_id, back.step, back.time, back.reason) == (7, 3, 0.25, "NaN/inf")
    assert (back.params, back.hint) == ({}, "")
