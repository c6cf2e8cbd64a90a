"""PDE-Refiner vs a one-step MSE model of the same backbone on Kuramoto-Sivashinsky rollouts.

Data: our ``ks1d`` solver (``--points`` points on [0, ``--length``), nu drawn in [0.8, 1.2]),
stored every ``--dt`` from ``t = --burn`` (past the transient from the sine initial states) for
``--horizon`` steps. Trajectories are split into training and test sets.

Both models are :class:`~pdesurrogate.models.PDERefiner` over the *same* ModernUNet backbone
(same width, depth, initial weights), trained by :class:`~pdesurrogate.training.RefinerModule`
with the same data, batch size, learning rate and number of optimiser steps; the baseline has
``K = 0`` refinement steps (its loss is the MSE of the next-state prediction), the refiners
``K = --K`` with each ``sigma_min`` of ``--sigma-min`` (default: the paper's 2e-7 for KS, and
1e-2, whose noise levels a small network learns to predict within a CPU budget; at 2e-7 the
noise-prediction steps barely learn here, see ``train/mse_noise``). Inference costs a refiner
``K + 1`` network evaluations per step; training costs the same per step.

Measured on the test trajectories, rolled out autoregressively from their first stored state:

* the high-correlation time: the time until the Pearson correlation between rollout and truth
  (mean over test trajectories, per step) first drops below 0.8, as in Lippe et al. (2023),
  who report about 30% longer for the refiner on KS (75 s -> 98 s); also the mean of the
  per-trajectory times;
* for the refiner, ``--samples`` rollouts from different noise seeds: the spread (standard
  deviation over samples, RMS over the grid) against the error (RMS error vs the truth, mean
  over samples), per trajectory and step. The check: spread grows when error grows, i.e. the
  rank correlation over time of spread and error (median over trajectories) and the pooled
  correlation of log spread and log error are positive; and the time at which two samples
  decorrelate (correlation < 0.8) predicts the true high-correlation time (correlation across
  trajectories).

Run: ``python benchmarks/refiner_ks.py [--quick] [--json out.json]``. ``--quick`` is a smoke
test of the pipeline (its numbers mean little).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch
from options import check_at_least
from outputs import check_output, run_line, write_json
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

console = Console(width=140)
PAPER = {"mse_corr_time": 75.0, "refiner_corr_time": 98.0}  # Lippe et al. 2023, KS (seconds)


def make_data(args) -> str:
    from pdesurrogate.datasets import generate_dataset
    from pdesurrogate.solvers import KS1D

    n = args.train + args.test
    path = args.data.format(points=args.points, length=int(args.length), n=n,
                            horizon=args.horizon)
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        times = args.burn + np.arange(args.horizon + 1) * args.dt
        generate_dataset(KS1D(n_points=args.points, length=args.length), path, samples=n,
                         times=times, seed=args.seed, batch_size=32, workers=1)
    return path


def train(args, path: str, k_refine: int, sigma_min: float):
    import lightning.pytorch as pl

    from pdesurrogate.models import ModernUNet, PDERefiner
    from pdesurrogate.training import FieldDataModule, RefinerModule
    from pdesurrogate.training.progress import rich_progress_bar

    n = args.train + args.test
    dm = FieldDataModule(path, batch_size=args.batch_size, k=1,
                         fractions=(args.train / n, 0.0, args.test / n), seed=args.seed)
    pl.seed_everything(args.seed, verbose=False)  # same initial backbone weights for both
    backbone = ModernUNet(1, 2, 1, hidden_channels=args.hidden, channel_mults=args.mults,
                          n_blocks=args.blocks, n_params=1, cond=True, padding_mode="circular")
    model = PDERefiner(backbone, n_refine_steps=k_refine, sigma_min=sigma_min)
    module = RefinerModule(model, lr=args.lr, weight_decay=1e-5, scheduler="cosine")
    trainer = pl.Trainer(max_steps=args.steps, accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, limit_val_batches=0,
                         enable_model_summary=False, callbacks=[rich_progress_bar()])
    t0 = time.perf_counter()
    trainer.fit(module, datamodule=dm)
    return module.train(False), dm, time.perf_counter() - t0  # inference mode


def test_set(dm) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    data = dm.data
    idx = np.asarray(dm.test_indices)
    u = torch.as_tensor(np.stack([np.asarray(data.u[int(i)]) for i in idx]), dtype=torch.float32)
    p = torch.as_tensor(np.stack([data.params[k][idx] for k in data.params], 1),
                        dtype=torch.float32)
    return u, p, np.asarray(data.times) - float(data.times[0])


def correlations(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """``(B, T, C, n)`` twice -> ``(B, T)`` Pearson correlations."""
    from pdesurrogate.training import pearson_correlation

    b, t = truth.shape[:2]
    return pearson_correlation(pred.reshape(b * t, -1), truth.reshape(b * t, -1)).reshape(b, t)


def evaluate(module, u, p, times, batch: int) -> dict:
    from pdesurrogate.training import high_correlation_time

    t = torch.as_tensor(times, dtype=torch.float32)
    preds = []
    for s in range(0, u.shape[0], batch):
        u0, ps = u[s: s + batch, 0], p[s: s + batch]
        # each trajectory's noise as the module's test draws it: the figures do not depend on
        # --batch (a generator per batch did)
        preds.append(module.rollout(u0, ps, u.shape[1] - 1,
                                    generator=module.model.evaluation_noise(u0, ps)))
    pred = torch.cat(preds)
    corr = correlations(pred, u)
    one_step = float(((pred[:, 1] - u[:, 1]) ** 2).mean() / (u[:, 1] ** 2).mean())
    # the first network evaluation alone (k = 0, no refinement), in physical units
    m, x = module.model, module.normalize(u[:, 0])
    with torch.no_grad():
        first = m.network(x, torch.zeros_like(x), module.normalize_params(p),
                          torch.zeros(len(x), dtype=torch.long))
        first = module.denormalize(x + first if module.residual else first)
    step0 = float(((first - u[:, 1]) ** 2).mean() / (u[:, 1] ** 2).mean())
    return {
        "step0_rel_mse": step0,
        "corr_time": float(high_correlation_time(corr.mean(0), t)),
        "corr_time_per_traj_mean": float(high_correlation_time(corr, t).mean()),
        "one_step_rel_mse": one_step,
        "mean_corr": corr.mean(0).tolist(),
        "pred": pred,
    }


def _rank(x: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(x)).astype(float)


def spread_check(module, u, p, times, n_samples: int, batch: int) -> dict:
    """Spread of ``n_samples`` seeded rollouts vs their error (see the module docstring)."""
    from pdesurrogate.training import high_correlation_time, pearson_correlation

    samples = []
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"refiner: {n_samples} seeded rollouts", total=u.shape[0])
        for s in range(0, u.shape[0], batch):
            samples.append(module.sample_rollouts(u[s: s + batch, 0], p[s: s + batch],
                                                  u.shape[1] - 1, n_samples, seed=100))
            bar.advance(task, min(batch, u.shape[0] - s))
    smp = torch.cat(samples, dim=1)  # (S, B, T, C, n)
    b, t = u.shape[:2]
    spread = smp.std(0).pow(2).flatten(2).mean(-1).sqrt()[:, 1:]  # (B, T-1)
    error = (smp - u[None]).pow(2).flatten(3).mean(-1).sqrt().mean(0)[:, 1:]
    sp, er = spread.double().numpy(), error.double().numpy()
    rho = [float(np.corrcoef(_rank(sp[i]), _rank(er[i]))[0, 1]) for i in range(b)]
    ok = (sp > 0) & (er > 0)
    pooled = float(np.corrcoef(np.log(sp[ok]), np.log(er[ok]))[0, 1])
    # sample-vs-sample decorrelation time as an estimate of the true high-correlation time
    tt = torch.as_tensor(times, dtype=torch.float32)
    c01 = pearson_correlation(smp[0].reshape(b * t, -1), smp[1].reshape(b * t, -1)).reshape(b, t)
    est = high_correlation_time(c01, tt).numpy()
    true = high_correlation_time(correlations(smp[0], u), tt).numpy()
    pred_r = float(np.corrcoef(est, true)[0, 1]) if est.std() > 0 and true.std() > 0 \
        else float("nan")
    marks = np.unique(np.linspace(0, t - 2, 6).round().astype(int))
    return {
        "spearman_spread_error_median": float(np.median(rho)),
        "spearman_spread_error_positive_fraction": float(np.mean(np.asarray(rho) > 0)),
        "pooled_log_corr": pooled,
        "estimated_vs_true_corr_time_r": pred_r,
        "estimated_corr_time_mean": float(est.mean()),
        "true_corr_time_mean": float(true.mean()),
        "table": [{"time": float(times[m + 1]), "spread": float(sp[:, m].mean()),
                   "error": float(er[:, m].mean())} for m in marks],
        "holds": bool(np.median(rho) > 0 and pooled > 0),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=(
            "PDE-Refiner vs a one-step MSE model, same backbone, on Kuramoto-Sivashinsky.\n\n"
            "Measures: on ks1d test trajectories rolled out from their first stored state,\n"
            "the high-correlation time (Pearson correlation with the truth >= 0.8) of\n"
            "PDE-Refiner (--K refinement steps, one model per --sigma-min) and, per refiner,\n"
            "whether the spread of --samples seeded rollouts grows with their error.\n"
            "Reference: the same ModernUNet backbone trained as a one-step MSE model (K = 0)\n"
            "in the same run, with the same data, batch size, learning rate and optimiser\n"
            "steps; Lippe et al. (2023) report 75 s (MSE) -> 98 s (refiner) on KS.\n"
            "Prints: a table of correlation times with the ratio to the MSE model (and the\n"
            "paper's), a spread-vs-error table per refiner, the total time; --json writes all\n"
            "figures. The data set is generated once and cached (--data).\n"
            "Runtime: --quick about 15 s on 2 cores (2026-12-06), a smoke test of the\n"
            "pipeline (its numbers mean little); the default (not timed then) trains every\n"
            "model 40x the steps on 4x the trajectories of 4x the length."),
        epilog="See the module docstring for the setup.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=int, default=48,
                    help="training trajectories (default: %(default)s)")
    ap.add_argument("--test", type=int, default=16,
                    help="test trajectories (default: %(default)s)")
    ap.add_argument("--points", type=int, default=128,
                    help="grid points (default: %(default)s)")
    ap.add_argument("--length", type=float, default=64.0,
                    help="domain length L, the grid covers [0, L) (default: %(default)s)")
    ap.add_argument("--burn", type=float, default=50.0,
                    help="first stored time, past the transient (default: %(default)s)")
    ap.add_argument("--horizon", type=int, default=80,
                    help="stored steps per trajectory (default: %(default)s)")
    ap.add_argument("--dt", type=float, default=1.0,
                    help="time between stored steps (default: %(default)s)")
    ap.add_argument("--steps", type=int, default=1200,
                    help="optimiser steps per model (default: %(default)s)")
    ap.add_argument("--batch-size", type=int, default=32,
                    help="samples per batch (default: %(default)s)")
    ap.add_argument("--lr", type=float, default=1e-3,
                    help="AdamW learning rate of every model, cosine schedule "
                         "(default: %(default)s)")
    ap.add_argument("--hidden", type=int, default=16,
                    help="hidden channels of the U-Net backbone (default: %(default)s)")
    ap.add_argument("--mults", type=int, nargs="+", default=[1, 2, 2],
                    help="U-Net width multipliers, one per level (default: %(default)s)")
    ap.add_argument("--blocks", type=int, default=1,
                    help="U-Net residual blocks per level (default: %(default)s)")
    ap.add_argument("--K", type=int, default=3,
                    help="refinement steps of the refiner (default: %(default)s)")
    ap.add_argument("--sigma-min", type=float, nargs="+", default=[2e-7, 1e-2],
                    help="one refiner per value; 2e-7 is the paper's for KS "
                         "(default: %(default)s)")
    ap.add_argument("--samples", type=int, default=4,
                    help="seeded refiner rollouts for the spread check (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0,
                    help="seed of the data, the split and the initial weights "
                         "(default: %(default)s)")
    ap.add_argument("--data", default="runs/bench/ks_{points}_L{length}_{n}x{horizon}.nc",
                    help="data set file, generated if missing; {points}, {length}, {n} (all "
                         "trajectories) and {horizon} are filled in (default: %(default)s)")
    ap.add_argument("--quick", action="store_true",
                    help="12/4 trajectories, 20 steps of horizon, 30 optimiser steps, "
                         "3 samples")
    ap.add_argument("--json", default=None,
                    help="also write the arguments and all figures to this JSON file")
    args = ap.parse_args(argv)
    check_output(ap, "--json", args.json)
    check_at_least(ap, {"--steps": (args.steps, 1), "--K": (args.K, 0), "--train": (args.train, 1),
                        "--test": (args.test, 1), "--points": (args.points, 8),
                        "--batch-size": (args.batch_size, 1), "--threads": (args.threads, 1)})
    if args.quick:
        args.train, args.test, args.horizon, args.steps, args.samples = 12, 4, 20, 30, 3
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    path = make_data(args)
    results = {}
    runs = [("mse", 0, 2e-7)] + [(f"refiner s{sm:g}", args.K, sm) for sm in args.sigma_min]
    for name, k, sm in runs:
        console.print(f"[bold]training {name}[/bold] (K = {k}, {args.steps} steps)")
        module, dm, secs = train(args, path, k, sm)
        u, p, times = test_set(dm)
        with Progress(console=console, transient=True) as bar:
            bar.add_task(f"{name}: rolling out {u.shape[0]} test trajectories", total=None)
            ev = evaluate(module, u, p, times, batch=16)
        ev.pop("pred")
        ev.update(train_seconds=secs, sigma_min=sm if k else None,
                  parameters=sum(q.numel() for q in module.model.parameters()),
                  evaluations_per_step=k + 1)
        if k > 0:
            ev["spread"] = spread_check(module, u, p, times, args.samples, batch=16)
        results[name] = ev

    mse = results["mse"]
    ratios = {name: {"corr_time": r["corr_time"] / max(mse["corr_time"], 1e-12),
                     "per_traj": r["corr_time_per_traj_mean"]
                     / max(mse["corr_time_per_traj_mean"], 1e-12)}
              for name, r in results.items() if name != "mse"}
    paper_ratio = PAPER["refiner_corr_time"] / PAPER["mse_corr_time"]
    table = Table(title=f"KS high-correlation time (corr >= 0.8), {args.test} test trajectories, "
                        f"horizon {args.horizon * args.dt:g}, dt {args.dt:g}")
    for col in ("model", "K", "params", "train s", "1-step rel MSE (step 0 only)",
                "corr time, mean corr (KS time)", "corr time per traj (KS time)", "ratio to MSE"):
        table.add_column(col, justify="right")
    for name, r in results.items():
        rr = r["corr_time"] / max(mse["corr_time"], 1e-12)
        table.add_row(name, str(r["evaluations_per_step"] - 1), f"{r['parameters']:,}",
                      f"{r['train_seconds']:.3g}",
                      f"{r['one_step_rel_mse']:.2e} ({r['step0_rel_mse']:.2e})",
                      f"{r['corr_time']:.1f}", f"{r['corr_time_per_traj_mean']:.1f}",
                      f"{rr:.2f}")
    table.add_row("paper (Lippe et al.)", "3", "", "", "", "75 -> 98", "", f"{paper_ratio:.2f}")
    console.print(table)
    for name, r in results.items():
        if "spread" not in r:
            continue
        sp = r["spread"]
        t2 = Table(title=f"{name}: spread of {args.samples} seeded rollouts vs error "
                         "(mean over test trajectories)")
        for col in ("time", "spread (RMS std)", "error (RMS)", "spread / error"):
            t2.add_column(col, justify="right")
        for row in sp["table"]:
            t2.add_row(f"{row['time']:g}", f"{row['spread']:.3e}", f"{row['error']:.3e}",
                       f"{row['spread'] / max(row['error'], 1e-30):.3f}")
        console.print(t2)
        console.print(
            f"{name}: spread grows with error: median Spearman(spread, error) over time = "
            f"{sp['spearman_spread_error_median']:.2f} "
            f"({sp['spearman_spread_error_positive_fraction']:.0%} of trajectories positive), "
            f"pooled corr(log spread, log error) = {sp['pooled_log_corr']:.2f} -> "
            f"{'holds' if sp['holds'] else 'does NOT hold'}; sample-decorrelation time vs "
            f"true high-correlation time: r = {sp['estimated_vs_true_corr_time_r']:.2f} "
            f"(means {sp['estimated_corr_time_mean']:.1f} vs {sp['true_corr_time_mean']:.1f}; "
            f"r is nan when one of them does not vary)")
    for name, rr in ratios.items():
        console.print(f"{name} / MSE high-correlation time: {rr['corr_time']:.2f} "
                      f"(per-trajectory mean {rr['per_traj']:.2f}); paper {paper_ratio:.2f}")
    console.print(f"Total {time.perf_counter() - t_start:.0f} s.")
    print(run_line(), flush=True)
    if args.json:
        out = {"args": vars(args), "results": results, "ratios": ratios, "paper": PAPER,
               "paper_ratio": paper_ratio}
        write_json(args.json, out, args=args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
