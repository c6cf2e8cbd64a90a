"""SDGD vs the full Laplacian for PINNs in high dimension: cost per iteration and accuracy.

Problem: Poisson (or ``--problem``) on the unit ball in d dimensions with the exact solution of
Hu et al. (2024); network: :class:`~pdesurrogate.pinn.PINNMLP` (width 128, depth 4, tanh,
hard boundary); Adam; ``--batch`` fresh uniform points per step.

Methods (the reference is ``full``, measured in the same run):

* ``full``: the exact Laplacian, all d second derivatives, backpropagated (forward mode).
* ``sdgd``: SDGD, K = min(--dim-batch, d / 10) dimensions, sampled in forward and backward
  (two independent draws; unbiased).
* ``sdgd-bwd``: SDGD sampled in the backward pass only (exact residual, no graph, forward O(d)).
* ``hutchinson``: Hutchinson's estimator with --probes Rademacher probes (forward + backward).

Parts:

1. cost: seconds and peak memory per training iteration (sampling, source, estimator,
   backward, Adam step) for every method and d in --dims. Each measurement runs in a fresh
   process; memory is the growth of the peak resident set over the process's size after the
   model and optimiser state are built. A configuration whose time or memory, extrapolated
   linearly in d from the previous d, would exceed --max-iter-seconds / --max-gib is skipped
   and marked so.
2. budget: relative L2 error ‖u - u*‖ / ‖u*‖ on --test-points held-out points after --budget
   seconds of training (evaluation time excluded; learning rate cosine-decayed over the
   budget's wall-clock), sdgd vs full, for d in --budget-dims. Two baselines give context:
   the best constant ``n`` in ``u = (1 - ‖x‖²) n`` and the first-order Taylor expansion of
   the exact solution about 0 (in high d the points crowd at the sphere, where the solution is
   nearly ``(1 - ‖x‖²)(a + b·x)``).
3. target: sdgd at d = --target-dim for --target-budget seconds (our target: rel L2 <= 1e-2
   at d = 10,000 within 30 minutes), evaluated every --eval-every seconds; time to the target
   and the final error. By default two runs: the paper's setting, and with the output bias
   first fitted to the PDE residual (``PINNModule.init_output_bias``: the network's output
   u*/(1 - ‖x‖²) is of size about √d while a fresh network outputs O(1); the fit uses the
   source term only, never u*). Compare
   with the baselines: when the best constant is already below 1e-2 (d = 10,000, seed 0), the
   target only says the network found the solution's mean.

Run: ``python benchmarks/sdgd.py [--dims 100 1000 10000 100000] [--budget 120]
[--target-budget 1800] [--json out.json]``; ``--quick`` for a small smoke run (it sets the
options in ``QUICK``; those given explicitly win). Exit status 1 when a job failed (its error
is in the tables and listed at the end), 2 for bad options.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import platform
import resource
import sys
import time

from outputs import check_output, run_line, write_json
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console(width=150)
METHODS = ("full", "sdgd", "sdgd-bwd", "hutchinson")
TARGET = 1e-2


# -- child processes --------------------------------------------------------------------------
def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def _build(job: dict):
    import torch

    from pdesurrogate.pinn import PROBLEMS, SDGD, FullLaplacian, Hutchinson, PINNModule

    torch.set_num_threads(job["threads"])
    torch.manual_seed(job["seed"])
    d, method = job["dim"], job["method"]
    if method == "full":
        est, variant = FullLaplacian(), "forward_backward"
    elif method == "hutchinson":
        est, variant = Hutchinson(job["probes"]), "forward_backward"
    else:
        est = SDGD(job["dim_batch"])
        variant = "backward" if method == "sdgd-bwd" else "forward_backward"
    module = PINNModule(PROBLEMS[job["problem"]](d, seed=job["seed"]), est, variant=variant,
                        width=job["width"], depth=job["depth"], lr=job["lr"],
                        scheduler="none", seed=job["seed"])
    opt = torch.optim.Adam(module.parameters(), lr=job["lr"])
    # allocate Adam's moments now (a zero gradient leaves the weights unchanged), so the
    # memory measured later is that of an iteration, not of the optimiser's first step
    for p in module.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return torch, module, opt


def _iteration(torch, module, opt, gen, job):
    from pdesurrogate.pinn import sample_ball

    x = sample_ball(job["batch"], job["dim"], gen)
    objective, logs = module.objective(x)
    opt.zero_grad(set_to_none=True)
    objective.backward()
    opt.step()
    return logs


def _cost_job(job: dict, queue) -> None:
    torch, module, opt = _build(job)
    gen = torch.Generator().manual_seed(job["seed"])
    base = _rss_bytes()
    _iteration(torch, module, opt, gen, job)  # warm-up (its memory counts: same as any step)
    times = []
    while len(times) < job["iters"]:
        t0 = time.perf_counter()
        _iteration(torch, module, opt, gen, job)
        times.append(time.perf_counter() - t0)
        queue.put(("progress", len(times)))
        if sum(times) > job["max_seconds"]:
            break
    times.sort()
    queue.put(("result", {"seconds_per_iter": times[len(times) // 2], "iters": len(times),
                          "peak_mib": _peak_bytes() / 2**20,
                          "iter_mib": max(0, _peak_bytes() - base) / 2**20,
                          "model_mib": base / 2**20}))


def _train_job(job: dict, queue) -> None:
    torch, module, opt = _build(job)
    from pdesurrogate.pinn import sample_ball

    gen = torch.Generator().manual_seed(job["seed"])
    x_test = sample_ball(job["test_points"], job["dim"],
                         torch.Generator().manual_seed(job["seed"] + 12345))
    with torch.no_grad():
        exact = module.problem.exact(x_test)

    def rel_l2() -> float:
        with torch.no_grad():
            u = torch.cat([module(x_test[i: i + 250]) for i in range(0, len(x_test), 250)])
        return float((u - exact).norm() / exact.norm())

    budget, lr0 = job["budget"], job["lr"]
    trained, iters, history, reached = 0.0, 0, [], None
    if job.get("fit_output_bias"):  # counted as training time
        t0 = time.perf_counter()
        bias = module.init_output_bias()
        trained += time.perf_counter() - t0
        rel = rel_l2()
        history.append({"seconds": trained, "iters": 0, "rel_l2": rel, "output_bias": bias})
        if rel <= TARGET:
            reached = {"seconds": trained, "iters": 0}
    next_eval = min(job["eval_every"], budget)
    while trained < budget:
        for group in opt.param_groups:  # cosine decay over the wall-clock budget
            group["lr"] = lr0 * 0.5 * (1 + math.cos(math.pi * min(trained / budget, 1.0)))
        t0 = time.perf_counter()
        _iteration(torch, module, opt, gen, job)
        trained += time.perf_counter() - t0
        iters += 1
        if trained >= next_eval or trained >= budget:
            rel = rel_l2()
            history.append({"seconds": trained, "iters": iters, "rel_l2": rel})
            if reached is None and rel <= TARGET:
                reached = {"seconds": trained, "iters": iters}
            queue.put(("progress", min(trained, budget), rel))
            next_eval += job["eval_every"]
            if reached is not None and job.get("stop_at_target"):
                break
    if not history:  # cannot happen with budget > 0 (parse_args); never index an empty list
        history.append({"seconds": trained, "iters": iters, "rel_l2": rel_l2()})
    queue.put(("result", {"iters": iters, "seconds": trained, "rel_l2": history[-1]["rel_l2"],
                          "reached_target": reached, "history": history,
                          "seconds_per_iter": trained / max(iters, 1)}))


def _child(kind: str, job: dict, queue) -> None:
    try:
        (_cost_job if kind == "cost" else _train_job)(job, queue)
    except MemoryError as e:
        queue.put(("error", f"out of memory: {e}"))
    except Exception as e:  # reported in the table, not a traceback from a child process
        queue.put(("error", f"{type(e).__name__}: {e}"))


def run_child(kind: str, job: dict, progress: Progress, task, total: float) -> dict:
    """Run a job in a fresh process; update ``task`` from its progress messages."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(kind, job, queue), daemon=True)
    proc.start()
    result = None
    while result is None:
        try:
            msg = queue.get(timeout=1.0)
        except Exception:
            if not proc.is_alive():
                code = proc.exitcode
                result = {"error": f"process died (exit code {code}"
                                   f"{', killed: out of memory?' if code == -9 else ''})"}
            continue
        if msg[0] == "progress":
            desc = f" rel L2 {msg[2]:.3e}" if len(msg) > 2 else ""
            progress.update(task, completed=min(msg[1], total), info=desc)
        elif msg[0] == "result":
            result = msg[1]
        else:
            result = {"error": msg[1]}
    proc.join(timeout=30)
    return result


# -- baselines ----------------------------------------------------------------------------------
def baselines(problem: str, dim: int, seed: int, test_points: int) -> dict:
    """rel L2 of the best constant n and of the first-order Taylor expansion about 0."""
    import torch

    from pdesurrogate.pinn import PROBLEMS, sample_ball

    p = PROBLEMS[problem](dim, seed=seed).double()
    x = sample_ball(test_points, dim, torch.Generator().manual_seed(seed + 12345), torch.float64)
    u = p.exact(x)
    q = 1 - (x * x).sum(-1)
    n_const = (q * u).sum() / (q * q).sum()
    c = p.c.double()
    grad = torch.zeros(dim, dtype=torch.float64)  # ∇s(0): sin(x_i + cos x_{i+1} + ...) at 0
    grad[:-1] += c * math.cos(1.0)
    grad[1:] += c * math.cos(1.0)
    taylor = q * (math.sin(1.0) * c.sum() + x @ grad)
    return {"const": float((q * n_const - u).norm() / u.norm()),
            "taylor1": float((taylor - u).norm() / u.norm())}


# -- main ---------------------------------------------------------------------------------------
def _job(args, dim: int, method: str) -> dict:
    return {"dim": dim, "method": method, "problem": args.problem, "seed": args.seed,
            "threads": args.threads, "width": args.width, "depth": args.depth, "lr": args.lr,
            "batch": args.batch, "dim_batch": max(1, min(args.dim_batch, dim // 10)),
            "probes": args.probes, "fit_output_bias": False}


def _save(args, out: dict) -> None:
    if args.json:
        write_json(args.json, out, args=args)


def _fmt(v, spec=".3g", none="-"):
    return none if v is None else format(v, spec)


# what --quick sets, unless the option is given explicitly
QUICK = {"dims": [20, 60], "iters": 2, "budget": 3.0, "budget_dims": [20], "target_dim": 60,
         "target_budget": 3.0, "eval_every": 1.0, "test_points": 100, "width": 32}
_UNSET = object()


def _opt(name: str) -> str:
    return "--" + name.replace("_", "-")


def parse_args(argv=None) -> argparse.Namespace:
    """The benchmark's settings from ``argv``; argparse's usage error (exit 2) for bad values."""
    p = argparse.ArgumentParser(
        description=(
            "SDGD vs the full Laplacian for PINNs in high dimension: cost per iteration and\n"
            "accuracy.\n\n"
            "Measures, for a PINN (PINNMLP, Adam) on --problem on the unit ball in d\n"
            "dimensions with the exact solution of Hu et al. (2024):\n"
            "  1. cost: seconds and peak memory per training iteration for every --methods\n"
            "     and d in --dims, each in a fresh process;\n"
            "  2. budget: relative L2 error after --budget seconds of training, sdgd vs full,\n"
            "     for d in --budget-dims;\n"
            "  3. target: sdgd at d = --target-dim for --target-budget seconds (our target:\n"
            "     rel L2 <= 1e-2 at d = 10,000 within 30 minutes).\n"
            "Reference: the full Laplacian (method 'full'), measured in the same run; the\n"
            "best constant and a first-order Taylor expansion of the solution give context\n"
            "for the errors.\n"
            "Prints: one table per part; --json writes the settings, the machine and all\n"
            "figures.\n"
            "Runtime: parts 2 and 3 run for fixed wall-clock budgets (--budget per run,\n"
            "--target-budget per target run, two target runs by default): by default 12\n"
            "minutes of budget runs and 60 of target runs, plus evaluations, process start-up\n"
            "and the cost part. --quick: 1 to 1.5 minutes on 2 cores (67 s and 78 s measured\n"
            "at load average 2), longer on a busier machine: 12 fresh processes, each\n"
            "importing torch."),
        epilog="See the module docstring for the methods and the parts.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dims", type=int, nargs="+", default=[100, 1000, 10000, 100000],
                   help="dimensions d of the cost part (default: %(default)s)")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS,
                   help="Laplacian estimators of the cost part: full (exact), sdgd (sampled "
                   "in forward and backward), sdgd-bwd (backward only), hutchinson "
                   "(default: %(default)s)")
    p.add_argument("--problem", default="poisson",
                   choices=["poisson", "allen_cahn", "sine_gordon"],
                   help="PDE on the unit ball (default: %(default)s)")
    p.add_argument("--batch", type=int, default=100,
                   help="collocation points per step (default: %(default)s)")
    p.add_argument("--dim-batch", type=int, default=100, help="SDGD dimensions per step "
                   "(capped at d/10 so SDGD is never the full Laplacian) "
                   "(default: %(default)s)")
    p.add_argument("--probes", type=int, default=16,
                   help="Hutchinson probes per step (default: %(default)s)")
    p.add_argument("--width", type=int, default=128,
                   help="hidden width of the PINN MLP (default: %(default)s)")
    p.add_argument("--depth", type=int, default=4,
                   help="hidden layers of the PINN MLP (default: %(default)s)")
    p.add_argument("--lr", type=float, default=1e-3,
                   help="Adam learning rate (default: %(default)s)")
    p.add_argument("--iters", type=int, default=5,
                   help="timed iterations per cost point (default: %(default)s)")
    p.add_argument("--max-iter-seconds", type=float, default=120.0,
                   help="skip cost points predicted slower than this per iteration "
                   "(default: %(default)s)")
    p.add_argument("--max-gib", type=float, default=12.0,
                   help="skip cost points predicted to need more memory than this "
                   "(default: %(default)s)")
    p.add_argument("--budget", type=float, default=120.0,
                   help="seconds per budget run (default: %(default)s)")
    p.add_argument("--budget-dims", type=int, nargs="*", default=[100, 1000, 10000],
                   help="dimensions of the budget part, none to skip it "
                   "(default: %(default)s)")
    p.add_argument("--target-dim", type=int, default=10000,
                   help="dimension of the target run (default: %(default)s)")
    p.add_argument("--target-budget", type=float, default=1800.0,
                   help="seconds for the target run (> 0; --skip-target skips it) "
                   "(default: %(default)s)")
    p.add_argument("--target-fit-bias", choices=["off", "on", "both"], default="both",
                   help="target run(s) without (the paper's setting) and/or with the output "
                   "bias fitted to the PDE residual first (PINNModule.init_output_bias) "
                   "(default: %(default)s)")
    p.add_argument("--target-budget-fit", type=float, default=None,
                   help="seconds for the target run with the fitted bias (default: "
                   "--target-budget)")
    p.add_argument("--fit-output-bias", action="store_true",
                   help="fit the output bias before the budget runs (sdgd and full alike)")
    p.add_argument("--stop-at-target", action="store_true",
                   help="end the target run once rel L2 <= 1e-2")
    p.add_argument("--eval-every", type=float, default=60.0,
                   help="seconds of training between evaluations of the target run (> 0; "
                   "one printed line per evaluation) (default: %(default)s)")
    p.add_argument("--test-points", type=int, default=1000,
                   help="held-out points for the relative L2 error (default: %(default)s)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads per process (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the problem, the network and the points "
                   "(default: %(default)s)")
    p.add_argument("--skip-cost", action="store_true",
                   help="skip part 1 (cost per iteration)")
    p.add_argument("--skip-target", action="store_true",
                   help="skip part 3 (the target runs)")
    p.add_argument("--quick", action="store_true",
                   help="small smoke run: sets " + ", ".join(
                       f"{_opt(k)} {' '.join(map(str, v)) if isinstance(v, list) else v}"
                       for k, v in QUICK.items())
                   + "; an option given explicitly wins (1 to 1.5 minutes on 2 cores)")
    p.add_argument("--json", default=None,
                   help="also write the settings, the machine and all figures to this "
                   "JSON file")
    # options --quick sets start unset, so an explicit value can be told from the default
    args = p.parse_args(argv, argparse.Namespace(**{k: _UNSET for k in QUICK}))
    check_output(p, "--json", args.json)
    for k, v in QUICK.items():
        if getattr(args, k) is _UNSET:
            setattr(args, k, v if args.quick else p.get_default(k))
    for name in ("batch", "dim_batch", "probes", "iters", "threads", "test_points", "width",
                 "depth"):
        if getattr(args, name) < 1:
            p.error(f"{_opt(name)} must be >= 1, got {getattr(args, name)}")
    for name in ("budget", "target_budget", "target_budget_fit", "eval_every", "lr",
                 "max_iter_seconds", "max_gib"):
        v = getattr(args, name)
        if v is not None and not (math.isfinite(v) and v > 0):
            hint = "; --skip-target skips the target runs" if name == "target_budget" else ""
            p.error(f"{_opt(name)} must be a finite number > 0, got {v:g}{hint}")
    if any(d < 20 for d in args.dims + args.budget_dims):
        p.error(f"dimensions must be >= 20, got {args.dims + args.budget_dims}")
    if args.target_dim < 20:
        p.error(f"--target-dim must be >= 20 (as the other dimensions), got {args.target_dim}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    failed: list[str] = []  # the jobs that ended in an error: the exit status is 1

    load0 = os.getloadavg()
    out = {"config": vars(args), "machine": {"cpus": os.cpu_count(),
                                             "platform": platform.platform(),
                                             "python": sys.version.split()[0],
                                             "loadavg_start": load0}}
    console.print(f"[bold]SDGD benchmark[/bold]: {args.problem}, width {args.width}, depth "
                  f"{args.depth}, {args.batch} points/step, {args.threads} thread(s); "
                  f"{os.cpu_count()} CPUs, load average {load0[0]:.1f}")
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
               TimeElapsedColumn())

    # 1. cost per iteration
    cost: list[dict] = []
    if not args.skip_cost:
        with Progress(*columns, console=console, transient=True) as progress:
            last: dict[str, dict] = {}
            for d in sorted(args.dims):
                for method in args.methods:
                    job = dict(_job(args, d, method), iters=args.iters,
                               max_seconds=args.max_iter_seconds * 2)
                    row = {"dim": d, "method": method,
                           "k": job["dim_batch"] if method.startswith("sdgd") else
                           (job["probes"] if method == "hutchinson" else d)}
                    prev = last.get(method)
                    if prev is not None:
                        grow = d / prev["dim"]
                        t_pred = prev["seconds_per_iter"] * grow
                        m_pred = (prev["iter_mib"] + prev["model_mib"]) * grow / 1024
                        if t_pred > args.max_iter_seconds or m_pred > args.max_gib:
                            row["skipped"] = (f"predicted {t_pred:.0f} s/iter, {m_pred:.1f} GiB "
                                              f"(x{grow:g} of d={prev['dim']})")
                            cost.append(row)
                            continue
                    task = progress.add_task(f"cost d={d} {method}", total=args.iters, info="")
                    res = run_child("cost", job, progress, task, args.iters)
                    progress.remove_task(task)
                    row.update(res)
                    if "error" not in res:
                        last[method] = row
                    else:
                        failed.append(f"cost d={d} {method}: {res['error']}")
                    cost.append(row)
        ref = {r["dim"]: r for r in cost if r["method"] == "full" and "seconds_per_iter" in r}
        table = Table(title="Cost per training iteration (median of timed iterations)")
        for col in ("d", "method", "K", "s/iter", "iter MiB", "peak MiB", "full/method time",
                    "full/method mem", "note"):
            table.add_column(col, justify="right" if col not in ("method", "note") else "left")
        for r in cost:
            f = ref.get(r["dim"])
            ok = "seconds_per_iter" in r
            tr = f["seconds_per_iter"] / r["seconds_per_iter"] if ok and f else None
            mr = f["iter_mib"] / max(r["iter_mib"], 1e-9) if ok and f else None
            r["speedup_vs_full"], r["memory_saving_vs_full"] = tr, mr
            table.add_row(str(r["dim"]), r["method"], str(r["k"]),
                          _fmt(r.get("seconds_per_iter"), ".4f"), _fmt(r.get("iter_mib"), ".0f"),
                          _fmt(r.get("peak_mib"), ".0f"),
                          "-" if tr is None else f"{tr:.2f}x",
                          "-" if mr is None else f"{mr:.2f}x",
                          r.get("skipped") or r.get("error") or "")
        console.print(table)
        for method in args.methods:
            rows = [r for r in cost if r["method"] == method and "seconds_per_iter" in r]
            if len(rows) >= 2:
                a, b = rows[0], rows[-1]
                console.print(f"  {method}: d x{b['dim'] / a['dim']:g} "
                              f"({a['dim']} -> {b['dim']}) costs x"
                              f"{b['seconds_per_iter'] / a['seconds_per_iter']:.1f} time, x"
                              f"{max(b['iter_mib'], 1) / max(a['iter_mib'], 1):.1f} memory")
    out["cost"] = cost
    _save(args, out)

    # 2. accuracy after a fixed budget
    budget_rows: list[dict] = []
    with Progress(*columns, console=console, transient=True) as progress:
        for d in args.budget_dims:
            base = baselines(args.problem, d, args.seed, args.test_points)
            for method in ("sdgd", "full"):
                job = dict(_job(args, d, method), budget=args.budget, eval_every=args.budget,
                           test_points=args.test_points, fit_output_bias=args.fit_output_bias)
                task = progress.add_task(f"budget d={d} {method}", total=args.budget, info="")
                res = run_child("train", job, progress, task, args.budget)
                progress.remove_task(task)
                if "error" in res:
                    failed.append(f"budget d={d} {method}: {res['error']}")
                budget_rows.append({"dim": d, "method": method, "k": job["dim_batch"]
                                    if method == "sdgd" else d, "baselines": base, **res})
    table = Table(title=f"Relative L2 after {args.budget:g} s of training (same budget each)")
    for col in ("d", "method", "K", "iterations", "s/iter", "rel L2", "full/method rel L2",
                "const baseline", "Taylor-1 baseline"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for r in budget_rows:
        f = next((b for b in budget_rows if b["dim"] == r["dim"] and b["method"] == "full"), None)
        ok = "rel_l2" in r
        ratio = f["rel_l2"] / r["rel_l2"] if ok and f and "rel_l2" in f else None
        r["error_ratio_full_over_method"] = ratio
        table.add_row(str(r["dim"]), r["method"], str(r["k"]), str(r.get("iters", "-")),
                      _fmt(r.get("seconds_per_iter"), ".4f"),
                      _fmt(r.get("rel_l2"), ".3e", r.get("error", "-")),
                      "-" if ratio is None else f"{ratio:.2f}x",
                      f"{r['baselines']['const']:.3e}", f"{r['baselines']['taylor1']:.3e}")
    console.print(table)
    out["budget"] = budget_rows
    _save(args, out)

    # 3. the target run(s)
    runs = {"off": [False], "on": [True], "both": [False, True]}[args.target_fit_bias]
    out["target"] = []
    for fit in [] if args.skip_target else runs:
        d = args.target_dim
        budget = args.target_budget_fit if fit and args.target_budget_fit else args.target_budget
        job = dict(_job(args, d, "sdgd"), budget=budget, eval_every=args.eval_every,
                   test_points=args.test_points, stop_at_target=args.stop_at_target,
                   fit_output_bias=fit)
        label = "fitted output bias" if fit else "paper's setting"
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task(f"target d={d} sdgd, {label}", total=budget, info="")
            res = run_child("train", job, progress, task, budget)
        base = baselines(args.problem, d, args.seed, args.test_points)
        res.update({"dim": d, "k": job["dim_batch"], "budget": budget, "baselines": base,
                    "fit_output_bias": fit, "loadavg_after": os.getloadavg()})
        out["target"].append(res)
        if "error" in res:
            console.print(f"[red]target run ({label}) failed[/red]: {res['error']}")
            failed.append(f"target d={d} sdgd, {label}: {res['error']}")
            continue
        hit = res["reached_target"]
        console.print(
            f"target d={d}, SDGD K={job['dim_batch']}, {label}: rel L2 {res['rel_l2']:.3e} "
            f"after {res['seconds']:.0f} s ({res['iters']} iterations, "
            f"{res['seconds_per_iter']:.3f} s/iter); <= {TARGET:g} "
            + (f"first at {hit['seconds']:.0f} s ({hit['iters']} iterations)" if hit
               else "not reached")
            + f"; baselines: best constant {base['const']:.3e}, "
              f"Taylor-1 {base['taylor1']:.3e}; load average {os.getloadavg()[0]:.1f}")
        for h in res["history"]:
            console.print(f"    {h['seconds']:7.0f} s  {h['iters']:6d} it  rel L2 "
                          f"{h['rel_l2']:.3e}")
        _save(args, out)  # partial results survive a later interruption
    out["machine"]["loadavg_end"] = os.getloadavg()
    console.print(f"load average at the end: {out['machine']['loadavg_end'][0]:.1f}")
    print(run_line(), flush=True)
    if args.json:
        write_json(args.json, out, args=args)
        console.print(f"wrote {args.json}")
    if failed:
        console.print(f"[red]{len(failed)} job(s) failed[/red] (exit status 1):")
        for line in failed:
            console.print(f"  {line}", markup=False)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
