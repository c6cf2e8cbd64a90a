"""``Surrogate.rollout`` writes each step into one preallocated output: the same values as a
loop of ``predict``, and no second copy of the output alive at its peak."""

import weakref

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from pdesurrogate import load
from pdesurrogate.export import export_surrogate
from pdesurrogate.models import FNO
from pdesurrogate.training import NextStepModule


@pytest.fixture(scope="module")
def surrogate(tmp_path_factory):
    """A tiny 1-D FNO (2 channels, 8 points) with normalization statistics and a residual step."""
    torch.manual_seed(0)
    m = NextStepModule(FNO(2, 2, n_modes=[4], hidden_channels=4, n_layers=1, n_params=1))
    m.data_info = {"pde": "toy", "grid_shape": [8], "channel_names": ["a", "b"],
                   "param_names": ["nu"], "k": 1, "dt": 0.1,
                   "stats": {"mean": [0.5, -1.0], "std": [2.0, 0.25], "param_names": ["nu"],
                             "param_mean": [0.1], "param_std": [0.05]}}
    return load(export_surrogate(m, tmp_path_factory.mktemp("fno") / "model"))


def test_rollout_equals_a_loop_of_predict_bit_for_bit(surrogate):
    rng = np.random.default_rng(1)
    u0 = rng.standard_normal((3, 2, 8)).astype(np.float32)
    nu = np.array([0.05, 0.1, 0.2])
    states = [u0]
    for _ in range(5):
        states.append(surrogate.predict(states[-1], {"nu": nu}))
    expected = np.stack(states, axis=1)
    got = surrogate.rollout(u0, {"nu": nu}, steps=5)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)
    # a torch input gives a torch output; unbatched in, unbatched out
    np.testing.assert_array_equal(surrogate.rollout(torch.from_numpy(u0), {"nu": nu},
                                                    steps=5).numpy(), expected)
    np.testing.assert_array_equal(surrogate.rollout(u0[1], {"nu": nu[1]}, steps=5), expected[1])


class _LiveBytes(TorchDispatchMode):
    """Bytes of tensor storage created inside the mode and still referenced, and their peak.

    A storage counts as freed once no tensor object that the mode saw on it is alive (views
    share their base's storage, so each storage is counted once)."""

    def __init__(self):
        super().__init__()
        self.live, self.peak, self._storages = 0, 0, {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(t, torch.Tensor):
                self._track(t)
        return out

    def _track(self, t: torch.Tensor) -> None:
        key = t.untyped_storage().data_ptr()
        entry = self._storages.get(key)
        if entry is None:
            entry = self._storages[key] = [t.untyped_storage().nbytes(), 0]
            self.live += entry[0]
            self.peak = max(self.peak, self.live)
        entry[1] += 1
        weakref.finalize(t, self._release, key, entry)

    def _release(self, key, entry) -> None:
        entry[1] -= 1
        if entry[1] == 0 and self._storages.get(key) is entry:
            del self._storages[key]
            self.live -= entry[0]


def test_rollout_peak_memory_holds_the_output_once(surrogate):
    """200 steps of a (4, 2, 8) state: the output is 201 states; the model's activations of
    a step are a few states, so a peak under 1.5 outputs means no second copy of it."""
    steps, u0 = 200, torch.randn(4, 2, 8)
    output_bytes = (steps + 1) * u0.numel() * 4
    with _LiveBytes() as mode:
        y = surrogate.rollout(u0, {"nu": torch.full((4,), 0.1)}, steps=steps)
    assert y.shape == (4, steps + 1, 2, 8)
    assert output_bytes <= mode.peak < 1.5 * output_bytes, (mode.peak, output_bytes)


def test_a_model_state_of_another_shape_is_refused_not_broadcast(surrogate, monkeypatch):
    """A model that returns one channel of two would broadcast into the preallocated output
    without a word; rollout names the shapes instead (torch.stack refused it before)."""
    step = surrogate._step
    monkeypatch.setattr(surrogate, "_step", lambda z, *a: step(z, *a)[:, :1])
    u0 = np.zeros((3, 2, 8), np.float32)
    with pytest.raises(ValueError, match=r"shape \(3, 1, 8\) at step 1, expected the input's "
                                         r"\(3, 2, 8\)"):
        surrogate.rollout(u0, {"nu": np.full(3, 0.1)}, steps=2)


def test_iterate_yields_the_rollout_one_state_at_a_time(surrogate):
    """iterate gives rollout's states bit for bit, numpy for numpy and unbatched for unbatched,
    and checks its inputs when called, before any state is taken."""
    rng = np.random.default_rng(2)
    u0, nu = rng.standard_normal((3, 2, 8)).astype(np.float32), np.array([0.05, 0.1, 0.2])
    expected = surrogate.rollout(u0, {"nu": nu}, steps=6)
    got = list(surrogate.iterate(u0, {"nu": nu}, steps=6))
    assert len(got) == 6 and all(isinstance(g, np.ndarray) for g in got)
    np.testing.assert_array_equal(np.stack(got, axis=1), expected[:, 1:])
    tensors = list(surrogate.iterate(torch.from_numpy(u0), torch.from_numpy(nu), steps=6))
    assert all(isinstance(t, torch.Tensor) for t in tensors)
    np.testing.assert_array_equal(torch.stack(tensors, dim=1).numpy(), expected[:, 1:])
    np.testing.assert_array_equal(np.stack(list(surrogate.iterate(u0[2], nu[2], steps=6))),
                                  expected[2, 1:])
    with pytest.raises(ValueError, match="needs params"):
        surrogate.iterate(u0, steps=2)
    with pytest.raises(ValueError, match="steps must be an int >= 0"):
        surrogate.iterate(u0, {"nu": nu}, steps=-1)


def test_iterate_holds_one_state_and_leaves_gradients_on_between_states(surrogate):
    """Keeping only the last state, the memory of a rollout by iterate does not grow with its
    steps: 200 steps of a (4, 2, 8) state peak where 10 do (one step's activations, about 18
    states of this FNO), far below the 201 states a rollout holds; the caller's code between
    two states runs with gradients on, as around the call."""
    u0, nu = torch.randn(4, 2, 8), {"nu": torch.full((4,), 0.1)}
    state_bytes = u0.numel() * 4
    peaks, grad_between = {}, set()
    for steps in (10, 200):
        with _LiveBytes() as mode:
            for state in surrogate.iterate(u0, nu, steps=steps):
                grad_between.add(torch.is_grad_enabled())
                last = state  # the last state alone is kept
        peaks[steps] = mode.peak
        assert last.shape == (4, 2, 8)
        np.testing.assert_array_equal(last.numpy(),
                                      surrogate.rollout(u0, nu, steps=steps)[:, -1].numpy())
    assert peaks[200] <= peaks[10] < 201 * state_bytes / 4, (peaks, state_bytes)
    assert grad_between == {True}
