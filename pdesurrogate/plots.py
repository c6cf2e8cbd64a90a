"""Figures people would rather look at than read: prediction vs truth, error vs time, and a
fit's training curves."""

from __future__ import annotations

import csv
import math
import os
import textwrap

import numpy as np

from pdesurrogate.datasets.storable_text import storable_text

# the columns of metrics.csv that training_curves_figure draws: the loss the optimiser
# minimised and the relative L2 on the losses' panel, the learning rate on a panel of its own
TRAIN_CURVES = ("train/loss", "train/rel_l2")
VAL_CURVE = "val/rel_l2"
LR_PREFIX = "train/lr"


# names of a spatial axis that a 2-D panel draws across whichever axis of the state it is:
# x, and the longitude of a latitude-longitude grid; compared without case and without
# PDEBench's "-coordinate" suffix. Any other pair of names: the state's last axis across.
ACROSS_NAMES = ("x", "lon", "longitude")


# names of the spatial axis that a 3-D state's panels slice through (at its middle node), so
# that the plane drawn is the horizontal one, x-y; compared as ACROSS_NAMES are
SLICED_NAMES = ("z", "depth", "height")
# names of the in-plane axis drawn upwards beside one of ACROSS_NAMES: y, a grid's latitude
UP_NAMES = ("y", "lat", "latitude")


def _axis_name(name: str) -> str:
    """``name`` as the name lists here hold it: lower case, without PDEBench's
    "-coordinate" suffix."""
    n = str(name).strip().lower()
    for suffix in ("-coordinate", "_coordinate", " coordinate"):
        n = n.removesuffix(suffix)
    return n


def _drawn_across(name: str) -> bool:
    """Whether a spatial axis named ``name`` is drawn horizontally (:data:`ACROSS_NAMES`)."""
    return _axis_name(name) in ACROSS_NAMES


def _sliced_axis(names: tuple[str, ...]) -> int:
    """The index of the axis a 3-D state with spatial axes ``names`` is sliced through: the
    first named as in :data:`SLICED_NAMES` (z of The Well's ``("x", "y", "z")`` and of ours
    ``("z", "y", "x")``); else the first that is neither drawn across (:data:`ACROSS_NAMES`)
    nor drawn upwards beside it (:data:`UP_NAMES`), as ``level`` of ``("lon", "lat",
    "level")``; else (no name known, or none left) the first."""
    n = [_axis_name(g) for g in names]
    for i, g in enumerate(n):
        if g in SLICED_NAMES:
            return i
    for i, g in enumerate(n):
        if g not in ACROSS_NAMES and g not in UP_NAMES:
            return i
    return 0


# the most channels rollout_figure draws, one row each; a state with more (The Well's, say)
# shows its first ones and the figure's title says so
MAX_CHANNEL_ROWS = 8


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
    if _flat(lo, hi):
        # one value up to rounding: a scale over the rounding noise drew that noise as a
        # pattern, its colour bar ticked '0.099999999999990000', '0.099999999999992512', ...
        mid = (lo + hi) / 2
        half = 0.1 * abs(mid) or 1.0
        lo, hi = mid - half, mid + half
    if lo < 0 < hi:
        m = max(-lo, hi)
        return {"cmap": "RdBu_r", "vmin": -m, "vmax": m}
    return {"cmap": "viridis", "vmin": lo, "vmax": hi}


# the spread, as a fraction of their magnitude, below which a panel's values are taken for one
# value up to rounding (a few float32 roundings; what varies less a float32 file cannot hold)
FLAT = 1e-6


def _flat(lo: float, hi: float) -> bool:
    """Whether values from ``lo`` to ``hi`` are one value up to rounding (:data:`FLAT`)."""
    return hi - lo <= FLAT * max(abs(lo), abs(hi))


def _error_colours(err: np.ndarray) -> dict:
    """imshow keywords of an |error| panel: its own range, from 0 where the error is one value
    up to rounding (a constant offset), 0 to 1 where it is 0."""
    vals = err[np.isfinite(err)]
    if not vals.size or not _flat(float(vals.min()), float(vals.max())):
        return {"cmap": "magma"}
    return {"cmap": "magma", "vmin": 0.0, "vmax": float(vals.max()) or 1.0}


def _edges(coords: np.ndarray | None) -> tuple[float, float]:
    """The span an image of nodes ``coords`` covers: from half a spacing before the first node
    to half a spacing after the last, so each pixel is centred on its node; ``(0, 1)``
    (fractions of the domain) without coordinates."""
    if coords is None:
        return 0.0, 1.0
    c = np.asarray(coords, dtype=np.float64)
    if c.size == 1:
        return float(c[0]) - 0.5, float(c[0]) + 0.5
    return float(c[0] - (c[1] - c[0]) / 2), float(c[-1] + (c[-1] - c[-2]) / 2)


def _check_grid(grid, shape: tuple[int, ...], names: tuple[str, ...]) -> tuple | None:
    """``grid`` as float arrays, checked against the state's spatial ``shape``."""
    if grid is None:
        return None
    grid = tuple(np.asarray(g, dtype=np.float64) for g in grid)
    if tuple(g.shape for g in grid) != tuple((n,) for n in shape) \
            or not all(np.isfinite(g).all() for g in grid):
        raise ValueError(f"grid must hold one finite 1-D coordinate array per spatial axis "
                         f"{list(names)} of lengths {list(shape)}, got shapes "
                         f"{[g.shape for g in grid]}")
    return grid


def rollout_figure(pred: np.ndarray, truth: np.ndarray | None, times: np.ndarray,
                   rel_l2: np.ndarray | None, path: str | os.PathLike, title: str = "",
                   sample: int = 0, grid_names: tuple[str, ...] | None = None,
                   channel: int | None = None, channel_names: tuple[str, ...] | None = None,
                   grid: tuple[np.ndarray, ...] | None = None) -> str:
    """Save a PNG comparing a rollout with the truth for one sample.

    Args:
        pred: ``(N, T, C, *grid)`` predicted states (physical units), 1 to 3 spatial axes.
        truth: same shape, or None.
        times: ``(T,)`` times of the frames.
        rel_l2: ``(T,)`` relative L2 error per frame averaged over samples, or None.
        path: output file (PNG).
        grid_names: names of the spatial axes in the order of ``pred``'s (ours: ``("y", "x")``;
            PDEBench and The Well: ``("x", "y")``), one per axis, each axis labelled with its
            own; default ``("x",)`` in 1-D, ``("y", "x")`` in 2-D, ``("z", "y", "x")`` in 3-D.
        channel: the one channel shown (``0 <= channel < C``); None (default): every channel,
            one row each (the first :data:`MAX_CHANNEL_ROWS`; the title then says how many of
            ``C`` are shown).
        channel_names: the ``C`` channels' names, for the colour bars' labels and the titles;
            default "channel <i>".
        grid: one 1-D coordinate array per spatial axis (the nodes, in the order of ``pred``'s
            axes): the axes then show those coordinates, each pixel centred on its node and a
            2-D panel drawn to the domain's shape (unless one side is over 8 times the other);
            None (default): space as a fraction of the domain, a 2-D domain drawn square.
    1-D data are shown as space-time images (x horizontal, t upwards, each frame's row centred
    on its time); 2-D data as the last frame, the grid's last axis horizontal unless the
    first axis is named x or longitude (:data:`ACROSS_NAMES`: ``x``, ``X``, ``x-coordinate``,
    ``lon``, ...) and the last is not, as in PDEBench's and The Well's ``("x", "y")`` or a
    ``("lon", "lat")`` grid, each axis labelled with its own name, and the grid's first point
    at the lower left; 3-D data as the last frame's slice through the middle node of the
    axis named z (or depth, height; else the axis neither drawn across nor named y or
    latitude; else the first: :func:`_sliced_axis`), the other two drawn as in 2-D, the
    titles naming that axis and where. Each channel's prediction and truth share one colour
    scale, over the values drawn: the 1-D space-time image, else the last frame's (slice's)
    values only (see :func:`_field_colours`); a panel that is one value up to rounding gets a
    scale around that value (an |error| one from 0), and no colour bar ticks relative to an
    offset. A title wider than its column (a long channel name) is wrapped, to three lines at
    most, the name shortened with an ellipsis beyond; a colour bar's label keeps the whole name
    where it fits in its row's height, else it too is shortened.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_channels, n_space = pred.shape[2], pred.ndim - 3
    if not 1 <= n_space <= 3:
        raise ValueError(f"pred must be (N, T, C, *grid) with 1 to 3 spatial axes, got shape "
                         f"{tuple(pred.shape)}")
    if channel is not None and not 0 <= channel < n_channels:
        raise ValueError(f"channel must be in 0..{n_channels - 1} (the state has {n_channels} "
                         f"channels), got {channel}")
    if channel_names is not None and len(channel_names) != n_channels:
        raise ValueError(f"channel_names has {len(channel_names)} names for {n_channels} "
                         f"channels: {list(channel_names)}")
    if grid_names is not None and len(grid_names) != n_space:
        raise ValueError(f"grid_names must name the state's {n_space} spatial axes (pred "
                         f"{tuple(pred.shape)} is (N, T, C, *grid)), got {list(grid_names)}")
    names = tuple(str(g) for g in grid_names) if grid_names is not None \
        else (("x",), ("y", "x"), ("z", "y", "x"))[n_space - 1]
    grid = _check_grid(grid, pred.shape[3:], names)
    shown = [channel] if channel is not None else list(range(min(n_channels,
                                                                 MAX_CHANNEL_ROWS)))
    columns = 1 + 2 * (truth is not None) + (rel_l2 is not None)
    fig, axes = plt.subplots(len(shown), columns, figsize=(4.8 * columns, 3.6 * len(shown)),
                             squeeze=False)
    fits = []
    for row, c in zip(axes, shown, strict=True):
        label = str(channel_names[c]) if channel_names is not None else f"channel {c}"
        fits += _channel_row(row, fig, pred[sample, :, c],
                             None if truth is None else truth[sample, :, c], times, label,
                             sample, names, grid)
    if rel_l2 is not None:
        ax = axes[0, -1]
        ax.semilogy(times[1:], np.maximum(rel_l2[1:], 1e-12), "o-")
        over = " (all channels)" if n_channels > 1 else ""
        ax.set(xlabel="t", ylabel=f"relative L2 error{over}",
               title="error vs time (mean over samples)")
        ax.grid(True, which="both", alpha=0.3)
        for ax in axes[1:, -1]:
            ax.axis("off")
    if len(shown) < n_channels and channel is None:
        title = f"{title} ({len(shown)} of {n_channels} channels shown)".strip()
    if title:  # a folder's name, which matplotlib refuses as lone surrogates under LC_ALL=C
        fig.suptitle(storable_text(title))
    for _ in range(2):  # again where titles were wrapped: they need the room above them
        fig.tight_layout()
        # tight_layout leaves out the colour bars' labels (their axes hang off the panels'),
        # which then crowded the next panel's y label
        fig.subplots_adjust(wspace=0.7)
        # a long channel name's titles ran into their neighbours'
        if not _fit_labels(fig, fits):
            break
    _keep_inside(fig)
    _fit_labels(fig, fits)  # the panels' room as _keep_inside left it
    _keep_inside(fig)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def _keep_inside(fig, pad: float = 0.05, tries: int = 4) -> None:
    """Widen the figure's margins until everything drawn (titles, labels, colour bars) lies
    inside it, with ``pad`` inches to spare. A panel drawn to its domain's shape is narrower
    than its grid cell and centred in it, and the wide spacing :func:`rollout_figure` leaves
    for the colour bars moved the first column's cells left: with four columns, a title
    centred over a narrow first panel ("prediction of density, sample 0, t = 0.05") began
    left of the figure and was cut. Each margin moves by what sticks out; the panels shrink
    with it, so a few rounds settle it."""
    renderer = fig.canvas.get_renderer()
    width, height = fig.get_size_inches()
    for _ in range(tries):
        box = fig.get_tightbbox(renderer)  # inches; lays out the panels' shapes first
        out = (pad - box.x0, box.x1 - width + pad, pad - box.y0, box.y1 - height + pad)
        if max(out) <= 0:
            return
        p = fig.subplotpars
        left, right, bottom, top = (p.left + max(out[0], 0) / width,
                                    p.right - max(out[1], 0) / width,
                                    p.bottom + max(out[2], 0) / height,
                                    p.top - max(out[3], 0) / height)
        if left >= right or bottom >= top:
            return  # more text than figure: nothing to gain
        fig.subplots_adjust(left=left, right=right, bottom=bottom, top=top)


def _channel_row(axes, fig, p: np.ndarray, t: np.ndarray | None, times: np.ndarray, label: str,
                 sample: int, names: tuple[str, ...], grid: tuple | None
                 ) -> list[_FittedLabels]:
    """One channel's prediction, truth and |error| panels into ``axes`` (the row's first
    ones): ``p`` and ``t`` ``(T, *grid)``; see :func:`rollout_figure`. Returns the panels'
    titles and colour bar labels, to fit once the figure is laid out (:func:`_fit_labels`)."""
    from matplotlib.ticker import ScalarFormatter
    from mpl_toolkits.axes_grid1 import make_axes_locatable

    unit = "" if grid is not None else " (fraction of domain)"
    if p.ndim == 2:  # (T, X): space-time image
        # half a frame spacing below the first and above the last time, so that a frame's row
        # is centred on its time rather than starting at it
        half = 0.5 * float(times[-1] - times[0]) / max(len(times) - 1, 1) or 0.5
        extent = [*_edges(None if grid is None else grid[0]),
                  float(times[0]) - half, float(times[-1]) + half]
        place = {"aspect": "auto", "extent": extent}
        xlabel, ylabel, when = f"{names[0]}{unit}", "t", ""
        frames = (p, t)
    else:  # (T, A, B) or 3-D: the last frame (its middle slice), B (or x) across
        where = ""
        if p.ndim == 4:
            k = _sliced_axis(names)
            mid = p.shape[1 + k] // 2
            at = f"{grid[k][mid]:.3g}" if grid is not None else f"node {mid} of {p.shape[1 + k]}"
            where = f", {names[k]} = {at}"
            p, t = p.take(mid, axis=1 + k), None if t is None else t.take(mid, axis=1 + k)
            names = names[:k] + names[k + 1:]
            grid = None if grid is None else grid[:k] + grid[k + 1:]
        rows_c, cols_c = (None, None) if grid is None else grid
        row_name, col_name = names
        if _drawn_across(row_name) and not _drawn_across(col_name):
            # PDEBench's and The Well's (x, y), a (lon, lat) grid: x across, as ours (y, x)
            p, t = p.swapaxes(-1, -2), None if t is None else t.swapaxes(-1, -2)
            rows_c, cols_c, row_name, col_name = cols_c, rows_c, col_name, row_name
        xe, ye = _edges(cols_c), _edges(rows_c)
        ratio = abs(ye[1] - ye[0]) / max(abs(xe[1] - xe[0]), 1e-300)
        place = {"extent": [*xe, *ye], "aspect": "equal" if 1 / 8 <= ratio <= 8 else "auto"}
        xlabel, ylabel = f"{col_name}{unit}", f"{row_name}{unit}"
        when = f", t = {times[-1]:.3g}{where}"
        frames = (p[-1], None if t is None else t[-1])
    # the scale of what is drawn: over every frame or the whole 3-D volume, a field that
    # decays, or a peak off the drawn slice, left the drawn frame one flat colour
    field_kw = _field_colours(*frames)
    panels = [(frames[0], "prediction"), (frames[1], "truth"),
              (None if t is None else np.abs(frames[0] - frames[1]), "|error|")]
    fits = []
    i = 0
    for img, name in panels:
        if img is None:
            continue
        kw = _error_colours(img) if name == "|error|" else field_kw
        im = axes[i].imshow(img, origin="lower", **place, **kw)
        head, tail = f"{name} of ", f", sample {sample}{when}"
        axes[i].set(xlabel=xlabel, ylabel=ylabel, title=f"{head}{label}{tail}")
        # a bar beside the image and as tall as it, also where a domain's shape makes the
        # image lower than its panel
        cax = make_axes_locatable(axes[i]).append_axes("right", size="5%", pad=0.08)
        cax.set_label("<colorbar>")
        # no offset ('+3e2' above the bar, the ticks then read off it): each tick its value
        prefix = "|prediction - truth| of " if name == "|error|" else ""
        bar = fig.colorbar(im, cax=cax, format=ScalarFormatter(useOffset=False),
                           label=prefix + label)
        fits.append(_FittedLabels(axes[i].title, head, label, tail, bar, prefix))
        i += 1
    return fits


# the most lines a panel's title wraps to; a longer one shows its channel's name shortened
TITLE_LINES = 3
# inches a panel's title keeps clear of its neighbour's
TITLE_GAP = 0.2


def _shortened(name: str, n: int) -> str:
    """``name`` in at most ``n`` characters (at least 3): its start and end around an
    ellipsis, the end being what tells apart names of one prefix."""
    if len(name) <= n:
        return name
    n = max(n, 3)
    return f"{name[:n // 2]}…{name[len(name) - (n - 1 - n // 2):]}"


class _FittedLabels:
    """A panel's title, ``head + label + tail``, and its colour bar's label, ``prefix +
    label``, both written anew by :meth:`fit` to the room the figure's layout leaves."""

    def __init__(self, title, head: str, label: str, tail: str, bar, prefix: str):
        self.title, self.head, self.label, self.tail = title, head, label, tail
        self.bar, self.prefix = bar, prefix

    def fit(self, renderer, width: float, height: float) -> bool:
        """Wrap the title to ``width`` pixels (at most :data:`TITLE_LINES` lines, the label
        shortened where more are needed) and shorten the label in the colour bar's label to
        ``height`` pixels (the bar's label runs upwards); whether the title is wrapped."""
        full = self.prefix + self.label
        self.bar.set_label(full)
        text = self.bar.ax.yaxis.label
        tall = text.get_window_extent(renderer).height
        if tall > height:  # from as many characters as the height holds on average
            start = len(self.label) - math.ceil(len(full) * (1 - height / tall))
            for n in range(max(start, 3), 2, -1):
                self.bar.set_label(self.prefix + _shortened(self.label, n))
                if text.get_window_extent(renderer).height <= height:
                    break
        full = f"{self.head}{self.label}{self.tail}"
        self.title.set_text(full)
        wide = self.title.get_window_extent(renderer).width
        if wide <= width:
            return False
        per_char = wide / len(full)
        label = self.label
        while True:
            text = f"{self.head}{label}{self.tail}"
            chars = max(int(width / per_char), 10)
            while True:
                lines = self._wrap(text, chars)
                if chars <= 10 or self.title.get_window_extent(renderer).width <= width:
                    break
                chars -= 1
            if len(lines) > TITLE_LINES and len(label) > 3:
                label = _shortened(label, len(label) - (len(lines) - TITLE_LINES) * chars)
                continue
            # lines as even as that many allow: no last line of one word ("... node 2 of\n5")
            for even in range(math.ceil(len(text) / len(lines)), chars):
                if len(self._wrap(text, even)) == len(lines) \
                        and self.title.get_window_extent(renderer).width <= width:
                    return True
            self._wrap(text, chars)
            return True

    def _wrap(self, text: str, chars: int) -> list[str]:
        """Set the title to ``text`` wrapped to ``chars`` characters a line; its lines."""
        # a name without spaces (a_long_snake_case_name) is broken inside
        lines = textwrap.wrap(text, chars, break_on_hyphens=False)
        self.title.set_text("\n".join(lines))
        return lines


def _fit_labels(fig, fits: list[_FittedLabels]) -> bool:
    """:meth:`_FittedLabels.fit` each panel's labels to the figure as laid out: a title to
    the distance between its column's cell and the next (less :data:`TITLE_GAP`), so that
    neighbouring titles cannot meet (the figure's width in a single column); a colour bar's
    label to its row's height. Whether any title is wrapped."""
    renderer = fig.canvas.get_renderer()
    wrapped = False
    for f in fits:
        spec = f.title.axes.get_subplotspec()
        bottoms, tops, lefts, rights = spec.get_gridspec().get_grid_positions(fig)
        row = spec.rowspan.start
        pitch = lefts[1] - lefts[0] if len(lefts) > 1 else 1.0  # the columns' cells are alike
        width = pitch * fig.bbox.width - TITLE_GAP * fig.dpi
        height = (tops[row] - bottoms[row]) * fig.bbox.height
        wrapped |= f.fit(renderer, width, height)
    return wrapped


# the points a curve of curves.png keeps at most (a panel is under a thousand pixels wide):
# a fit logging every step for hours writes millions of rows, hundreds of MB of metrics.csv,
# which drawn whole took that memory again and minutes; as many as StreamMonitor's history
CURVE_POINTS = 2048


def _below(a: float, b: float) -> bool:
    """Whether ``a`` is below ``b``, a NaN above everything: a bucket holding a NaN (a
    diverged step) keeps it as its highest point, so the gap it leaves in a line still
    shows, as it did drawn whole."""
    return a < b or (b != b and a == a)


class ThinnedCurve:
    """A curve ``(step, value)`` fed one point at a time in file order that keeps at most
    ``cap`` of them, evenly over the whole curve, in memory bounded by ``cap``.

    The points are grouped in buckets of ``width`` consecutive points (1 at first): of each
    bucket the lowest and the highest value are kept (one point where they coincide), so a
    minimum or a spike is never thinned away, and the curve's last point is always kept.
    When more than ``cap`` would be kept, neighbouring buckets merge in pairs (``width``
    doubles); a curve of at most ``cap`` points (a validation curve) keeps every one.
    """

    def __init__(self, cap: int = CURVE_POINTS):
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 3:
            raise ValueError(f"cap must be an int >= 3 (the lowest and highest point of a "
                             f"bucket and the last point), got {cap!r}")
        self.cap = cap
        self.width = 1
        self.count = 0
        # per bucket [points in it, lowest, highest], each point (index in the curve, step,
        # value); the last bucket may be partly filled
        self._buckets: list[list] = []
        self._kept = 0  # the buckets' points: one or two each
        self._last: tuple | None = None

    def add(self, step: int, value: float) -> None:
        point = (self.count, step, value)
        self.count += 1
        b = self._buckets[-1] if self._buckets else None
        if b is None or b[0] == self.width:
            b = [1, point, point]
            self._buckets.append(b)
            self._kept += 1
        elif b[1][2] <= value <= b[2][2]:  # most points: inside the bucket's range so far
            b[0] += 1
        else:
            b[0] += 1
            single = b[1] is b[2]
            if _below(value, b[1][2]):
                b[1] = point
            elif _below(b[2][2], value):
                b[2] = point
            self._kept += single and b[1] is not b[2]
        self._last = point
        while self._kept + (point is not b[1] and point is not b[2]) > self.cap:
            self._merge()
            b = self._buckets[-1]

    def _merge(self) -> None:
        """Merge neighbouring buckets in pairs: twice the width, about half the points."""
        merged = []
        for i in range(0, len(self._buckets), 2):
            pair = self._buckets[i:i + 2]
            lo, hi = pair[0][1], pair[0][2]
            for b in pair[1:]:
                lo = b[1] if _below(b[1][2], lo[2]) else lo
                hi = b[2] if _below(hi[2], b[2][2]) else hi
            merged.append([sum(b[0] for b in pair), lo, hi])
        self._buckets = merged
        self._kept = sum(1 if b[1] is b[2] else 2 for b in merged)
        self.width *= 2

    def points(self) -> tuple[list[int], list[float]]:
        """``(steps, values)`` of the kept points, in the order they were added."""
        kept = {p[0]: p for b in self._buckets for p in b[1:]}
        if self._last is not None:
            kept[self._last[0]] = self._last
        ordered = [kept[i] for i in sorted(kept)]
        return [p[1] for p in ordered], [p[2] for p in ordered]


def metrics_csv_curves(path: str | os.PathLike, max_points: int = CURVE_POINTS
                       ) -> dict[str, tuple[list[int], list[float]]]:
    """The columns of a ``metrics.csv`` that Lightning's ``CSVLogger`` wrote, as curves: for
    each column but ``step`` and ``epoch``, ``(steps, values)`` over the rows where it has a
    value, in file order. ``steps`` are the file's own (Lightning's 0-based index of the
    optimiser step; validation rows, which are rows of their own, at the step they followed).

    The file is read a row at a time, and a curve of more than ``max_points`` points is
    thinned to that many (:class:`ThinnedCurve`: evenly over the curve, each stretch's lowest
    and highest values and the last point kept), so memory stays bounded however long the
    run that wrote it.

    Raises ValueError naming the file and line for a file without a ``step`` column, a row
    with more or fewer fields than the header, or a cell that is not a number."""
    curves: dict[str, ThinnedCurve] = {}
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or "step" not in header:
            raise ValueError(f"{str(path)!r} has no 'step' column (header: "
                             f"{header}); expected a metrics.csv of Lightning's CSVLogger")
        at = header.index("step")
        columns = [(i, n) for i, n in enumerate(header) if n not in ("step", "epoch")]
        for row in reader:
            if not row:  # a blank line, which csv.DictReader skipped too
                continue
            line = reader.line_num
            if len(row) != len(header):
                raise ValueError(f"{str(path)!r} line {line}: {len(header)} fields expected, "
                                 "as in the header")
            try:
                step = int(row[at])
            except ValueError:
                raise ValueError(f"{str(path)!r} line {line}: step {row[at]!r} is not an "
                                 "integer") from None
            for i, name in columns:
                if row[i] == "":
                    continue
                try:
                    value = float(row[i])
                except ValueError:
                    raise ValueError(f"{str(path)!r} line {line}: {name} {row[i]!r} is not "
                                     "a number") from None
                curve = curves.get(name)
                if curve is None:
                    curve = curves[name] = ThinnedCurve(max_points)
                curve.add(step, value)
    return {n: c.points() for n, c in curves.items()}


def training_curves_figure(path: str | os.PathLike, title: str = ""):
    """The figure of a fit's ``curves.png``, from the ``metrics.csv`` at ``path``
    (:func:`metrics_csv_curves`): on the left, ``train/loss`` and ``train/rel_l2`` as lines
    and ``val/rel_l2`` as markers against the step, log y; on the right the learning rate
    (``train/lr``, or each ``train/lr_{i}_{j}``). The x axes are the file's steps as they are
    (0-based). A long run's curves are thinned to :data:`CURVE_POINTS` points each, every
    minimum, spike and last point still drawn (:class:`ThinnedCurve`). Returns a
    ``matplotlib.figure.Figure`` not attached to pyplot (no backend is chosen, nothing global
    changes).

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
