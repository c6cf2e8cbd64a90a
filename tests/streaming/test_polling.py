"""poll_until waits until ready, sleeping between polls once the short spin is over."""

import time

from pdesurrogate.streaming.polling import poll_until


def test_poll_until_sleeps_instead_of_spinning():
    t_ready = time.perf_counter() + 0.03
    calls = 0

    def ready():
        nonlocal calls
        calls += 1
        return time.perf_counter() >= t_ready

    waited = poll_until(ready)
    assert waited >= 0.029
    # spinning for 30 ms would poll ~10^5 times; 0.5 ms of spin, then sleeps of 20 us to 1 ms
    assert calls < 10_000, calls


def test_poll_until_returns_at_once_when_ready():
    assert poll_until(lambda: True) < 0.01


def test_poll_until_polls_back_to_back_while_own_sends_are_busy(monkeypatch):
    """While ``busy()`` says the caller's own sends are in flight, no naps (without CMA, MPI
    moves them only while this rank polls; napping streamed 11-12 MB/s), up to BUSY_SPIN_S;
    once busy() is False, naps as before."""
    from pdesurrogate.streaming import polling

    naps = []
    monkeypatch.setattr(polling.time, "sleep", naps.append)
    t_ready = time.perf_counter() + 0.02  # 40x SPIN_S, within BUSY_SPIN_S
    poll_until(lambda: time.perf_counter() >= t_ready, busy=lambda: True)
    assert naps == []
    t_ready = time.perf_counter() + 0.02
    poll_until(lambda: time.perf_counter() >= t_ready, busy=lambda: False)
    assert naps, "not busy: naps after the short spin"
    # busy forever: back to back for BUSY_SPIN_S, then naps again (a receiver that never
    # takes the message must not cost a core for good)
    naps.clear()
    t_ready = time.perf_counter() + polling.BUSY_SPIN_S + 0.02
    poll_until(lambda: time.perf_counter() >= t_ready, busy=lambda: True)
    assert naps
