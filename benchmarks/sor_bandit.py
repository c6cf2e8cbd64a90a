"""Learning to Relax: SOR iterations over a sequence of implicit heat2d systems, per omega tuner.

The sequence: ``--systems`` Crank–Nicolson steps of :class:`~pdesurrogate.solvers.Heat2D`
(``--n``² interior grid) whose diffusivity scale kappa (log-uniform in [0.01, 1]), its spatial
variation (uniform in [0, 0.5]) and the step dt (log-uniform in [0.2, 2] h) are redrawn for every
system, so the diffusion number d = kappa dt / (2 h²) (heat2d's context, theta = 1/2) spans three
orders of magnitude, [0.001, 1] (n + 1): [0.065, 65] on the default 64² grid; the right-hand
side comes from a random smooth state carried along the sequence. Each system is solved by
red-black SOR (``pdesurrogate.solvers.linear.redblack``) once for every omega of the grid (and
omega = 1, Gauss–Seidel), in one batched call, giving the table of iteration counts. Because
the systems do not depend on which omega solved the previous one (every solve reaches the same
rtol), the tuners are then replayed on that table:

* ``omega = 1`` (Gauss–Seidel); the best fixed omega in hindsight; the per-instance oracle;
* ``TsallisINF`` (non-contextual bandit), ``ChebCB`` (contextual, context = d), each averaged
  over ``--seeds`` seeds.

Printed: total iterations, ratio to the best fixed omega and to the oracle, and the solve time
implied by the measured seconds per sweep; then the same ratios over the first 1000, 2000,
5000, ... systems (each against the best fixed omega and the oracle of that prefix). A bandit's
regret grows like sqrt(N) while the total grows like N, so its ratio to the best fixed omega
falls as the sequence gets longer. Our targets: TsallisINF within 10% of the best fixed
omega; ChebCB within 10% of the oracle.

A solve that does not reach ``--rtol`` within ``--max-iter`` sweeps counts as ``--max-iter``
sweeps; how many did so is printed (table, best fixed omega, oracle, each tuner), and a target
whose reference (best fixed omega, oracle) has such solves is reported "not judged".

Run: ``python benchmarks/sor_bandit.py [--systems 1000] [--n 64] [--cache table.npz]
[--json out.json]`` (about 3 minutes of solves per 1000 systems on one core; ``--cache``
replays a saved table, and refuses one built with other --systems/--n/--arms/--rtol/--max-iter/
--seed). Measured (``--systems 10000 --seed 2``, 5 bandit seeds): TsallisINF
1.327x the best fixed omega over the first 1000 systems, 1.211x over 2000, 1.118x over 5000,
1.069x over all 10000 (per seed 1.04-1.10); ChebCB 1.067x the oracle over 1000, 1.021x over
10000.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import zipfile

import numpy as np
import torch
from outputs import run_line, write_json
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from pdesurrogate.solvers import Heat2D
from pdesurrogate.solvers.linear.redblack import redblack_sor
from pdesurrogate.solvers.linear.tuners import ChebCB, TsallisINF, default_omegas

console = Console(width=140)


def iteration_table(n_systems: int, n: int, omegas: list[float], rtol: float, max_iter: int,
                    seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Iterations ``(n_systems, len(omegas))`` (``max_iter`` where a solve did not converge),
    converged ``(n_systems, len(omegas))`` bool, contexts ``(n_systems,)``, seconds per
    sweep."""
    heat = Heat2D(n=n, scheme="cn")
    rng = np.random.default_rng(seed)
    u, _ = heat.sample(1, seed=seed, dtype=torch.float64)
    x = u[:, 0]
    k = len(omegas)
    w = torch.tensor(omegas, dtype=torch.float64)
    iters = np.zeros((n_systems, k), dtype=np.int64)
    conv = np.zeros((n_systems, k), dtype=bool)
    contexts = np.zeros(n_systems)
    sweeps, seconds = 0, 0.0
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"solving {n_systems} systems x {k} omegas", total=n_systems)
        for i in range(n_systems):
            kappa = torch.tensor([math.exp(rng.uniform(math.log(0.01), math.log(1.0)))],
                                 dtype=torch.float64)
            kvar = torch.tensor([rng.uniform(0.0, 0.5)], dtype=torch.float64)
            dt = math.exp(rng.uniform(math.log(0.2), math.log(2.0))) * heat.h  # d in [1e-3, 1](n+1)
            lap = heat.operator(kappa, kvar, x)
            lhs = lap.shifted(0.5 * dt)
            rhs = x - 0.5 * dt * lap.apply(x)
            contexts[i] = float(kappa) * 0.5 * dt / heat.h**2
            t0 = time.perf_counter()
            res = redblack_sor(lhs, rhs.expand(k, n, n), omega=w, rtol=rtol, max_iter=max_iter)
            seconds += time.perf_counter() - t0
            sweeps += int(res.iterations.max())
            its = res.iterations.numpy().copy()
            conv[i] = res.converged.numpy()
            its[~conv[i]] = max_iter
            iters[i] = its
            best = int(np.argmin(its))
            x = res.x[best: best + 1]  # the next state; the same for every omega up to rtol
            if rng.uniform() < 0.05:  # now and then a fresh state, so the rhs keeps structure
                u, _ = heat.sample(1, seed=int(rng.integers(1 << 30)), dtype=torch.float64)
                x = u[:, 0]
            bar.advance(task)
    # a batched sweep over k systems costs ~k single sweeps; report the cost of one system
    return iters, conv, contexts, seconds / max(sweeps, 1) / k


def replay(tuner, iters: np.ndarray, conv: np.ndarray, contexts: np.ndarray,
           omegas: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """The iterations ``tuner`` spends on each system of the table, in order, and whether that
    solve converged: two ``(n_systems,)`` arrays."""
    index = {w: j for j, w in enumerate(omegas)}
    spent = np.zeros(len(iters), dtype=np.int64)
    ok = np.zeros(len(iters), dtype=bool)
    for i in range(len(iters)):
        j = index[tuner.choose(float(contexts[i]))]
        spent[i], ok[i] = int(iters[i, j]), bool(conv[i, j])
        tuner.observe(int(spent[i]), converged=bool(ok[i]))
    return spent, ok


# what a cached table was built with: (option, attribute of args)
TABLE_SETTINGS = (("--systems", "systems"), ("--n", "n"), ("--arms", "arms"),
                  ("--rtol", "rtol"), ("--max-iter", "max_iter"), ("--seed", "seed"))


def check_args(ap: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse values the benchmark cannot run with (``ap.error``: usage and one line); create
    the folders of --cache and --json."""
    for opt, name, low in (("--systems", "systems", 1), ("--n", "n", 2), ("--arms", "arms", 1),
                           ("--max-iter", "max_iter", 1), ("--seeds", "seeds", 1)):
        if getattr(args, name) < low:
            ap.error(f"{opt} must be >= {low}, got {getattr(args, name)}")
    if args.threads is not None and args.threads < 1:
        ap.error(f"--threads must be >= 1, got {args.threads}")
    eps = float(np.finfo(np.float64).eps)
    if not (math.isfinite(args.rtol) and eps <= args.rtol < 1):
        ap.error(f"--rtol must be in [{eps:.3g}, 1) (float64 cannot reach less; 0 is never "
                 f"reached, so every solve would run --max-iter sweeps), got {args.rtol:g}")
    if args.cache is not None and not args.cache.endswith(".npz"):
        ap.error(f"--cache must name a .npz file, got {args.cache!r}")
    if args.cache is not None and os.path.isdir(args.cache):
        ap.error(f"--cache {args.cache} is a folder; give a .npz file")
    for opt, path in (("--cache", args.cache), ("--json", args.json)):
        folder = os.path.dirname(path) if path else ""
        if folder:
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError as e:
                ap.error(f"{opt} {path}: cannot create its folder {folder}: {e.strerror}")


def load_table(path: str, args: argparse.Namespace, omegas: list[float]):
    """``(iters, conv, contexts, sec_per_sweep)`` from a --cache file, or SystemExit (one line)
    if it is not such a table or was built with other settings than ``args``."""
    keys = ("iters", "converged", "contexts", "sec_per_sweep", "omegas") + tuple(
        name for _, name in TABLE_SETTINGS)
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"PK\x03\x04":
                raise ValueError("it is not an .npz (zip) file")
        z = np.load(path, allow_pickle=False)
        with z:
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise SystemExit(
                    f"--cache {path}: not a table of this benchmark's version (no "
                    f"{', '.join(missing)}); delete it or give another --cache")
            data = {k: z[k] for k in keys}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        why = (str(e).split(". ")[0] or type(e).__name__).rstrip(".")
        raise SystemExit(f"--cache {path}: cannot read it as an .npz table ({why}); delete it "
                         f"or give another --cache") from None
    differ = []
    for opt, name in TABLE_SETTINGS:
        stored, wanted = data[name].item(), getattr(args, name)
        if stored != wanted:
            differ.append(f"{opt} {stored:g} (asked {wanted:g})")
    if not differ and not np.array_equal(data["omegas"], omegas):
        differ.append("its omega grid")
    if differ:
        raise SystemExit(f"--cache {path} was built with other settings: {'; '.join(differ)}; "
                         f"give the same options, or another --cache to build a new table")
    iters, conv = data["iters"], data["converged"]
    if iters.shape != (args.systems, len(omegas)) or conv.shape != iters.shape:
        raise SystemExit(f"--cache {path}: table of shape {iters.shape} does not match "
                         f"--systems {args.systems} --arms {args.arms}")
    return iters, conv, data["contexts"], float(data["sec_per_sweep"])


def save_table(path: str, args: argparse.Namespace, omegas: list[float], iters: np.ndarray,
               conv: np.ndarray, contexts: np.ndarray, sec_per_sweep: float) -> None:
    """Write the table and the settings it was built with; complete or not at all."""
    tmp = path[: -len(".npz")] + ".partial.npz"
    np.savez(tmp, iters=iters, converged=conv, contexts=contexts, sec_per_sweep=sec_per_sweep,
             omegas=np.asarray(omegas), **{name: getattr(args, name)
                                           for _, name in TABLE_SETTINGS})
    os.replace(tmp, path)


def verdict(ratio: float, reference_capped: int, reference: str, own_capped: int,
            max_iter: int) -> str:
    """'met' / 'NOT met' for ratio <= 1.10, or 'not judged' when the reference has solves that
    hit --max-iter (its total is then no reference at all)."""
    if reference_capped:
        return (f"not judged ({reference_capped} of the {reference}'s solves hit --max-iter "
                f"{max_iter}; raise it)")
    out = "met" if ratio <= 1.10 else "NOT met"
    if own_capped:
        out += f" ({own_capped} of its solves hit --max-iter and count as {max_iter})"
    return out


def prefix_lengths(n_systems: int) -> list[int]:
    """1000, 2000, 5000, 10000, ... below ``n_systems``, then ``n_systems`` itself."""
    out, base = [], 1000
    while base < n_systems:
        out += [m * base for m in (1, 2, 5) if m * base < n_systems]
        base *= 10
    return out + [n_systems]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=(
            "Learning to Relax: SOR iterations over a sequence of implicit heat2d systems,\n"
            "per omega tuner.\n\n"
            "Measures: total red-black SOR iterations over --systems Crank-Nicolson steps of\n"
            "Heat2D whose diffusivity and time step are redrawn per system, for the bandit\n"
            "tuners TsallisINF (non-contextual) and ChebCB (contextual), averaged over\n"
            "--seeds seeds, replayed on a table of iteration counts for every omega of the\n"
            "grid.\n"
            "Reference: Gauss-Seidel (omega = 1), the best fixed omega in hindsight and the\n"
            "per-instance oracle, from the same table. Targets: TsallisINF within 10% of the\n"
            "best fixed omega, ChebCB within 10% of the oracle.\n"
            "Prints: total iterations, ratios to the best fixed omega and to the oracle, the\n"
            "implied solve time, then the same ratios over the first 1000, 2000, 5000, ...\n"
            "systems; --json writes them, --cache saves or replays the table.\n"
            "Runtime: about 3 minutes of solves per 1000 systems on one core (the default is\n"
            "1000); replaying a --cache table takes no solves; --quick (100 systems on a 32²\n"
            "grid) under a minute."),
        epilog="Full-length run: --systems 10000 --cache table.npz. See the module docstring\n"
               "for the targets and measured figures.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--systems", type=int, default=1000,
                    help="linear systems in the sequence (default: %(default)s)")
    ap.add_argument("--n", type=int, default=64,
                    help="interior grid points per side (default: %(default)s)")
    ap.add_argument("--arms", type=int, default=10,
                    help="omega grid size over [1, 2) (default: %(default)s)")
    ap.add_argument("--rtol", type=float, default=1e-6,
                    help="relative residual at which SOR stops (default: %(default)s)")
    ap.add_argument("--max-iter", type=int, default=3000,
                    help="SOR iteration cap per solve; a solve that hits it counts this many "
                         "(default: %(default)s)")
    ap.add_argument("--seeds", type=int, default=5,
                    help="bandit seeds to average over (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0,
                    help="seed of the system sequence (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: torch's default)")
    ap.add_argument("--quick", action="store_true",
                    help="--systems 100 --n 32: a smoke test of the pipeline (over so few "
                         "systems the bandits have barely started learning: the verdicts mean "
                         "little)")
    ap.add_argument("--json", default=None,
                    help="also write the arguments, rows and prefix ratios to this JSON file")
    ap.add_argument("--cache", default=None,
                    help="save the iteration table here (.npz; missing folders are created), or "
                         "reuse it if it exists (it must have been built with the same --systems, "
                         "--n, --arms, --rtol, --max-iter and --seed)")
    args = ap.parse_args(argv)
    if args.quick:
        args.systems, args.n = 100, 32
    check_args(ap, args)
    if args.threads:
        torch.set_num_threads(args.threads)

    grid = default_omegas(args.arms)
    omegas = [1.0] + grid  # column 0: Gauss-Seidel
    t0 = time.perf_counter()
    if args.cache and os.path.exists(args.cache):
        iters, conv, contexts, sec_per_sweep = load_table(args.cache, args, omegas)
    else:
        iters, conv, contexts, sec_per_sweep = iteration_table(
            args.systems, args.n, omegas, args.rtol, args.max_iter, args.seed)
        if args.cache:
            save_table(args.cache, args, omegas, iters, conv, contexts, sec_per_sweep)
    table_s = time.perf_counter() - t0
    arm_cols, arm_conv = iters[:, 1:], conv[:, 1:]
    fixed_totals = arm_cols.sum(axis=0)
    best_j = int(np.argmin(fixed_totals))
    rows = {
        "omega = 1 (Gauss-Seidel)": float(iters[:, 0].sum()),
        f"best fixed in hindsight (omega={grid[best_j]:.3f})": float(fixed_totals[best_j]),
        "oracle (per instance)": float(arm_cols.min(axis=1).sum()),
    }
    lo, hi = float(contexts.min()), float(contexts.max())
    spread, spent, capped = {}, {}, {}
    for name, make in (("TsallisINF", lambda s: TsallisINF(grid, max_iter=args.max_iter, seed=s)),
                       ("ChebCB (context = d)", lambda s: ChebCB(
                           grid, max_iter=args.max_iter, seed=s,
                           context_range=(lo, hi if hi > lo else lo * 1.01)))):
        runs = [replay(make(s), arm_cols, arm_conv, contexts, grid) for s in range(args.seeds)]
        spent[name] = np.stack([r[0] for r in runs])
        capped[name] = float(np.mean([np.sum(~r[1]) for r in runs]))
        totals = spent[name].sum(axis=1)
        rows[name] = float(np.mean(totals))
        spread[name] = float(np.std(totals))
    # solves that hit --max-iter before --rtol (each counted as max_iter sweeps)
    unconverged = {
        "table": int(np.sum(~conv)), "table_solves": int(conv.size),
        "gauss_seidel": int(np.sum(~conv[:, 0])),
        "best_fixed": int(np.sum(~arm_conv[:, best_j])),
        "oracle": int(np.sum(~arm_conv.any(axis=1))),
        "TsallisINF": capped["TsallisINF"], "ChebCB": capped["ChebCB (context = d)"]}

    best_fixed = fixed_totals[best_j]
    oracle = rows["oracle (per instance)"]
    table = Table(title=f"{args.systems} heat2d CN systems, {args.n}² grid, rtol {args.rtol:g}, "
                        f"d in [{contexts.min():.2g}, {contexts.max():.2g}] (fewer sweeps is "
                        "better)")
    for c in ("method", "total sweeps", "/ best fixed", "/ oracle", "solve time (s)"):
        table.add_column(c, justify="left" if c == "method" else "right")
    out = []
    for name, total in rows.items():
        sd = f" ± {spread[name]:.0f}" if name in spread else ""
        table.add_row(name, f"{total:.0f}{sd}", f"{total / best_fixed:.3f}",
                      f"{total / oracle:.3f}", f"{total * sec_per_sweep:.3g}")
        out.append({"method": name, "total_iterations": total, "std": spread.get(name),
                    "ratio_best_fixed": total / best_fixed, "ratio_oracle": total / oracle,
                    "solve_seconds": total * sec_per_sweep})
    console.print(table)

    # regret shrinks relative to the total as the sequence grows: the ratios over its first N
    # systems, each against the best fixed omega and the oracle of those N systems
    prefixes = []
    cum_arms, cum_oracle = np.cumsum(arm_cols, axis=0), np.cumsum(arm_cols.min(axis=1))
    cum_spent = {k: np.cumsum(v, axis=1).mean(axis=0) for k, v in spent.items()}
    curve = Table(title="the same replays over the first N systems of the sequence")
    for c in ("first N systems", "best fixed omega", "TsallisINF / best fixed",
              "ChebCB / oracle"):
        curve.add_column(c, justify="right")
    for n_first in prefix_lengths(args.systems):
        fixed = cum_arms[n_first - 1]
        j = int(np.argmin(fixed))
        ts = float(cum_spent["TsallisINF"][n_first - 1] / fixed[j])
        cb = float(cum_spent["ChebCB (context = d)"][n_first - 1] / cum_oracle[n_first - 1])
        prefixes.append({"systems": n_first, "best_fixed_omega": grid[j],
                         "tsallis_ratio_best_fixed": ts, "chebcb_ratio_oracle": cb})
        curve.add_row(str(n_first), f"{grid[j]:.3f}", f"{ts:.3f}", f"{cb:.3f}")
    console.print(curve)
    u = unconverged
    console.print(f"solves that did not reach --rtol {args.rtol:g} within --max-iter "
                  f"{args.max_iter} (each counted as {args.max_iter} sweeps): {u['table']} of "
                  f"the table's {u['table_solves']}; Gauss-Seidel {u['gauss_seidel']}, best fixed "
                  f"omega {u['best_fixed']}, oracle {u['oracle']}, TsallisINF {u['TsallisINF']:g}"
                  f", ChebCB {u['ChebCB']:g} (mean per seed) of {args.systems}")
    verdicts = {
        "TsallisINF": verdict(prefixes[-1]["tsallis_ratio_best_fixed"], u["best_fixed"],
                              "best fixed omega", math.ceil(u["TsallisINF"]), args.max_iter),
        "ChebCB": verdict(prefixes[-1]["chebcb_ratio_oracle"], u["oracle"], "oracle",
                          math.ceil(u["ChebCB"]), args.max_iter)}
    console.print(f"targets (TsallisINF <= 1.10 x best fixed, ChebCB <= 1.10 x oracle) over all "
                  f"{args.systems} systems: TsallisINF {verdicts['TsallisINF']}, "
                  f"ChebCB {verdicts['ChebCB']}")
    console.print(f"seconds per sweep (one {args.n}² system): {sec_per_sweep * 1e6:.1f} µs; "
                  f"building the table took {table_s:.0f} s")
    print(run_line(), flush=True)
    if args.json:
        write_json(args.json, {"args": vars(args), "rows": out, "prefixes": prefixes,
                               "unconverged": unconverged, "verdicts": verdicts,
                               "seconds_per_sweep": sec_per_sweep}, args=args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
