"""``sigterm_unwinds``: SIGTERM raises ``Terminated`` (code 143) so cleanup runs; one that
Python drops (raised in a weakref callback: "Exception ignored in") still stops the block at
its end, a second one during the cleanup is ignored, and one after a dropped one raises again.
Before, the handler ignored every SIGTERM after the first: a dropped first one let the command
run to its end and exit 0."""

import os
import signal
import threading
import weakref

import pytest

from pdesurrogate.sigterm_unwinds import Terminated, sigterm_unwinds

pytestmark = [
    pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                       reason="signal handlers are installed in the main thread only"),
    # the dropped Terminated, which Python reports as it drops it
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(autouse=True)
def _default_sigterm():
    """SIGTERM's default action, as in a command (an in-process fit of an earlier test may
    have left Lightning's handler); the handler found is put back after."""
    handler = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    signal.signal(signal.SIGTERM, handler)


class _Thing:
    pass


def _dropped_sigterm() -> None:
    """A SIGTERM whose Terminated Python drops: raised inside a weakref callback."""
    thing = _Thing()
    ref = weakref.ref(thing, lambda _: os.kill(os.getpid(), signal.SIGTERM))
    del thing
    assert ref() is None


def test_a_dropped_sigterm_stops_the_block_at_its_end(capsys):
    ran_on = []
    with pytest.raises(Terminated) as stop:
        with sigterm_unwinds(lambda: "stopped"):
            _dropped_sigterm()
            ran_on.append(True)
    assert ran_on == [True]  # Python dropped it there: the block went on
    assert stop.value.code == 128 + signal.SIGTERM
    assert capsys.readouterr().err.count("stopped\n") == 1
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_sigterm_after_a_dropped_one_raises_again():
    with pytest.raises(Terminated):
        with sigterm_unwinds(lambda: "stopped"):
            _dropped_sigterm()
            os.kill(os.getpid(), signal.SIGTERM)
            pytest.fail("the second SIGTERM did not stop the block")


def test_a_second_sigterm_does_not_cut_the_cleanup_short():
    cleaned = []
    with pytest.raises(Terminated):
        with sigterm_unwinds(lambda: "stopped"):
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                pytest.fail("SIGTERM did not raise")
            except BaseException:
                try:
                    raise OSError("a cleanup step that failed and was passed over")
                except OSError:
                    os.kill(os.getpid(), signal.SIGTERM)  # ignored: the cleanup runs
                cleaned.append(True)
                raise
    assert cleaned == [True]
