"""Copy or wait? ``StreamClient(copy=True)``'s two ways of sending a field too large to pack.

What: 1 trainer rank (``Receiver`` thread into a FIFO buffer, drained as it fills) and 1 solver
rank that, before each ``send``, works on its state in place for ``--work-ms`` milliseconds
(``u += 1e-7`` one MiB at a time, until the time is up: a solver step writing its fields), then
sends the state with the client's default (``wait_large=False``: the field is copied and
``send`` returns at once) or with ``wait_large=True`` (sent from the solver's array, ``send``
returning once MPI has moved it). The two alternate within one MPI job, ``--repeats`` times per
work time; the table gives the median steps per second of each and their ratio.

Why: with no work between sends (benchmarks/streaming.py part a) waiting moves about twice
the MB/s of copying for 8 MiB fields: the copy is a pass over memory as long as the transfer,
and both ranks share the memory bandwidth. With work between sends the copy lets the transfer
overlap the solver's next step; this measures which effect wins.

Run: ``python benchmarks/stream_wait.py [--work-ms 0 1 3] [--mib 8] [--repeats 3] [--json F]``
(it starts its own 2-rank MPI job; under ``mpiexec -n 2`` it uses that one). Under a minute on
2 cores.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from outputs import check_output, run_line, write_json

CHUNK = 2**18  # float32 values per in-place update of the work loop (1 MiB)


def _work(u: np.ndarray, seconds: float) -> None:
    """Update ``u`` in place, 1 MiB at a time, until ``seconds`` have passed."""
    flat = u.reshape(-1)
    end, i = time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        part = flat[i: i + CHUNK]
        np.add(part, 1e-7, out=part)
        i = (i + CHUNK) % flat.size


def _one_run(roles, shape, n: int, work_s: float, wait: bool) -> float | None:
    """Stream ``n`` states; on the trainer return steps per second (first put to last draw)."""
    from pdesurrogate.streaming import FIFOBuffer, Receiver, StreamClient

    world = roles.world
    if roles.is_trainer:
        buffer = FIFOBuffer(capacity=n + 1)
        receiver = Receiver(roles.data, buffer, roles.solver_ranks, ("nu",), pairs=False).start()
        world.Barrier()
        t0, got = time.perf_counter(), 0
        while items := buffer.get_many(4):
            got += len(items)
        elapsed = time.perf_counter() - t0
        receiver.join()
        if got != n:
            raise RuntimeError(f"{got} states arrived, {n} were sent")
        return n / elapsed
    client = StreamClient(roles.data, roles.trainer_ranks, ("nu",), wait_large=wait)
    u = np.ones(shape, np.float32)
    world.Barrier()
    client.open(0, {"nu": 1.0})
    for k in range(n):
        _work(u, work_s)
        client.send(u, t=float(k), step=k)
    client.close()
    client.shutdown()
    return None


def worker(args) -> None:
    from rich.console import Console
    from rich.table import Table

    from pdesurrogate.streaming import split_roles

    roles = split_roles(n_trainers=1)
    if roles.world.size != 2:
        raise SystemExit("stream_wait: run with exactly 2 MPI ranks")
    shape = (args.mib, 512, 512)  # float32: args.mib MiB
    table = Table(title=f"copy=True, {args.mib} MiB states, 1 trainer + 1 solver: solver steps "
                        f"per second, median of {args.repeats}")
    for col in ("work per step (ms)", "copy (default)", "wait_large", "wait / copy"):
        table.add_column(col, justify="right")
    _one_run(roles, shape, 8, 0.0, True)  # warm-up: connections, allocator, page faults
    rows = []
    for work_ms in args.work_ms:
        rates = {True: [], False: []}
        for _ in range(args.repeats):
            for wait in (False, True):
                r = _one_run(roles, shape, args.steps, work_ms / 1e3, wait)
                if r is not None:
                    rates[wait].append(r)
                roles.world.Barrier()
        if roles.is_trainer:
            copy, wait = statistics.median(rates[False]), statistics.median(rates[True])
            table.add_row(f"{work_ms:g}", f"{copy:.0f}", f"{wait:.0f}", f"{wait / copy:.2f}")
            rows.append({"work_ms": work_ms, "copy_steps_per_s": copy, "wait_steps_per_s": wait,
                         "wait_over_copy": wait / copy, "copy_all": rates[False],
                         "wait_all": rates[True]})
    if roles.is_trainer:
        Console().print(table)
        print(run_line(), flush=True)
        if args.json:
            write_json(args.json, {"mib": args.mib, "steps": args.steps,
                                   "repeats": args.repeats, "rows": rows}, args=args, indent=1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=(
            "Copy or wait? StreamClient(copy=True)'s two ways of sending a field too large to\n"
            "pack.\n\n"
            "Measures: steps per second of 1 solver rank that works on its --mib MiB state in\n"
            "place for --work-ms ms, then sends it to 1 trainer rank with wait_large=True\n"
            "(sent from the solver's array, send returning once MPI has moved it).\n"
            "Reference: the client's default, wait_large=False (the field copied, send\n"
            "returning at once), alternating with it --repeats times in the same MPI job.\n"
            "Prints: per work time, the median steps per second of each and wait / copy;\n"
            "--json writes the rows.\n"
            "Runtime: under a minute on 2 cores (it starts its own 2-rank MPI job; under\n"
            "mpiexec -n 2 it uses that one); --quick (--work-ms 0 3, --steps 16,\n"
            "--repeats 1) about 10 seconds, a smoke test."),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Why: with no work between sends (benchmarks/streaming.py part a) waiting moves\n"
               "about twice the MB/s of copying for 8 MiB fields; with work between sends the\n"
               "copy lets the transfer overlap the solver's next step. This measures which\n"
               "effect wins; see the module docstring for details.")
    ap.add_argument("--work-ms", type=float, nargs="+", default=[0.0, 1.0, 3.0],
                    help="solver work per step in ms, one row each (default: %(default)s)")
    ap.add_argument("--mib", type=int, default=8,
                    help="state size in MiB, at least 3 (default: %(default)s)")
    ap.add_argument("--steps", type=int, default=48,
                    help="states per run (default: %(default)s)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="alternating runs of each way per row (default: %(default)s)")
    ap.add_argument("--quick", action="store_true",
                    help="--work-ms 0 3, --steps 16, --repeats 1: a smoke test (one run each "
                         "way: its ratios move with the machine's load)")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    if args.quick:
        args.work_ms, args.steps, args.repeats = [0.0, 3.0], 16, 1
    check_output(ap, "--json", args.json)
    if min(args.work_ms) < 0 or args.mib < 3 or args.steps < 1 or args.repeats < 1:
        ap.error("--work-ms must be >= 0, --mib >= 3 (larger than the client's packs), "
                 "--steps and --repeats >= 1")
    if any(v in os.environ for v in ("PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_RANK")):
        worker(args)
        return 0
    mpiexec = Path(sys.executable).parent / "mpiexec"
    cmd = [str(mpiexec), "-launcher", "fork", "-n", "2", sys.executable, "-m", "mpi4py",
           __file__, *(sys.argv[1:] if argv is None else argv)]
    # the ranks' stderr goes to a file, printed afterwards: on Ctrl-C (which reaches them
    # too) their tracebacks are noise and are left out
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, stderr=err)
        try:
            rc = proc.wait()
        except KeyboardInterrupt:
            rc = -signal.SIGINT
        if rc in (-signal.SIGINT, 128 + signal.SIGINT):
            proc.wait()
            print("stream_wait: interrupted", file=sys.stderr)
            return 128 + signal.SIGINT
        err.seek(0)
        sys.stderr.write(err.read())  # the ranks' warnings, or why they failed
        return rc


if __name__ == "__main__":
    sys.exit(main())
