"""BufferDataset items, pairs of consecutive steps, and the lockstep ``sync`` hook."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, default_collate

from pdesurrogate.streaming import BufferDataset, FIFOBuffer, Pair, Sample, collate_items
from pdesurrogate.streaming.sample import pairs_of


def trajectory(sim: int, n: int) -> list[Sample]:
    return [Sample(np.full((2, 8), 10 * sim + k, np.float32), t=0.5 * k,
                   params={"nu": 0.1, "beta": float(sim)}, sim_id=sim, step=k) for k in range(n)]


def test_pairs_of_consecutive_steps_only():
    """pairs_of sorts by step and pairs (k, k+1) only: 5 steps with step 2 missing give the
    pairs (0,1) and (3,4)."""
    samples = [s for s in trajectory(3, 5) if s.step != 2][::-1]
    pairs = pairs_of(samples)
    assert [(p.input.step, p.target.step) for p in pairs] == [(0, 1), (3, 4)]
    assert pairs[0].dt == 0.5
    with pytest.raises(ValueError, match="different simulations"):
        Pair(trajectory(0, 1)[0], trajectory(1, 1)[0])


def test_items_and_dataloader_batches():
    """Pairs become dicts of tensors: input/target (C, *grid) with target = step k+1,
    params in param_names order, dt; a DataLoader stacks them into batches and stops at the
    end of the stream."""
    buf = FIFOBuffer(capacity=20)
    for sim in range(2):
        for p in pairs_of(trajectory(sim, 4)):
            buf.put(p)
    buf.close()
    data = BufferDataset(buf, param_names=("beta", "nu"), dtype=torch.float64)
    batches = list(DataLoader(data, batch_size=4))
    assert [b["input"].shape for b in batches] == [(4, 2, 8), (2, 2, 8)]
    b = batches[0]
    assert b["input"].dtype == torch.float64
    assert torch.equal(b["target"][:, 0, 0] - b["input"][:, 0, 0], torch.ones(4, dtype=b[
        "input"].dtype))
    assert torch.equal(b["params"][3], torch.tensor([1.0, 0.1], dtype=torch.float64))
    assert torch.allclose(b["dt"], torch.full((4,), 0.5, dtype=torch.float64))
    assert b["sim_id"].tolist() == [0, 0, 0, 1] and b["step"].tolist() == [0, 1, 2, 0]


def test_single_samples_have_no_target():
    buf = FIFOBuffer(capacity=4)
    buf.put(trajectory(0, 1)[0])
    buf.close()
    (item,) = list(BufferDataset(buf, ("nu",)))
    assert "target" not in item and item["input"].shape == (2, 8)


def test_sync_decides_per_group():
    """With sync, each group of batch_size items is drawn only after sync(batch_size) says
    True; False ends iteration even with items left."""
    buf = FIFOBuffer(capacity=10)
    for s in trajectory(0, 7):
        buf.put(s)
    calls = []

    def sync(n):
        calls.append(n)
        return len(calls) <= 2

    items = list(BufferDataset(buf, ("nu",), batch_size=3, sync=sync))
    assert len(items) == 6 and calls == [3, 3, 3] and len(buf) == 1


def test_rejects_worker_processes():
    buf = FIFOBuffer(capacity=2)
    buf.put(trajectory(0, 1)[0])
    buf.close()
    with pytest.raises(RuntimeError, match="num_workers=0"):
        list(DataLoader(BufferDataset(buf, ("nu",)), num_workers=1))


def test_collated_batches_equal_default_collate():
    """collate=True yields whole batches equal to default_collate of the per-item dicts (pairs
    and single samples); a group cut short by the end of the stream comes as a smaller batch."""
    def filled(items):
        buf = FIFOBuffer(capacity=20)
        for it in items:
            buf.put(it)
        buf.close()
        return buf

    pairs = [p for sim in range(2) for p in pairs_of(trajectory(sim, 4))]
    ref = list(DataLoader(BufferDataset(filled(pairs), ("beta", "nu"), dtype=torch.float64),
                          batch_size=4))
    got = list(DataLoader(BufferDataset(filled(pairs), ("beta", "nu"), dtype=torch.float64,
                                        batch_size=4, collate=True), batch_size=None))
    assert len(got) == len(ref) == 2 and got[1]["input"].shape == (2, 2, 8)
    for g, r in zip(got, ref, strict=True):
        assert g.keys() == r.keys()
        for k in r:
            assert g[k].dtype == r[k].dtype and torch.equal(g[k], r[k]), k
    singles = trajectory(5, 3)
    (b,) = list(BufferDataset(filled(singles), ("nu",), batch_size=3, collate=True))
    r = default_collate([{"input": torch.from_numpy(s.fields), "t": torch.tensor(s.t)}
                         for s in singles])
    assert "target" not in b and torch.equal(b["input"], r["input"]) and torch.equal(b["t"],
                                                                                  r["t"])
    with pytest.raises(TypeError, match="mixes"):
        collate_items([pairs[0], singles[0]], ("nu",))
    with pytest.raises(KeyError, match="no parameter"):
        collate_items(singles, ("kappa",))


def test_collated_batches_follow_sync():
    buf = FIFOBuffer(capacity=10)
    for s in trajectory(0, 7):
        buf.put(s)
    calls = []

    def sync(n):
        calls.append(n)
        return len(calls) <= 2

    batches = list(BufferDataset(buf, ("nu",), batch_size=3, sync=sync, collate=True))
    assert [b["step"].tolist() for b in batches] == [[0, 1, 2], [3, 4, 5]]
    assert calls == [3, 3, 3] and len(buf) == 1
