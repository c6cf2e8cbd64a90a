"""Figures people would rather look at than read: prediction vs truth, error vs time, and a
fit's training curves."""

from __future__ import annotations

import csv
import math
import os

import numpy as np

from pdesurrogate.datasets.storable_text import storable_text

# the columns of metrics.csv that training_curves_figure draws: the loss the optimiser
# minimised and the relative L2 on the losses' panel, the learning rate on a panel of its own
TRAIN_CURVES = ("train/loss", "train/rel_l2")
VAL_CURVE = "val/rel_l2"
LR_PREFIX = "train/lr"


def _field_colours(p: np.ndarray, t: np.ndarray | None) -> dict:
    """imshow keywords shared by the prediction and truth panels: one colour scale for both.

    A field that changes sign gets a diverging map centred on zero (white = 0, so the sign
    reads off the colour); a one-signed field (a density, a temperature above zero) a
    sequential map over its range, where a diverging one would put white at an arbitrary value.
    """
    # over the finite values: a diverged prediction's inf/NaN would make the scale NaN
    vals = [a[np.isfinite(a)] for a in (p, t) if a is not None]
    vals = [v for v in vals if v.size]
    lo = float(min(v.min() for v in vals)) if vals else 0.0
    hi = float(max(v.max() for v in vals)) if vals else 1.0
    if lo < 0 < hi:
        m = max(-lo, hi)
        return {"cmap": "RdBu_r", "vmin": -m, "vmax": m}
    return {"cmap": "viridis", "vmin": lo, "vmax": hi}


def rollout_figure(pred: np.ndarray, truth: np.ndarray | None, times: np.ndarray,
                   rel_l2: np.ndarray | None, path: str | os.PathLike, title: str = "",
                   sample: int = 0, grid_names: tuple[str, ...] | None = None,
                   channel: int = 0, channel_names: tuple[str, ...] | None = None) -> str:
    """Save a PNG comparing a rollout with the truth for one sample.

    Args:
        pred: ``(N, T, C, *grid)`` predicted states (physical units).
        truth: same shape, or None.
        times: ``(T,)`` times of the frames.
        rel_l2: ``(T,)`` relative L2 error per frame averaged over samples, or None.
        path: output file (PNG).
        grid_names: names of the spatial axes in the order of ``pred``'s (ours: ``("y", "x")``;
            PDEBench and The Well: ``("x", "y")``), for the axis labels; default ``("y", "x")``.
        channel: which channel of the state is shown (``0 <= channel < C``).
        channel_names: the ``C`` channels' names, for the colour bar's label and the titles;
            default "channel <i>".
    1-D data are shown as space-time images (x horizontal, t upwards, each frame's row centred
    on its time); 2-D data as the last frame, the grid's last axis horizontal and the grid's
    first point at the lower left. Channel ``channel`` of sample ``sample`` is shown, prediction
    and truth on one colour scale (see :func:`_field_colours`). Space is labelled as a fraction
    of the domain.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_channels = pred.shape[2]
    if not 0 <= channel < n_channels:
        raise ValueError(f"channel must be in 0..{n_channels - 1} (the state has {n_channels} "
                         f"channels), got {channel}")
    if channel_names is not None and len(channel_names) != n_channels:
        raise ValueError(f"channel_names has {len(channel_names)} names for {n_channels} "
                         f"channels: {list(channel_names)}")
    label = str(channel_names[channel]) if channel_names is not None else f"channel {channel}"
    p = pred[sample, :, channel]
    t = truth[sample, :, channel] if truth is not None else None
    panels = 1 + (t is not None) + (t is not None) + (rel_l2 is not None)
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.6), squeeze=False)
    axes = axes[0]
    field_kw = _field_colours(p, t)
    if p.ndim == 2:  # (T, X): space-time image
        # half a frame spacing below the first and above the last time, so that a frame's row
        # is centred on its time rather than starting at it
        half = 0.5 * float(times[-1] - times[0]) / max(len(times) - 1, 1) or 0.5

        def show(ax, img, name, **kw):
            im = ax.imshow(img, aspect="auto", origin="lower",
                           extent=[0, 1, float(times[0]) - half, float(times[-1]) + half], **kw)
            ax.set(xlabel="x (fraction of domain)", ylabel="t",
                   title=f"{name} of {label}, sample {sample}")
            return im
        imgs = [(p, "prediction"), (t, "truth"), (None if t is None else np.abs(p - t), "|error|")]
    else:  # (T, A, B): last frame, B horizontal
        rows, cols = tuple(grid_names) if grid_names is not None and len(grid_names) == 2 \
            else ("y", "x")

        def show(ax, img, name, **kw):
            im = ax.imshow(img, origin="lower", extent=[0, 1, 0, 1], **kw)
            ax.set(xlabel=f"{cols} (fraction of domain)", ylabel=f"{rows} (fraction of domain)",
                   title=f"{name} of {label}, sample {sample}, t = {times[-1]:.3g}")
            return im
        imgs = [(p[-1], "prediction"), (None if t is None else t[-1], "truth"),
                (None if t is None else np.abs(p[-1] - t[-1]), "|error|")]
    i = 0
    for img, name in imgs:
        if img is None:
            continue
        if name == "|error|":
            im = show(axes[i], img, name, cmap="magma")
            fig.colorbar(im, ax=axes[i], label=f"|prediction - truth| of {label}")
        else:
            im = show(axes[i], img, name, **field_kw)
            fig.colorbar(im, ax=axes[i], label=label)
        i += 1
    if rel_l2 is not None:
        ax = axes[i]
        ax.semilogy(times[1:], np.maximum(rel_l2[1:], 1e-12), "o-")
        ax.set(xlabel="t", ylabel="relative L2 error", title="error vs time (mean over samples)")
        ax.grid(True, which="both", alpha=0.3)
    if title:  # a folder's name, which matplotlib refuses as lone surrogates under LC_ALL=C
        fig.suptitle(storable_text(title))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def metrics_csv_curves(path: str | os.PathLike) -> dict[str, tuple[list[int], list[float]]]:
    """The columns of a ``metrics.csv`` that Lightning's ``CSVLogger`` wrote, as curves: for
    each column but ``step`` and ``epoch``, ``(steps, values)`` over the rows where it has a
    value, in file order. ``steps`` are the file's own (Lightning's 0-based index of the
    optimiser step; validation rows, which are rows of their own, at the step they followed).

    Raises ValueError naming the file and line for a file without a ``step`` column, a row
    with more or fewer fields than the header, or a cell that is not a number."""
    curves: dict[str, tuple[list[int], list[float]]] = {}
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or "step" not in reader.fieldnames:
            raise ValueError(f"{str(path)!r} has no 'step' column (header: "
                             f"{reader.fieldnames}); expected a metrics.csv of Lightning's "
                             "CSVLogger")
        names = [n for n in reader.fieldnames if n not in ("step", "epoch")]
        for row in reader:
            line = reader.line_num
            if None in row or None in row.values():
                raise ValueError(f"{str(path)!r} line {line}: {len(reader.fieldnames)} fields "
                                 "expected, as in the header")
            try:
                step = int(row["step"])
            except ValueError:
                raise ValueError(f"{str(path)!r} line {line}: step {row['step']!r} is not an "
                                 "integer") from None
            for name in names:
                if row[name] == "":
                    continue
                try:
                    value = float(row[name])
                except ValueError:
                    raise ValueError(f"{str(path)!r} line {line}: {name} {row[name]!r} is not "
                                     "a number") from None
                steps, values = curves.setdefault(name, ([], []))
                steps.append(step)
                values.append(value)
    return curves


def training_curves_figure(path: str | os.PathLike, title: str = ""):
    """The figure of a fit's ``curves.png``, from the ``metrics.csv`` at ``path``
    (:func:`metrics_csv_curves`): on the left, ``train/loss`` and ``train/rel_l2`` as lines
    and ``val/rel_l2`` as markers against the step, log y; on the right the learning rate
    (``train/lr``, or each ``train/lr_{i}_{j}``). The x axes are the file's steps as they are
    (0-based). Returns a ``matplotlib.figure.Figure`` not attached to pyplot (no backend is
    chosen, nothing global changes).

    Raises ValueError (naming the file) where the file holds none of those columns, or from
    :func:`metrics_csv_curves`."""
    from matplotlib.figure import Figure

    curves = metrics_csv_curves(path)
    rates = sorted(n for n in curves if n == LR_PREFIX or n.startswith(LR_PREFIX + "_"))
    drawn = [n for n in (*TRAIN_CURVES, VAL_CURVE) if n in curves]
    if not drawn and not rates:
        raise ValueError(f"{str(path)!r} holds none of {[*TRAIN_CURVES, VAL_CURVE, LR_PREFIX]}"
                         f" (its columns: {sorted(curves)}): no training curve to draw")
    fig = Figure(figsize=(11, 3.8))
    losses, lr = fig.subplots(1, 2)
    step_label = "optimiser step (from 0, as metrics.csv's step)"
    for name in drawn:
        steps, values = curves[name]
        if name == VAL_CURVE:
            losses.plot(steps, values, "o", label=f"{name} (validation, physical units)")
        else:
            style = "-" if name == "train/loss" else "--"
            losses.plot(steps, values, style, label=f"{name} (training, normalised units)")
    # log y where there is something positive to show (a log axis of none is an error)
    if any(v > 0 and math.isfinite(v) for n in drawn for v in curves[n][1]):
        losses.set_yscale("log")
    losses.set(title="loss and relative L2 error", xlabel=step_label,
               ylabel="loss, relative L2 (dimensionless)")
    losses.grid(True, which="both", alpha=0.3)
    if drawn:
        losses.legend(loc="best", fontsize="small")
    for name in rates:
        lr.plot(*curves[name], label=name)
    if not rates:
        lr.text(0.5, 0.5, f"no {LR_PREFIX} in metrics.csv", ha="center", va="center",
                transform=lr.transAxes)
    lr.set(title="learning rate", xlabel=step_label, ylabel="learning rate (optimiser's lr)")
    lr.set_ylim(bottom=0)
    lr.grid(True, alpha=0.3)
    if len(rates) > 1:
        lr.legend(loc="best", fontsize="small")
    if title:  # a folder's name, which matplotlib refuses as lone surrogates under LC_ALL=C
        fig.suptitle(storable_text(title))
    fig.tight_layout()
    return fig
