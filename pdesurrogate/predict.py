"""Roll an exported surrogate out over the initial conditions of a dataset file.

``predict_file`` reads the first stored time of each trajectory (any file ``open_dataset``
reads, or a folder of them as one: below), rolls the surrogate out ``steps`` steps, writes the
rollout as one of our netCDF files and, where the file holds the truth at the same times, the
relative L2 error per step and the PDEBench-style errors of :mod:`pdesurrogate.metrics` per
step (RMSE, nRMSE, The Well's variance-scaled VRMSE, max error, cRMSE, bRMSE, fRMSE in three
Fourier bands: :attr:`PredictReport.metrics`, output attributes ``<name>_vs_truth``;
:func:`metrics_table` is the table the command prints).

Before anything is written it checks that the file fits the model, each mismatch one
ValueError naming the file and what was expected:

* the PDE, where the file records one (our files' ``pde``, The Well's ``dataset_name``;
  a PDEBench file's name is only its file name, so it is not compared);
* the grid, by :meth:`Surrogate.check_grid` as ``Surrogate.predict`` checks an array: the
  training grid, or any grid for an FNO (zero-shot, said in :attr:`PredictReport.note`), or
  any grid with ``any_grid=True``; and the order of its spatial axes: a file whose axes
  have the names of the training file's (``config.json``'s ``grid_names``) in another order,
  ``(y, x)`` for ``(x, y)``, is refused (the model would take its fields transposed), with the
  ``xarray`` one-liner that transposes it;
* the domain, by :func:`_check_domain`: a file whose coordinates cover another interval than
  the training file's along an axis (``config.json``'s ``grid_extent``;
  :mod:`pdesurrogate.datasets.grid_extent` says how the interval is told from the points) is
  refused at any resolution (with ``any_grid`` only noted), an FNO's too: a finer grid over the
  same domain is zero-shot super-resolution, over a longer one another problem. Exports older
  than ``grid_extent`` are not checked;
* the channel count and the parameters the model needs;
* the time step: one model step is ``config.json``'s ``dt``. The file's saved times must be
  ``dt`` apart, or ``dt / m`` apart for an integer ``m`` (then every m-th frame is the truth;
  :attr:`PredictReport.stride` and :attr:`PredictReport.note` say so), to a relative
  tolerance of :data:`TIME_RTOL` of ``dt`` at every compared frame. A model without a ``dt``
  (trained on unevenly spaced times) compares every ``k``-th frame, as it was trained.

The error is averaged over every rolled-out trajectory of the file, so it is a held-out number
only on a file the model never trained on. When the input is the model's training file (its
content fingerprint matches config.json's ``provenance.data_source.fingerprint``, recomputed in
the version the record names, so version-1 records still match; and the record's
``n_trajectories`` is the file's count, else it is ignored with a warning), the note says
so in a warning line and the error over that file's held-out test split alone is reported too
(:attr:`PredictReport.rel_l2_test`, output attribute ``rel_l2_vs_truth_test_split``, with the
trajectories in ``test_split_indices``): the split is recomputed with
:func:`~pdesurrogate.datasets.source.source_splits` from the recorded ``n_trajectories``,
``fractions`` and ``seed``, as the training's datamodule made it.

A folder (:class:`~pdesurrogate.datasets.FileSet`, as ``open_dataset`` reads it: its files'
trajectories one after the other in the order of their names, every file of the same times,
grid, channels and parameters) is rolled out as one file holding all its trajectories would
be, into one output whose ``source_files`` and ``source_file_trajectories`` attributes name the
files and how many trajectories each gave, in order. A folder split into ``train/``, ``valid/``
and ``test/`` (The Well's ``data/``) is scored on its ``test/`` folder alone, and the note says
so (:func:`~pdesurrogate.datasets.reader.scored_path`). The checks above and the training-file
warning apply to the folder as to a file (a model fit on that folder: its fingerprint, that of
every file in it); an error about one trajectory names the file in the folder that holds it.
``--out`` inside the input folder is refused: the rollout would become one of its files.

A steady map's export (:class:`~pdesurrogate.steady_surrogate.SteadySurrogate`, e.g. Darcy
flow's ``a -> u``) is not rolled out: each sample's inputs (its ``inputs`` channels, at the
file's one saved time) give its predicted targets, which the output holds as its channels
(``targets``) at that one time. With the targets in the file, ``rel_l2[0]`` is their relative
L2 error averaged over the samples (:attr:`PredictReport.rel_l2_samples`: each sample's), and
the metrics are those of that one frame; ``steps`` is 0, and ``--steps`` and ``--plot`` are
refused. Its channels are found by name; a file that names them otherwise (PDEBench's Darcy
coefficient ``nu``, our ``darcy2d``'s ``a``) is mapped with ``channels`` (``--channels nu=a``:
the file's name, then the model's).

Trajectories are rolled out ``batch_size`` at a time. The default
(:func:`default_batch_size`) is as many as fit in :data:`BATCH_MEMORY` of working memory, at most
:data:`MAX_BATCH`: a small grid rolls out 64 at a time, a 128x128 one a few (a 64-wide FNO
there peaked at 1.40 GiB with 32 at a time, 722-819 MiB with the default 5). A batch whose
rollout does not fit that memory even one trajectory at a time (a 3-D trajectory of The Well,
several GB) is rolled out, written, read back as truth and compared a part of its frames at a
time (:func:`frames_per_part`, one frame at the least), and the plot reads only the frames it
draws (a 1-D rollout's every one, else the last): a 64^3 trajectory of 96 frames and 2
channels (192 MiB) peaked at 1.06 GiB (1.29 GiB with ``--plot``) taken whole, 653 MiB
(673 MiB) in parts of 32 frames, with the same file and errors bit for bit. The errors are summed
one trajectory at a time, in file order, so what is computed from a rollout does not depend on
the batch size; the rollout itself may, by a float32 rounding, where torch's CPU kernels round a
trajectory differently in another batch shape.

The rollout file is one of our dataset files (``predict --input`` and ``open_dataset`` read
it again) whose attributes say what it is: ``title`` ``"<pde> surrogate rollout"``, CF
``source`` naming the surrogate and the input, ``history`` this command's line followed by
the input's lines; it keeps the input's coordinates with their ``units``, the parameters'
``units``, each trajectory's ``sim_id`` (so a rollout joins its truth on it) and, as
``input_solver_settings`` and ``input_seed``, what made the initial states.

The rollout and the plot are written under temporary names next to their targets (random,
created exclusively: :mod:`pdesurrogate.temp_files`) and renamed only when both are complete: on
any error neither appears (and ``--out`` may not be the input). With ``--overwrite`` an old plot
is renamed aside (to a temporary name) before the new rollout is renamed in, so a run killed
between the two renames never leaves the new rollout beside the old plot; an error before the
new rollout is in renames the old plot back. Temporaries of killed runs are removed by the next
run writing the same names (with a warning).

A rollout that leaves the finite numbers (a model that diverged, NaN weights, a state past
float32's range) is never written: each state is checked as it comes, and the first that holds
a NaN or inf stops the run with :class:`RolloutDiverged`, naming the model, the model step and
the trajectory (the first in file order of the first batch where it happens).
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from pdesurrogate.datasets import DatasetWriter, FileSet, open_dataset
from pdesurrogate.datasets.file_set import DATASET_SUFFIXES
from pdesurrogate.datasets.fingerprint import matches
from pdesurrogate.datasets.grid_extent import (
    EXTENT_KEY,
    axis_text,
    domain_differences,
    grid_extent,
)
from pdesurrogate.datasets.ourformat import check_compression, package_version
from pdesurrogate.datasets.progress import progress_bar
from pdesurrogate.datasets.reader import scored_path
from pdesurrogate.datasets.source import source_splits
from pdesurrogate.loading import load
from pdesurrogate.metrics import BANDS, NAMES, REL_L2, ErrorSums, band_limits
from pdesurrogate.predict_budget import BATCH_MEMORY, MAX_BATCH
from pdesurrogate.steady_surrogate import SteadySurrogate
from pdesurrogate.surrogate import Surrogate, range_warnings_off
from pdesurrogate.temp_files import aside_name, clean_leftovers, named_error, open_temp_file

# saved times may be off t0 + i * dt by this fraction of dt (float32 times in PDEBench files)
TIME_RTOL = 1e-3
# the output's attribute error_metrics: how to read its <name>_vs_truth attributes
METRICS_NOTE = (
    "<name>_vs_truth for name in " + ", ".join(NAMES) + ": per step, the mean over "
    "trajectories of the mean over channels (max_error: the maximum over both) of the "
    "PDEBench-style errors defined in pdesurrogate.metrics (vrmse: The Well's variance-scaled "
    "RMSE, sqrt(mean (pred - truth)**2 / (spatial variance of truth + 1e-7)), 1 for "
    "predicting the truth's spatial mean; an frmse is NaN where the grid "
    "holds no Fourier mode of its band: the high band on a 1-D grid of fewer than 26 points "
    "or a 16x16 one); Fourier bands in cycles per domain length: "
    + ", ".join(f"{b} {band_limits(b)}" for b in BANDS))
# global attributes of an input that the rollout keeps, as input_<name>: the solver and seed
# that made the initial states it starts from
CARRIED_ATTRS = ("solver_settings", "seed")
# copies of a batch's frames alive at once: the rollout (and the previous batch's or part's,
# until the new one is returned) and, with the truth, the frames as read and the reader's
# strided copy; also what frames_per_part counts
ROLLOUT_COPIES, TRUTH_COPIES = 2, 2
# a module's own temporaries (an FNO layer's FFTs, attention scores inside a block, a U-Net's
# skip connections) pass no hook: the largest tensors one module takes and returns, times this.
# A 16-wide FNO on 128x128 grew the peak RSS by about 3 times those per trajectory (batch 64,
# frames included); the rest is room for the allocator's fragmentation at small batches
ACTIVATION_FACTOR = 4


class RolloutDiverged(ValueError):
    """A rollout reached a NaN or inf: at model ``step`` (1.., 0: a steady map's one
    prediction) of ``trajectory`` (counted from 0 in the file or folder), the first found;
    ``located``: in a folder, which of its files holds it (:func:`_in_folder`), else ""."""

    def __init__(self, model_dir: str, step: int, trajectory: int, half: bool = False,
                 located: str = ""):
        self.model_dir, self.step, self.trajectory = model_dir, step, trajectory
        what = (f"the rollout of {model_dir!r} is not finite (NaN or inf) from model step "
                f"{step} on" if step else
                f"the prediction of {model_dir!r} is not finite (NaN or inf)")
        super().__init__(
            f"{what}, first at trajectory {trajectory} (counted from 0){located}: the model "
            "diverged; "
            "nothing is written"
            + (f" (roll out at most {step - 1} step(s) with --steps)" if step > 1 else "")
            + ("; the model's weights are float16, whose largest value is 65504: its output "
               "past that is inf" if half else ""))


def _check_finite_state(y: np.ndarray, model_dir: str, step: int, start: int,
                        half: bool = False, data=None) -> None:
    """Raise :class:`RolloutDiverged` where the states ``y`` ``(b, C, *grid)`` of the batch's
    trajectories ``start ..`` at model ``step`` hold a NaN or inf (``half``: the model's
    weights are float16, the likely cause, said in the error; ``data``: the input, whose file
    holding the trajectory the error names where it is a folder)."""
    finite = np.isfinite(y).reshape(y.shape[0], -1).all(axis=1)
    if not finite.all():
        i = start + int(np.flatnonzero(~finite)[0])
        raise RolloutDiverged(model_dir, step, i, half, _in_folder(data, i))


def _in_folder(data, i: int) -> str:
    """Where trajectory ``i`` of ``data`` lies, for a message: in a folder
    (:class:`~pdesurrogate.datasets.FileSet`) `` (trajectory j of its file 'f.nc')``, else
    ""."""
    if not isinstance(data, FileSet):
        return ""
    member, local = data.locate(i)
    return f" (trajectory {local} of its file {str(member.path)!r})"


@dataclass
class PredictReport:
    out: str
    samples: int
    steps: int
    times: np.ndarray
    rel_l2: np.ndarray | None  # (steps + 1,) mean over samples, None without truth
    plot: str | None
    stride: int = 1  # saved frames of the input per model step
    note: str | None = None  # what the user should know (e.g. frames skipped), else None
    # the input is the model's training file: rel_l2 over its held-out test split alone
    # ((steps + 1,), None otherwise) and those trajectories' indices
    rel_l2_test: np.ndarray | None = None
    test_indices: np.ndarray | None = None
    # trajectories rolled out together: the given or default size, or all of them where
    # they are fewer
    batch_size: int | None = None
    seconds: float | None = None  # wall time of the whole call (loading, rollout, writing)
    # pdesurrogate.metrics' errors vs truth, {name: (steps + 1,)} in metrics.NAMES' order:
    # the mean over the rolled-out trajectories (max_error: their maximum); None without truth
    metrics: dict[str, np.ndarray] | None = None
    # a steady map's prediction (steps 0): each sample's relative L2 error of its targets,
    # (samples,) in file order; None for a rollout or without truth
    rel_l2_samples: np.ndarray | None = None


def _positive_int(flag: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{flag} must be an int >= 1, got {value!r}")
    return int(value)


def _channel_map(channels, sur: Surrogate, model_dir: str) -> dict[str, str] | None:
    """``channels`` (``--channels``) checked against the model: None, or a dict of the file's
    channel names to distinct names among a steady map's inputs and targets."""
    if channels is None:
        return None
    if not isinstance(sur, SteadySurrogate):
        raise ValueError(f"--channels: {model_dir!r} is a time-dependent model, which takes the "
                         "file's channels by position (their count only), so there are no names "
                         "to map; predict it without --channels")
    own = list(sur.inputs) + list(sur.targets)
    if not isinstance(channels, dict) or not channels or not all(
            isinstance(k, str) and k and isinstance(v, str) and v for k, v in channels.items()):
        raise ValueError("--channels must map the file's channel names to the model's, e.g. "
                         f"{{'nu': 'a'}} (--channels nu=a), got {channels!r}")
    foreign = [v for v in channels.values() if v not in own]
    if foreign or len(set(channels.values())) != len(channels):
        raise ValueError(f"--channels: each file channel maps to a different one of the "
                         f"model's channels, inputs {sur.inputs} and targets {sur.targets}; "
                         f"got {channels}")
    return dict(channels)


def _renamed_channels(names: list[str], channels: dict[str, str], input_path: str
                      ) -> list[str]:
    """The file's channel ``names`` under ``channels`` (``--channels``), each name once."""
    absent = [k for k in channels if k not in names]
    renamed = [channels.get(c, c) for c in names]
    if absent or len(set(renamed)) != len(renamed):
        what = (f"has no channel(s) {absent}" if absent else
                f"would have two channels of one name, {renamed}")
        raise ValueError(f"--channels {channels}: {input_path!r} {what} (its channels are "
                         f"{names})")
    return renamed


def _rename_hint(file_channels: list[str], sur: SteadySurrogate) -> str:
    """How to read a file that names a steady map's channels otherwise: ``--channels``, with the
    pairing spelt out where the file's unknown channels and the model's missing ones are as
    many (in order: the file's ``nu`` as the model's ``a``)."""
    own = list(sur.inputs) + list(sur.targets)
    spare = [c for c in file_channels if c not in own]
    # the model's missing channels, or its missing inputs alone (a file without the truth)
    pairs = next((",".join(f"{f}={m}" for f, m in zip(spare, missing, strict=True))
                  for missing in ([c for c in own if c not in file_channels],
                                  [c for c in sur.inputs if c not in file_channels])
                  if spare and len(spare) == len(missing)), "FILE_CHANNEL=MODEL_CHANNEL")
    return (f". If the file's channels are the model's under other names, map them: "
            f"--channels {pairs} (in Python predict_file(..., channels={{...}}))")


def _recorded_pde(data) -> str | None:
    """The PDE name the file itself records, or None (PDEBench: only its file name)."""
    if data.format == "pdesurrogate":
        name = data.attrs.get("pde")
    elif data.format == "the_well":
        name = data.attrs.get("dataset_name")
    else:
        name = None
    return str(name) if name not in (None, "", "unknown") else None


def _stride(times: np.ndarray, dt: float | None, k: int, where: str, model: str,
            source: str = "its config.json 'dt'", hint: str = "",
            times_note: str | None = None) -> int:
    """Saved frames of the file per model step (a model step is ``dt``, or ``k`` frames
    without a dt); a ValueError if the file's times do not fall on the model's steps.
    ``times_note``: why ``times`` are not the file's own (FieldData.times_note), said in it."""
    if dt is None:
        return k
    if len(times) < 2:
        return 1  # the initial state only: nothing to compare
    h = float(times[1] - times[0])
    if not h > 0:
        raise ValueError(f"{where!r}: saved times must increase, got {times[0]:g}, {times[1]:g}")
    m = max(1, round(dt / h))
    if abs(m * h - dt) > TIME_RTOL * dt:
        raise ValueError(
            f"{where!r}: saved times are {h:g} apart"
            + (f" ({times_note})" if times_note else "")
            + f" but one step of the model ({model}) is "
            f"dt = {dt:g} ({source}); expected a spacing of dt or dt / n for an integer n"
            + hint)
    used = times[::m]
    off = np.abs(used - (times[0] + np.arange(len(used)) * dt))
    if off.max() > TIME_RTOL * dt:
        j = int(np.argmax(off > TIME_RTOL * dt))
        raise ValueError(
            f"{where!r}: saved time {used[j]:g} (frame {j * m}) is not t0 + {j} * dt = "
            f"{times[0] + j * dt:g}: the file's times are not evenly spaced by {h:g}, which "
            f"the model's steps of dt = {dt:g} ({model}) need")
    return m


def _kind(data) -> str:
    """``"folder"`` for a folder of files read as one, else ``"file"``: for messages."""
    return "folder" if isinstance(data, FileSet) else "file"


def _training_split(cfg: dict, data, where: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``(train, test)`` trajectory indices when ``data`` is the file (or folder) the model was
    trained on (its fingerprint matches the recorded data source's, in the version the record
    names), as its datamodule split it; None when it is other data or the export records no
    source (older exports). A record whose ``n_trajectories`` is not the data's trajectory
    count (crafted or damaged: the split would index other data) is ignored with a warning."""
    src = (cfg.get("provenance") or {}).get("data_source")
    if not isinstance(src, dict) or not src.get("fingerprint"):
        return None
    try:
        if not matches(src["fingerprint"], data):
            return None
    except ValueError:  # not a fingerprint, or of a version this code cannot compute
        return None
    n = int(data.u.shape[0])
    recorded = src.get("n_trajectories")
    if isinstance(recorded, bool) or not isinstance(recorded, int) or recorded != n:
        kind = _kind(data)
        warnings.warn(f"{where!r} has the fingerprint of the model's training {kind}, but the "
                      f"export records n_trajectories = {recorded!r} where the {kind} holds "
                      f"{n}; its training split is not recomputed", stacklevel=3)
        return None
    try:
        train, _, test = source_splits(src)
    except (KeyError, TypeError, ValueError):
        return None  # a record this code cannot read: no split to recompute, nothing said
    return train, test


def _check_domain(cfg: dict, data, model_dir: str, input_path: str, any_grid: bool,
                  opt_out: str) -> str | None:
    """The check of the file's domain against the training data's (``config.json``'s
    ``grid_extent``; :func:`~pdesurrogate.datasets.grid_extent.domain_differences`), after
    :meth:`Surrogate.check_grid` accepted its grid: None on the same domain (at any
    resolution) or when the export does not record it (older exports); on another domain a
    ValueError naming the file, each axis that differs with both extents and ``opt_out``, or
    with ``any_grid`` a note saying the same."""
    recorded, train_shape = cfg.get(EXTENT_KEY), cfg.get("grid_shape")
    if recorded is None or train_shape is None or len(recorded) != len(data.grid):
        return None
    axes = domain_differences(recorded, train_shape, data.grid)
    if not axes:
        return None
    now = grid_extent(data.grid)
    train_names = cfg.get("grid_names") or data.grid_names
    sides = []
    for i in axes:
        name, train_name = data.grid_names[i], train_names[i]
        sides.append(f"{name} {axis_text(now[i], len(data.grid[i]))} in the file, "
                     + ("" if train_name == name else f"{train_name} ")
                     + f"{axis_text(recorded[i], train_shape[i])} in training")
    # a file without coordinates reads 0, 1, .., n - 1 (open_dataset)
    bare = any(a["first"] == 0 and a["step"] == 1 for i in axes for a in (now[i], recorded[i]))
    what = (f"{input_path!r} covers another domain than the model ({model_dir}) was trained "
            f"on: {'; '.join(sides)}"
            + (" (an axis whose file has no coordinates reads 0, 1, .., n - 1)" if bare else ""))
    if any_grid:
        return f"{what}. The {cfg['model']['class']} runs there with any_grid"
    raise ValueError(
        f"{what}. There it would solve another problem than it learnt, on any grid (an FNO's "
        "zero-shot super-resolution is a finer grid over the same domain): roll it out on a "
        f"file over the training domain, or {opt_out} to run it there anyway")


def _same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    if os.path.exists(a) and os.path.exists(b):
        return os.path.samefile(a, b)
    return os.path.realpath(a) == os.path.realpath(b)


def _check_outputs(input_path: str, out_path: str, plot: str | None,
                   overwrite: bool = False) -> None:
    """Refuse outputs that would overwrite the input or each other, an existing file (unless
    ``overwrite``), a directory as an output, a rollout file inside an input folder (it would
    be read as one of the folder's files), and a plot file type matplotlib cannot write;
    before anything is written."""
    outs = [("--out", out_path)] + ([("--plot", plot)] if plot else [])
    for flag, path in outs:
        if _same_file(path, input_path):
            raise ValueError(f"{flag} {path!r} is the input file; refusing to overwrite the "
                             "data (give another output path)")
    if os.path.isdir(input_path) and Path(out_path).suffix.lower() in DATASET_SUFFIXES \
            and Path(os.path.realpath(out_path)).is_relative_to(os.path.realpath(input_path)):
        raise ValueError(f"--out {out_path!r} is inside the input folder {input_path!r}, whose "
                         "dataset files are read as one dataset: the rollout would become one "
                         "of them; write it outside the folder")
    for flag, path in outs:
        if os.path.isdir(path):
            raise ValueError(f"{flag} {path!r} is a directory; expected a file name")
    if not overwrite:
        for flag, path in outs:
            if os.path.lexists(path):
                raise FileExistsError(f"{flag} {path!r} exists; pass --overwrite "
                                      "(overwrite=True) to replace it")
    if plot:
        if _same_file(plot, out_path):
            raise ValueError(f"--plot and --out are the same file {plot!r}")
        from matplotlib.backend_bases import FigureCanvasBase

        kinds = sorted(FigureCanvasBase.get_supported_filetypes())
        ext = Path(plot).suffix.lower().lstrip(".")
        if ext not in kinds:
            got = f"'.{ext}'" if ext else "no extension"
            raise ValueError(f"--plot {plot!r}: matplotlib cannot write {got}; expected a file "
                             f"name ending in one of {', '.join('.' + x for x in kinds)}")


def _write_plot(f: BinaryIO, plot_path: Path, first, data, frames: slice, has_truth: bool,
                times, rel, cfg: dict, model_dir: str) -> None:
    """The plot for ``plot_path`` into ``f``, its temporary (:mod:`pdesurrogate.temp_files`:
    created exclusively, written through that descriptor), which it closes: ``first``, the
    first trajectory's rollout at the steps drawn, ``(1, F, C, *grid)``, beside the file's
    ``frames`` of it (the same steps; only those are read). A failed write (a full disk) is an
    OSError naming ``plot_path``."""
    import matplotlib

    from pdesurrogate.plots import rollout_figure

    truth0 = np.asarray(data.u[0:1, frames], dtype=np.float32) if has_truth else None
    # matplotlib reads the format from a file name's extension, not from a file object
    try:
        with f, matplotlib.rc_context({"savefig.format": plot_path.suffix.lower()[1:]}):
            rollout_figure(first, truth0, times, rel, f,
                           title=f"{cfg.get('pde')}: {os.path.basename(model_dir)}",
                           grid_names=tuple(data.grid_names), grid=tuple(data.grid),
                           channel_names=tuple(data.channel_names))
    except OSError as e:
        named_error(e, plot_path)
        raise


def predict_file(model_dir: str, input_path: str, out_path: str, steps: int | None = None,
                 samples: int | None = None, batch_size: int | None = None,
                 plot: str | None = None,
                 device: str = "cpu", overwrite: bool = False,
                 lead_time: float | None = None, progress: bool = True,
                 models: dict | None = None, compression: str | None = None,
                 compression_level: int | None = None,
                 any_grid: bool = False,
                 channels: dict[str, str] | None = None) -> PredictReport:
    """Roll out ``model_dir`` from ``input_path``'s initial states; write ``out_path``.

    ``input_path``: a dataset file, or a folder of them read as one (``open_dataset``'s
    :class:`~pdesurrogate.datasets.FileSet`: its files' trajectories one after the other, in
    the order of their names), rolled out into one output that names the files and how many
    trajectories each gave (attributes ``source_files``, ``source_file_trajectories``); a
    folder split into ``train/``, ``valid/`` and ``test/``: its ``test/`` folder alone, which
    :attr:`PredictReport.note` says (:func:`~pdesurrogate.datasets.reader.scored_path`).

    ``steps`` defaults to as many model steps as the file's stored times cover; ``samples``
    to all trajectories; ``batch_size`` (trajectories rolled out together) to
    :func:`default_batch_size`'s, which keeps a batch within :data:`BATCH_MEMORY` (the errors
    computed from a rollout do not depend on it). The folders of ``out_path`` and ``plot`` are
    created if missing (and removed again if the run fails); existing files there are replaced
    only with ``overwrite``. ``lead_time``: for models conditioned on one (scOT), the time of one
    rollout step (default: the trained ``dt``), so a file saved at another spacing can be
    rolled out at that spacing. ``progress``: show the model steps done (trajectories x
    steps) on stderr, as each batch's step comes, when there is more than one batch or step (a
    rich bar on a terminal, else a plain line with the rate every 10 s and at the end).
    ``models``: the classes of models of your own code the export names, as for
    :func:`pdesurrogate.load`. ``compression`` (``"gzip"`` or ``"lzf"``) and
    ``compression_level`` (gzip: 0 to 9, default 4) compress the rollout's ``u`` as
    ``pdesurrogate generate --compression`` does (default: uncompressed). ``any_grid``
    (``pdesurrogate predict --any-grid``): roll out a model other than an FNO on a file whose
    grid is not its training grid (refused by default, as by ``Surrogate.predict``:
    :meth:`Surrogate.check_grid`; an FNO runs on any grid without it). ``channels``
    (``--channels nu=a``), steady maps only: ``{file's channel: model's channel}``, to read a
    file whose channels the model knows by other names (a time-dependent model takes the
    file's channels by position, so it has none to rename).

    Raises FileExistsError for an existing ``out_path`` or ``plot`` without ``overwrite``;
    ValueError (naming the file or the option) for a PINN export, a file whose PDE,
    grid, channels, parameters or time spacing do not fit the model, ``--steps``,
    ``--samples`` or ``--batch-size`` below 1, ``--lead-time`` for a model that takes none
    (or not > 0), ``--out`` equal to the input or inside an input folder, a folder without
    dataset files or whose files differ, a plot type matplotlib cannot write, a
    ``device`` this torch cannot use, a compression or level the writer does not know, and
    ``channels`` for a time-dependent model or naming a channel the file or model lacks.
    """
    started = time.perf_counter()
    sur = load(model_dir, device=device, models=models)
    if not isinstance(sur, Surrogate):
        raise ValueError(f"{model_dir!r} is a PINN export (u at points); it cannot be rolled "
                         f"out over a dataset file: use pdesurrogate.load({model_dir!r})"
                         ".predict(x) with points x of shape (N, dim)")
    if isinstance(sur, SteadySurrogate):
        # a map from inputs to targets: nothing to step or to draw over time
        for flag, v in (("--steps", steps), ("--plot", plot), ("--lead-time", lead_time)):
            if v is not None:
                raise ValueError(f"{flag}: {model_dir!r} is a steady map (inputs "
                                 f"{sur.inputs} -> targets {sur.targets}), which has no time "
                                 f"steps; predict it without {flag}")
    channels = _channel_map(channels, sur, model_dir)
    if steps is not None:
        steps = _positive_int("--steps", steps)
    if samples is not None:
        samples = _positive_int("--samples", samples)
    if batch_size is not None:
        batch_size = _positive_int("--batch-size", batch_size)
    if lead_time is not None:
        if not sur.takes_lead_time:
            raise ValueError(f"--lead-time: the model ({model_dir}, "
                             f"{sur.config['model']['class']}) steps a fixed dt = {sur.dt}; only "
                             "lead-time models (scOT) take one")
        if isinstance(lead_time, bool) or not isinstance(lead_time, numbers.Real) \
                or not math.isfinite(lead_time) or lead_time <= 0:
            raise ValueError(f"--lead-time must be a finite number > 0, got {lead_time!r}")
        lead_time = float(lead_time)
    try:
        packing = check_compression(compression, compression_level)
    except ValueError as e:
        raise ValueError(f"--compression/--compression_level: {e}") from None
    _check_outputs(input_path, out_path, plot, overwrite)
    cfg = sur.config
    input_path, split_note = scored_path(input_path, "predict --input")
    data = open_dataset(input_path)
    try:
        report = _predict(sur, cfg, data, model_dir, input_path, out_path, steps, samples,
                          batch_size, plot, lead_time, progress, overwrite, packing, any_grid,
                          channels)
        report.seconds = time.perf_counter() - started
        if split_note is not None:
            report.note = "\n".join(line for line in (split_note, report.note) if line)
        return report
    finally:
        data.close()


@dataclass
class RolloutPlan:
    """What rolling a surrogate out over a file compares, once :func:`plan_rollout` found that
    the file fits the model."""
    steps: int  # model steps (0: a steady map's one prediction per sample)
    stride: int  # saved frames of the file per model step: frames 0, stride, .., steps * stride
    times: np.ndarray  # (steps + 1,) the rollout's times
    has_truth: bool  # whether the file holds the truth at each of those frames
    note: str | None  # the grid's and the frames' notes for the user, else None
    names: list[str]  # the parameters the model takes
    recorded: list[str]  # those and the training data's others the file holds
    dt: float | None  # time of one model step (None: k saved frames, no dt)
    in_idx: list[int] | None = None  # a steady map's inputs among the file's channels
    out_idx: list[int] | None = None  # and its targets that the file holds


def plan_rollout(sur: Surrogate, data, model_dir: str, input_path: str,
                 steps: int | None = None, lead_time: float | None = None,
                 any_grid: bool = False, channels: dict[str, str] | None = None) -> RolloutPlan:
    """Check that the open dataset ``data`` (of ``input_path``) fits ``sur`` (of
    ``model_dir``), as :func:`predict_file` checks it (module docstring), and say which of its
    frames a rollout of ``steps`` (default: as many as its times cover) compares; nothing is
    rolled out. Raises ValueError naming the file and what was expected."""
    cfg = sur.config
    n, T, C = data.u.shape[:3]
    shape = tuple(data.u.shape[3:])
    pde, file_pde = cfg.get("pde"), _recorded_pde(data)
    if pde not in (None, "unknown") and file_pde is not None and file_pde != pde:
        raise ValueError(f"{input_path!r} holds {file_pde!r} data but the model ({model_dir}) "
                         f"was trained on {pde!r}")
    opt_out = "pass --any-grid (in Python predict_file(..., any_grid=True))"
    grid_note = sur.check_grid(shape, repr(input_path), any_grid, opt_out,
                               names=data.grid_names)
    domain_note = _check_domain(cfg, data, model_dir, input_path, any_grid, opt_out)
    grid_note = "\n".join(n for n in (grid_note, domain_note) if n) or None
    c_model = getattr(sur.model, "in_channels", None)
    steady = isinstance(sur, SteadySurrogate)
    if steady:
        file_channels = _renamed_channels(list(data.channel_names), channels or {}, input_path)
        lacking = [c for c in sur.inputs if c not in file_channels]
        if lacking or T != 1:
            what = (f"has no channel(s) {lacking} (its channels are {file_channels})" if lacking
                    else f"holds {T} saved times per trajectory, a time-dependent problem")
            raise ValueError(f"{input_path!r} {what}; the model ({model_dir}) is a steady map "
                             f"from inputs {sur.inputs} to targets {sur.targets}"
                             + (_rename_hint(file_channels, sur) if lacking else ""))
        in_idx = [file_channels.index(c) for c in sur.inputs]
        # without the targets in the file there is no truth: predictions only
        out_idx = [file_channels.index(c) for c in sur.targets if c in file_channels]
    elif c_model is not None and C != c_model:
        raise ValueError(f"{input_path!r} has {C} channels {list(data.channel_names)}; the "
                         f"model ({model_dir}) takes {c_model} {cfg['channel_names']}")
    names = list(cfg["param_names"] or [])
    missing = [p for p in names if p not in data.params]
    if missing:
        raise ValueError(f"{input_path!r} lacks the parameter(s) {missing} the model needs; "
                         f"it holds {sorted(data.params) or 'none'}")
    # a parameter-blind model ignores its training data's parameters; the rollout still
    # records the input's values of them, as it does those the model takes
    recorded = names + [q for q in (cfg.get("data_param_names") or [])
                        if q not in names and q in data.params]
    dt = cfg.get("dt") if lead_time is None else lead_time
    k = int(cfg.get("k") or 1)
    stride = 1 if steady else _stride(
        data.times, dt, k, input_path, model_dir,
        "its config.json 'dt'" if lead_time is None else "--lead-time",
        "; or give --lead-time (this model takes one) to step at the file's spacing"
        if sur.takes_lead_time and lead_time is None else "",
        getattr(data, "times_note", None))
    if steady:
        steps = 0
    elif steps is None:
        steps = (T - 1) // stride
        if steps < 1:
            raise ValueError(f"{input_path!r} has {T} saved time(s), less than one model step "
                             f"({stride} frame(s)) after the first; give --steps")
    t0 = float(data.times[0])
    times = (t0 + np.arange(steps + 1) * dt if dt is not None
             else np.asarray(data.times[: steps * stride + 1: stride], dtype=float))
    has_truth = steps * stride <= T - 1 and (not steady or len(out_idx) == len(sur.targets))
    if dt is None and not has_truth:
        raise ValueError(f"{input_path!r} has {T} saved times, fewer than {steps} steps of "
                         f"{stride} frames need, and the model ({model_dir}) has no dt to "
                         "extrapolate the times with")
    note = grid_note
    if not steady and not has_truth:
        # the rollout is still written; without this line its errors vanished unexplained
        covered = (T - 1) // stride
        beyond = (f"no errors vs truth: {input_path!r} holds the truth for {covered} model "
                  f"step(s) (its {T} saved times), fewer than the {steps} rolled out"
                  + (f"; give --steps {covered} or fewer to score the rollout" if covered
                     else ""))
        note = "\n".join(line for line in (note, beyond) if line)
    if stride > 1 and has_truth:
        spacing = f"{float(data.times[1] - data.times[0]):g}" if T > 1 else "?"
        frames_note = (f"the input's times are {spacing} apart and one model step is "
                       + (f"dt = {dt:g}" if dt is not None else f"k = {k} saved steps")
                       + f": every {_ordinal(stride)} frame is compared")
        note = "\n".join(line for line in (note, frames_note) if line)
    return RolloutPlan(steps=steps, stride=stride, times=times, has_truth=has_truth, note=note,
                       names=names, recorded=recorded, dt=dt,
                       in_idx=in_idx if steady else None, out_idx=out_idx if steady else None)


def _predict(sur: Surrogate, cfg: dict, data, model_dir: str, input_path: str, out_path: str,
             steps: int | None, samples: int | None, batch_size: int | None,
             plot: str | None, lead_time: float | None = None,
             progress: bool = True, overwrite: bool = False,
             packing: tuple[str | None, int | None] = (None, None),
             any_grid: bool = False, channels: dict[str, str] | None = None) -> PredictReport:
    n = data.u.shape[0]
    shape = tuple(data.u.shape[3:])
    steady = isinstance(sur, SteadySurrogate)
    plan = plan_rollout(sur, data, model_dir, input_path, steps, lead_time, any_grid, channels)
    steps, stride, times, has_truth, note = (plan.steps, plan.stride, plan.times,
                                             plan.has_truth, plan.note)
    names, recorded, dt, in_idx, out_idx = (plan.names, plan.recorded, plan.dt, plan.in_idx,
                                            plan.out_idx)
    n_use = n if samples is None else min(samples, n)
    split = _training_split(cfg, data, input_path) if has_truth else None
    held = None  # (n_use,) bool: the rolled-out trajectories of the test split
    warning = None
    if split is not None:
        train, test = split
        held = np.zeros(n_use, dtype=bool)
        held[test[test < n_use]] = True
        n_train = int(np.count_nonzero(train < n_use))
        n_held = int(held.sum())
        also = (f"its held-out test split alone ({n_held} "
                f"{'trajectory' if n_held == 1 else 'trajectories'}) is reported "
                "too" if held.any() else "none of its test split's trajectories is among those "
                "rolled out (see --samples), so no held-out error can be given")
        warning = (f"warning: {input_path!r} is the {_kind(data)} the model was trained on "
                   f"(same content fingerprint): the relative L2 vs truth averages all {n_use} "
                   f"trajectories, {n_train} of them from its training split; {also}")
        if not held.any():
            held = None

    # one warning for the whole file, here, not one per batch from the surrogate's calls; a
    # NaN or inf is refused below, naming its trajectory (_check_initial)
    given = {p: data.params[p][:n_use] for p in names}
    outside = sur.outside_training_range(given, n_use) if names and all(
        np.isfinite(v).all() for v in given.values()) else None
    if outside is not None:
        from pdesurrogate.surrogate import ParameterRangeWarning

        warnings.warn(f"{input_path!r}: {outside}", ParameterRangeWarning, stacklevel=3)

    if batch_size is None:
        first_params = ({p: np.asarray(data.params[p][:1], dtype=np.float32) for p in names}
                        if names else None)
        with range_warnings_off():
            first_state = np.asarray(data.u[0:1, 0], dtype=np.float32)
            batch_size = default_batch_size(
                sur, first_state[:, in_idx] if steady else first_state, first_params,
                frames=steps + 1, with_truth=has_truth, lead_time=lead_time)

    # a model of float16 weights (a class of the user's own) overflows past 65504: a NaN or
    # inf in its rollout then most likely left float16's range, which the error says
    half = any(str(t.dtype) == "torch.float16" for t in sur.model.state_dict().values())
    out, plot_path = Path(out_path), Path(plot) if plot else None
    writer = tmp_plot = plot_file = old_plot = None
    replaced = False  # whether the new rollout has been renamed onto --out
    # the steps the plot draws: a 1-D rollout's every one (a space-time image), else the last
    drawn = slice(0, steps + 1) if len(shape) == 1 else slice(steps, steps + 1)
    made: list[Path] = []  # folders this run created, parents first
    try:
        # inside the try: when the plot's folder cannot be made, the --out folder made just
        # before goes again
        _make_folders([p.parent for p in (out, plot_path) if p is not None], made)
        # summed one trajectory at a time, in file order: the same additions for any batch
        # size (batch sums added up rounded differently for each)
        err_sum, test_sum, first = np.zeros(steps + 1), np.zeros(steps + 1), None
        per_sample = np.zeros(n_use) if steady and has_truth else None
        sums = ErrorSums(steps + 1) if has_truth else None
        # rename=False: the finished file waits at writer.tmp_path until the plot is done too
        units = _input_units(data, input_path, recorded)
        pde_name = cfg.get("pde") or data.pde or "unknown"
        input_attrs = _input_attrs(data)
        history = input_attrs.get("history")
        made_of = "prediction" if steady else "rollout"
        writer = DatasetWriter(
            out, pde=pde_name, grid=data.grid, grid_names=data.grid_names, times=times,
            channel_names=list(sur.targets) if steady else list(data.channel_names),
            param_names=recorded, n_samples=n_use, rename=False,
            attrs={"source_file": os.path.abspath(input_path),
                   "surrogate": os.path.abspath(model_dir), "kind": f"surrogate {made_of}",
                   "frame_stride": stride,
                   **({} if dt is None else {"model_step": float(dt)}),
                   **_carried_attrs(input_attrs), **_source_files(data, n_use)},
            title=f"{pde_name} surrogate {made_of}",
            source=(f"pdesurrogate {package_version()}, surrogate "
                    f"{(cfg.get('model') or {}).get('class', 'unknown')} "
                    f"({os.path.abspath(model_dir)}) "
                    + (f"mapping inputs {sur.inputs} of " if steady and not channels
                       else f"mapping inputs {sur.inputs} (the file's channels renamed "
                            f"{channels}) of " if steady
                       else "rolled out from the initial states of ")
                    + os.path.abspath(input_path)),
            history_of=history if isinstance(history, str) else None,
            state_long_name=(f"targets {sur.targets} predicted by the surrogate from inputs "
                             f"{sur.inputs}" if steady else
                             "state predicted by the surrogate (time index 0: the input's "
                             "initial state)"),
            compression=packing[0], compression_level=packing[1],
            **units,
        )
        if plot_path is not None:
            # made now, drawn after the rollout: a --plot folder this user cannot write in is
            # an error before the rollout, not after all of it
            clean_leftovers(plot_path)
            tmp_plot, plot_file = open_temp_file(plot_path, plot_path.suffix)
        # counted in steps, not trajectories: one batch of a long horizon takes minutes too
        updates = -(-n_use // batch_size) * steps
        bar = progress_bar(progress and updates > 1,
                           f"predicting {n_use} rollouts of {steps} steps", n_use * steps,
                           unit="trajectory steps")
        with writer, bar as advance:
            for start in range(0, n_use, batch_size):
                stop = min(start + batch_size, n_use)
                u0 = np.asarray(data.u[start:stop, 0], dtype=np.float32)
                params = {p: np.asarray(data.params[p][start:stop], dtype=np.float32)
                          for p in recorded}
                _check_initial(input_path, data, start, u0, params)
                given_p = {p: params[p] for p in names} if names else None
                if steady:
                    with range_warnings_off():
                        pred = sur.predict(u0[:, in_idx], given_p, any_grid=True)[:, None]
                    _check_finite_state(pred[:, 0], model_dir, 0, start, half, data)
                    advance(stop - start)
                    parts = iter([pred])
                    part = 1
                else:
                    # the grid was checked above, naming the file; the parameter range too
                    with range_warnings_off():
                        states = sur.iterate(u0, given_p, steps=steps, lead_time=lead_time,
                                             any_grid=True)
                    part = frames_per_part(stop - start, steps + 1, u0[:1].nbytes, has_truth)
                    parts = _rollout_parts(u0, states, steps, part, advance,
                                           lambda y, k, s=start: _check_finite_state(
                                               y, model_dir, k, s, half, data))
                if start == 0 and plot_path is not None:
                    first = np.empty((1, drawn.stop - drawn.start, *u0.shape[1:]), np.float32)
                for j0, pred in zip(range(0, steps + 1, part), parts, strict=True):
                    j1 = j0 + pred.shape[1]
                    # the input's ids, not positions: a rollout joins its truth on sim_id
                    writer.write(start, pred, params, sim_id=data.sim_id[start:stop], time=j0)
                    if has_truth:
                        truth = data.u[start:stop, j0 * stride:(j1 - 1) * stride + 1:stride]
                        if steady:
                            truth = truth[:, :, out_idx]
                        try:
                            # the relative L2 comes from the same pass as the other errors
                            rel_b = sums.add(pred, truth, frame=j0)[REL_L2]
                        except ValueError as e:  # a NaN or inf in the file's truth
                            bad = ~np.isfinite(truth).reshape(truth.shape[0], -1).all(axis=1)
                            raise ValueError(
                                f"{input_path!r}: {e}"
                                + _in_folder(data, start + int(np.argmax(bad)))
                                + (f" (frames counted in model steps of {stride} saved frames)"
                                   if stride > 1 else "")) from None
                        del truth
                        for i, r in enumerate(rel_b, start):
                            err_sum[j0:j1] += r
                            if per_sample is not None:
                                per_sample[i] = r[0]
                            if held is not None and held[i]:
                                test_sum[j0:j1] += r
                    if start == 0 and plot_path is not None:
                        # a copy of the drawn frames: a view would keep this part for the plot
                        lo, hi = max(j0, drawn.start), min(j1, drawn.stop)
                        if lo < hi:
                            first[:, lo - drawn.start:hi - drawn.start] = pred[:1, lo - j0:hi - j0]
                    del pred
            rel = err_sum / n_use if has_truth else None
            metrics = sums.result() if sums is not None else None
            if rel is not None:
                # the error travels with the rollout, not only in what the command prints
                writer.set_attrs(rel_l2_vs_truth=[float(v) for v in rel])
            if metrics is not None:
                writer.set_attrs(
                    **{f"{name}_vs_truth": [float(v) for v in values]
                       for name, values in metrics.items()},
                    error_metrics=METRICS_NOTE)
            rel_test = test_idx = None
            if held is not None:
                rel_test, test_idx = test_sum / held.sum(), np.flatnonzero(held)
                writer.set_attrs(rel_l2_vs_truth_test_split=[float(v) for v in rel_test],
                                 test_split_indices=[int(i) for i in test_idx])
        if plot_path is not None:
            _write_plot(plot_file, plot_path, first, data,
                        slice(drawn.start * stride, (drawn.stop - 1) * stride + 1, stride),
                        has_truth, times, rel, cfg, model_dir)
            # the old plot goes aside first, under a temporary name a later run removes: a
            # kill between the renames below then leaves the new rollout alone or beside the
            # new plot, never beside the old plot as if its own
            if overwrite and os.path.lexists(plot_path):
                old_plot = aside_name(plot_path)
                os.rename(plot_path, old_plot)
        if overwrite:
            os.replace(writer.tmp_path, out)
        else:
            # another predict (or anyone) may have written --out or --plot during the rollout:
            # checked whole before either goes in, and put in without replacing
            for path in (out, plot_path):
                if path is not None and os.path.lexists(path):
                    raise _taken(path)
            _link_no_clobber(writer.tmp_path, out)
        replaced = True
        if tmp_plot is not None:
            if overwrite:
                os.replace(tmp_plot, plot_path)
            else:
                try:
                    _link_no_clobber(tmp_plot, plot_path)
                except FileExistsError:
                    os.unlink(out)  # the rollout just put in, not another run's
                    raise
            tmp_plot = None
    except BaseException:
        if writer is not None:
            writer.abort()  # its temporary file, if it is still there
        if plot_file is not None:
            plot_file.close()
        if tmp_plot is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_plot)
        if old_plot is not None:
            # the old rollout still in place: its plot comes back; the new one in: the old
            # plot does not belong to it and goes
            with contextlib.suppress(OSError):
                if replaced or os.path.lexists(plot_path):
                    os.unlink(old_plot)
                else:
                    os.rename(old_plot, plot_path)
        for d in reversed(made):  # a failed run leaves no empty folders behind
            with contextlib.suppress(OSError):
                d.rmdir()
        raise
    if old_plot is not None:
        with contextlib.suppress(OSError):  # else a later run removes it
            os.unlink(old_plot)
    if warning is not None:
        note = "\n".join(line for line in (note, warning) if line)
    return PredictReport(out=str(out), samples=n_use, steps=steps, times=times, rel_l2=rel,
                         plot=str(plot_path) if plot_path else None, stride=stride, note=note,
                         rel_l2_test=rel_test, test_indices=test_idx,
                         batch_size=min(batch_size, n_use), metrics=metrics,
                         rel_l2_samples=per_sample)


def _input_attrs(data) -> dict:
    """The input's global attributes: a file's, or those every file of a folder holds alike
    (a folder's files may come from runs of other seeds, whose history is not the folder's)."""
    if not isinstance(data, FileSet):
        return data.attrs
    first, *others = (m.attrs for m in data.members)

    def alike(k: str) -> bool:
        v = first[k]
        try:
            return all(k in o and np.array_equal(np.asarray(o[k]), np.asarray(v))
                       for o in others)
        except (TypeError, ValueError):
            return False

    return {k: v for k, v in first.items() if alike(k)}


def _source_files(data, n_use: int) -> dict[str, object]:
    """For a folder's rollout of its first ``n_use`` trajectories: ``source_files``, the names
    of the files they come from in order, and ``source_file_trajectories``, how many of each
    (so trajectory ``i`` of the rollout is found in its file); ``{}`` for a file."""
    if not isinstance(data, FileSet):
        return {}
    counts = np.diff(np.minimum(data.u.starts, n_use))
    used = np.flatnonzero(counts)
    return {"source_files": [data.members[i].path.name for i in used],
            "source_file_trajectories": [int(counts[i]) for i in used]}


def _carried_attrs(attrs: dict) -> dict[str, object]:
    """``input_<name>`` for each of :data:`CARRIED_ATTRS` the input records: its own
    ``input_<name>`` where it is itself a rollout (its ``<name>`` is then the rollout's, not
    the data's), else its ``<name>``."""
    out = {}
    for k in CARRIED_ATTRS:
        for key in (f"input_{k}", k):
            if key in attrs:
                out[f"input_{k}"] = attrs[key]
                break
    return out


def _input_units(data, input_path: str, params: list[str]) -> dict[str, object]:
    """The ``units`` of an input in our format's time, space and parameter variables, as
    :class:`DatasetWriter`'s ``time_units``, ``space_units`` and ``param_units``, so the
    rollout keeps them; ``{}`` for other formats, which record none (the writer's defaults
    apply)."""
    if data.format != "pdesurrogate":
        return {}
    import h5py

    from pdesurrogate.datasets.lazy import decode

    # a folder's files hold the same variables: the first one's units are theirs
    with h5py.File(data.members[0].path if isinstance(data, FileSet) else input_path, "r") as f:
        def units(name: str) -> str | None:
            v = f.get(name)
            got = decode(v.attrs.get("units")) if isinstance(v, h5py.Dataset) else None
            return got if isinstance(got, str) else None

        kw: dict[str, object] = {}
        if (t := units("time")) is not None:
            kw["time_units"] = t
        space = {units(g) for g in data.grid_names}
        if len(space) == 1 and None not in space:  # the writer takes one unit for every axis
            kw["space_units"] = space.pop()
        kw["param_units"] = {p: u for p in params if (u := units(p)) is not None}
    return kw


def _check_initial(input_path: str, data, start: int, u0: np.ndarray,
                   params: dict[str, np.ndarray]) -> None:
    """Refuse a NaN or inf in the initial states ``u0`` ``(b, C, *grid)`` or the parameters
    of the trajectories ``start .. start + b - 1`` of ``data``, naming the file (in a folder:
    the folder and the file holding it), trajectory, channel and grid index (the surrogate's
    own check counts from the batch's start)."""
    for name, v in params.items():
        bad = np.flatnonzero(~np.isfinite(v))
        if bad.size:
            i = start + int(bad[0])
            raise ValueError(f"{input_path!r}: parameter {name!r} of trajectory {i}"
                             f"{_in_folder(data, i)} is {v[bad[0]]}; the surrogate needs finite "
                             "parameters")
    bad = ~np.isfinite(u0)
    if bad.any():
        b, c, *point = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{input_path!r}: the initial state (time index 0) of trajectory "
                         f"{start + b}{_in_folder(data, start + b)} is {u0[(b, c, *point)]} in "
                         "channel "
                         f"{data.channel_names[c]!r} at grid index {tuple(point)}; the surrogate "
                         "needs finite initial states")


def metrics_table(metrics: dict[str, np.ndarray], samples: int,
                  width: int | None = None) -> str:
    """Plain-text table of :attr:`PredictReport.metrics` (``{name: (steps + 1,)}``) over
    ``samples`` trajectories: one row per metric, the first step, the last step and the mean
    over steps 1..steps (``max_error``: the maximum); for a steady map's prediction (steps 0)
    the mean of its one frame only. A Fourier band the grid holds no mode of
    (NaN: :func:`pdesurrogate.metrics.empty_bands`) reads ``n/a``, and a line under the table
    says why.

    ``width``: the columns of a terminal that folds longer lines (None: lines are not folded).
    Where the table is wider, the same numbers come as one short block per column, a ``metric
    value`` line per metric, since a folded row breaks its cells over lines."""
    steps = len(next(iter(metrics.values()))) - 1
    # a steady map's prediction (steps 0) has its one frame, the targets, to report
    lo = 1 if steps else 0
    cols = [("step 1", 1)] * bool(steps) + ([(f"step {steps}", steps)] if steps > 1 else [])
    head = f"PDEBench-style errors vs truth (pdesurrogate.metrics), {samples} trajectories:"
    means = {name: values[lo:].max() if name == "max_error" else values[lo:].mean()
             for name, values in metrics.items()}
    foot = ["  means over trajectories (and steps); max_error: the maximum over them"]
    foot += [f"  {name}: n/a, this grid has no Fourier mode with "
             f"{band_limits(name.removeprefix('frmse_'))}"
             for name, values in metrics.items()
             if name.startswith("frmse_") and np.isnan(values[lo:]).all()]

    def cell(value: float, pad: int = 0) -> str:
        return f"{'n/a' if math.isnan(value) else format(value, '.4g'):>{pad}}"

    if width is not None and width < 2 + 11 + 12 * (len(cols) + 1):
        mean_title = f"mean over steps 1..{steps}:" if steps else "mean:"
        blocks = [(f"{c}:", {name: values[i] for name, values in metrics.items()})
                  for c, i in cols] + [(mean_title, means)]
        return "\n".join([head, *(line for title, column in blocks for line in (
            f"  {title}", *(f"    {name:<11}{cell(value)}" for name, value in column.items()))),
            *foot])
    rows = [f"  {'metric':<11}" + "".join(f"{c:>12}" for c, _ in cols) + f"{'mean':>12}"]
    for name, values in metrics.items():
        rows.append(f"  {name:<11}" + "".join(cell(values[i], 12) for _, i in cols)
                    + cell(means[name], 12))
    return "\n".join([head, *rows, *foot])


def _tensor_bytes(obj) -> int:
    """Bytes of the tensors in ``obj`` (a tensor, or tuples, lists and dicts of them)."""
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, (tuple, list)):
        return sum(_tensor_bytes(o) for o in obj)
    if isinstance(obj, dict):
        return sum(_tensor_bytes(o) for o in obj.values())
    return 0


def activation_bytes(sur: Surrogate, u0: np.ndarray, params: dict | None = None,
                     lead_time: float | None = None) -> int:
    """The bytes one module of ``sur``'s model takes and returns at most, in one model step of
    the states ``u0`` ``(b, C, *grid)`` (measured with forward hooks; proportional to ``b``).

    The output of this step is discarded; the model keeps no state between calls."""
    peak = 0

    def hook(module, args, output) -> None:
        nonlocal peak
        peak = max(peak, _tensor_bytes(args) + _tensor_bytes(output))

    handles = [m.register_forward_hook(hook) for m in sur.model.modules()]
    try:
        sur.predict(u0, params, lead_time=lead_time, any_grid=True)  # a measure, not a check
    finally:
        for h in handles:
            h.remove()
    return peak


def default_batch_size(sur: Surrogate, u0: np.ndarray, params: dict | None, frames: int,
                       with_truth: bool, lead_time: float | None = None,
                       budget: int | None = None) -> int:
    """Trajectories per batch whose rollout fits ``budget`` bytes (default
    :data:`BATCH_MEMORY`): between 1 and :data:`MAX_BATCH`.

    One trajectory costs its ``frames`` states ``u0`` ``(1, C, *grid)`` float32 each,
    :data:`ROLLOUT_COPIES` times, plus :data:`TRUTH_COPIES` times with the truth
    (``with_truth``), plus :data:`ACTIVATION_FACTOR` times the model's largest activation,
    measured on ``u0`` (:func:`activation_bytes`)."""
    frame = int(np.asarray(u0, dtype=np.float32)[:1].nbytes)
    data = frames * frame * (ROLLOUT_COPIES + (TRUTH_COPIES if with_truth else 0))
    per_trajectory = data + ACTIVATION_FACTOR * activation_bytes(sur, u0[:1], params, lead_time)
    budget = BATCH_MEMORY if budget is None else budget
    return max(1, min(MAX_BATCH, budget // max(per_trajectory, 1)))


def frames_per_part(trajectories: int, frames: int, frame_bytes: int, with_truth: bool) -> int:
    """Frames of a batch that are rolled out, written and compared with the truth at once:
    all ``frames`` where the batch's rollout (and ``with_truth`` its truth), counted as
    :func:`default_batch_size` counts them, fits :data:`BATCH_MEMORY`, else as many as fit, at
    least one. ``frame_bytes``: one trajectory's frame ``(C, *grid)`` in float32.

    So a batch of trajectories too long for that memory (a 3-D trajectory of several GB, which
    even one at a time does not fit) is taken part by part, a frame at a time at the least:
    what is written and computed is the same, since the writer stores any saved times of a
    block of samples and :class:`~pdesurrogate.metrics.ErrorSums` sums each frame on its own."""
    per_frame = trajectories * frame_bytes * (ROLLOUT_COPIES + (TRUTH_COPIES if with_truth
                                                                 else 0))
    return max(1, min(frames, BATCH_MEMORY // max(per_frame, 1)))


def _rollout_parts(u0: np.ndarray, states, steps: int, part: int, advance, check=None):
    """The rollout ``u0`` ``(b, C, *grid)`` (step 0) then the ``steps`` states of ``states``,
    as float32 arrays ``(b, f, C, *grid)`` of ``part`` steps each (the last one the rest),
    each made only when the one before was taken; ``advance(b)`` after each model step.
    ``check(state, step)`` sees each state as it comes (step 1..) and may raise; ``states``
    is then closed, so its clean-up runs before the error goes on."""
    b = u0.shape[0]

    def empty(j0: int) -> np.ndarray:
        return np.empty((b, min(part, steps + 1 - j0), *u0.shape[1:]), np.float32)

    pred, k, j0 = empty(0), 1, 0
    pred[:, 0] = u0
    for y in states:  # to its end: the iterator's own clean-up runs there
        if check is not None:
            try:
                check(y, j0 + k)
            except BaseException:
                if hasattr(states, "close"):
                    states.close()
                raise
        if k == pred.shape[1]:
            yield pred
            j0 += k
            del pred  # before the next part is made: one part alive here, not two
            pred, k = empty(j0), 0
        pred[:, k] = y
        k += 1
        advance(b)
    yield pred


def _taken(path: Path) -> FileExistsError:
    return FileExistsError(f"{str(path)!r} was created by someone else (another predict?) "
                           "while this rollout was computed, and is left alone; pass "
                           "--overwrite (overwrite=True) to replace it")


def _link_no_clobber(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst``, a FileExistsError naming ``dst`` if it exists by now (a hard
    link: no window between the check and the move)."""
    try:
        os.link(src, dst)
    except FileExistsError:
        raise _taken(dst) from None
    except OSError:  # no hard links on this file system: check, then rename
        if os.path.lexists(dst):
            raise _taken(dst) from None
        os.rename(src, dst)
        return
    os.unlink(src)


def _make_folders(folders: list[Path], made: list[Path]) -> None:
    """Create the missing ``folders`` (with their parents) one at a time, appending each to
    ``made`` as it is created, parents first: when one cannot be created, ``made`` names
    exactly those that were."""
    for folder in folders:
        for q in reversed([q for q in (folder, *folder.parents) if not q.exists()]):
            try:
                q.mkdir()
            except FileExistsError:
                if not q.is_dir():  # a file in the way
                    raise
                continue  # made meanwhile by someone else: theirs, not ours to remove
            made.append(q)


def _ordinal(n: int) -> str:
    """2 -> "2nd", 11 -> "11th", 23 -> "23rd"."""
    suffix = "th" if n % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
