"""A leaderboard of exported surrogates on one dataset file, or a folder of them read as one
(``pdesurrogate compare``).

:func:`compare_models` rolls each model out over the file's trajectories exactly as
``pdesurrogate predict`` does (:func:`~pdesurrogate.predict.predict_file`, into a temporary
folder removed at the end, one rollout on disk at a time), so every number of the table is the
one ``predict`` prints and stores in its output's attributes for that model: the relative L2
error vs truth and the PDEBench-style errors of :mod:`pdesurrogate.metrics` (``rmse``,
``nrmse``, ``vrmse``, ``max_error``, ``crmse``, ``brmse``, ``frmse_low/mid/high``), each the
mean over the model steps 1..steps (``max_error``: the maximum; a steady map: its one frame),
beside ``rel_l2_last`` (the last step's), the model's parameter count and ``predict``'s wall
time per trajectory (loading, rollout, errors and the temporary write). Models are ranked by
``rel_l2_mean``, lowest first; a NaN ranks last.

A model whose rollout reaches a NaN or inf (it diverged, or its weights hold NaNs), which
``predict`` refuses to write (:class:`~pdesurrogate.predict.RolloutDiverged`), does not stop the
comparison: it ranks last (the later it diverged, the higher among such models), its errors
read ``NaN`` in the table (``null`` in the JSON, beside ``diverged_at_step`` and ``failure``,
the reason) and a line under the table says at which model step it diverged. Only when every
model diverged is there nothing to rank: that is one ValueError naming each (exit status 2 from
the command), and no ``--plot`` or ``--json`` is written.

Before any rollout every model is loaded and checked against the file with
:func:`~pdesurrogate.predict.plan_rollout`, predict's own checks (PDE, grid, channels,
parameters, time spacing); a model that cannot run on it is one ValueError naming the model's
folder and the reason. Models are compared on the same saved frames of the file only: a model
stepping ``dt = 0.2`` over a file saved every 0.1 compares every 2nd frame, one stepping 0.1
every frame, and such a pair is refused (their means would average different frames), naming
each model's frames. Steady maps (Darcy ``a -> u``) are compared among themselves, never with
time-steppers. The file must hold the truth at every compared frame.

A folder of dataset files (``open_dataset``'s :class:`~pdesurrogate.datasets.FileSet`) is
compared as one file holding all its trajectories, with the same checks; a folder split into
``train/``, ``valid/`` and ``test/`` (The Well's ``data/``) on its ``test/`` folder alone, which
:attr:`CompareReport.input` names and :attr:`CompareReport.note` says
(:func:`~pdesurrogate.datasets.reader.scored_path`).
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pdesurrogate.metrics import NAMES
from pdesurrogate.predict import (
    RolloutDiverged,
    _positive_int,
    _same_file,
    plan_rollout,
    predict_file,
)

#: the table's error columns, in its order: the relative L2 (mean over steps 1..steps and at
#: the last step), then pdesurrogate.metrics' errors, each the mean over steps 1..steps
ERROR_COLUMNS = ("rel_l2_mean", "rel_l2_last", *NAMES)
#: the columns after the errors: trainable parameters and predict's seconds per trajectory
OTHER_COLUMNS = ("params", "s_per_traj")


@dataclass
class ModelResult:
    """One model's row: its errors vs truth as predict computes them over the file."""
    label: str
    model_dir: str
    rel_l2: np.ndarray  # (steps + 1,) mean over trajectories, per model step
    metrics: dict[str, np.ndarray]  # {name: (steps + 1,)} in metrics.NAMES' order
    n_parameters: int
    seconds: float  # predict_file's wall time for the whole file
    samples: int
    note: str | None = None  # predict's note (zero-shot grid, skipped frames, training file)
    # the input is the model's training file: rel_l2 over its held-out test split alone,
    # (steps + 1,), and how many trajectories that is; None otherwise
    rel_l2_test: np.ndarray | None = None
    test_trajectories: int | None = None
    # the model step (1..; 0: a steady map's prediction) at which its rollout reached a NaN or
    # inf, and predict's reason; then every error is NaN and the model ranks last
    diverged_at: int | None = None
    failure: str | None = None

    @property
    def diverged_line(self) -> str | None:
        """The line under the table for a model that diverged, else None."""
        if self.diverged_at is None:
            return None
        where = (f"diverged at model step {self.diverged_at}" if self.diverged_at
                 else "predicts NaN or inf")
        fewer = (f"; compare it over at most {self.diverged_at - 1} --steps to score it"
                 if self.diverged_at > 1 else "")
        return (f"{self.label}: {where} (its rollout is NaN or inf there): not scored, "
                f"ranked last{fewer}")

    @property
    def test_split_line(self) -> str | None:
        """The error over the held-out test split alone, where the input is this model's
        training file (as ``predict`` prints it), else None."""
        if self.rel_l2_test is None:
            return None
        lo = 1 if len(self.rel_l2_test) > 1 else 0
        return (f"relative L2 vs truth on its held-out test split alone "
                f"({self.test_trajectories} trajectories): mean "
                f"{float(np.mean(self.rel_l2_test[lo:])):.4g}, last step "
                f"{float(self.rel_l2_test[-1]):.4g}")

    @property
    def scores(self) -> dict[str, float]:
        """The table's numbers, ``{column: value}`` for :data:`ERROR_COLUMNS` and
        :data:`OTHER_COLUMNS` (``s_per_traj``: :attr:`seconds` over :attr:`samples`)."""
        lo = 1 if len(self.rel_l2) > 1 else 0  # a steady map has its one frame
        out = {"rel_l2_mean": float(np.mean(self.rel_l2[lo:])),
               "rel_l2_last": float(self.rel_l2[-1])}
        for name in NAMES:
            v = np.asarray(self.metrics[name][lo:])
            # an frmse band the grid holds no mode of is NaN at every step: n/a, not a warning
            out[name] = (float(np.max(v)) if name == "max_error" else
                         float(np.mean(v)) if not np.isnan(v).all() else math.nan)
        out["params"] = self.n_parameters
        out["s_per_traj"] = self.seconds / self.samples
        return out


@dataclass
class CompareReport:
    """The leaderboard: :attr:`results` best first (lowest ``rel_l2_mean``, NaN last)."""
    input: str
    samples: int
    steps: int  # model steps compared (0: steady maps)
    stride: int  # saved frames of the file per model step
    times: np.ndarray  # (steps + 1,) the compared frames' times
    results: list[ModelResult]
    plot: str | None = None
    json: str | None = None
    # a split folder's input: which of its parts was scored (the input is its test/ folder)
    note: str | None = None

    @property
    def diverged(self) -> list[ModelResult]:
        """The models whose rollout reached a NaN or inf, in table order."""
        return [r for r in self.results if r.diverged_at is not None]

    @property
    def frames(self) -> list[int]:
        """The file's time indices compared: 0, stride, .., steps * stride."""
        return [j * self.stride for j in range(self.steps + 1)]

    def as_dict(self) -> dict:
        """JSON-ready: what :func:`compare_models` writes to ``json_path`` (NaN as null)."""
        def clean(v):
            return None if isinstance(v, float) and math.isnan(v) else v

        return {
            "input": self.input, "input_note": self.note,
            "samples": self.samples, "steps": self.steps,
            "stride": self.stride, "frames": self.frames,
            "times": [float(t) for t in self.times], "ranked_by": "rel_l2_mean",
            "models": [{"rank": i + 1, "label": r.label, "model": r.model_dir,
                        **{k: clean(v) for k, v in r.scores.items()},
                        "rel_l2": [clean(float(v)) for v in r.rel_l2],
                        "metrics": {n: [clean(float(v)) for v in r.metrics[n]] for n in NAMES},
                        "note": r.note,
                        "diverged_at_step": r.diverged_at, "failure": r.failure,
                        "rel_l2_test": (None if r.rel_l2_test is None else
                                        [clean(float(v)) for v in r.rel_l2_test])}
                       for i, r in enumerate(self.results)]}


def _rank_key(result: ModelResult) -> tuple[int, float]:
    v = result.scores["rel_l2_mean"]
    if not math.isnan(v):
        return (0, v)
    # NaN compares as neither less nor greater: the later a model diverged, the higher
    return (1, -(result.diverged_at or 0))


def model_labels(model_dirs: Sequence[str], labels: Mapping[str, str] | None = None
                 ) -> list[tuple[str, str]]:
    """``[(label, dir)]``: each of ``model_dirs``, then each dir of ``labels``
    (``{label: dir}``, ``--label NAME=DIR``) not among them, in that order. A model's label is
    its ``labels`` name, else its folder's name (its path as given where two folders share a
    name). A ValueError for no model, a folder given twice (or under two labels), or two
    models of one label."""
    labels = dict(labels or {})
    dirs = list(model_dirs)
    labelled: list[tuple[str, str]] = []
    for name, d in labels.items():
        if not isinstance(name, str) or not name or not isinstance(d, str) or not d:
            raise ValueError(f"--label must be NAME=DIR with both non-empty, got {name!r}={d!r}")
        # one folder under two labels was compared once, under the last label
        twin = next(((n, e) for n, e in labelled if _same_file(d, e)), None)
        if twin is not None:
            raise ValueError(f"--label {name}={d} and --label {twin[0]}={twin[1]} name one "
                             "folder; give each model one label")
        labelled.append((name, d))
        if not any(_same_file(d, m) for m in dirs):
            dirs.append(d)
    if not dirs:
        raise ValueError("no model to compare: give --model DIR (or --label NAME=DIR)")
    for i, d in enumerate(dirs):
        twin = next((m for m in dirs[:i] if _same_file(d, m)), None)
        if twin is not None:
            raise ValueError(f"--model {d!r} is given twice (also as {twin!r})")
    named = {}
    for name, d in labels.items():
        named[next(m for m in dirs if _same_file(d, m))] = name
    base = {d: os.path.basename(os.path.normpath(d)) for d in dirs}
    out = [(named.get(d) or (base[d] if list(base.values()).count(base[d]) == 1 else d), d)
           for d in dirs]
    seen: dict[str, str] = {}
    for label, d in out:
        if label in seen:
            raise ValueError(f"models {seen[label]!r} and {d!r} have the same label {label!r}; "
                             "name them apart with --label NAME=DIR")
        seen[label] = d
    return out


def _check_outputs(input_path: str, plot: str | None, json_path: str | None,
                   overwrite: bool) -> None:
    """Refuse an output that is the input, a folder, the other output, an existing file
    (unless ``overwrite``), one whose folder cannot be made (a file in its place), or a plot
    type matplotlib cannot write; before any rollout."""
    outs = [(f, p) for f, p in (("--plot", plot), ("--json", json_path)) if p]
    for flag, path in outs:
        if _same_file(path, input_path):
            raise ValueError(f"{flag} {path!r} is the input file; give another output path")
        if os.path.isdir(path):
            raise ValueError(f"{flag} {path!r} is a directory; expected a file name")
        folder = Path(path).parent
        while not os.path.lexists(folder):  # the missing folders are made before writing
            folder = folder.parent
        if not folder.is_dir():
            raise ValueError(f"{flag} {path!r}: {str(folder)!r} is not a folder")
        if not overwrite and os.path.lexists(path):
            raise FileExistsError(f"{flag} {path!r} exists; pass --overwrite (overwrite=True) "
                                  "to replace it")
    if len(outs) == 2 and _same_file(plot, json_path):
        raise ValueError(f"--plot and --json are the same file {plot!r}")
    if plot:
        from matplotlib.backend_bases import FigureCanvasBase

        writable = FigureCanvasBase.get_supported_filetypes()
        if Path(plot).suffix.lower().lstrip(".") not in writable:
            raise ValueError(f"--plot {plot!r}: matplotlib writes only "
                             f"{', '.join('.' + x for x in sorted(writable))}")


def compare_models(input_path: str, model_dirs: Sequence[str],
                   labels: Mapping[str, str] | None = None, steps: int | None = None,
                   samples: int | None = None, batch_size: int | None = None,
                   plot: str | None = None, json_path: str | None = None,
                   device: str = "cpu", overwrite: bool = False, any_grid: bool = False,
                   channels: dict[str, str] | None = None, progress: bool = True,
                   models: dict | None = None) -> CompareReport:
    """Rank ``model_dirs`` (and ``labels``' folders: :func:`model_labels`) by their relative
    L2 error over ``input_path``'s trajectories (module docstring).

    ``steps``, ``samples``, ``batch_size``, ``device``, ``any_grid``, ``channels`` and
    ``models`` are :func:`~pdesurrogate.predict.predict_file`'s, the same for every model.
    ``plot``: an image (PNG) of each model's relative L2 against the model step, log y;
    ``json_path``: :meth:`CompareReport.as_dict` as JSON; both written whole or not at all
    (a temporary renamed in), an existing one replaced only with ``overwrite``. ``progress``:
    a line per model and predict's progress, on stderr.

    A model whose rollout reaches a NaN or inf is ranked last with NaN errors
    (:attr:`ModelResult.diverged_at`); the others are compared as usual.

    Raises ValueError naming the model folder for a model that cannot run on the file or
    whose rollout fails otherwise, when every model's rollout reached a NaN or inf (nothing to
    rank; no plot or JSON is written), the frames when two models would compare different
    frames, and for a file without the truth; FileExistsError for an existing output without
    ``overwrite``."""
    from pdesurrogate.datasets import open_dataset
    from pdesurrogate.datasets.reader import scored_path
    from pdesurrogate.loading import load
    from pdesurrogate.steady_surrogate import SteadySurrogate
    from pdesurrogate.surrogate import Surrogate

    named = model_labels(model_dirs, labels)
    for flag, v in (("--steps", steps), ("--samples", samples), ("--batch-size", batch_size)):
        if v is not None:
            _positive_int(flag, v)
    _check_outputs(input_path, plot, json_path, overwrite)
    # resolved once: each model's predict_file then reads the same part of a split folder
    input_path, split_note = scored_path(input_path, "compare --input")
    plans, sizes, kinds = [], [], []
    data = open_dataset(input_path)
    try:
        trajectories = data.u.shape[0] if samples is None else min(samples, data.u.shape[0])
        for label, d in named:
            sur = load(d, device=device, models=models)
            where = f"model {label!r} ({d}) cannot run on {input_path!r}"
            if not isinstance(sur, Surrogate):
                raise ValueError(f"{where}: it is a PINN export (u at points), which is not "
                                 "rolled out over a dataset file")
            steady = isinstance(sur, SteadySurrogate)
            if steady and (steps is not None or plot is not None):
                raise ValueError(f"{where}: it is a steady map (inputs {sur.inputs} -> targets "
                                 f"{sur.targets}), which has no time steps; compare it without "
                                 + " and ".join(f for f, v in (("--steps", steps),
                                                               ("--plot", plot)) if v))
            try:
                plan = plan_rollout(sur, data, d, input_path, steps, any_grid=any_grid,
                                    channels=channels)
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from None
            if not plan.has_truth:
                raise ValueError(f"{where}: the file holds no truth at the {plan.steps} "
                                 f"model steps of {plan.stride} saved frame(s) compared "
                                 f"(it has {data.u.shape[1]} saved times): nothing to score; "
                                 "give fewer --steps")
            plans.append(plan)
            kinds.append(steady)
            sizes.append(sum(p.numel() for p in sur.model.parameters()))
            del sur  # one model in memory at a time
    finally:
        data.close()
    if any(kinds) and not all(kinds):
        steady_ones = [lb for (lb, _), k in zip(named, kinds, strict=True) if k]
        raise ValueError(f"model(s) {steady_ones} are steady maps (one prediction per sample) "
                         "and the others time-steppers: they score different things; compare "
                         "each kind on its own")
    first = plans[0]
    for (label, d), plan in zip(named, plans, strict=True):
        if (plan.steps, plan.stride) != (first.steps, first.stride):
            def frames(p) -> str:
                return (f"{p.steps} model steps of {p.stride} saved frame(s), frames 0, "
                        f"{p.stride}, .., {p.steps * p.stride} (dt = {p.dt})")

            raise ValueError(
                f"model {label!r} ({d}) and model {named[0][0]!r} ({named[0][1]}) would compare "
                f"different frames of {input_path!r}: {frames(plan)} vs {frames(first)}; "
                "compare models of one time step (or the same --steps of the same spacing) "
                "together")

    results = []
    with tempfile.TemporaryDirectory(prefix="pdesurrogate-compare-") as tmp:
        for i, ((label, d), size) in enumerate(zip(named, sizes, strict=True)):
            if progress:
                print(f"pdesurrogate compare: model {i + 1} of {len(named)}: {label} ({d})",
                      file=sys.stderr, flush=True)
            out = os.path.join(tmp, f"rollout_{i}.nc")
            try:
                rep = predict_file(d, input_path, out, steps=steps, samples=samples,
                                   batch_size=batch_size, device=device, progress=progress,
                                   models=models, any_grid=any_grid, channels=channels)
            except RolloutDiverged as e:
                nan = np.full(first.steps + 1, math.nan)
                results.append(ModelResult(label=label, model_dir=d, rel_l2=nan,
                                           metrics={n: nan for n in NAMES}, n_parameters=size,
                                           seconds=math.nan, samples=trajectories,
                                           diverged_at=e.step, failure=str(e)))
                if progress:
                    print(f"pdesurrogate compare: {label}: {e}", file=sys.stderr, flush=True)
                continue
            except ValueError as e:
                # the reason names the temporary rollout file, which the user never saw
                reason = str(e).removeprefix(f"{os.path.basename(out)}: ")
                raise ValueError(f"model {label!r} ({d}) failed on {input_path!r}: "
                                 f"{reason}") from None
            os.unlink(out)  # one rollout on disk at a time
            results.append(ModelResult(label=label, model_dir=d, rel_l2=rep.rel_l2,
                                       metrics=rep.metrics, n_parameters=size,
                                       seconds=rep.seconds, samples=rep.samples,
                                       note=rep.note, rel_l2_test=rep.rel_l2_test,
                                       test_trajectories=(None if rep.test_indices is None
                                                          else len(rep.test_indices))))
    if all(r.diverged_at is not None for r in results):
        raise ValueError(f"every model's rollout reached NaN or inf on {input_path!r}, nothing "
                         "to rank: " + "; ".join(f"model {r.label!r}: {r.failure}"
                                                 for r in results))
    results.sort(key=_rank_key)
    report = CompareReport(input=input_path, samples=results[0].samples, steps=first.steps,
                           stride=first.stride, times=np.asarray(first.times), results=results,
                           plot=plot, json=json_path, note=split_note)
    for path in (plot, json_path):
        if path:  # as predict makes --out's: a missing folder failed after every rollout
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    if plot:
        _write_plot(report, Path(plot))
    if json_path:
        from pdesurrogate.temp_files import atomic_write

        text = json.dumps(report.as_dict(), indent=2, allow_nan=False) + "\n"
        atomic_write(Path(json_path), lambda f: f.write(text.encode()), ".json")
    return report


def _write_plot(report: CompareReport, path: Path) -> None:
    """Each model's relative L2 against the model step on one log-y axes, best first in the
    legend, into ``path`` whole or not at all."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from pdesurrogate.datasets.storable_text import storable_text
    from pdesurrogate.temp_files import atomic_write

    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    steps = np.arange(1, report.steps + 1)
    for r in report.results:
        if r.diverged_at is not None:  # no curve: a legend entry says why
            ax.plot([], [], "x", label=storable_text(f"{r.label} (diverged at step "
                                                     f"{r.diverged_at})"))
            continue
        ax.semilogy(steps, np.maximum(r.rel_l2[1:], 1e-12), "o-", markersize=3,
                    label=storable_text(f"{r.label} (mean {r.scores['rel_l2_mean']:.3g})"))
    every = f", every {report.stride} saved frames" if report.stride > 1 else ""
    ax.set(xlabel=f"model step (t = {report.times[0]:g} + step * "
                  f"{report.times[1] - report.times[0]:g}{every})",
           ylabel="relative L2 error (mean over trajectories)",
           title=storable_text(f"relative L2 vs rollout step on "
                               f"{os.path.basename(os.path.normpath(report.input))} "
                               f"({report.samples} trajectories)"))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    fmt = path.suffix.lower().lstrip(".")
    atomic_write(path, lambda f: fig.savefig(f, format=fmt, dpi=110), path.suffix)


def _cell(column: str, value: float, diverged: bool = False) -> str:
    if column == "params":
        return f"{int(value):,}"
    if math.isnan(value):
        # NaN: the model's rollout is; n/a: a score that does not apply (an empty band)
        return "NaN" if diverged and column != "s_per_traj" else "n/a"
    return format(value, ".3g" if column == "s_per_traj" else ".4g")


def table_rows(report: CompareReport) -> list[list[str]]:
    """The table as text cells: a header row, then one row per model, best first: rank (the
    best marked ``*``), label, then :data:`ERROR_COLUMNS` and :data:`OTHER_COLUMNS`. A model
    that diverged has ``NaN`` errors and ``n/a`` seconds (:func:`notes` says why)."""
    columns = (*ERROR_COLUMNS, *OTHER_COLUMNS)
    rows = [["rank", "model", *columns]]
    for i, r in enumerate(report.results):
        scores = r.scores
        rows.append([f"{'*' if i == 0 else ''}{i + 1}", r.label,
                     *(_cell(c, scores[c], r.diverged_at is not None) for c in columns)])
    return rows


def notes(report: CompareReport) -> list[str]:
    """The lines under the table: one per model that diverged
    (:attr:`ModelResult.diverged_line`)."""
    return [f"NaN: {r.diverged_line}" for r in report.diverged]


def heading(report: CompareReport) -> str:
    """The line above the table: the file, what was averaged, how it is sorted."""
    over = (f"model steps 1..{report.steps}" + (f" (every {report.stride} saved frames)"
                                                 if report.stride > 1 else "")
            if report.steps else "the one predicted frame")
    return (f"{report.input}: {len(report.results)} model(s) on {report.samples} "
            f"trajectories; errors vs truth are means over {over} (max_error: the maximum), "
            "sorted by rel_l2_mean, * best")


def render_text(report: CompareReport) -> str:
    """The table as plain aligned text (for a pipe or a file): the heading, the header and a
    row per model, the label left-aligned and the numbers right-aligned, two spaces apart;
    then :func:`notes`."""
    rows = table_rows(report)
    widths = [max(len(row[j]) for row in rows) for j in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if j == 1 else c.rjust(w)
                       for j, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()
             for row in rows]
    return "\n".join([heading(report), *lines, *notes(report)])


def render_rich(report: CompareReport):
    """The table as a rich Table for a terminal, the best model's row in bold green,
    :func:`notes` as its caption (under it)."""
    from rich.table import Table
    from rich.text import Text

    rows = table_rows(report)
    lines = notes(report)
    table = Table(title=Text(heading(report)), title_justify="left",
                  caption=Text("\n".join(lines)) if lines else None, caption_justify="left")
    for j, name in enumerate(rows[0]):
        table.add_column(name, justify="left" if j == 1 else "right", no_wrap=j == 1)
    for i, row in enumerate(rows[1:]):
        # Text, not str: a label such as "[bold]x" is not rich markup
        table.add_row(*map(Text, row), style="bold green" if i == 0 else None)
    return table
