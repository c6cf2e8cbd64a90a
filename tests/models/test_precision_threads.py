"""``full_float32`` in two threads at once (a server's threads sharing one PDE-Refiner): TF32
stays off until the last thread leaves, and the user's settings come back after it. The
interleaving that broke it (A in, B in, A out, B out) is forced with events, so this fails
every time on the old code, where each thread saved and restored the global settings itself."""

import threading

import torch

from pdesurrogate.models._precision import full_float32
from tests.models.test_precision import _conv_tf32, _matmul_tf32, tf32_on  # noqa: F401

WAIT_S = 30


def test_tf32_stays_off_until_the_last_thread_leaves(tf32_on):  # noqa: F811
    cpu = torch.device("cpu")
    a_in, a_out = threading.Event(), threading.Event()
    seen = {}

    def a():
        with full_float32(cpu):
            a_in.set()
            b_in.wait(WAIT_S)
        a_out.set()

    def b():
        a_in.wait(WAIT_S)
        with full_float32(cpu):
            b_in.set()
            a_out.wait(WAIT_S)  # A has left; B still computes
            seen["inside, after A left"] = (_conv_tf32(), _matmul_tf32())

    b_in = threading.Event()
    threads = [threading.Thread(target=f) for f in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT_S)
    assert a_out.is_set() and b_in.is_set()
    assert seen == {"inside, after A left": (False, False)}  # before: (True, True)
    # the user's TF32 back for both (before: left off for good, 'highest')
    assert _conv_tf32() and _matmul_tf32()
    assert torch.get_float32_matmul_precision() == "high"
