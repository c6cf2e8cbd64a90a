"""StreamClient packing, seen from the wire: consecutive steps of one simulation share a pack,
anything else starts a new one, and a pack holds copies of what was sent (client_packs.py
runs a client against its own rank in a subprocess, so this process never starts MPI).
Uncopied fields travel in split packs of at most SPLIT_MAX_SAMPLES samples: with more, MPI
slowed down tenfold (see streaming/client.py); a pack open max_pack_age_s goes with the next
sample."""

import json
import os
import subprocess
import sys
from pathlib import Path

from pdesurrogate.streaming.client import SPLIT_MAX_SAMPLES

HERE = Path(__file__).parent


def test_packs_break_where_the_samples_stop_continuing():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(HERE / "client_packs.py")], capture_output=True,
                          text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    large = next(x["large_stats"] for x in lines if "large_stats" in x)
    counts = next(x["counts"] for x in lines if "counts" in x)
    slow = next(x for x in lines if "slow_stats" in x)
    packs = [x for x in lines if "count" in x]
    chain_order = [(x["sim"], x["count"], x["end"]) if "sim" in x
                   else (x["control"], x["control_sim"])
                   for x in lines if x.get("sim", 0) >= 20 or "control" in x]
    chained = next(x["chained_stats"] for x in lines if "chained_stats" in x)
    got = [(p["sim"], p["step"], p["count"], p["shape"], p["dtype"], p["end"]) for p in packs]
    assert got == [
        (1, 0, 3, [1, 8], "float32", 0),  # steps 0-2 of one reused array
        (1, 5, 1, [1, 8], "float32", 0),  # step 5 does not continue step 2
        (1, 6, 1, [1, 8], "float64", 0),  # another dtype
        (1, 7, 2, [2, 4], "float32", 7),  # another shape; a tensor continues it; the END
        (2, 0, 6, [1, 8], "float32", 6),  # default steps 0..5 in one pack
        # uncopied: split packs of at most SPLIT_MAX_SAMPLES, however many bytes would fit
        (3, 0, SPLIT_MAX_SAMPLES, [1, 16], "float32", 0),
        (3, SPLIT_MAX_SAMPLES, 4, [1, 16], "float32", SPLIT_MAX_SAMPLES + 4),
        # max_pack_age_s: the third sample came 1.2 s after the pack opened
        (4, 0, 2, [1, 8], "float32", 0),
        (4, 2, 1, [1, 8], "float32", 3),
        # chain packs: simulations 20 and 21 share one (END totals in its segment table)
        (20, 0, 5, [1, 8], "float32", 0),
        (23, 0, 2, [1, 8], "float32", 2),  # 24 has another shape: 23 goes alone
        (24, 0, 1, [2, 4], "float32", 1),  # 25 sent nothing: 24's pack goes before its END
        # copy=True, too large to pack: one message each, with the sender's verdict
        (5, 0, 1, [1, 16], "float32", 0),
        (5, 1, 1, [1, 16], "float32", 0),
    ]
    assert [p["split"] for p in packs] == [False] * 5 + [True] * 2 + [False] * 7
    assert [p["verdict"] for p in packs] == [None] * 12 + [1, 0]  # the second has a NaN
    assert packs[9]["segments"] == [[20, 0, 3, 3, [0.2]], [21, 0, 2, 2, [0.21]]]
    assert packs[9]["times"] == [0.0, 0.5, 1.0, 0.0, 0.5]
    assert all(not p["segments"] for i, p in enumerate(packs) if i != 9)
    # no END or FAILED overtakes the ended simulations still in a chain pack
    assert chain_order == [(20, 5, 0), ("FAILED", 22), (23, 2, 2), (24, 1, 1), ("END", 25)]
    assert chained["chain_packs"] == 1 and chained["messages"] == 3
    assert chained["samples"] == 10 and chained["samples_unsent"] == 2
    assert large["waited"] == 2 and large["copies"] == 0
    # samples given to send count at once, also those still in an open pack or never sent
    sim1 = 4 * 32 + 64 + 2 * 32  # bytes: four float32 (1, 8), a float64, two (2, 4)
    assert counts["mid_pack"] == [7 + 3, sim1 + 3 * 32]
    assert counts["closed"] == [7 + 6, sim1 + 6 * 32]
    assert counts["failed"] == [7 + 6 + 2, sim1 + 8 * 32, 2]
    # a slow trainer: at most max_in_flight + 1 pack buffers (those in flight and the open
    # one), not one per pack
    assert slow["slow_packs"] == 8 and slow["slow_match"]
    assert slow["slow_stats"]["samples"] == 8 * 16
    assert 1 <= slow["slow_stats"]["allocations"] <= 2 + 1
    assert all(p["values_match"] for p in packs)
    assert packs[0]["times"] == [0.0, 0.5, 1.0]
    assert packs[4]["times"] == [0.5 * k for k in range(6)]
    assert packs[6]["times"] == [0.5 * k for k in range(SPLIT_MAX_SAMPLES, SPLIT_MAX_SAMPLES + 4)]
    assert packs[8]["times"] == [1.0]
