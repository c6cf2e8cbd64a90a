"""Inference throughput: ``pdesurrogate.load(DIR)`` and ``pdesurrogate predict`` vs a bare
PyTorch loop over the same ``nn.Module``.

What: how much our inference path costs beyond the bare model, for an FNO the size of
``configs/fit/fno_burgers.yaml``'s (1-D, 16 modes, width 64, 4 layers, one parameter ``nu``),
residual, with the normalisation of its training data. Three comparisons, each ours against a
bare loop doing the same work and nothing else:

(a) ``Surrogate.rollout(u0, {"nu": nu}, steps)`` (tensor in, tensor out) against a loop over
    the surrogate's own ``model`` under ``torch.inference_mode()`` that normalises ``u0`` and
    ``nu`` itself, steps ``z + model(z, p)`` and writes each step, denormalised, into a
    preallocated ``(B, steps + 1, C, n)`` output: the same arithmetic, bit for bit (checked).
    Batches 1, 8 and 64, a few steps and many.
(b) ``Surrogate.predict(u, {"nu": nu})``, one step of batch 1 (numpy in, numpy out, and tensor
    in, tensor out): the latency of one call, where the per-call Python work (checks of the
    state, the parameters, their training range, the lead time) weighs most.
(c) the command ``pdesurrogate predict --model DIR --input FILE --out OUT --batch-size B``
    against a bare process that reads the same file's first states and parameters with h5py,
    builds the FNO from ``config.json`` and ``model.safetensors`` and rolls out the same
    trajectories and steps in the same batches, writing nothing. The command does more than
    roll out by design: it checks the file against the model, writes the rollout as a netCDF
    file, reads the truth back and computes the relative L2 and PDEBench-style errors per step
    (and imports more). So two figures: the whole process (start-up included), and the
    rollout part alone (the time spent inside ``Surrogate.iterate``'s states, taken by a
    wrapper in the process that runs the command's ``main``; the bare process times its loop).

How: the data is Burgers (``pdesurrogate generate --config configs/data/burgers1d.yaml`` with
``--samples``, ``--solver.n_points`` and ``--n_times`` overridden), generated once and cached
under ``--workdir``; the export is built from the fit config's model arguments and the file's
statistics (``FieldDataModule``) with ``export_surrogate``, untrained (the throughput does not
depend on the weights' values). (a) and (b) run in this process on ``--threads`` torch threads
(1 by default), ours and bare alternating A B B A ... ``--repeats`` times; the figures are
medians of the CPU time of this thread (``time.thread_time``): on a shared machine other jobs
stretch wall times by tens of per cent, which would hide overheads of a few. Wall medians are
in the JSON. (c) runs each side as its own process, interleaved the same way, its CPU time
from ``wait4`` (process and children).

Measured (2026-12-07, default options: 1024 points, width 64, 1 thread, 5 repeats, on 2
shared cores with a load of 3 to 7): (a) ours / bare CPU time 1.146, 1.067 (batch 1; 5 and 50
steps), 0.964, 1.110 (batch 8), 1.006, 1.048 (batch 64), where turn-by-turn ratios of the
same row spread from 0.78 to 1.16: the rollout's own work per step (a residual add, the
denormalisation, both as in the bare loop, and two ``no_grad`` contexts) is below what this
machine can resolve, a few per cent at most. (b) one ``predict`` of batch 1: 5.56 ms against
5.29 ms bare, 270 us (5 %) of checks and ``no_grad`` instead of ``inference_mode``; of the
checks (87 us, cProfile and ``timeit`` of ``Surrogate._start``), ``inspect.signature`` of the
model's ``forward`` on every call took 21 us: it is now looked up once per model (66 us). (c)
64 trajectories x 20 steps: the command 6.6 trajectories per CPU second against 7.8 for the
bare process (0.84: start-up, checks, the netCDF written, the truth read back and the
errors), its rollout part 11.2 against 11.1 (1.01).

Run: ``python benchmarks/inference_overhead.py [--points 1024] [--repeats 5] [--quick]
[--json out.json]`` (default about 15 minutes on 2 busy cores, 3 of them generating the data
the first time; ``--quick`` under a minute).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from options import check_at_least
from outputs import check_output, run_line, write_json
from training_overhead import run_process

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


# -- the bare process of (c) --------------------------------------------------------------------
def bare_worker(spec_path: str) -> int:
    """Roll the export out over the file's first states as ``spec`` says, with h5py, safetensors
    and a plain loop; write ``{"rollout_cpu_s", "rollout_wall_s", "samples"}`` to spec["out"]."""
    with open(spec_path) as f:
        spec = json.load(f)
    import h5py
    import torch
    from safetensors.torch import load_file

    from pdesurrogate.allocator import tune_malloc
    from pdesurrogate.models import FNO

    tune_malloc()  # what the pdesurrogate command does first
    with open(os.path.join(spec["model"], "config.json")) as f:
        cfg = json.load(f)
    model = FNO(**cfg["model"]["init_args"])
    model.load_state_dict(load_file(os.path.join(spec["model"], "model.safetensors")))
    model.train(False)
    stats = cfg["normalization"]
    mean = torch.tensor(stats["mean"]).reshape(-1, 1)
    std = torch.tensor([s if s > 0 else 1.0 for s in stats["std"]]).reshape(-1, 1)
    p_mean, p_std = torch.tensor(stats["param_mean"]), torch.tensor(
        [s if s > 0 else 1.0 for s in stats["param_std"]])
    with h5py.File(spec["input"], "r") as h:
        u0 = torch.from_numpy(h["u"][:, 0].astype("float32"))
        params = torch.from_numpy(
            h[cfg["param_names"][0]][:].astype("float32")).reshape(-1, 1)
    steps, batch = spec["steps"], spec["batch_size"]
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        for i in range(0, u0.shape[0], batch):
            x, p = u0[i:i + batch], params[i:i + batch]
            out = torch.empty((x.shape[0], steps + 1, *x.shape[1:]))
            out[:, 0] = x
            z, p = (x - mean) / std, (p - p_mean) / p_std
            for k in range(steps):
                z = z + model(z, p)
                out[:, k + 1] = z * std + mean
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    with open(spec["out"], "w") as f:
        json.dump({"rollout_cpu_s": cpu, "rollout_wall_s": wall, "samples": u0.shape[0],
                   "finite": bool(torch.isfinite(out).all())}, f)
    return 0


def cli_worker(spec_path: str) -> int:
    """Run ``pdesurrogate predict`` (its ``main``) as spec["argv"] says, timing the rollout:
    the CPU and wall time spent inside ``Surrogate.iterate``'s states, written to spec["out"]."""
    with open(spec_path) as f:
        spec = json.load(f)
    from pdesurrogate.allocator import tune_malloc

    tune_malloc()  # as the pdesurrogate command's entry point does before main
    from pdesurrogate import cli
    from pdesurrogate.surrogate import Surrogate

    spent = {"cpu": 0.0, "wall": 0.0}
    iterate = Surrogate.iterate

    def timed(self, *args, **kwargs):
        c0, t0 = time.process_time(), time.perf_counter()
        states = iterate(self, *args, **kwargs)  # the inputs' checks are part of the rollout
        spent["cpu"] += time.process_time() - c0
        spent["wall"] += time.perf_counter() - t0

        def gen():
            while True:
                c0, t0 = time.process_time(), time.perf_counter()
                try:
                    y = next(states)
                except StopIteration:
                    return
                finally:
                    spent["cpu"] += time.process_time() - c0
                    spent["wall"] += time.perf_counter() - t0
                yield y

        return gen()

    Surrogate.iterate = timed
    rc = cli.main(spec["argv"])
    with open(spec["out"], "w") as f:
        json.dump({"rollout_cpu_s": spent["cpu"], "rollout_wall_s": spent["wall"]}, f)
    return rc


# -- (a) and (b): in this process ---------------------------------------------------------------
def bare_rollout(sur, u0, nu, steps: int):
    """The bare loop of (a) over ``sur.model`` (module docstring)."""
    import torch

    model = sur.model
    mean, std = sur._u_mean.reshape(-1, 1), sur._u_std.reshape(-1, 1)
    with torch.inference_mode():
        out = torch.empty((u0.shape[0], steps + 1, *u0.shape[1:]))
        out[:, 0] = u0
        z = (u0 - mean) / std
        p = (nu[:, None] - sur._p_mean) / sur._p_std
        for k in range(steps):
            z = z + model(z, p)
            out[:, k + 1] = z * std + mean
    return out


def interleaved(sides: dict, repeats: int, calls: int = 1) -> dict:
    """Median CPU (this thread) and wall seconds per call of each of ``sides`` (name ->
    function of no arguments), run ``calls`` times in a row per turn, the sides' order
    alternating from turn to turn (A B, B A, ...)."""
    names = list(sides)
    cpu: dict = {n: [] for n in names}
    wall: dict = {n: [] for n in names}
    for n in names:
        sides[n]()  # warm-up: first-call allocations and caches on both sides
    for r in range(repeats):
        for n in (names if r % 2 == 0 else names[::-1]):
            c0, t0 = time.thread_time(), time.perf_counter()
            for _ in range(calls):
                sides[n]()
            cpu[n].append((time.thread_time() - c0) / calls)
            wall[n].append((time.perf_counter() - t0) / calls)
    return {n: {"cpu_s": statistics.median(cpu[n]), "wall_s": statistics.median(wall[n]),
                "cpu_runs": cpu[n]} for n in names}


# -- main ------------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=(
            "Inference throughput: pdesurrogate.load(DIR).rollout / .predict and the\n"
            "`pdesurrogate predict` command vs a bare PyTorch loop over the same FNO.\n\n"
            "Measures: (a) rollout of batches 1, 8, 64 for a few and many steps, (b) one\n"
            "predict call of batch 1, in this process, medians of CPU time over interleaved\n"
            "repeats; (c) the predict command (which also writes a netCDF and computes\n"
            "errors) against a bare process reading the same file with h5py and writing\n"
            "nothing: whole process and rollout part.\n"
            "Prints: a table of time per call (or samples/s) of both sides and ours / bare;\n"
            "--json writes all figures.\n"
            "Runtime: about 15 minutes on 2 busy cores; --quick under a minute."),
        epilog="See the module docstring for what is measured and how.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/fit/fno_burgers.yaml",
                    help="fit config whose FNO arguments build the model "
                         "(default: %(default)s)")
    ap.add_argument("--points", type=int, default=1024,
                    help="grid points of the data (default: %(default)s, the data config's)")
    ap.add_argument("--trajectories", type=int, default=64,
                    help="trajectories in the file that (c) rolls out (default: %(default)s)")
    ap.add_argument("--frames", type=int, default=21,
                    help="stored times on [0, 1]; (c) rolls out frames - 1 steps "
                         "(default: %(default)s)")
    ap.add_argument("--width", type=int, default=None,
                    help="FNO hidden_channels (default: the config's)")
    ap.add_argument("--batches", default="1,8,64",
                    help="(a)'s batch sizes, comma-separated (default: %(default)s)")
    ap.add_argument("--few-steps", type=int, default=5,
                    help="(a)'s short rollout (default: %(default)s)")
    ap.add_argument("--many-steps", type=int, default=50,
                    help="(a)'s long rollout (default: %(default)s)")
    ap.add_argument("--repeats", type=int, default=5,
                    help="turns of each side, interleaved (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (OMP_NUM_THREADS of (c)'s processes) "
                         "(default: %(default)s)")
    ap.add_argument("--workdir", default="runs/bench/inference_overhead",
                    help="data, export and outputs go here (default: %(default)s)")
    ap.add_argument("--quick", action="store_true",
                    help="128 points, width 32, 16 trajectories of 6 frames, batches 1 and "
                         "8, 2 and 10 steps, 3 repeats")
    ap.add_argument("--json", default=None, help="write all figures to this JSON file")
    ap.add_argument("--worker", choices=("bare", "cli"), help=argparse.SUPPRESS)
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    check_output(ap, "--json", args.json)
    if args.worker == "bare":
        return bare_worker(args.spec)
    if args.worker == "cli":
        return cli_worker(args.spec)
    if args.quick:
        args.points, args.trajectories, args.frames, args.repeats = 128, 16, 6, 3
        args.batches, args.few_steps, args.many_steps = "1,8", 2, 10
        args.width = args.width or 32
    try:
        batches = [int(b) for b in args.batches.split(",")]
    except ValueError:
        ap.error(f"--batches must be comma-separated ints, got {args.batches!r}")
    check_at_least(ap, {"--threads": (args.threads, 1), "--repeats": (args.repeats, 1),
                        "--trajectories": (args.trajectories, 1), "--points": (args.points, 8),
                        "--frames": (args.frames, 2), "--width": (args.width, 1),
                        "--few-steps": (args.few_steps, 1),
                        "--many-steps": (args.many_steps, 1), "--batches": (min(batches), 1)})

    import numpy as np
    import torch
    import yaml
    from rich.console import Console
    from rich.table import Table

    import pdesurrogate
    from pdesurrogate.export import export_surrogate
    from pdesurrogate.models import FNO
    from pdesurrogate.training import FieldDataModule, NextStepModule

    torch.set_num_threads(args.threads)
    console = Console(width=130)
    config_path = args.config if os.path.isabs(args.config) else os.path.join(ROOT, args.config)
    with open(config_path) as f:
        cfg = yaml.safe_load(f)
    model_cfg = cfg["model"]["init_args"]
    if not model_cfg["model"]["class_path"].endswith("FNO") or not model_cfg.get("residual"):
        ap.error(f"{args.config}: the bare loops know only a residual pdesurrogate.models.FNO")
    model_args = dict(model_cfg["model"]["init_args"])
    if args.width:
        model_args["hidden_channels"] = args.width

    work = args.workdir if os.path.isabs(args.workdir) else os.path.join(ROOT, args.workdir)
    os.makedirs(work, exist_ok=True)
    python = sys.executable
    exe = os.path.join(os.path.dirname(python), "pdesurrogate")
    base = [exe] if os.path.exists(exe) else [python, "-m", "pdesurrogate.cli"]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads),
               PYTHONPATH=os.pathsep.join([HERE, os.environ.get("PYTHONPATH", "")]).rstrip(
                   os.pathsep))
    env.pop("PDESURROGATE_DEBUG", None)
    data = os.path.join(work, f"burgers_{args.points}_{args.trajectories}_{args.frames}.nc")
    if not os.path.exists(data):
        console.print(f"generating {data} ...")
        wall, _, rc, out = run_process(
            [*base, "generate", "--config", os.path.join(ROOT, "configs/data/burgers1d.yaml"),
             "--samples", str(args.trajectories), "--solver.n_points", str(args.points),
             "--n_times", str(args.frames), "--out", data], env, tty=False)
        if rc != 0:
            console.print(out)
            raise SystemExit(f"pdesurrogate generate failed (exit {rc})")

    dm = FieldDataModule(data, batch_size=32)
    dm.setup("fit")
    torch.manual_seed(0)
    module = NextStepModule(FNO(**model_args), residual=True)
    module.set_normalization(dm.stats)
    module.data_info = dm.data_info
    width = model_args["hidden_channels"]
    model_dir = export_surrogate(module, os.path.join(work, f"fno_{args.points}_w{width}"),
                                 overwrite=True)
    sur = pdesurrogate.load(model_dir)
    result: dict = {"points": args.points, "model": model_args, "threads": args.threads,
                    "repeats": args.repeats, "rollout": [], "predict": {}, "command": {}}

    # (a)
    gen = torch.Generator().manual_seed(0)
    nu_lo, nu_hi = sur.param_range.get("nu", (0.01, 0.1))
    t = Table(title=f"(a) rollout, FNO width {width}, {args.points} points, {args.threads} "
                    f"thread(s): CPU ms per call, median of {args.repeats} interleaved")
    for head in ("batch", "steps", "bare ms", "ours ms", "ours / bare", "pairs"):
        t.add_column(head, justify="right")
    for batch in batches:
        for steps in (args.few_steps, args.many_steps):
            u0 = torch.randn(batch, model_args["in_channels"], args.points, generator=gen)
            nu = nu_lo + (nu_hi - nu_lo) * torch.rand(batch, generator=gen)
            ours_out = sur.rollout(u0, {"nu": nu}, steps)
            if not torch.equal(ours_out, bare_rollout(sur, u0, nu, steps)):
                raise SystemExit(f"batch {batch}, {steps} steps: the bare loop's rollout "
                                 "differs from Surrogate.rollout's: not the same work")
            med = interleaved(
                {"bare": lambda u0=u0, nu=nu, steps=steps: bare_rollout(sur, u0, nu, steps),
                 "ours": lambda u0=u0, nu=nu, steps=steps: sur.rollout(u0, {"nu": nu}, steps)},
                args.repeats)
            ratio = med["ours"]["cpu_s"] / med["bare"]["cpu_s"]
            # turn r of each side ran next to the other: their ratio shows the machine's noise
            pairs = [o / b for o, b in zip(med["ours"]["cpu_runs"], med["bare"]["cpu_runs"],
                                           strict=True)]
            result["rollout"].append({"batch": batch, "steps": steps, **med, "ratio": ratio,
                                      "pair_ratios": pairs})
            t.add_row(str(batch), str(steps), f"{1e3 * med['bare']['cpu_s']:.2f}",
                      f"{1e3 * med['ours']['cpu_s']:.2f}", f"{ratio:.3f}",
                      f"{min(pairs):.2f}-{max(pairs):.2f}")
    console.print(t)

    # (b)
    u = torch.randn(1, model_args["in_channels"], args.points, generator=gen)
    nu1 = float((nu_lo + nu_hi) / 2)
    u_np, nu_t = u.numpy(), torch.tensor([nu1])
    calls = 20
    med = interleaved({"bare": lambda: bare_rollout(sur, u, nu_t, 1),
                       "predict (tensor)": lambda: sur.predict(u, {"nu": nu1}),
                       "predict (numpy)": lambda: sur.predict(u_np, {"nu": nu1})},
                      args.repeats, calls)
    if not np.array_equal(sur.predict(u_np, {"nu": nu1}),
                          bare_rollout(sur, u, nu_t, 1)[:, 1].numpy()):
        raise SystemExit("predict differs from the bare step: not the same work")
    result["predict"] = med
    t = Table(title=f"(b) one predict call, batch 1: CPU microseconds per call, median of "
                    f"{args.repeats} x {calls} calls")
    for head in ("", "us per call", "ours - bare us", "ours / bare"):
        t.add_column(head, justify="right")
    for name, m in med.items():
        extra = ("", "") if name == "bare" else (
            f"{1e6 * (m['cpu_s'] - med['bare']['cpu_s']):.0f}",
            f"{m['cpu_s'] / med['bare']['cpu_s']:.3f}")
        t.add_row(name, f"{1e6 * m['cpu_s']:.0f}", *extra)
    console.print(t)

    # (c)
    steps = args.frames - 1
    batch = min(64, args.trajectories)
    out_nc = os.path.join(work, "rollout.nc")
    runs: dict = {"bare": [], "command": []}

    def one(side: str, i: int) -> dict:
        clock = os.path.join(work, f"{side}_{i}.json")
        spec = {"out": clock, "model": str(model_dir), "input": data, "steps": steps,
                "batch_size": batch,
                "argv": ["predict", "--model", str(model_dir), "--input", data, "--out", out_nc,
                         "--batch-size", str(batch), "--overwrite"]}
        spec_path = os.path.join(work, f"{side}_{i}_spec.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        cmd = [python, os.path.abspath(__file__), "--worker",
               "bare" if side == "bare" else "cli", "--spec", spec_path]
        wall, cpu, rc, out = run_process(cmd, env, tty=False)
        if rc != 0 or not os.path.exists(clock):
            console.print(out)
            raise SystemExit(f"{side} run {i} failed (exit {rc}): {' '.join(cmd)}")
        with open(clock) as f:
            timed = json.load(f)
        return {"wall_s": wall, "cpu_s": cpu, **timed}

    for i in range(args.repeats):
        for side in (("bare", "command") if i % 2 == 0 else ("command", "bare")):
            runs[side].append(one(side, i))
    n = args.trajectories
    med = {s: {k: statistics.median(r[k] for r in runs[s])
               for k in ("wall_s", "cpu_s", "rollout_cpu_s", "rollout_wall_s")} for s in runs}
    result["command"] = {"trajectories": n, "steps": steps, "batch_size": batch,
                         "median": med, "runs": runs}
    t = Table(title=f"(c) pdesurrogate predict vs bare process: {n} trajectories x {steps} "
                    f"steps, batch {batch}; trajectories per CPU second, median of "
                    f"{args.repeats} interleaved")
    for head in ("", "whole process", "rollout part", "process CPU s", "process wall s"):
        t.add_column(head, justify="right")
    for side, label in (("bare", "bare (h5py, no output)"),
                        ("command", "pdesurrogate predict")):
        m = med[side]
        t.add_row(label, f"{n / m['cpu_s']:.1f}", f"{n / m['rollout_cpu_s']:.1f}",
                  f"{m['cpu_s']:.2f}", f"{m['wall_s']:.2f}")
    whole = med["bare"]["cpu_s"] / med["command"]["cpu_s"]
    part = med["bare"]["rollout_cpu_s"] / med["command"]["rollout_cpu_s"]
    result["command"]["ratio_whole"], result["command"]["ratio_rollout"] = whole, part
    t.add_row("command / bare (samples/s)", f"{whole:.3f}", f"{part:.3f}", "", "")
    console.print(t)
    print(run_line(), flush=True)
    if args.json:
        write_json(args.json, result, args=args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
