"""A model shared by threads warns once that its Fourier modes exceed the grid, not once per
thread. Before, ``warn_unresolved_modes`` checked a flag and then set it, so two threads could
both find it unset and both warn; here both are held at that check (a barrier in the model's
attribute lookup, which the check went through), so the old code warns twice every time."""

import threading
import warnings

import torch

from pdesurrogate.models._checks import warn_unresolved_modes

WAIT_S = 30


class _HeldAtTheCheck(torch.nn.Module):
    """A module whose lookup of an attribute it lacks waits until two threads are at it."""

    def __init__(self):
        super().__init__()
        self.both_looking = threading.Barrier(2, timeout=WAIT_S)

    def __getattr__(self, name):
        if name == "_warned_modes":
            self.both_looking.wait()
        return super().__getattr__(name)


def test_two_threads_on_one_model_warn_once():
    model = _HeldAtTheCheck()
    failed = []

    def forward():
        try:
            warn_unresolved_modes(model, "modes=40", [9], (16,), excess=True)
        except BaseException as e:  # noqa: BLE001 (reported by the main thread)
            failed.append(e)

    threads = [threading.Thread(target=forward) for _ in range(2)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT_S)
    assert not any(t.is_alive() for t in threads) and not failed
    said = [str(w.message) for w in caught]
    assert len(said) == 1, said  # before: the same warning twice
    assert said[0].startswith("_HeldAtTheCheck: modes=40 asks for more Fourier modes than the "
                              "grid (16,) resolves")
    # and never again for this model
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_unresolved_modes(model, "modes=40", [9], (16,), excess=True)

