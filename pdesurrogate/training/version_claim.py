"""Lightning's CSV and TensorBoard loggers, with the run folder's ``version_N`` claimed by an
exclusive ``mkdir`` rather than picked as "one above the highest there": fits started at the
same time with the same ``default_root_dir`` (a Slurm job array, several shells) each get a
folder of their own, where Lightning's listing gave them the same ``version_N`` and one
``metrics.csv``, ``config.yaml`` and ``checkpoints/`` for all.

Only rank 0 claims (the folders of other ranks are Lightning's broadcast of rank 0's). The two
loggers of one fit try the same N first (the last one claimed under that ``save_dir`` in this
process), so ``csv/version_N`` and ``tensorboard/version_N`` stay one run's; a folder claimed
by someone else meanwhile is passed over for the next free N. On a remote filesystem
(``s3://...``) Lightning's own choice stands.

A write of either logger that fails (a full disk or quota: ``metrics.csv``, ``hparams.yaml``,
the TensorBoard event file) is an OSError naming its run folder, ``[Errno 28] No space left on
device: 'runs/csv/version_0'``; Lightning's said "[Errno 28] No space left on device" alone.

A fit that fails in set-up (a model that does not match its data file) has claimed its folders
and written nothing into them: :func:`release_unwritten` removes them, so that the next fit
gets ``version_N`` again rather than ``version_N+1`` beside an empty one. Only folders this
process made, and only while they hold nothing but a TensorBoard event file's opening record
or the ``config.yaml`` saved at set-up, before training (no ``hparams.yaml`` yet). The
folders above them that this process made for them (``csv/``, ``tensorboard/``, the run root
itself) go too once empty: a failed fit leaves its ``default_root_dir`` as it found it.
"""

from __future__ import annotations

import os
import struct

from lightning.pytorch.loggers import CSVLogger as _CSVLogger
from lightning.pytorch.loggers import TensorBoardLogger as _TensorBoardLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from pdesurrogate.temp_files import named_error
from pdesurrogate.training.tensorboard_logger import DropsRefusedEvents

CSV_CLASS_PATH = "pdesurrogate.training.version_claim.CSVLogger"
TENSORBOARD_CLASS_PATH = "pdesurrogate.training.version_claim.TensorBoardLogger"

# save_dir -> the version last claimed under it in this process: the other logger's first try
_CLAIMED: dict[str, int] = {}
_ATTEMPTS = 10_000
# the folders this process made, oldest first, each (path, whether it is a claimed version_N
# folder, else one that did not exist when a logger was built): a failed fit releases its own
_MADE: list[tuple[str, bool]] = []
# a TensorBoard event file opens with one record (its "brain.Event:2" version) on creation;
# any scalar or hparams a run logs adds records after it
_EVENT_PREFIX = "events.out.tfevents."
_EVENT_VERSION = b"brain.Event:"
# Lightning's SaveConfigCallback writes config.yaml into the run folder as the fit sets up;
# every logger's save() then writes hparams.yaml (its hyperparameters, {} if none) just before
# training starts, so a config.yaml without one is a set-up that failed (a scheduler's bad
# argument, stdout closed at the model summary): a rerun of the command gives the same config,
# and kept it only moved the next fit to version_N+1. Any run that trained has hparams.yaml.
_SET_UP_CONFIG = "config.yaml"
_HPARAMS = "hparams.yaml"


def claim_version(save_dir: str, name: str, first: int) -> int:
    """The smallest N >= ``first`` (tried first: the sibling logger's N, if it is free and not
    below ``first``) for which this call made ``save_dir/name/version_N``; raises
    FileExistsError naming the folder if none is free after many tries."""
    root = os.path.join(save_dir, name)
    os.makedirs(root, exist_ok=True)
    key = os.path.abspath(save_dir)
    sibling = _CLAIMED.get(key)
    order = [sibling] if sibling is not None and sibling >= first else []
    for n in [*order, *range(first, first + _ATTEMPTS)]:
        path = os.path.join(root, f"version_{n}")
        try:
            os.mkdir(path)
        except FileExistsError:
            continue
        except FileNotFoundError:
            # another fit's release_unwritten removed the empty parents meanwhile
            os.makedirs(root, exist_ok=True)
            os.mkdir(path)
        _MADE.append((os.path.abspath(path), True))
        _CLAIMED[key] = n
        return n
    raise FileExistsError(f"{root!r}: no free version_N folder from version_{first} on")


def _note_missing(folder: str) -> None:
    """Record in :data:`_MADE` ``folder`` and each of its parents that does not exist yet: a
    logger about to be set up makes them (Lightning's ``makedirs`` of its ``root_dir``, then
    :func:`claim_version`), and a failed set-up releases them again once empty."""
    path = os.path.abspath(folder)
    while not os.path.isdir(path) and os.path.dirname(path) != path:
        _MADE.append((path, False))
        path = os.path.dirname(path)


def claims_made() -> int:
    """How many folders this process has made for its loggers so far: the ``since`` of a
    later :func:`release_unwritten`."""
    return len(_MADE)


def release_unwritten(since: int) -> list[str]:
    """Remove the ``version_N`` folders this process claimed after its first ``since`` claims
    that hold nothing a run wrote: empty, or only TensorBoard event files holding their opening
    record alone, or the ``config.yaml`` Lightning saved as the fit set up without the
    ``hparams.yaml`` that comes before any training (:data:`_SET_UP_CONFIG`). A folder with
    anything else (a checkpoint, ``metrics.csv``, ``hparams.yaml``, a logged scalar) is kept.
    The folders made above them for them are removed when empty then. Returns the
    ``version_N`` folders removed."""
    removed = []
    for path in (p for p, claimed in _MADE[since:] if claimed):
        try:
            names = os.listdir(path)
            set_up_only = _HPARAMS not in names
            if not all(_opening_record_only(os.path.join(path, n))
                       or (set_up_only and n == _SET_UP_CONFIG) for n in names):
                continue
            for name in names:
                os.remove(os.path.join(path, name))
            # rmdir, not rmtree: whatever appeared meanwhile keeps the folder
            os.rmdir(path)
        except OSError:
            continue
        removed.append(path)
    # deepest first: csv/ before the run root made for it; rmdir only removes an empty one,
    # so another run's version_N (or anything else) keeps its folders
    for path in sorted({p for p, claimed in _MADE[since:] if not claimed}, key=len,
                       reverse=True):
        try:
            os.rmdir(path)
        except OSError:
            continue
    del _MADE[since:]
    return removed


def _opening_record_only(path: str) -> bool:
    """Whether ``path`` is a TensorBoard event file holding one record, its version: a
    TFRecord is an 8-byte length, 4-byte CRC, the data and a 4-byte CRC."""
    if not os.path.basename(path).startswith(_EVENT_PREFIX) or not os.path.isfile(path):
        return False
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12:
            return False
        (length,) = struct.unpack("<Q", head[:8])
        return (os.fstat(f.fileno()).st_size == 12 + length + 4
                and _EVENT_VERSION in f.read(length))


def _local(path: str) -> bool:
    return "://" not in str(path) or str(path).startswith("file://")


class _ClaimsVersion:
    """Mixin for a Lightning logger with ``save_dir`` and ``name``: its next version claimed,
    and the folders it will make noted for :func:`release_unwritten`."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "://" not in str(self.save_dir):  # file:// paths too are not os.path's
            _note_missing(os.path.join(str(self.save_dir), self.name or ""))

    def _get_next_version(self) -> int:
        first = super()._get_next_version()
        if rank_zero_only.rank != 0 or not _local(self.save_dir):
            return first
        return claim_version(self.save_dir, self.name, first)


class _NamesWriteErrors:
    """Mixin for a Lightning logger with ``log_dir``: an OSError of its writes names it."""

    def save(self) -> None:
        try:
            super().save()
        except OSError as e:
            named_error(e, self.log_dir)
            raise

    def finalize(self, status: str) -> None:
        try:
            super().finalize(status)
        except OSError as e:
            named_error(e, self.log_dir)
            raise


class CSVLogger(_NamesWriteErrors, _ClaimsVersion, _CSVLogger):
    """Lightning's CSVLogger whose ``version_N`` folder is claimed (module docstring)."""


class TensorBoardLogger(_NamesWriteErrors, DropsRefusedEvents, _ClaimsVersion, _TensorBoardLogger):
    """Lightning's TensorBoardLogger whose ``version_N`` folder is claimed (module docstring),
    and whose event files a failed write closes (:class:`DropsRefusedEvents`)."""
