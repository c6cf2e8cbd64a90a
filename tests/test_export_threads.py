"""A loaded surrogate shared by threads (a web server's pool calling ``predict`` at once).

A PDE-Refiner's refinement steps turn TF32 off, a global setting: two threads in them at once
used to leave the second one's refinement running with TF32 back on (on a GPU: rounded to a
10-bit mantissa, its small noise erased) and the user's setting off for good afterwards. The
interleaving (A in, B in, A done, B goes on) is forced with events in the backbone, so this
fails every time on the old code."""

import threading

import torch

from pdesurrogate.export import export_surrogate
from pdesurrogate.loading import load
from pdesurrogate.models import ModernUNet
from tests.models.test_precision import _conv_tf32, _matmul_tf32, tf32_on  # noqa: F401
from tests.training.test_refiner_rollouts import _module

WAIT_S = 30


def test_two_threads_refining_at_once_each_run_without_tf32(tf32_on, tmp_path,  # noqa: F811
                                                            monkeypatch):
    sur = load(export_surrogate(_module(), tmp_path / "refiner", param_names=["nu"]))
    u = {"A": torch.randn(2, 1, 16), "B": torch.randn(3, 1, 16)}
    p = {"A": [1.0], "B": [1.5]}
    want = {k: sur.predict(u[k], p[k]) for k in u}
    a_in, b_in, a_done = threading.Event(), threading.Event(), threading.Event()
    tf32_while_refining = {"A": set(), "B": set()}
    real = ModernUNet.forward

    def forward(self, x, params=None, cond=None):
        me = threading.current_thread().name
        if cond is not None and bool((cond > 0).any()):
            if me == "A" and not a_in.is_set():
                a_in.set()
                b_in.wait(WAIT_S)  # B is refining too before A goes on
            elif me == "B" and not b_in.is_set():
                b_in.set()
                a_done.wait(WAIT_S)  # A's whole predict ends while B is refining
            tf32_while_refining[me].add((_conv_tf32(), _matmul_tf32()))
        return real(self, x, params, cond)

    monkeypatch.setattr(ModernUNet, "forward", forward)
    got = {}

    def call(name):
        got[name] = sur.predict(u[name], p[name])
        if name == "A":
            a_done.set()

    threads = [threading.Thread(target=call, args=(k,), name=k) for k in ("A", "B")]
    threads[0].start()
    assert a_in.wait(WAIT_S)
    threads[1].start()
    for t in threads:
        t.join(WAIT_S)
    assert a_done.is_set() and b_in.is_set()
    # every refinement evaluation of both threads without TF32 (before: B's with it on)
    assert tf32_while_refining == {"A": {(False, False)}, "B": {(False, False)}}
    for k in u:
        torch.testing.assert_close(got[k], want[k], rtol=0, atol=0)
    assert _conv_tf32() and torch.get_float32_matmul_precision() == "high"  # the user's
