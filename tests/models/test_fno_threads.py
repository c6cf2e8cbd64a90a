"""One FNO called from two threads at once (a server's threads sharing one loaded surrogate):
each call gets what it gets alone. The interleavings that broke neuralop's caches are forced
with a hook that runs the second thread's whole forward at the moment the first one is
halfway through filling a cache, so these fail every time on the old code, not by chance."""

import threading

import torch
from neuralop.layers import padding as neuralop_padding
from neuralop.layers.embeddings import GridEmbeddingND
from torch.nn import functional as F

from pdesurrogate.models import FNO


def _fno(**kw) -> FNO:
    torch.manual_seed(0)
    return FNO(1, 1, [4], hidden_channels=8, n_layers=1, **kw)


def _other_thread(call) -> dict:
    """``{"thread": t}``: a thread, not started, that runs ``call()`` and puts its result
    (``"y"``) or error (``"error"``) in this dict."""
    out = {}

    def run():
        try:
            out["y"] = call()
        except Exception as e:  # noqa: BLE001 - the test names what the thread raised
            out["error"] = e

    out["thread"] = threading.Thread(target=run, daemon=True)
    return out


def test_threads_on_two_grids_each_get_their_grids_coordinates(monkeypatch):
    """Thread A's forward on 16 points stops at its first write to the grid embedding (old
    code: neuralop stores the coordinates, then the grid they are for) while thread B runs a
    forward on 32 points. Before, A then returned B's 32-point coordinates: 'Sizes of tensors
    must match'. Each call's output equals the one it gives alone."""
    a, b = torch.randn(2, 1, 16), torch.randn(3, 1, 32)
    want_a, want_b = _fno()(a), _fno()(b)
    m = _fno()  # the same weights, nothing cached yet
    other = _other_thread(lambda: m(b))
    main = threading.current_thread()
    real = GridEmbeddingND.__setattr__

    def write_then_other_forward(self, name, value):
        real(self, name, value)
        if threading.current_thread() is main and not other["thread"].ident:
            other["thread"].start()
            other["thread"].join(30)

    monkeypatch.setattr(GridEmbeddingND, "__setattr__", write_then_other_forward)
    y_a = m(a)
    if not other["thread"].ident:  # A wrote nothing to the embedding: B runs after it
        other["thread"].start()
    other["thread"].join(30)
    assert "error" not in other, other.get("error")
    torch.testing.assert_close(y_a, want_a, rtol=0, atol=0)
    torch.testing.assert_close(other["y"], want_b, rtol=0, atol=0)


def test_first_padded_forwards_on_one_grid_from_two_threads(monkeypatch):
    """With domain padding, thread A's first forward on a grid stops at its padding (old code:
    neuralop has stored the grid's padding but not yet the slices that remove it) while thread
    B runs a forward on the same grid. Before, B found the first and failed in unpad on the
    missing second (KeyError); now B waits for A's first forward. Both outputs equal the
    ones they give alone."""
    a, b = torch.randn(2, 1, 16), torch.randn(3, 1, 16)
    want_a, want_b = _fno(domain_padding=0.25)(a), _fno(domain_padding=0.25)(b)
    m = _fno(domain_padding=0.25)
    other = _other_thread(lambda: m(b))
    main = threading.current_thread()

    class PadThenOtherForward:
        """torch.nn.functional for neuralop's padding module, its pad hooked."""

        def __getattr__(self, name):
            return getattr(F, name)

        def pad(self, *args, **kwargs):
            if threading.current_thread() is main and not other["thread"].ident:
                other["thread"].start()
                # old code: B fails at once; new: B waits for A, which goes on after this
                other["thread"].join(1.0)
            return F.pad(*args, **kwargs)

    monkeypatch.setattr(neuralop_padding, "F", PadThenOtherForward())
    y_a = m(a)
    other["thread"].join(30)
    assert other["thread"].ident, "the hook never ran: neuralop pads elsewhere now"
    assert "error" not in other, repr(other.get("error"))
    torch.testing.assert_close(y_a, want_a, rtol=0, atol=0)
    torch.testing.assert_close(other["y"], want_b, rtol=0, atol=0)
