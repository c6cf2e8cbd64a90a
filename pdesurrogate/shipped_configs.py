"""The YAML configs that ship with the package, for ``pdesurrogate configs``.

The repository's ``configs/{data,fit,online}/*.yaml`` install as package data of the namespace
package ``pdesurrogate.configs`` (``configs/`` holds no Python), so a user who installed a wheel
has them too: list them, find one's path, or copy them into a folder (as ``DIR/configs/...``,
the paths the help texts and the README use).
"""

from __future__ import annotations

import importlib
import importlib.resources
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pdesurrogate.temp_files import atomic_write, clean_leftovers

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

PACKAGE = "pdesurrogate.configs"
KINDS = ("data", "fit", "online")


@dataclass(frozen=True)
class ShippedConfig:
    """One shipped config: ``kind`` (data, fit, online), ``name`` (the file's stem), the
    file, and a one-line ``description`` from the comment that opens it."""

    kind: str
    name: str
    file: Traversable
    description: str

    @property
    def key(self) -> str:
        """``kind/name``, e.g. ``fit/fno_burgers``."""
        return f"{self.kind}/{self.name}"


class ConfigsMissingError(FileNotFoundError):
    """The shipped configs are not where this copy of pdesurrogate should have them."""


def _missing(what: str) -> ConfigsMissingError:
    import pdesurrogate

    here = Path(pdesurrogate.__file__).resolve().parent
    return ConfigsMissingError(
        f"the shipped configs are missing ({what}): this pdesurrogate ({here}) should hold "
        f"them as the package {PACKAGE}, the YAML files of the repository's configs/ folder "
        "installed as package data. Reinstall it (pip install --force-reinstall "
        "pdesurrogate); in a checkout of the repository, restore its configs/ folder beside "
        f"pdesurrogate/ ({here.parent / 'configs'})")


def configs_root() -> Traversable:
    """The folder holding ``data/``, ``fit/``, ``online/``: the installed package data, or in a
    source checkout the ``configs/`` folder beside the ``pdesurrogate/`` package (which an
    editable install's finder maps to ``pdesurrogate.configs``, and ``pdesurrogate``'s
    ``__path__`` does without any install).

    Raises :class:`ConfigsMissingError` (a FileNotFoundError) naming the missing package and
    how to get it back when there is none (an install without its package data, a checkout
    without ``configs/``), not a bare ModuleNotFoundError."""
    try:
        return importlib.resources.files(PACKAGE)
    except ModuleNotFoundError as err:
        if err.name != PACKAGE:
            raise  # something else failed to import: not ours to explain
        raise _missing(f"no package {PACKAGE}") from None


def description(text: str) -> str:
    """The first line of the comment that opens a YAML file, cut to its first sentence (or,
    where the sentence runs on to the next line, before its last ``:`` or ``;``); ``""``
    without a comment."""
    comments = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        comments.append(line.lstrip("#").strip())
    if not comments:
        return ""
    first = comments[0]
    if ". " in first:
        return first[:first.index(". ") + 1]
    runs_on = len(comments) > 1 and bool(comments[1]) and not first.endswith((".", ")"))
    cut = max(first.rfind(": "), first.rfind("; "))
    return first[:cut] if runs_on and cut > 0 else first


def shipped_configs() -> list[ShippedConfig]:
    """Every shipped config, by kind (data, fit, online), then name; a
    :class:`ConfigsMissingError` when there are none (see :func:`configs_root`)."""
    root = configs_root()
    found = []
    for kind in KINDS:
        folder = root / kind
        if not folder.is_dir():
            continue
        for file in sorted(folder.iterdir(), key=lambda f: f.name):
            if file.is_file() and file.name.endswith(".yaml"):
                found.append(ShippedConfig(kind, file.name.removesuffix(".yaml"), file,
                                           description(file.read_text(encoding="utf-8"))))
    if not found:
        # a namespace package's root prints as MultiplexedPath(...): name its folders
        folders = ", ".join(map(str, getattr(importlib.import_module(PACKAGE), "__path__", [])))
        raise _missing(f"{PACKAGE} ({folders or root}) holds no {{{','.join(KINDS)}}}/*.yaml")
    return found


def find_config(key: str) -> ShippedConfig:
    """The shipped config ``key``: ``kind/name``, with or without ``.yaml`` and a leading
    ``configs/`` (``fit/fno_burgers``, ``configs/fit/fno_burgers.yaml``)."""
    want = key.strip().removeprefix("./").removeprefix("configs/").removesuffix(".yaml")
    configs = shipped_configs()
    for cfg in configs:
        if cfg.key == want:
            return cfg
    raise ValueError(f"no shipped config {key!r}; expected kind/name, one of: "
                     + ", ".join(c.key for c in configs))


def copy_configs(dest: str | os.PathLike, overwrite: bool = False) -> list[Path]:
    """Write every shipped config as ``dest/configs/KIND/NAME.yaml``; return the paths written
    (not those already holding the shipped file).

    Refuses, before writing anything, when one of them exists with other content than the
    shipped file's (unless ``overwrite``), so a user's edited copy is never replaced by
    surprise; a file identical to the shipped one is no conflict and is left as it is, so a
    copy that was interrupted completes when run again. Each file is written under a temporary
    name (random, created exclusively: :mod:`pdesurrogate.temp_files`) and renamed, so none is
    ever left half-written; temporaries a killed copy left are removed (with a warning)."""
    configs = shipped_configs()
    base = Path(dest) / "configs"
    targets = [base / c.kind / f"{c.name}.yaml" for c in configs]
    contents = [c.file.read_bytes() for c in configs]
    for target, data in zip(targets, contents, strict=True):
        if target.is_dir() or (target.exists() and not overwrite
                               and not _holds(target, data)):
            what = "a folder" if target.is_dir() else "a file with other content"
            raise FileExistsError(
                f"{str(target)!r} exists ({what}); nothing was written"
                + ("" if target.is_dir() else ": pass --overwrite to replace the shipped "
                   "configs there (your edits to them are lost)"))
    written = []
    for target, data in zip(targets, contents, strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        clean_leftovers(target)
        if _holds(target, data):
            continue  # already the shipped file (an earlier copy got this far)
        written.append(target)
        # an error (a full disk) names the file, not its temporary, or nothing
        atomic_write(target, lambda f, data=data: f.write(data))
    return written


def _holds(path: Path, data: bytes) -> bool:
    """Whether ``path`` is a regular file (a link is not) holding exactly ``data``."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_size != len(data):
        return False
    return path.read_bytes() == data


def installed_path(key: str) -> Path:
    """The file of the shipped config ``key`` (see :func:`find_config`) on disk."""
    file = find_config(key).file
    if not isinstance(file, Path):  # pip installs on disk; a zipped package has no path
        raise FileNotFoundError(f"the shipped config {key!r} is not a file on disk ({file}): "
                                "copy it out with pdesurrogate configs --copy DIR")
    return file
