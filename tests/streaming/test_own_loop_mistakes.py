"""What a scientist's own time loop gets wrong, refused by StreamClient with one
BadSampleError naming the value and what was expected, before anything is sent: parameters
given as a list or as a tensor of several values, a torch dtype numpy lacks, a big-endian
state (which went byte-swapped); run_solver_rank ends the rank on such an error instead of
retrying it for every simulation, and solver_simulation names a Solver whose advance breaks
the contract.
The checks raise before the client touches its communicator, so clients without one
(comm=None) run in this process without MPI."""

import re
from types import MappingProxyType, SimpleNamespace

import numpy as np
import pytest
import torch

from pdesurrogate.solvers import Advection1D
from pdesurrogate.streaming import StreamClient, solver_simulation
from pdesurrogate.streaming import client as client_module
from pdesurrogate.streaming.sample import BadSampleError
from pdesurrogate.streaming.scheduler import Task


def _client() -> StreamClient:
    client = StreamClient(None, [0], ["nu"])
    client.open(7, {"nu": 0.1})
    return client


@pytest.mark.parametrize("params, match", [
    ([0.1], "params must be a mapping name -> number, e.g. {'nu': 0.1}, got list [0.1]"),
    ({"nu": torch.tensor([0.1, 0.2])}, "parameter 'nu' must be one number, got tensor("),
    ({"nu": "fast"}, "parameter 'nu' must be one number, got 'fast'"),
    ({"kappa": 0.1}, "params must have exactly the names ['nu'] (the client's param_names), "
                     "got ['kappa']: missing ['nu'], unexpected ['kappa']"),
    ({"nu": 0.1, "kappa": 0.2}, "params must have exactly the names ['nu'] (the client's "
                                "param_names), got ['kappa', 'nu']: missing [], unexpected "
                                "['kappa']"),
    ({"nu": float("nan")}, "parameter 'nu' must be finite, got nan"),
    ({"nu": np.float32("inf")}, "parameter 'nu' must be finite, got inf"),
])
def test_open_names_the_parameter_that_is_not_one_number(params, match):
    client = StreamClient(None, [0], ["nu"])
    with pytest.raises(BadSampleError, match=re.escape(match)):
        client.open(7, params)
    assert client._sim is None  # nothing opened: the loop may open it again, fixed
    client.open(7, {"nu": torch.tensor([0.25])})  # one number, in a tensor, goes
    assert client._values == [0.25]


def test_open_takes_any_mapping_of_the_names():
    client = StreamClient(None, [0], ["nu", "kappa"])
    client.open(7, MappingProxyType({"kappa": np.float64(2.0), "nu": 1}))
    assert client._values == [1.0, 2.0] and all(type(v) is float for v in client._values)


def test_a_torch_dtype_numpy_lacks_is_refused_naming_it():
    client = _client()
    with pytest.raises(BadSampleError, match=re.escape(
            "simulation 7: fields dtype must be float16, float32 or float64, got "
            "torch.bfloat16 at step 3 (e.g. u.float())")):
        client.send(torch.zeros(1, 8, dtype=torch.bfloat16), t=0.0, step=3)


def test_big_endian_states_go_as_the_values_they_hold():
    """A state read from a big-endian file: a pack's bytes are what the trainer reads as
    little-endian, the wire's order. They went byte-swapped (0, 1, 2 arrived as 0, 3e-319,
    3e-322), flagged finite, so nothing caught them."""
    client = _client()
    u = np.arange(8, dtype=">f8")[None]
    client.send(u, t=0.0)
    client.send(u + 1, t=0.1)  # a native float64: the same simulation's dtype
    p = client._pack
    assert p.n == 2
    wire = p.buffer[: 2 * u.nbytes].view("<f8").reshape(2, 1, 8)
    np.testing.assert_array_equal(wire, [u, u + 1])


def test_bad_samples_are_not_retried_whatever_retry_on_says(monkeypatch):
    """run_solver_rank with retry_on=(Exception,), as pdesurrogate online runs it: a state of
    the wrong dtype ends the rank with the error at the first simulation, where it was
    failed and resubmitted for every simulation of the budget until none was left."""
    asked = []

    class Tasks:
        def __init__(self, *args, **kwargs):
            pass

        def request(self, prev, outcome):
            asked.append((prev, outcome))
            return Task(sim_id=len(asked) - 1, params={"nu": 0.5}, seed=len(asked))

    monkeypatch.setattr(client_module, "TaskClient", Tasks)
    roles = SimpleNamespace(is_trainer=False, control=None, data=None, scheduler_rank=0,
                            trainer_ranks=(0,), world=SimpleNamespace(rank=1))

    def simulate(task, client):
        client.send(np.zeros((1, 8), np.int32), t=0.0)

    with pytest.raises(BadSampleError, match="fields dtype must be float16, float32 or "
                                             "float64, got int32 at step 0"):
        client_module.run_solver_rank(roles, simulate, ["nu"], retry_on=(Exception,))
    assert len(asked) == 1


class _DoubleAdvection(Advection1D):
    """A user's solver whose advance returns float64 states from float32 ones."""

    def advance(self, u, params, duration):
        return super().advance(u, params, duration).double()


class _ShortAdvection(Advection1D):
    """A user's solver whose sample returns states one point short of its grid."""

    def sample(self, n, seed, dtype=torch.float32, device="cpu"):
        u, p = super().sample(n, seed, dtype, device)
        return u[..., :-1], p


@pytest.mark.parametrize("cls, match", [
    (_DoubleAdvection, "advance returned torch.float64 states of shape (1, 1, 16) at step 1, "
                       "expected torch.float32 states of shape (1, 1, 16)"),
    (_ShortAdvection, "sample returned torch.float32 states of shape (1, 1, 15) at step 0, "
                      "expected torch.float32 states of shape (1, 1, 16)"),
])
def test_solver_simulation_names_a_solver_that_breaks_the_contract(cls, match):
    simulate = solver_simulation(cls(n_points=16), n_steps=2, dt=0.01)
    client = _client()
    with pytest.raises(BadSampleError, match=re.escape(
            f"solver advection1d ({__name__}.{cls.__qualname__}): {match}")):
        simulate(Task(sim_id=7, params={"beta": 0.5}, seed=1), client)
