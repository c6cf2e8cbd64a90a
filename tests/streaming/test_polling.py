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
