"""A pass split between the processes of a job (RankShare, shared_pass, compute_stats with
``share``): each process reads its part of the trajectories only, and all end with the
statistics one process computes, bit for bit, or all raise the error one process would raise
first. The processes are threads here, exchanging through a barrier as DDP's processes do
through ``all_gather_object``; tests/training/test_datamodule_ddp_passes.py runs real ones."""

import threading

import h5py
import numpy as np
import pytest

from pdesurrogate.datasets import DatasetWriter, compute_stats, normalization, open_dataset
from pdesurrogate.datasets.rank_share import RankShare, shared_pass


class _Exchange:
    """``share(rank)``: the RankShare of thread ``rank`` of ``world``; its ``gather`` waits for
    all of them (at most 30 s: a thread that never comes fails the test, not hangs it)."""

    def __init__(self, world: int):
        self.world, self.slots = world, [None] * world
        self.barrier = threading.Barrier(world, timeout=30)

    def share(self, rank: int) -> RankShare:
        def gather(obj):
            self.slots[rank] = obj
            self.barrier.wait()
            got = list(self.slots)
            self.barrier.wait()  # every thread has its copy before the next call overwrites
            return got

        return RankShare(rank, self.world, gather)


def _on_ranks(world: int, run) -> list:
    """``run(share)`` in ``world`` threads at once: each one's result, or the exception it
    raised."""
    exchange, out = _Exchange(world), [None] * world

    def one(rank):
        try:
            out[rank] = run(exchange.share(rank))
        except Exception as e:  # noqa: BLE001 - what each rank raised is the result
            out[rank] = e

    threads = [threading.Thread(target=one, args=(r,)) for r in range(world)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a rank hung"
    return out


class _Recorded:
    """``data.u`` that records the trajectories each read touches."""

    def __init__(self, u):
        self._u, self.read = u, set()

    def __getitem__(self, key):
        first = key[0] if isinstance(key, tuple) else key
        if isinstance(first, slice):
            self.read.update(range(*first.indices(self._u.shape[0])))
        else:
            self.read.add(int(first))
        return self._u[key]

    def __getattr__(self, name):
        return getattr(self._u, name)


def _file(path, n=24, t=5, c=2, points=16, nan_at=None):
    rng = np.random.default_rng(3)
    # a large offset: a merge in another order would differ in the last bits
    u = (1e3 + rng.standard_normal((n, t, c, points))).astype(np.float32)
    with DatasetWriter(path, "toy", [np.arange(float(points))], ["x"], np.arange(float(t)),
                       ["a", "b"], ["nu"], n) as w:
        w.write(0, u, {"nu": rng.uniform(size=n)})
    if nan_at is not None:
        with h5py.File(path, "r+") as f:  # DatasetWriter refuses NaN: edit the file afterwards
            f["u"][nan_at, 3, 1, 5] = np.nan
    return path


def _opened(path):
    data = open_dataset(path)
    data.u = _Recorded(data.u)
    return data


# a frame per read, a trajectory per read, runs of 3 trajectories per read
@pytest.mark.parametrize("block_frames", [1, 5, 15])
@pytest.mark.parametrize("world", [2, 3])
def test_each_rank_reads_its_part_and_all_get_the_single_process_statistics(
        tmp_path, monkeypatch, block_frames, world):
    monkeypatch.setattr(normalization, "BLOCK_BYTES", block_frames * 4 * 2 * 16)
    path = _file(tmp_path / "toy.nc")
    indices = np.sort(np.random.default_rng(0).permutation(24)[:19])
    single = compute_stats(open_dataset(path), indices).to_dict()
    opened = [_opened(path) for _ in range(world)]
    got = _on_ranks(world, lambda share: compute_stats(opened[share.rank], indices,
                                                       share=share).to_dict())
    assert got == [single] * world  # bit for bit: float64 values compared with ==
    parts = np.array_split(indices, world)
    for rank in range(world):
        # only this rank's trajectories (and any unselected ones between them in a run)
        assert set(indices) & opened[rank].u.read == set(parts[rank].tolist())
        assert not opened[rank].u.read & set(np.concatenate(
            [p for r, p in enumerate(parts) if r != rank]).tolist())


def test_a_nan_in_one_part_is_the_same_error_on_every_rank(tmp_path):
    path = _file(tmp_path / "nan.nc", nan_at=20)
    indices = np.arange(24)
    with pytest.raises(ValueError) as single:
        compute_stats(open_dataset(path), indices)
    opened = [_opened(path) for _ in range(2)]
    got = _on_ranks(2, lambda share: compute_stats(opened[share.rank], indices, share=share))
    assert all(isinstance(e, ValueError) for e in got), got
    assert [str(e) for e in got] == [str(single.value)] * 2
    assert "trajectory 20 at time index 3" in str(single.value)
    assert 20 not in opened[0].u.read  # rank 0 raises what rank 1 found


def test_the_lowest_ranks_failure_is_raised_everywhere_with_its_text():
    class Odd(Exception):
        pass

    def work_of(failures):
        def run(share):
            def work(part):
                fail = failures.get(share.rank)
                if fail is not None:
                    raise fail
                return part.tolist()
            return shared_pass(share, range(7), work)
        return run

    # no failure: every rank gets every part, in rank order
    assert _on_ranks(3, work_of({})) == [[[0, 1, 2], [3, 4], [5, 6]]] * 3
    got = _on_ranks(3, work_of({1: FileNotFoundError(2, "gone", "/x.nc"),
                                2: ValueError("later")}))
    assert type(got[1]) is FileNotFoundError  # its own, as raised
    assert [type(e) for e in (got[0], got[2])] == [OSError, OSError]
    assert {str(e) for e in got} == {"[Errno 2] gone: '/x.nc'"}
    got = _on_ranks(2, work_of({0: Odd("strange")}))
    assert type(got[0]) is Odd and type(got[1]) is RuntimeError
    assert str(got[1]) == "Odd: strange"
    # one process: the work alone, its exception as it is
    assert shared_pass(None, [4, 5], lambda part: part.tolist()) == [[4, 5]]


@pytest.mark.parametrize("kwargs, match", [
    ({"rank": 2, "world": 2}, "rank must be smaller than world = 2"),
    ({"rank": 0, "world": 1}, "world must be an int >= 2"),
    ({"rank": -1, "world": 2}, "rank must be an int >= 0"),
    ({"rank": 0, "world": 2, "gather": None}, "gather must be callable"),
])
def test_rank_share_refuses_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RankShare(**{"gather": list, **kwargs})
