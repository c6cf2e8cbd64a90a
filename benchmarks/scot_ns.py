"""scOT trained all2all vs scOT trained one-step vs FNO on 2-D Navier-Stokes, same data.

Data: our ``navier_stokes2d`` solver (vorticity, FNO forcing, Gaussian random initial fields,
``--n`` x ``--n`` grid, nu log-uniform in ``--nu``), stored at ``K + 1 = --n-times`` evenly
spaced times on [0, ``--t-end``]. Trajectories are split into training and test sets.

Three models, each trained for the same number of optimiser steps with the same batch size on
the same training trajectories:

* **scOT all2all**: :class:`~pdesurrogate.models.ScOT` trained by
  :class:`~pdesurrogate.training.All2AllModule` on all ``(K + 1)(K + 2) / 2`` pairs
  ``t_i <= t_j`` of each trajectory, conditioned on the lead time (Poseidon's recipe);
* **scOT one-step**: the same network and module trained on the ``K`` consecutive pairs only
  (lead time = dt);
* **FNO**: :class:`~pdesurrogate.models.FNO` trained one step by
  :class:`~pdesurrogate.training.NextStepModule` (the platform's reference model).

Measured on the test trajectories: the relative L2 error at lead times ``l * dt`` for ``l`` in
``--leads``, averaged over every start time ``t_i`` with ``i + l <= K``. scOT all2all predicts
at the lead time in one call ("direct") and by ``l`` autoregressive steps of dt ("AR"); the
one-step models only step autoregressively (the one-step scOT's direct prediction at other lead
times is shown too: it never saw them). Ratios are to the FNO and to the one-step scOT.

Run: ``python benchmarks/scot_ns.py [--quick] [--json out.json]``. ``--quick`` is a smoke test
of the pipeline (its numbers mean little). The defaults (scOT of three levels, 2 x 2 patches, so
16 x 16 tokens on the 32 x 32 grid, about 1.2M parameters; 1200 optimiser steps per model) take
about 810 CPU-seconds on one thread, 25 minutes of wall time on a shared 2-core machine.
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

console = Console(width=150)


def make_data(args) -> str:
    from pdesurrogate.datasets import generate_dataset
    from pdesurrogate.solvers import NavierStokes2D

    n = args.train + args.test
    path = args.data.format(grid=args.n, n=n, times=args.n_times)
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        solver = NavierStokes2D(n=args.n, nu_range=tuple(args.nu), forcing="fno", ic="grf")
        generate_dataset(solver, path, samples=n, times=np.linspace(0, args.t_end, args.n_times),
                         seed=args.seed, batch_size=16, workers=1)
    return path


def build(args, kind: str):
    """(module, datamodule) for ``kind`` in ``all2all``, ``one_step``, ``fno``."""
    import lightning.pytorch as pl

    from pdesurrogate.models import FNO, ScOT
    from pdesurrogate.training import (
        All2AllDataModule,
        All2AllModule,
        FieldDataModule,
        NextStepModule,
    )

    n = args.train + args.test
    common = dict(batch_size=args.batch_size, fractions=(args.train / n, 0.0, args.test / n),
                  seed=args.seed)
    pl.seed_everything(args.seed, verbose=False)  # both scOTs start from the same weights
    if kind == "fno":
        model = FNO(1, 1, [args.fno_modes] * 2, hidden_channels=args.fno_width, n_layers=4,
                    n_params=1)
        module = NextStepModule(model, lr=args.fno_lr, weight_decay=1e-4, residual=True)
        return module, FieldDataModule(args.path, k=1, **common)
    model = ScOT(1, 1, embed_dim=args.embed_dim, depths=args.depths, num_heads=args.heads,
                 skip_blocks=args.skip_blocks, window_size=args.window,
                 patch_size=args.patch, n_params=1, time_scale=args.t_end)
    module = All2AllModule(model, lr=args.lr, weight_decay=1e-6, residual=True)
    return module, All2AllDataModule(args.path, pairs=kind, **common)


def train(args, kind: str):
    import lightning.pytorch as pl

    from pdesurrogate.training.progress import rich_progress_bar

    module, dm = build(args, kind)
    trainer = pl.Trainer(max_steps=args.steps, accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, limit_val_batches=0,
                         enable_model_summary=False, callbacks=[rich_progress_bar()])
    t0 = time.perf_counter()
    trainer.fit(module, datamodule=dm)
    return module.train(False), dm, time.perf_counter() - t0  # inference mode


def test_set(dm):
    data = dm.data
    idx = np.asarray(dm.test_indices)
    u = torch.as_tensor(np.stack([np.asarray(data.u[int(i)]) for i in idx]),
                        dtype=torch.float32)
    p = torch.as_tensor(np.stack([data.params[k][idx] for k in data.params], 1),
                        dtype=torch.float32)
    return u, p, np.asarray(data.times, dtype=np.float64)


def _rel(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    from pdesurrogate.training import relative_l2

    return relative_l2(pred.flatten(0, 1), truth.flatten(0, 1), reduction="none")


@torch.no_grad()
def ar_errors(module, u, p, leads: list[int], lead_time: float | None) -> dict[int, float]:
    """Autoregressive error at each lead (in steps), averaged over all valid start times."""
    kk = u.shape[1] - 1
    errs: dict[int, list] = {ell: [] for ell in leads}
    for i in range(kk):
        if lead_time is None:
            traj = module.rollout(u[:, i], p, kk - i)
        else:
            traj = module.rollout(u[:, i], p, kk - i, lead_time=lead_time)
        for ell in leads:
            if i + ell <= kk:
                errs[ell].append(_rel(traj[:, ell: ell + 1], u[:, i + ell: i + ell + 1]))
    return {ell: float(torch.cat(e).mean()) for ell, e in errs.items() if e}


@torch.no_grad()
def direct_errors(module, u, p, times, leads: list[int]) -> dict[int, float]:
    """One-call prediction error at each lead, averaged over all valid start times."""
    kk = u.shape[1] - 1
    out = {}
    for ell in leads:
        starts = range(kk - ell + 1)
        x = torch.cat([u[:, i] for i in starts])
        pp = p.repeat(len(starts), 1)
        lead = torch.cat([torch.full((u.shape[0],), float(times[i + ell] - times[i]))
                          for i in starts])
        pred = module.predict_at(x, pp, lead)
        truth = torch.cat([u[:, i + ell] for i in starts])
        out[ell] = float(_rel(pred[:, None], truth[:, None]).mean())
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=(
            "scOT all2all vs scOT one-step vs FNO on 2-D Navier-Stokes, same data.\n\n"
            "Measures: relative L2 error on navier_stokes2d test trajectories at lead times\n"
            "l * dt (l in --leads), averaged over start times, of scOT trained all2all (all\n"
            "pairs t_i <= t_j, Poseidon's recipe), direct (one call) and autoregressive.\n"
            "Reference: in the same run, with the same optimiser steps, batch size and\n"
            "training trajectories: the same scOT trained on consecutive pairs only, and an\n"
            "FNO trained one step (NextStepModule), both rolled out autoregressively.\n"
            "Prints: the errors per lead time with the ratios to the FNO and to the one-step\n"
            "scOT, then parameters, training pairs and seconds per model; --json writes all\n"
            "figures. The data set is generated once and cached (--data).\n"
            "Runtime: the defaults take about 810 CPU-seconds on one thread, 25 minutes of\n"
            "wall time on a shared 2-core machine; --quick is a smoke test of the pipeline\n"
            "(its numbers mean little)."),
        epilog="See the module docstring for the setup.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=int, default=48,
                    help="training trajectories (default: %(default)s)")
    ap.add_argument("--test", type=int, default=16,
                    help="test trajectories (default: %(default)s)")
    ap.add_argument("--n", type=int, default=32,
                    help="grid points per axis (default: %(default)s)")
    ap.add_argument("--nu", type=float, nargs=2, default=[5e-4, 1e-3],
                    help="viscosity range, drawn log-uniform (default: %(default)s)")
    ap.add_argument("--t-end", type=float, default=10.0,
                    help="last stored time (default: %(default)s)")
    ap.add_argument("--n-times", type=int, default=11,
                    help="stored times K + 1, evenly spaced on [0, --t-end] "
                         "(default: %(default)s)")
    ap.add_argument("--leads", type=int, nargs="+", default=[1, 2, 5, 10],
                    help="lead times in stored steps (default: %(default)s)")
    ap.add_argument("--steps", type=int, default=1200,
                    help="optimiser steps per model (default: %(default)s)")
    ap.add_argument("--batch-size", type=int, default=16,
                    help="samples per batch (default: %(default)s)")
    ap.add_argument("--lr", type=float, default=1e-3,
                    help="scOT learning rate (default: %(default)s)")
    ap.add_argument("--embed-dim", type=int, default=32,
                    help="scOT token width at the finest level, doubled per level "
                         "(default: %(default)s)")
    ap.add_argument("--depths", type=int, nargs="+", default=[2, 2, 2],
                    help="scOT SwinV2 blocks per level (default: %(default)s)")
    ap.add_argument("--heads", type=int, nargs="+", default=[2, 4, 8],
                    help="scOT attention heads per level (default: %(default)s)")
    ap.add_argument("--skip-blocks", type=int, nargs="*", default=[1, 1],
                    help="scOT ConvNeXt blocks on the skip connection of levels 0 .. L-2 "
                         "(default: %(default)s)")
    ap.add_argument("--window", type=int, default=4,
                    help="scOT attention window in tokens (default: %(default)s)")
    ap.add_argument("--patch", type=int, default=2,
                    help="scOT patch size, pixels per token side (default: %(default)s)")
    ap.add_argument("--fno-modes", type=int, default=8,
                    help="FNO Fourier modes per axis (default: %(default)s)")
    ap.add_argument("--fno-width", type=int, default=24,
                    help="FNO hidden channels (default: %(default)s)")
    ap.add_argument("--fno-lr", type=float, default=1e-3,
                    help="FNO learning rate (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0,
                    help="seed of the data, the split and the initial weights "
                         "(default: %(default)s)")
    ap.add_argument("--data", default="runs/bench/ns_{grid}_{n}x{times}.nc",
                    help="data set file, generated if missing; {grid} (--n), {n} (all "
                         "trajectories) and {times} are filled in (default: %(default)s)")
    ap.add_argument("--quick", action="store_true",
                    help="12/4 trajectories, 6 stored times up to t = 5, leads 1 2 5, 20 "
                         "optimiser steps")
    ap.add_argument("--json", default=None,
                    help="also write the arguments and all figures to this JSON file")
    args = ap.parse_args(argv)
    check_output(ap, "--json", args.json)
    check_at_least(ap, {"--steps": (args.steps, 1), "--train": (args.train, 1),
                        "--test": (args.test, 1), "--n-times": (args.n_times, 2),
                        "--batch-size": (args.batch_size, 1), "--threads": (args.threads, 1)})
    if args.quick:
        args.train, args.test, args.n_times, args.t_end, args.steps = 12, 4, 6, 5.0, 20
        args.leads = [1, 2, 5]
    bad = [ell for ell in args.leads if not 1 <= ell <= args.n_times - 1]
    if bad:
        ap.error(f"--leads {bad}: each lead (in saved steps) must lie in [1, --n-times - 1 = "
                 f"{args.n_times - 1}]")
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    args.path = make_data(args)

    res: dict[str, dict] = {}
    for kind in ("all2all", "one_step", "fno"):
        console.print(f"[bold]training {kind}[/bold] ({args.steps} steps)")
        module, dm, secs = train(args, kind)
        u, p, times = test_set(dm)
        dt = float(times[1] - times[0])
        with Progress(console=console, transient=True) as bar:
            bar.add_task(f"{kind}: evaluating on {u.shape[0]} test trajectories", total=None)
            r = {"train_seconds": secs,
                 "parameters": sum(q.numel() for q in module.model.parameters()),
                 "train_pairs": len(dm.train_dataloader().dataset)}
            if kind == "fno":
                r["ar"] = ar_errors(module, u, p, args.leads, None)
            else:
                r["ar"] = ar_errors(module, u, p, args.leads, dt)
                r["direct"] = direct_errors(module, u, p, times, args.leads)
        res[kind] = r

    table = Table(title=f"navier_stokes2d {args.n}x{args.n}, {args.test} test trajectories: "
                        f"relative L2 error at lead time l * dt (dt = {dt:g}), mean over starts")
    cols = ("lead", "scOT all2all direct", "scOT all2all AR", "scOT one-step AR",
            "scOT one-step direct*", "FNO AR", "all2all direct / FNO",
            "all2all direct / one-step AR")
    for c in cols:
        table.add_column(c, justify="right")
    ratios = {}
    for ell in args.leads:
        a2a_d, a2a_ar = res["all2all"]["direct"][ell], res["all2all"]["ar"][ell]
        one_ar, one_d = res["one_step"]["ar"][ell], res["one_step"]["direct"][ell]
        fno = res["fno"]["ar"][ell]
        ratios[ell] = {"all2all_direct_over_fno": a2a_d / fno,
                       "all2all_direct_over_one_step_ar": a2a_d / one_ar,
                       "best_scot_over_fno": min(a2a_d, a2a_ar, one_ar) / fno}
        table.add_row(f"{ell * dt:g}", f"{a2a_d:.4f}", f"{a2a_ar:.4f}", f"{one_ar:.4f}",
                      f"{one_d:.4f}", f"{fno:.4f}", f"{a2a_d / fno:.2f}",
                      f"{a2a_d / one_ar:.2f}")
    console.print(table)
    t2 = Table(title="training (same optimiser steps and batch size for all)")
    for c in ("model", "parameters", "training pairs", "train s"):
        t2.add_column(c, justify="right")
    for kind, r in res.items():
        t2.add_row(kind, f"{r['parameters']:,}", str(r["train_pairs"]),
                   f"{r['train_seconds']:.0f}")
    console.print(t2)
    total = time.perf_counter() - t_start
    console.print("* the one-step scOT was trained at lead time dt only; its direct predictions "
                  f"at other lead times are extrapolation. Total {total:.0f} s.")
    print(run_line(), flush=True)
    if args.json:
        out = {"args": vars(args), "results": res, "ratios": ratios}
        write_json(args.json, out, args=args, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
