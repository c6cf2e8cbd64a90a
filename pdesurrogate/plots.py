"""Figures people would rather look at than read: prediction vs truth, and error vs time."""

from __future__ import annotations

import os

import numpy as np


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
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)
