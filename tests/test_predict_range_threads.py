"""``predict_file`` in one thread keeps its surrogate's per-batch ``ParameterRangeWarning`` to
itself (it warned once for the whole file) without touching other threads' warnings. Before,
it put an "ignore" filter into the process-wide warning filters for its run: while one call
ran, a range warning from any other thread's ``Surrogate.predict`` was not shown, and two
overlapping calls (A in, B in, A out, B out) left the filter behind for good. Both orders are
forced with events, so each test fails every time on the old code."""

import threading
import warnings

import numpy as np
import pytest

from pdesurrogate.datasets import DatasetWriter
from pdesurrogate.loading import load
from pdesurrogate.predict import predict_file
from pdesurrogate.surrogate import ParameterRangeWarning, Surrogate
from tests.test_export_param_range import U, _exported

WAIT_S = 30
# predict_file's own one warning for each file: not the point here
pytestmark = pytest.mark.filterwarnings(r"ignore:'.*in\.nc'::")


def _outside(path) -> str:
    """A 3-trajectory file whose nu lie outside the export's training range [0.1, 0.3]."""
    with DatasetWriter(path, "toy", (np.arange(16.0),), ("x",), np.array([0.0, 0.1]), ["u"],
                       ["nu"], 3) as w:
        w.write(0, np.zeros((3, 2, 1, 16), np.float32), {"nu": np.array([0.2, 0.05, 0.4])})
    return str(path)


def _pause_in_iterate(monkeypatch, pauses: dict[str, object]) -> None:
    """``Surrogate.iterate`` (called once per batch inside ``predict_file``'s quiet block)
    calls ``pauses[name]()`` after its checks in the thread of that name."""
    real = Surrogate.iterate

    def iterate(self, *args, **kwargs):
        states = real(self, *args, **kwargs)
        pause = pauses.get(threading.current_thread().name)
        if pause is not None:
            pause()
        return states

    monkeypatch.setattr(Surrogate, "iterate", iterate)


def _shown_here(call) -> list[str]:
    """The range warnings ``call`` shows under the filters as they stand (an "always" only at
    their end, past any "ignore" left in front)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.filterwarnings("always", category=ParameterRangeWarning, append=True)
        call()
    return [str(w.message) for w in caught if issubclass(w.category, ParameterRangeWarning)]


def _run(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.join(WAIT_S)
    assert not any(t.is_alive() for t in threads)


def test_another_thread_s_range_warning_is_shown_while_predict_file_runs(tmp_path,
                                                                         monkeypatch):
    model, data = _exported(tmp_path), _outside(tmp_path / "in.nc")
    sur = load(model)
    a_in, checked = threading.Event(), threading.Event()
    _pause_in_iterate(monkeypatch, {"A": lambda: (a_in.set(), checked.wait(WAIT_S))})
    failed = []

    def a():
        try:
            predict_file(model, data, str(tmp_path / "a.nc"), batch_size=3)
        except BaseException as e:  # noqa: BLE001 (reported by the main thread)
            failed.append(e)
            a_in.set()

    thread = threading.Thread(target=a, name="A")
    thread.start()
    assert a_in.wait(WAIT_S) and not failed
    try:  # A is inside its batch's rollout now
        said = _shown_here(lambda: sur.predict(U, 0.4))
    finally:
        checked.set()
    _run([thread])
    assert not failed
    assert len(said) == 1 and "'nu' given 0.4" in said[0]  # before: [] (A's filter hid it)


def test_overlapping_predict_files_leave_no_filter_behind(tmp_path, monkeypatch):
    model, data = _exported(tmp_path), _outside(tmp_path / "in.nc")
    sur = load(model)
    a_in, b_in, a_done = threading.Event(), threading.Event(), threading.Event()
    _pause_in_iterate(monkeypatch, {"A": lambda: (a_in.set(), b_in.wait(WAIT_S)),
                                    "B": lambda: (b_in.set(), a_done.wait(WAIT_S))})
    failed = []

    def run(name, after):
        try:
            predict_file(model, data, str(tmp_path / f"{name}.nc"), batch_size=3)
        except BaseException as e:  # noqa: BLE001 (reported by the main thread)
            failed.append(e)
        finally:
            after.set()

    before = list(warnings.filters)
    a = threading.Thread(target=run, args=("a", a_done), name="A")
    b = threading.Thread(target=run, args=("b", threading.Event()), name="B")
    a.start()
    assert a_in.wait(WAIT_S)
    b.start()  # A in, B in, A out (a_done), B out
    _run([a, b])
    assert not failed and b_in.is_set()
    assert warnings.filters == before  # before: an ignore of ParameterRangeWarning in front
    said = _shown_here(lambda: sur.predict(U, 0.4))
    assert len(said) == 1 and "'nu' given 0.4" in said[0]  # before: [] for good
