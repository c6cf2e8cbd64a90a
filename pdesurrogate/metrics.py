"""Errors of a predicted field against the truth, after the metrics of PDEBench and The Well.

The quantities are those PDEBench (Takamoto et al., NeurIPS 2022 Datasets and Benchmarks)
reports and The Well's ``vrmse``, written here from their definitions. Inputs are ``pred``
and ``truth`` of shape ``(B, F, C, *grid)``: trajectories, frames, channels and a 1-D
``(nx,)`` or 2-D ``(ny, nx)`` grid (any number of grid axes is computed the same way).
With ``e = pred - truth`` and, for one trajectory ``b``, frame ``f`` and channel ``c``, the
``N`` grid values ``e_x`` and ``u_x`` (the truth), each metric is first one number per
``(b, f, c)``:

``rmse``
    ``sqrt(mean_x e_x**2)``, in the field's units.
``nrmse``
    ``sqrt(sum_x e_x**2) / sqrt(sum_x u_x**2)``: the channel's relative L2 error, so it does not
    change when both fields are multiplied by one factor. A channel whose truth is zero
    everywhere has its norm floored at :data:`NORM_FLOOR` (the error is then huge, not NaN).
``vrmse``
    ``sqrt(mean_x e_x**2 / (mean_x (u_x - mean_x u)**2 + eps))``: the RMSE over the standard
    deviation of the channel's truth in space, the variance-scaled RMSE that The Well (Ohana
    et al., NeurIPS 2024 Datasets and Benchmarks) reports in its benchmark tables, written here
    from its definition. A prediction equal to the truth's spatial mean scores 1 (up to
    ``eps``), ``truth + a (truth - mean_x truth)`` scores ``|a|``. ``eps`` is
    :data:`VRMSE_EPS` ``= 1e-7``, added to the variance inside the square root, in the field's
    units squared, as The Well adds it (``the_well/benchmark/metrics/spatial.py`` of
    PolymathicAI/the_well at 215f55d: ``NMSE.eval`` with ``norm_mode="std"``, lines 142-145,
    ``VRMSE.eval``, line 240, the square root of that). A channel whose truth is constant in
    space (variance 0) therefore gets ``rmse / sqrt(1e-7)``, about ``3162 * rmse``: finite, 0
    for an exact prediction, and large for any error, as in The Well's tables. So ``eps``
    matters also where a field's variance is not far above 1e-7 in its units. The variance is
    the population one (divided by ``N``), as the paper's tables describe the metric
    ("predicting the mean value of the target field results in a score of 1"); The Well's code
    divides by ``N - 1`` (``torch.std``'s default), which makes its value smaller by the factor
    ``sqrt(1 - 1/N)`` (relative ``1 / (2 N)``: 3e-5 on a 128x128 grid, 0.8 % on 64 points).
    Both fields are taken in the units given (``pdesurrogate predict`` and ``test``: physical
    units), as The Well scores its denormalised fields.
``max_error``
    ``max_x |e_x|``.
``crmse``
    ``|mean_x e_x|``: the error of the channel's spatial mean, the conserved quantity of a
    conservation law on a periodic domain (mass, momentum; the spatial integral divided by the
    domain's size on a uniform grid). The RMSE of one number is its absolute value.
``brmse``
    ``sqrt(mean e_x**2)`` over the grid points on the boundary of the stored grid: those with
    an index of 0 or ``n - 1`` along some axis, each point once. On a 1-D grid of ``nx``
    points the two end points; on a 2-D ``(ny, nx)`` grid the outer ring of
    ``2 nx + 2 ny - 4`` points. On a periodic grid that stores ``x_0 .. x_{n-1}`` without the
    repeated ``x_n`` these are still the first and last stored points.
``frmse_low``, ``frmse_mid``, ``frmse_high``
    ``sqrt(mean_x (P e)_x**2)``, where ``P`` keeps the Fourier modes of ``e`` whose integer
    wavenumber vector ``k`` (cycles per domain length along each axis, as the discrete Fourier
    transform of the ``N`` points counts them) has a Euclidean norm ``|k|`` in the band:
    low ``|k| <= 4``, mid ``4 < |k| <= 12``, high ``|k| > 12`` (:data:`BANDS`). In 1-D these
    are the paper's integer bands 0-4, 5-12 and 13 up to the Nyquist wavenumber; in 2-D the
    limits apply to ``|k|`` unrounded, so the mode ``(4, 1)`` (``|k| = 4.12``) is mid. By
    Parseval's theorem it is ``sqrt(sum_{k in band} |E_k|**2) / N`` with ``E`` numpy's
    unnormalised ``fftn`` of ``e``; an error ``A cos(2 pi k x / L)`` with ``0 < k < n/2`` has
    ``A / sqrt(2)`` in the band holding ``k`` and 0 in the others, and the three bands' squares
    add up to ``rmse**2``. (PDEBench may normalise a band's sum in another way, which was not
    checked against its code; compare fRMSE between models evaluated here, not with its
    published tables.) A band that holds no mode of the grid is NaN, not 0, which would read as
    a perfect score: the high band on a 1-D grid of fewer than 26 points or a 2-D grid up to
    17x17 (its largest ``|k|``, ``sqrt(8**2 + 8**2)``, is 11.3), the mid band under 10 points
    (:func:`empty_bands`). The transform treats the
    stored grid as one period of a periodic, uniformly spaced field: on a non-periodic grid the
    jump between the last and the first point spreads error into every band, the high one most.

Beside them :func:`trajectory_errors` gives ``rel_l2`` (:data:`REL_L2`), the relative L2
error of the whole frame, ``sqrt(sum_{c,x} e**2) / sqrt(sum_{c,x} u**2)`` with one norm over all
channels and grid points (floored at :data:`NORM_FLOOR`): the error ``pdesurrogate predict``
reports as ``rel_l2_vs_truth`` and ``fit``/``test`` as ``rel_l2``. It is not one of
:data:`NAMES`, so :func:`field_errors` and :meth:`ErrorSums.result` leave it out.

Per frame, the ``(b, f, c)`` numbers are averaged over channels and then over trajectories
(:func:`field_errors`), as PDEBench averages its per-channel values; ``max_error`` is instead
the maximum over channels and trajectories. :func:`trajectory_errors` gives the per-trajectory
``(B, F)`` values (channel-averaged, or the channel maximum) and :class:`ErrorSums` adds them
up batch by batch, one trajectory at a time in the order given, so a caller rolling out in
batches (``pdesurrogate predict``) gets the numbers of one call on all trajectories, whatever
its batch size, bit for bit (the Fourier transforms are made one trajectory at a time for
that). All arithmetic is in float64, one frame at a time and :data:`CHUNK_VALUES` grid values
of trajectories at a time: the float64 temporaries take a few MiB whatever the batch.
"""

from __future__ import annotations

import math

import numpy as np

# the metrics' names, in the order tables and files list them
NAMES = ("rmse", "nrmse", "vrmse", "max_error", "crmse", "brmse", "frmse_low", "frmse_mid",
         "frmse_high")
# the whole frame's relative L2, which trajectory_errors gives beside NAMES
REL_L2 = "rel_l2"
# Fourier bands of the error: a mode with lo < |k| <= hi is in the band (|k| = 0 is low)
BANDS = {"low": (-1.0, 4.0), "mid": (4.0, 12.0), "high": (12.0, math.inf)}
# the smallest truth norm nrmse divides by (as the relative L2 of pdesurrogate predict)
NORM_FLOOR = 1e-30
# what vrmse adds to the truth's spatial variance (field units squared), as The Well does
VRMSE_EPS = 1e-7
# float64 values per temporary: trajectories are taken this many grid values at a time (at
# least one trajectory's frame), so the temporaries (about six) do not grow with the batch
CHUNK_VALUES = 2**18


def _check(pred, truth) -> tuple[np.ndarray, np.ndarray]:
    """``pred`` and ``truth`` as real arrays of one shape ``(B, F, C, *grid)``, else ValueError."""
    arrays = []
    for name, a in (("pred", pred), ("truth", truth)):
        a = np.asarray(a)
        if a.dtype.kind not in "fiu":
            raise ValueError(f"{name} must be a real numeric array, got dtype {a.dtype}")
        if a.ndim < 4:
            raise ValueError(f"{name} must have shape (trajectories, frames, channels, *grid) "
                             f"with at least one grid axis, got shape {a.shape}")
        if 0 in a.shape:
            raise ValueError(f"{name} has an empty axis: shape {a.shape}")
        arrays.append(a)
    if arrays[0].shape != arrays[1].shape:
        raise ValueError(f"pred and truth must have the same shape (trajectories, frames, "
                         f"channels, *grid), got {arrays[0].shape} and {arrays[1].shape}")
    return arrays[0], arrays[1]


def _not_finite(name: str, a: np.ndarray, frame: int, first: int) -> str | None:
    """Where the frame ``a`` ``(b, C, *grid)`` holds a NaN or inf, in words; None if nowhere."""
    bad = ~np.isfinite(a)
    if not bad.any():
        return None
    b, c = np.argwhere(bad)[0][:2]
    return (f"{name} is not finite (NaN or inf) at trajectory {first + b} (counted from 0), "
            f"frame {frame}, channel {c}")


def boundary_mask(grid: tuple[int, ...]) -> np.ndarray:
    """``grid``-shaped bool: True at the points with an index of 0 or ``n - 1`` on some axis."""
    mask = np.zeros(grid, dtype=bool)
    for axis, n in enumerate(grid):
        edge = [slice(None)] * len(grid)
        for i in (0, n - 1):
            edge[axis] = i
            mask[tuple(edge)] = True
    return mask


def wavenumber_norm(grid: tuple[int, ...]) -> np.ndarray:
    """``grid``-shaped ``|k|`` of each entry of numpy's ``fftn`` over a grid of that shape:
    the Euclidean norm of the integer wavenumbers (cycles per domain length) along the axes."""
    ks = np.meshgrid(*(np.fft.fftfreq(n, d=1.0 / n) for n in grid), indexing="ij")
    return np.sqrt(sum(k**2 for k in ks))


def band_masks(grid: tuple[int, ...]) -> dict[str, np.ndarray]:
    """``{band: grid-shaped bool}`` of the Fourier modes in each of :data:`BANDS`."""
    k = wavenumber_norm(grid)
    return {band: (k > lo) & (k <= hi) for band, (lo, hi) in BANDS.items()}


def empty_bands(grid: tuple[int, ...]) -> tuple[str, ...]:
    """The bands of :data:`BANDS` that hold no Fourier mode of ``grid`` (its largest ``|k|``
    is at most their lower limit), whose fRMSE is NaN."""
    return tuple(band for band, m in band_masks(tuple(grid)).items() if not m.any())


def band_limits(band: str) -> str:
    """``band``'s wavenumbers in words, e.g. ``"|k| > 12"``, ``"4 < |k| <= 12"``."""
    lo, hi = BANDS[band]
    if hi == math.inf:
        return f"|k| > {lo:g}"
    return f"{'' if lo < 0 else f'{lo:g} < '}|k| <= {hi:g}"


def trajectory_errors(pred, truth, first: int = 0, first_frame: int = 0
                      ) -> dict[str, np.ndarray]:
    """``{name: (B, F)}`` for each of :data:`NAMES`: one trajectory's and frame's value,
    averaged over channels (``max_error``: the maximum over channels), in float64 (NaN for
    the fRMSE of a band that holds no mode of the grid: :func:`empty_bands`); then
    :data:`REL_L2`, the frame's relative L2 over all channels and grid points at once.

    ``pred``, ``truth``: ``(B, F, C, *grid)`` real arrays (numpy, or anything
    ``np.asarray`` takes). Raises ValueError for other shapes, shapes that differ, a
    non-real dtype, or a NaN or inf in either (naming the first such trajectory, counted from
    ``first`` for the batch's first one, and frame, counted from ``first_frame`` for the
    first one given)."""
    pred, truth = _check(pred, truth)
    b, n_frames, n_channels = pred.shape[:3]
    grid = pred.shape[3:]
    n_points = math.prod(grid)
    on_edge = boundary_mask(grid).ravel()
    bands = {band: m.ravel() for band, m in band_masks(grid).items()}
    out = {name: np.empty((b, n_frames)) for name in (*NAMES, REL_L2)}
    rows = max(1, CHUNK_VALUES // (n_channels * n_points))
    for j in range(n_frames):
        for s in range(0, b, rows):
            chunk = slice(s, min(s + rows, b))
            _frame_errors(pred[chunk, j], truth[chunk, j], first_frame + j, first + s, on_edge,
                          bands,
                          {name: v[chunk, j] for name, v in out.items()})
    return out


def _frame_errors(pred, truth, frame: int, first: int, on_edge: np.ndarray,
                  bands: dict[str, np.ndarray], out: dict[str, np.ndarray]) -> None:
    """Write into ``out`` (``{name: (b,)}`` views) the errors of one frame ``(b, C, *grid)``
    of ``b`` trajectories, the first of them numbered ``first`` in error messages."""
    t = np.asarray(truth, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    for name, a in (("truth", t), ("pred", p)):
        where = _not_finite(name, a, frame, first)
        if where is not None:
            raise ValueError(where)
    b, n_channels = t.shape[:2]
    n_points = on_edge.size
    e = p - t
    del p
    flat_t = t.reshape(b, n_channels, n_points)
    # two passes (the mean, then the squares about it): mean(u**2) - mean(u)**2 would lose
    # every digit of a small variance about a large mean
    dev = flat_t - flat_t.sum(axis=-1, keepdims=True) / n_points
    np.square(dev, out=dev)
    var_t = dev.sum(axis=-1) / n_points
    del dev
    tt = flat_t * flat_t
    del t, flat_t
    norm_t = np.sqrt(tt.sum(axis=-1))
    # one pairwise sum over the frame's C * N values, as np.linalg.norm of the flat frame
    # adds them (predict's relative L2 before it moved here: the same value, bit for bit)
    whole_t = np.sqrt(tt.reshape(b, n_channels * n_points).sum(axis=-1))
    del tt
    # every reduction runs along one trajectory's own contiguous values, so its rounding does
    # not depend on the other trajectories in the chunk
    sq = (e * e).reshape(b, n_channels, n_points)
    sum_sq = sq.sum(axis=-1)
    out[REL_L2][:] = (np.sqrt(sq.reshape(b, n_channels * n_points).sum(axis=-1))
                      / np.maximum(whole_t, NORM_FLOOR))
    out["rmse"][:] = np.sqrt(sum_sq / n_points).mean(axis=-1)
    out["nrmse"][:] = (np.sqrt(sum_sq) / np.maximum(norm_t, NORM_FLOOR)).mean(axis=-1)
    out["vrmse"][:] = np.sqrt(sum_sq / n_points / (var_t + VRMSE_EPS)).mean(axis=-1)
    flat = e.reshape(b, n_channels, n_points)
    out["max_error"][:] = np.abs(flat).max(axis=(1, 2))
    out["crmse"][:] = np.abs(flat.mean(axis=-1)).mean(axis=-1)
    out["brmse"][:] = np.sqrt(sq[..., on_edge].mean(axis=-1)).mean(axis=-1)
    del sq, flat
    axes = tuple(range(1, e.ndim - 1))
    for i in range(b):
        # one trajectory per transform: numpy's FFT of several rows at once may round a row
        # differently from that row alone (seen: 1e-16 relative), and a batch's result would
        # then depend on which trajectories share its batch
        power = np.abs(np.fft.fftn(e[i], axes=axes)).reshape(n_channels, n_points) ** 2
        for band, m in bands.items():
            # no mode of the grid in the band: nothing was measured there
            out[f"frmse_{band}"][i] = ((np.sqrt(power[:, m].sum(axis=-1)) / n_points).mean()
                                       if m.any() else np.nan)


class ErrorSums:
    """The per-frame metrics of trajectories added a batch at a time.

    ``frames``: the frames ``F`` of every batch. :meth:`add` takes a batch's
    ``(b, F, C, *grid)`` prediction and truth, or its frames a few at a time (``frame``: the
    first one's index), in order, each batch's frames all added before the next batch's;
    :meth:`result` gives ``{name: (F,)}``: the mean over all trajectories added
    (``max_error``: the maximum). The sums run one trajectory at a time in the order added, each
    frame's on its own, so the result does not depend on how the trajectories were split into
    batches or a batch's frames into parts.
    """

    def __init__(self, frames: int) -> None:
        if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < 1:
            raise ValueError(f"frames must be an int >= 1, got {frames!r}")
        self.frames = int(frames)
        self.count = 0
        self._sums = {name: np.zeros(self.frames) for name in NAMES if name != "max_error"}
        self._max = np.zeros(self.frames)
        # the frame the batch being added continues at (0: none is under way) and its size
        self._next, self._batch = 0, 0

    def add(self, pred, truth, frame: int | None = None) -> dict[str, np.ndarray]:
        """Add a whole batch, ``(b, F, C, *grid)`` arrays, or (``frame`` given) its frames
        ``frame .. frame + f - 1`` from ``(b, f, C, *grid)`` ones; returns their
        :func:`trajectory_errors` (``{name: (b, f)}``). ValueError for another frame count
        than ``F`` (whole batches), frames out of order or beyond ``F``, or another number of
        trajectories than the batch's earlier frames."""
        pred, truth = _check(pred, truth)
        b, n_frames = pred.shape[:2]
        if frame is None:
            if n_frames != self.frames:
                raise ValueError(f"ErrorSums was made for {self.frames} frames; this batch has "
                                 f"{n_frames}")
            frame = 0
        if frame != self._next or frame + n_frames > self.frames \
                or (frame and b != self._batch):
            under_way = (f"; the batch of {self._batch} trajectories under way continues at "
                         f"frame {self._next}" if self._next else "")
            raise ValueError(f"ErrorSums was made for {self.frames} frames; got {b} "
                             f"trajectories' frames {frame}..{frame + n_frames - 1}{under_way}")
        errs = trajectory_errors(pred, truth, first=self.count, first_frame=frame)
        part = slice(frame, frame + n_frames)
        for i in range(b):
            for name, total in self._sums.items():
                total[part] += errs[name][i]
            np.maximum(self._max[part], errs["max_error"][i], out=self._max[part])
        self._next, self._batch = (frame + n_frames) % self.frames, b
        if self._next == 0:
            self.count += b
        return errs

    def result(self) -> dict[str, np.ndarray]:
        """``{name: (F,)}`` over every trajectory added; ValueError before the first, or while
        a batch's frames are being added."""
        if self.count == 0 or self._next:
            raise ValueError("no trajectories were added" if self._next == 0 else
                             f"the batch of {self._batch} trajectories under way has frames "
                             f"0..{self._next - 1} of {self.frames} added; add the rest first")
        out = {name: total / self.count for name, total in self._sums.items()}
        out["max_error"] = self._max.copy()
        return {name: out[name] for name in NAMES}


def field_errors(pred, truth) -> dict[str, np.ndarray]:
    """``{name: (F,)}``: each of :data:`NAMES` per frame, averaged over channels and
    trajectories (``max_error``: their maximum). Shapes and errors as :func:`trajectory_errors`."""
    pred, truth = _check(pred, truth)
    sums = ErrorSums(pred.shape[1])
    sums.add(pred, truth)
    return sums.result()
