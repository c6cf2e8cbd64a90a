"""The end of a run, on trainer rank 0: ``summary.json``, the exported surrogate, the plots, and
the table printed (:func:`_finish`).

Every simulation is accounted for: committed on a trainer rank, abandoned by the scheduler, or
named in ``undelivered_sim_ids`` (and counted in the table). A run whose stream ended with any
undelivered (a receiver dropped them) is ``incomplete``, not ``finished``: it keeps a
checkpoint in which they are not done, so ``--resume`` runs them again. A run ended by a
trainer limit (``max_steps``, ``max_time``) is ``finished`` and names those it left.

``summary.json``'s id lists (``committed_sim_ids``, ``abandoned_sim_ids``,
``undelivered_sim_ids``, ``discarded_sim_ids``, ``dropped_sim_ids``) are over all trainer
ranks; each trainer rank's record (``trainers``) repeats its own part of them
(``committed_sims``, ``discarded_sims``, ``dropped_sims``), since only those say which rank
trained on (or lost) which simulation.

At the end: ``out/model/`` (the exported surrogate), ``out/summary.json``, ``out/online.png``
(metrics) and ``out/rollout.png`` (a validation trajectory; a PDE-Refiner's noise from its own
evaluation generators, as in validation, so the plot repeats). The export's
``provenance.data_source`` (and every checkpoint's ``data_info["source"]``) records what the run
trained on (:func:`~pdesurrogate.online.trainer_rank.stream_source`): solver class and
arguments, parameter box, scheduler settings and seed, simulations, saved steps, and the validation
and statistics sets' sizes and seeds. Trainer ranks call ``seed_everything(seed)`` before they build
the model, so the seed the fit records also made the initial weights.
"""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pdesurrogate.datasets.progress import redraws
from pdesurrogate.datasets.storable_text import storable_text
from pdesurrogate.online.checkpoint import CHECKPOINT, OLD, STAGE
from pdesurrogate.online.run_folder import CONFIG_FILE
from pdesurrogate.temp_files import atomic_write

STEP_LABEL = "training step (from 0, as metrics.csv's step)"


def _unaccounted(committed, abandoned, n_simulations: int) -> list[int]:
    """The ids below ``n_simulations`` in none of the ``committed`` id lists (one per trainer
    rank) nor in ``abandoned``."""
    accounted = set().union(*map(set, committed), abandoned)
    return [s for s in range(n_simulations) if s not in accounted]


def _undelivered(roles, receiver, scheduler, n_simulations: int, stream_ended: bool
                 ) -> tuple[list[int], bool]:
    """Collective over the trainer ranks, the same answer on every rank: the ids of the
    simulations that no trainer rank committed and the scheduler (trainer rank 0's) did not
    abandon, and whether the stream ended on every rank (``stream_ended``: on this one).
    After a stream's end none should be left; a receiver that dropped one (incomplete or
    malformed) or a freeze that discarded one leaves it here, and the run must say so. A rank
    whose trainer limit came before its stream's end froze its receiver: then the limit ended
    the run on every rank, also where the stream had ended (the ranks must agree: an
    incomplete run writes its checkpoint, a collective)."""
    comm = roles.comm
    mine = comm.gather((sorted(receiver.committed_sims), bool(stream_ended)), root=0)
    answer = None
    if roles.rank_in_role == 0:
        answer = (_unaccounted([c for c, _ in mine], scheduler.abandoned, n_simulations),
                  all(ended for _, ended in mine))
    lost, ended = comm.bcast(answer, root=0)
    return lost, ended


def _finish(out, cfg, trainer, receiver, monitor, roles, scheduler, train_s, status, ended_by,
            val, prior, module=None, val_u=None, val_p=None, lost=None, grid=None) -> None:
    # lost: _undelivered's answer where the caller has it (the status was decided on it)
    comm = roles.comm
    mine = {"rank": roles.rank_in_role, "receiver": receiver.stats(), "prior": prior,
            "buffer": receiver.buffer.stats(), "monitor": monitor.summary,
            "committed_sims": sorted(receiver.committed_sims),
            "discarded_sims": sorted(receiver.discarded_sims),
            "dropped_sims": sorted(receiver.dropped_sims)}
    everyone = comm.gather(mine, root=0)
    if roles.rank_in_role != 0:
        return
    sched = scheduler.counts()
    committed = sorted(s for r in everyone for s in r["committed_sims"])
    summary: dict[str, Any] = {
        "status": status, "ended_by": ended_by, "resumed": bool(cfg.resume),
        "global_step": int(trainer.global_step), "train_seconds": train_s,
        "simulations": cfg.simulations, "committed_simulations": len(committed),
        "committed_sim_ids": committed, "scheduler": sched,
        "abandoned_sim_ids": sorted(scheduler.abandoned),
        # over the whole run: what earlier legs had received when they wrote their checkpoint
        # (simulations then in flight included: the resumed run receives those again) plus
        # this leg; samples an earlier leg received after its checkpoint are not counted
        "samples_received": sum(r["prior"]["samples"] + r["receiver"]["samples"]
                                for r in everyone),
        "mb_received": sum(r["prior"]["bytes"] + r["receiver"]["bytes"] for r in everyone) / 1e6,
        "malformed_messages": sum(r["receiver"]["malformed"] for r in everyone),
        "sims_failed": sum(r["receiver"]["sims_failed"] for r in everyone),
        # received but not trained on: incomplete, malformed or over max_pending_samples
        "sims_dropped": sum(r["receiver"]["sims_dropped"] for r in everyone),
        "sims_duplicate": sum(r["receiver"]["sims_duplicate"] for r in everyone),
        # neither committed nor abandoned: never trained on in any leg. After the stream's
        # end (status incomplete) a receiver dropped them; after a trainer limit they were
        # never run, or were discarded when they arrived after it (discarded_sim_ids)
        "undelivered_sim_ids": (lost if lost is not None else _unaccounted(
            [r["committed_sims"] for r in everyone], scheduler.abandoned, cfg.simulations)),
        "sims_discarded": sum(r["receiver"]["sims_discarded"] for r in everyone),
        "discarded_sim_ids": sorted(s for r in everyone for s in r["discarded_sims"]),
        "dropped_sim_ids": sorted({s for r in everyone for s in r["dropped_sims"]}),
        # committed but never put into a buffer: after the stream's end, not trained on;
        # after a stop, in the checkpoint (trained on after --resume)
        "items_not_buffered": sum(r["receiver"].get("items_not_buffered", 0)
                                  for r in everyone),
        "idle_fraction": float(np.mean([r["monitor"]["idle_fraction"] for r in everyone])),
        # this leg's, added over the trainer ranks (each receives its own simulations)
        "samples_per_s": sum(r["receiver"]["samples_per_s"] for r in everyone),
        "mb_per_s": sum(r["receiver"]["mb_per_s"] for r in everyone),
        "validation_rollout_steps": cfg.n_steps,
        "trainers": everyone,
    }
    if val is not None:
        summary["validation"] = {k: float(v) for k, v in val.items()}
    elif status in ("finished", "incomplete"):
        limit = trainer.limit_val_batches
        summary["validation_skipped"] = (f"trainer.limit_val_batches is {limit!r}" if limit == 0
                                         else "Lightning ran no validation batch")
    if module is not None:
        from pdesurrogate.export import export_surrogate

        summary["model"] = str(export_surrogate(module, out / "model", overwrite=True))
        failed: dict[str, str] = {}
        summary["plots"] = _plots(out, module, monitor, val_u, val_p, cfg, failed, grid)
        if failed:
            summary["plots_not_written"] = failed
    text = json.dumps(summary, indent=2, default=float) + "\n"
    atomic_write(out / "summary.json", lambda f: f.write(text.encode()))
    if status == "finished":
        # nothing resumes a finished run (summary.json says so), and the checkpoint holds a
        # buffer's worth of samples
        for d in (CHECKPOINT, STAGE, OLD):
            shutil.rmtree(out / d, ignore_errors=True)
    _print_summary(summary, out)


def stream_figure(hist: list[dict], title: str):
    """The figure of ``online.png``: samples/s received, buffer fill and idle fraction, and
    the times each stored item was seen, against the training step. ``hist``: the stream
    monitor's records (``step``, ``stream/samples_per_s``, ``stream/buffer_fill``,
    ``trainer/idle_fraction``, ``stream/seen_mean``, ``stream/seen_max``); ``step`` is the
    one the row has in metrics.csv (Lightning's, from 0), and is drawn as it is."""
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in hist]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(steps, [h["stream/samples_per_s"] for h in hist])
    # from 0: a few per cent of noise on a range cut to fit it looks like collapses
    axes[0].set(title="samples received", xlabel=STEP_LABEL, ylabel="samples/s")
    axes[0].set_ylim(bottom=0)
    axes[1].plot(steps, [h["stream/buffer_fill"] for h in hist], label="buffer fill")
    axes[1].plot(steps, [h["trainer/idle_fraction"] for h in hist], label="idle fraction")
    axes[1].set(title="buffer fill, trainer idle", xlabel=STEP_LABEL,
                ylabel="fraction (0 to 1)", ylim=(0, 1.05))
    axes[1].legend(loc="best", fontsize="small")
    axes[2].plot(steps, [h["stream/seen_mean"] for h in hist], label="mean")
    axes[2].plot(steps, [h["stream/seen_max"] for h in hist], label="max")
    axes[2].set(title="times each stored item was seen", xlabel=STEP_LABEL,
                ylabel="draws per stored item")
    axes[2].set_ylim(bottom=0)
    axes[2].legend(loc="best", fontsize="small")
    fig.suptitle(storable_text(title))  # the run folder's name: lone surrogates under LC_ALL=C
    fig.tight_layout()
    return fig


def _plots(out: Path, module, monitor, val_u, val_p, cfg,
           failed: dict[str, str] | None = None,
           grid: tuple[tuple[np.ndarray, ...], tuple[str, ...]] | None = None) -> list[str]:
    """Write ``online.png`` and ``rollout.png`` into ``out``; the paths written. ``failed``:
    where given, a plot whose file cannot be written (a full disk, a read-only folder) is
    put there (its name: the error) instead of raising, so that the run's end still writes
    ``summary.json`` for the model it has exported. ``grid``: the solver's node coordinates
    and axis names (:func:`pdesurrogate.datasets.generate.solver_grid`), for rollout.png's
    axes; None: space as a fraction of the domain."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pdesurrogate.plots import rollout_figure
    from pdesurrogate.training.losses import relative_l2

    paths = []
    hist = monitor.history
    if hist:
        fig = stream_figure(hist, f"online run {out.name}: the stream as this trainer rank saw it")
        # through a temporary, as every file of the run folder: a link planted at the name
        # (a group-writable folder) is replaced, never followed
        _save_plot(out / "online.png", lambda f: fig.savefig(f, format="png", dpi=110),
                   paths, failed)
        plt.close(fig)
    module.train(False)
    n = min(8, val_u.shape[0])
    pred = _evaluation_rollout(module, val_u[:n, 0].to(module.device),
                               val_p[:n].to(module.device), val_u.shape[1] - 1).cpu()
    err = torch.stack([relative_l2(pred[:, s], val_u[:n, s], reduction="none").mean()
                       for s in range(val_u.shape[1])]).numpy()
    times = np.arange(val_u.shape[1]) * cfg.dt
    names = (module.data_info or {}).get("channel_names")

    def draw(f) -> None:
        # matplotlib reads the format from a file name's extension, not from a file object
        with matplotlib.rc_context({"savefig.format": "png"}):
            rollout_figure(pred.numpy(), val_u[:n].numpy(), times, err, f,
                           title=f"online surrogate, validation (error: mean of the first "
                                 f"{n} of {val_u.shape[0]} trajectories)",
                           channel_names=tuple(names) if names else None,
                           grid=None if grid is None else grid[0],
                           grid_names=None if grid is None else grid[1])

    _save_plot(out / "rollout.png", draw, paths, failed)
    return paths


def _save_plot(path: Path, write, paths: list[str], failed: dict[str, str] | None) -> None:
    """``atomic_write(path, write)``, adding ``path`` to ``paths``; an OSError goes into
    ``failed`` (see :func:`_plots`) where that is given."""
    try:
        atomic_write(path, write)
    except OSError as err:
        if failed is None:
            raise
        failed[path.name] = str(err)
        return
    paths.append(str(path))


def _evaluation_rollout(module, u0: torch.Tensor, params: torch.Tensor, steps: int
                        ) -> torch.Tensor:
    """``module.rollout`` as validation rolls out: a PDE-Refiner draws its noise from its own
    evaluation generators (:meth:`~pdesurrogate.models.PDERefiner.evaluation_noise`, seeded
    per trajectory from ``u0`` and ``params``), so the plot repeats and torch's global
    generator is left alone; other models have no noise."""
    noise = getattr(getattr(module, "model", None), "evaluation_noise", None)
    gens = noise(u0, params) if noise is not None else None
    if gens is None:
        return module.rollout(u0, params, steps)
    return module.rollout(u0, params, steps, generator=gens)


def _print_summary(s: dict, out: Path) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=f"online run: {s['status']}", show_header=False)
    t.add_column()
    t.add_column(overflow="fold")  # a path that does not fit goes on the next line, never cut
    t.add_row("training steps", str(s["global_step"]))
    t.add_row("training ended by", s["ended_by"])
    t.add_row("simulations committed", f"{s['committed_simulations']} of {s['simulations']}")
    t.add_row("simulations abandoned", str(len(s["abandoned_sim_ids"])))
    t.add_row("failed attempts (resubmitted)", str(s["sims_failed"]))
    t.add_row("simulations dropped (incomplete)", str(s["sims_dropped"]))
    lost = s.get("undelivered_sim_ids", [])
    shown = ", ".join(map(str, lost[:20])) + (", ..." if len(lost) > 20 else "")
    t.add_row("simulations not delivered", f"{len(lost)}" + (f" (ids {shown})" if lost else ""))
    t.add_row("simulations discarded at the end", str(s.get("sims_discarded", 0)))
    t.add_row("malformed messages", str(s["malformed_messages"]))
    if "train_seconds" in s:
        t.add_row("training wall time", f"{s['train_seconds']:.1f} s")
    t.add_row("samples / MB received", f"{s['samples_received']} / {s['mb_received']:.3g}")
    if "samples_per_s" in s:
        t.add_row("received per second", f"{s['samples_per_s']:.4g} samples, "
                                          f"{s['mb_per_s']:.3g} MB")
    t.add_row("trainer idle fraction", f"{s['idle_fraction']:.3f}")
    if "validation_skipped" in s:
        t.add_row("validation", f"none: {s['validation_skipped']}")
    if "validation" in s:
        val = s["validation"]
        roll = f"rollout of {s['validation_rollout_steps']} steps" \
            if "validation_rollout_steps" in s else "rollout"
        if "val/rel_l2_ar" in val:  # all2all (scOT): val/rel_l2 is the direct predictions'
            t.add_row(f"validation rel L2 ({roll})", f"{val['val/rel_l2_ar']:.4g}")
            t.add_row("validation rel L2 (direct, mean over lead times)",
                      f"{val.get('val/rel_l2', float('nan')):.4g}")
        else:
            t.add_row(f"validation rel L2 ({roll})",
                      f"{val.get('val/rel_l2', float('nan')):.4g}")
    if "model" in s:
        t.add_row("exported model", escape(s["model"]))
        t.add_row("plots", "\n".join(escape(p) for p in s["plots"]))
        for name, err in s.get("plots_not_written", {}).items():
            t.add_row("", escape(f"{name} not written: {err}"))
        if not any(p.endswith("online.png") for p in s["plots"]) \
                and "online.png" not in s.get("plots_not_written", {}):
            t.add_row("", "no online.png: fewer training steps than trainer.log_every_n_steps")
    # a path is text, not rich markup (a folder named [/x] was a MarkupError at the run's end),
    # and the command is quoted for a shell (a folder with spaces was cut there when pasted)
    t.add_row("summary", escape(str(out / "summary.json")))
    if s["status"] in ("stopped", "incomplete"):
        t.add_row("continue with", escape("pdesurrogate online --config "
                                          f"{shlex.quote(str(out / CONFIG_FILE))} --resume"))
    console = Console(stderr=True)
    if not redraws(console):
        # a log file (Slurm's, a pipe, also one that FORCE_COLOR makes rich take for a
        # terminal): rich would draw it 80 columns wide; as wide as its rows instead, so each
        # path stays on one line, whole, for copying from the log
        wide = console.options.update_width(100_000)
        console = Console(stderr=True, width=max(80, console.measure(t, options=wide).maximum))
    console.print(t)
