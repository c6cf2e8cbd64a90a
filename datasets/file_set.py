"""``FileSet``: the dataset files of a folder read as one dataset, as The Well and PDEBench ship
theirs (one file per PDE-parameter set).

>>> with open_dataset("the_well/datasets/shear_flow/data/train") as data:    # doctest: +SKIP
...     frame = data.u[120, 3]            # (C, *grid), read from the file holding trajectory 120

A folder's dataset files are those named ``*.nc``, ``*.h5``, ``*.hdf5`` or ``*.hdf``
(:data:`DATASET_SUFFIXES`, any case; hidden files and subfolders are not read), in the order of
their names. Their trajectories follow one another in that order: file 0's, then file 1's, ...
Every file must hold the same kind of data: the same format, PDE name, saved times, spatial
axes (names and coordinates), channel names, parameter names and frame shape ``(T, C, *grid)``.
A constant parameter of a file (The Well stores its PDE parameters once per file) is
broadcast to that file's trajectories.

A folder holding ``train/``, ``valid/`` (or ``val/``) and ``test/`` subfolders (The Well's
``data/`` layout, :data:`SPLIT_FOLDERS`) is read as the three in that order, and the set
records how many trajectories each holds (:attr:`FileSet.split_sizes`): those subfolders are
then the train/validation/test split.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .lazy import LazyArray
from .reader import FieldData

#: file names a folder's dataset files end with (compared without case)
DATASET_SUFFIXES = (".nc", ".h5", ".hdf5", ".hdf")
#: the subfolders that split a folder (The Well's layout): train, validation (either name), test
SPLIT_FOLDERS = (("train",), ("valid", "val"), ("test",))
#: member files a process keeps open at once (least recently read closed first): a Well
#: dataset of hundreds of files must not exhaust the open-file limit of a DataLoader worker
MAX_OPEN_FILES = 32


def dataset_files(folder: Path) -> list[Path]:
    """The dataset files directly in ``folder`` (:data:`DATASET_SUFFIXES`), sorted by name.

    Raises:
        ValueError: naming the folder, when it holds none.
    """
    found = sorted((p for p in folder.iterdir()
                    if not p.name.startswith(".") and p.suffix.lower() in DATASET_SUFFIXES
                    and p.is_file()), key=lambda p: p.name)
    if not found:
        has = sorted(p.name for p in folder.iterdir())[:10]
        raise ValueError(f"folder {str(folder)!r} holds no dataset files (names ending in "
                         f"{', '.join(DATASET_SUFFIXES)}; it holds {has or 'nothing'}); pass a "
                         "dataset file or a folder of them")
    return found


def split_folders(folder: Path) -> list[Path] | None:
    """``[train, valid, test]`` subfolders of ``folder`` when it is split as The Well's data
    folders are (:data:`SPLIT_FOLDERS`), else None.

    Raises:
        ValueError: naming the folder, when it holds some of them but not all, or both
            ``valid/`` and ``val/``.
    """
    found = [[folder / n for n in names if (folder / n).is_dir()] for names in SPLIT_FOLDERS]
    if not any(found):
        return None
    both = [f for f in found if len(f) > 1]
    if both:
        raise ValueError(f"folder {str(folder)!r} holds both {[p.name for p in both[0]]}; keep "
                         "one validation folder")
    missing = ["/".join(names) + "/" for names, f in zip(SPLIT_FOLDERS, found, strict=True)
               if not f]
    if missing:
        raise ValueError(f"folder {str(folder)!r} holds "
                         f"{[f[0].name + '/' for f in found if f]} but not {missing}: a split "
                         "folder (The Well's layout) needs train/, valid/ (or val/) and test/")
    loose = [p.name for p in folder.iterdir()
             if p.is_file() and p.suffix.lower() in DATASET_SUFFIXES]
    if loose:
        raise ValueError(f"folder {str(folder)!r} holds train/, valid/ and test/ folders and "
                         f"dataset files beside them ({sorted(loose)[:5]}); which split those "
                         "belong to is unclear: move them into one of the folders")
    return [f[0] for f in found]


def _differs(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return True
    if a.dtype.kind in "fc" and b.dtype.kind in "fc":
        # float32 times or coordinates written by another run round alike; a real difference
        # is far beyond a few ulps of the largest value
        tol = 4 * np.finfo(np.float32).eps * float(np.max(np.abs(a), initial=0.0))
        return not bool(np.all(np.abs(a.astype(np.float64) - b.astype(np.float64)) <= tol))
    return not np.array_equal(a, b)


def _shown(v) -> str:
    """A value for a message: a short array whole, a long one by its length and ends."""
    if isinstance(v, np.ndarray) and v.size > 6:
        return f"{v.size} values {v.ravel()[0]:g} .. {v.ravel()[-1]:g}"
    if isinstance(v, np.ndarray):
        return repr(v.tolist())
    return repr(v)


def _describe(data: FieldData) -> list[tuple[str, object]]:
    """What every file of a set must agree on, by name, in the order it is checked."""
    return [("format", data.format), ("pde", data.pde), ("grid_names", data.grid_names),
            ("channel_names", data.channel_names), ("param_names", tuple(data.params)),
            ("frame shape (T, C, *grid)", tuple(data.u.shape[1:])),
            ("times", data.times),
            *((f"{name} coordinate", g)
              for name, g in zip(data.grid_names, data.grid, strict=True))]


def check_agree(folder: Path, members: list[FieldData]) -> None:
    """Refuse a set whose files hold different kinds of data: one ValueError naming the folder,
    the first file that differs from the first file, what differs and both values."""
    first = _describe(members[0])
    for m in members[1:]:
        for (what, a), (_, b) in zip(first, _describe(m), strict=True):
            if (_differs(a, b) if isinstance(a, np.ndarray) else a != b):
                raise ValueError(
                    f"folder {str(folder)!r}: file {m.path.name!r} differs from the first file "
                    f"{members[0].path.name!r} in its {what}: {_shown(a)} in "
                    f"{members[0].path.name!r} vs {_shown(b)} in {m.path.name!r}; every file of "
                    "a folder must hold the same times, grid, channels and parameters")


class ConcatArray(LazyArray):
    """Read-on-index ``(N, T, C, *grid)`` float32 array: the members' ``u`` one after the other
    along the trajectory axis. Indexes as :class:`~.lazy.LazyArray` does (ints, slices, integer
    lists or arrays, boolean masks on the first axis; the other axes passed to the members)."""

    # LazyArray.__init__ is not called: the members' arrays read, this one only dispatches
    def __init__(self, members: list[FieldData], where: str):
        self.members = members
        self.where = where
        counts = [m.u.shape[0] for m in members]
        self.starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.shape = (int(self.starts[-1]), *members[0].u.shape[1:])
        self.dtype = np.dtype(np.float32)
        # what normalization's block reader asks of a grouped layout (one group per
        # trajectory): the members share their format, so the first one's answer is theirs
        self.sources = members[0].u.sources
        self._open: OrderedDict[int, None] = OrderedDict()
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return f"ConcatArray(shape={self.shape}, files={len(self.members)}, dtype=float32)"

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_open"], state["_pid"] = OrderedDict(), None
        return state

    def locate(self, i: int) -> tuple[int, int]:
        """``(file, trajectory in that file)`` of trajectory ``i`` (0 <= i < N)."""
        m = int(np.searchsorted(self.starts, i, side="right")) - 1
        return m, int(i - self.starts[m])

    def _read(self, m: int, key: tuple) -> np.ndarray:
        """``members[m].u[key]``, closing the least recently read member beyond
        :data:`MAX_OPEN_FILES` open ones in this process."""
        if self._pid != os.getpid():
            self._open, self._pid = OrderedDict(), os.getpid()
        self._open[m] = None
        self._open.move_to_end(m)
        while len(self._open) > MAX_OPEN_FILES:
            old, _ = self._open.popitem(last=False)
            self.members[old].close()
        return self.members[m].u[key]

    def __getitem__(self, key) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        if key and key[0] is Ellipsis:
            key = (slice(None),) * (self.ndim - len(key) + 1) + key[1:]
        first, rest = (key[0], key[1:]) if key else (slice(None), ())
        n = self.shape[0]
        if isinstance(first, (int, np.integer)) and not isinstance(first, bool):
            i = int(first)
            if not -n <= i < n:
                raise IndexError(f"{self.where!r}: sample index {i} out of range for "
                                 f"{n} trajectories")
            m, local = self.locate(i % n)
            return self._read(m, (local, *rest))
        if isinstance(first, slice):
            chosen = np.arange(n)[first]
        else:
            chosen = np.asarray(first)
            if chosen.dtype == bool:
                if chosen.shape != (n,):
                    raise IndexError(f"{self.where!r}: boolean index of shape {chosen.shape} "
                                     f"for {n} trajectories")
                chosen = np.flatnonzero(chosen)
            if chosen.ndim != 1 or (chosen.size and chosen.dtype.kind not in "iu"):
                raise IndexError(f"{self.where!r}: unsupported sample index {first!r}")
            chosen = chosen.astype(np.int64)
            if chosen.size and (chosen.min() < -n or chosen.max() >= n):
                raise IndexError(f"{self.where!r}: sample index out of range for {n} "
                                 "trajectories")
            chosen = chosen % n if chosen.size else chosen
        if chosen.size == 0:
            return self._read(0, (slice(0, 0), *rest))
        files = np.searchsorted(self.starts, chosen, side="right") - 1
        # runs of the same file, in the order asked for: each one read
        cut = np.flatnonzero(np.diff(files)) + 1
        parts = []
        for run_files, run in zip(np.split(files, cut), np.split(chosen, cut), strict=True):
            m = int(run_files[0])
            local = run - self.starts[m]
            step = int(local[1] - local[0]) if local.size > 1 else 1
            if local.size > 1 and step > 0 and np.all(np.diff(local) == step):
                sel = slice(int(local[0]), int(local[-1]) + 1, step)
            else:
                sel = local
            parts.append(self._read(m, (sel, *rest)))
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)


class FileSet(FieldData):
    """The dataset files of a folder as ``N`` trajectories of ``T`` frames ``(C, *grid)``: a
    :class:`~.reader.FieldData` (its interface) over several files.

    Attributes:
        u: lazy ``(N, T, C, *grid)`` float32 array (:class:`ConcatArray`).
        times, grid, grid_names, channel_names, pde, format: as every file holds them.
        params: ``{name: (N,)}``, each file's values (its constants broadcast) one after the
            other.
        sim_id: ``(N,)`` int64 positions ``0 .. N - 1`` in the set (the files' own ids repeat
            from file to file; ``members[i].sim_id`` holds them).
        attrs: the first file's attributes, with ``files``: the files' names in order.
        path: the folder; ``members``: the files as :class:`FieldData`, in order;
        ``split_sizes``: ``[train, valid, test]`` trajectory counts of a split folder
        (:func:`split_folders`), else None.

    Safe to hand to DataLoader workers as :class:`FieldData` is: each member opens its own file
    handle per process, at most :data:`MAX_OPEN_FILES` at once.
    """

    # FieldData.__init__ is not called: a set opens no file of its own, its members do
    def __init__(self, path: str | os.PathLike, members: list[FieldData],
                 split_sizes: list[int] | None = None):
        if not members:
            raise ValueError(f"folder {str(path)!r}: a file set needs at least one file")
        self.path = Path(path)
        self.members = list(members)
        check_agree(self.path, self.members)
        first = self.members[0]
        self.format, self.pde = first.format, first.pde
        self.times, self.grid = first.times, first.grid
        self.times_note = first.times_note
        self.grid_names, self.channel_names = first.grid_names, first.channel_names
        self.attrs = {**first.attrs, "files": [m.path.name for m in self.members]}
        self.split_sizes = None if split_sizes is None else [int(s) for s in split_sizes]
        self.u = ConcatArray(self.members, str(self.path))
        # joined once: predict reads a batch's rows of every parameter per batch
        self._joined = {k: np.concatenate([m.params[k] for m in self.members])
                        for k in first.params}
        for v in self._joined.values():
            v.flags.writeable = False

    @property
    def files(self) -> list[Path]:
        """The member files, in the order of their trajectories."""
        return [m.path for m in self.members]

    @property
    def params(self) -> dict[str, np.ndarray]:
        """``{name: (N,)}`` float64 parameters: each file's, one after the other (read-only,
        joined when the set is opened)."""
        return dict(self._joined)

    @property
    def sim_id(self) -> np.ndarray:
        return np.arange(self.u.shape[0], dtype=np.int64)

    def locate(self, i: int) -> tuple[FieldData, int]:
        """The member file holding trajectory ``i`` and its index there."""
        m, local = self.u.locate(i)
        return self.members[m], local

    def close(self) -> None:
        """Close this process's file handles (reopened if indexed again)."""
        for m in self.members:
            m.close()

    def __getstate__(self) -> dict:
        return self.__dict__.copy()  # the members drop their own handles

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return (f"FileSet({str(self.path)!r}, files={len(self.members)}, format={self.format!r}, "
                f"pde={self.pde!r}, shape={self.u.shape}, channels={list(self.channel_names)}, "
                f"params={list(self.members[0].params)})")


def open_file_set(folder: Path, progress: bool | None = None) -> FileSet:
    """Every dataset file of ``folder`` (or of its train/, valid/, test/ subfolders) opened
    with :func:`~.reader.open_dataset` and checked to agree (:func:`check_agree`)."""
    from .reader import open_dataset

    splits = split_folders(folder)
    groups = [dataset_files(f) for f in splits] if splits is not None \
        else [dataset_files(folder)]
    members: list[FieldData] = []
    sizes = []
    try:
        for files in groups:
            opened = [open_dataset(p, progress=progress) for p in files]
            members += opened
            sizes.append(sum(len(m) for m in opened))
        return FileSet(folder, members, sizes if splits is not None else None)
    except BaseException:
        for m in members:
            m.close()
        raise
