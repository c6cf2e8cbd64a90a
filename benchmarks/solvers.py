"""Time per step of our spectral solvers vs exponax (JAX, CPU) and vs the FFTs alone.

For a batch of 64 trajectories: ``burgers1d`` (1024 points), ``ks1d`` (256), and
``navier_stokes2d`` (64² and 256²). Each case uses the same PDE, grid and step size in both
codes, measured in the same run:

* ours: ``solver.advance(u, params, n * dt)`` with the constructor ``dt`` fixed, so one call is
  exactly ``n`` internal steps;
* exponax: its stepper of the same PDE (ETDRK of the order named in the table), vmapped over
  the batch, jit-compiled, ``n`` steps inside one ``jax.lax.scan``;
* FFT floor: the very FFT calls one of our steps makes (recorded by wrapping ``torch.fft``
  during one step), replayed alone. A pseudo-spectral step cannot be cheaper than its FFTs.

Run: ``python benchmarks/solvers.py [--steps N] [--quick] [--json out.json]``; needs the
``bench`` extra (``pip install -e .[bench]``) for exponax. Threads: torch and XLA both use all
cores by default; ``--threads`` pins both.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass

import torch
from options import check_at_least
from outputs import check_output, run_line, write_json
from rich.console import Console
from rich.table import Table

from pdesurrogate.solvers import make_solver

console = Console(width=150)
BATCH = 64


@dataclass
class Case:
    label: str
    solver: str
    kwargs: dict
    params: dict  # name -> value for the whole batch
    dt: float
    exponax: str  # how to build the reference; see make_exponax


CASES = [
    Case("burgers1d N=1024", "burgers1d",
         dict(n_points=1024, length=1.0, scheme="etdrk4"), {"nu": 0.01}, 1e-4, "burgers"),
    Case("ks1d N=256", "ks1d", dict(n_points=256, length=64.0), {"nu": 1.0}, 0.05, "ks"),
    Case("navier_stokes2d 64²", "navier_stokes2d", dict(n=64, forcing="none"),
         {"nu": 1e-3}, 1e-3, "ns"),
    Case("navier_stokes2d 256²", "navier_stokes2d", dict(n=256, forcing="none"),
         {"nu": 1e-3}, 2.5e-4, "ns"),
]


def record_ffts(step_fn):
    """Run ``step_fn`` once with torch.fft wrapped; return the list of (name, tensor, kwargs)."""
    names = ["fft", "ifft", "rfft", "irfft", "fft2", "ifft2", "rfft2", "irfft2", "fftn", "ifftn",
             "rfftn", "irfftn"]
    calls, originals = [], {n: getattr(torch.fft, n) for n in names}

    def wrap(name):
        orig = originals[name]

        def inner(x, *args, **kwargs):
            calls.append((name, x.detach().clone(), args, kwargs))
            return orig(x, *args, **kwargs)
        return inner

    for n in names:
        setattr(torch.fft, n, wrap(n))
    try:
        step_fn()
    finally:
        for n, f in originals.items():
            setattr(torch.fft, n, f)
    return calls


def make_exponax(case: Case, n_steps: int):
    """A jitted function running ``n_steps`` exponax steps on a (BATCH, 1, *grid) array."""
    import exponax as ex
    import jax

    if case.exponax == "burgers":
        stepper = ex.stepper.Burgers(1, case.kwargs["length"], case.kwargs["n_points"], case.dt,
                                     diffusivity=case.params["nu"], order=4)
    elif case.exponax == "ks":
        stepper = ex.stepper.KuramotoSivashinskyConservative(
            1, case.kwargs["length"], case.kwargs["n_points"], case.dt, order=4)
    elif case.exponax == "ns":
        stepper = ex.stepper.NavierStokesVorticity(
            2, 1.0, case.kwargs["n"], case.dt, diffusivity=case.params["nu"], order=2)
    else:
        raise ValueError(case.exponax)
    batched = jax.vmap(stepper)

    @jax.jit
    def run(u):
        def body(carry, _):
            return batched(carry), None
        out, _ = jax.lax.scan(body, u, None, length=n_steps)
        return out

    return run


def bench_case(case: Case, n_steps: int, repeats: int, with_exponax: bool) -> dict:
    solver = make_solver(case.solver, dt=case.dt, **case.kwargs)
    u0, _ = solver.sample(BATCH, seed=0)
    params = {k: torch.full((BATCH,), v) for k, v in case.params.items()}
    calls = record_ffts(lambda: solver.advance(u0, params, case.dt))

    def ours():
        solver.advance(u0, params, n_steps * case.dt)

    def replay():
        for name, x, args, kwargs in calls:
            getattr(torch.fft, name)(x, *args, **kwargs)

    fns = {"ours": ours, "floor": replay}
    if with_exponax:
        import jax.numpy as jnp
        run = make_exponax(case, n_steps)
        u_j = jnp.asarray(u0.numpy())
        fns["exponax"] = lambda: run(u_j).block_until_ready()
    # interleave the contenders so a burst of load elsewhere on a shared machine hits all alike
    times = {name: [] for name in fns}
    for fn in fns.values():
        fn()  # warm-up: operator caches, jit compilation
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    med = {name: statistics.median(v) for name, v in times.items()}
    ours_s, floor_s = med["ours"] / n_steps, med["floor"]
    row = dict(case=case.label, ours_ms=ours_s * 1e3, fft_floor_ms=floor_s * 1e3,
               ffts_per_step=len(calls), ours_over_floor=ours_s / floor_s)
    if with_exponax:
        ref = med["exponax"] / n_steps
        row.update(exponax_ms=ref * 1e3, ours_over_exponax=ours_s / ref)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=(
            "Time per step of our spectral solvers vs exponax (JAX, CPU) and vs the FFTs\n"
            "alone.\n\n"
            "Measures: time per step of our solvers (solver.advance over --steps steps, batch\n"
            "of 64) for burgers1d (1024 points), ks1d (256) and navier_stokes2d (64² and\n"
            "256²; a tenth of the steps there), the median of --repeats interleaved calls.\n"
            "Reference, same PDE, grid and step size, in the same run: exponax's stepper\n"
            "(jit-compiled, vmapped over the batch) and the FFT floor, the FFT calls of one\n"
            "of our steps replayed alone.\n"
            "Prints: a table of ms per step, ours / exponax, ours / FFT floor and FFTs per\n"
            "step; --json writes the rows. exponax needs the bench extra\n"
            "(pip install -e .[bench]); without it that reference is skipped (the JSON's\n"
            "'exponax' says whether it ran).\n"
            "Runtime: --quick about 15 s on 2 cores (2026-12-06, without exponax); the\n"
            "default (not timed then) times 5x the steps and adds the 256² case."),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=50,
                    help="steps per timed call (default: %(default)s)")
    ap.add_argument("--repeats", type=int, default=5,
                    help="timed calls per case and code; the median counts "
                         "(default: %(default)s)")
    ap.add_argument("--quick", action="store_true",
                    help="skip the 256² case, a fifth of the steps")
    ap.add_argument("--threads", type=int, default=None,
                    help="pin torch and XLA threads (default: all cores)")
    ap.add_argument("--json", type=str, default=None, help="write the rows to this JSON file")
    args = ap.parse_args(argv)
    check_output(ap, "--json", args.json)
    check_at_least(ap, {"--steps": (args.steps, 1), "--repeats": (args.repeats, 1),
                        "--threads": (args.threads, 1)})
    if args.threads:
        torch.set_num_threads(args.threads)
        multi = "true" if args.threads > 1 else "false"
        os.environ["XLA_FLAGS"] = (f"--xla_cpu_multi_thread_eigen={multi} "
                                   f"intra_op_parallelism_threads={args.threads}")
    try:
        import exponax  # noqa: F401
        with_exponax = True
    except ImportError:
        console.print("[yellow]exponax not installed (pip install -e .\\[bench]): reference "
                      "skipped")
        with_exponax = False

    cases = [c for c in CASES if not (args.quick and "256²" in c.label)]
    rows = []
    with console.status("benchmarking") as status:
        for case in cases:
            status.update(f"benchmarking {case.label}")
            steps = max(5, args.steps // (10 if "256²" in case.label else 1))
            if args.quick:
                steps = max(5, steps // 5)
            rows.append(bench_case(case, steps, args.repeats, with_exponax))

    table = Table(title=f"time per step, batch {BATCH}, float32, {torch.get_num_threads()} "
                        "threads (ratios < 1: ours faster)")
    cols = ["case", "ours_ms", "exponax_ms", "ours_over_exponax", "fft_floor_ms",
            "ours_over_floor", "ffts_per_step"]
    headers = {"case": "case", "ours_ms": "ours (ms)", "exponax_ms": "exponax (ms)",
               "ours_over_exponax": "ours / exponax", "fft_floor_ms": "FFT floor (ms)",
               "ours_over_floor": "ours / FFT floor", "ffts_per_step": "FFTs per step"}
    for c in cols:
        table.add_column(headers[c], justify="left" if c == "case" else "right")
    for r in rows:
        table.add_row(*[(f"{r[c]:.3g}" if isinstance(r.get(c), float) else str(r.get(c, "-")))
                        for c in cols])
    console.print(table)
    print(run_line(), flush=True)
    if args.json:
        write_json(args.json, {"batch": BATCH, "threads": torch.get_num_threads(),
                               "exponax": with_exponax, "rows": rows}, args=args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
