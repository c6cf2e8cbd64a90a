"""How a fit writes and reads its Lightning checkpoints: :class:`AtomicCheckpointIO`.

Lightning's own :class:`~lightning.fabric.plugins.io.torch_io.TorchCheckpointIO` saves through
fsspec, which writes a temporary file in ``$TMPDIR`` and then ``shutil.move``s it onto the
checkpoint. Where ``$TMPDIR`` is another filesystem than the run folder (``/dev/shm``, a node's
local disk under Slurm), that move is a copy straight into ``last.ckpt``, and a job killed during
the copy leaves a truncated (even empty) ``last.ckpt`` behind: the file a resume needs. Its load
also reads a path starting with ``http`` with ``torch.hub`` and, unless told otherwise, unpickles
it (``weights_only=False``), which runs whatever code the file holds.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from pdesurrogate.datasets.guarded_file import GuardedFile
from pdesurrogate.temp_files import clean_leftovers, named_error, open_temp_file

# a URL (http://, s3://, file://, ...): read by fsspec or torch.hub, not by this plugin
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(path: str | os.PathLike) -> bool:
    """Whether ``path`` names something by a URL scheme (``scheme://...``), not a local file."""
    return bool(_URL.match(os.fspath(path)))


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable. Some systems cannot open a folder for that (it is
    only the rename's durability across a power cut that is lost, not the file's content)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer and reader, with a checkpoint written whole or not at all
    and read without unpickling code.

    ``save_checkpoint`` writes ``torch.save(checkpoint)`` into a new file of a random name in
    the checkpoint's own folder, ``fsync``\\ s it, and renames it over the checkpoint
    (``os.replace``: atomic within one filesystem), so a kill at any moment leaves the previous
    checkpoint or the new one, never a part of one; nothing goes through ``$TMPDIR``. The
    temporary is named and created as every writer's (:mod:`pdesurrogate.datasets.temp_files`:
    ``.last.ckpt.<host>.<pid>.<random>.tmp``, exclusively, mode 0666 less the umask, and not
    ending in ``.ckpt``, which Lightning would take for a checkpoint); one a killed save left
    is removed, with a warning, by the next save of the same checkpoint on that host. A URL
    target (``s3://...``) is left to Lightning's fsspec writer.

    ``load_checkpoint`` reads local files only, always with ``torch.load(weights_only=True)``
    (tensors and plain data; no objects of other classes are built, so no code in the file
    runs). A URL, or ``weights_only=False``, is a ValueError.

    A save that fails (a full disk or quota, a file size limit) raises OSError naming the
    checkpoint (``[Errno 28] No space left on device: '.../last.ckpt'``); its temporary is
    removed and the checkpoint there before, if any, is left as it was.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike,
                        storage_options: Any | None = None) -> None:
        """Write ``checkpoint`` (the dict Lightning dumps) to ``path``, atomically.

        A URL ``path`` goes to Lightning's fsspec writer. Any ``storage_options`` raise
        Lightning's TypeError, as ``TorchCheckpointIO`` (which this extends) takes none."""
        if storage_options is not None or is_url(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        clean_leftovers(target)
        tmp, f = open_temp_file(target)
        try:
            with f:
                # through a GuardedFile: a full disk is its OSError, which torch's zip writer
                # would otherwise bury under "RuntimeError: unexpected pos" as it unwinds
                guarded = GuardedFile(f)
                torch.save(checkpoint, guarded)
                guarded.flush()
                if guarded.error is not None:
                    raise guarded.error
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException as e:
            tmp.unlink(missing_ok=True)
            if isinstance(e, OSError):
                named_error(e, target)  # the checkpoint's name, not the temporary's
            raise
        _fsync_folder(target.parent)

    def load_checkpoint(self, path: str | os.PathLike,
                        map_location: Callable | str | torch.device | None = (
                            lambda storage, loc: storage),
                        weights_only: bool | None = None) -> dict[str, Any]:
        """The dict the checkpoint file ``path`` holds, read weights-only.

        Raises FileNotFoundError if there is no file at ``path``; ValueError for a URL or for
        ``weights_only=False``."""
        if weights_only is False:
            raise ValueError(f"checkpoint {os.fspath(path)!r}: weights_only=False would unpickle "
                             "whatever the file holds (and run code in it); checkpoints are read "
                             "weights-only")
        if is_url(path):
            raise ValueError(f"checkpoint {os.fspath(path)!r}: a URL; checkpoints are read from "
                             "local files only (download it first, and read it as a file)")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Checkpoint file not found: {os.fspath(path)}")
        return torch.load(path, map_location=map_location, weights_only=True)


CLASS_PATH = f"{AtomicCheckpointIO.__module__}.{AtomicCheckpointIO.__qualname__}"
