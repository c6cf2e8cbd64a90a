"""The files of an exported model folder, shared by every export layout (surrogates, PINNs).

Names and format version of ``config.json`` + ``model.safetensors``; the checked read of a
Lightning ``.ckpt`` (``torch.load(weights_only=True)``); the write of an export folder under a
temporary name, renamed when complete, with the weights' safetensors metadata naming the model
(:func:`weights_metadata`, for users without pdesurrogate), and what ``--overwrite`` may
replace (only an export folder); the bounded read of ``config.json``; the read of safetensors
weights (their header alone, or the tensors) that refuses pickles; the build of a checked model
in memory; the check of a device string. What each layout's ``config.json`` holds is its own
module's business (:mod:`pdesurrogate.export`, :mod:`pdesurrogate.pinn.export`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pickle
import re
import stat
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from pdesurrogate.export_names import CONFIG_NAME, WEIGHTS_NAME
from pdesurrogate.temp_files import (
    ATTEMPTS,
    backup_name,
    clean_leftovers,
    named_error,
    remove_flat,
    temp_dir,
    umask_mode,
)
from pdesurrogate.text_locale import has_escaped_bytes

FORMAT_VERSION = 1
# everything an export folder holds (the normalisation is in config.json)
EXPORT_FILES = (CONFIG_NAME, WEIGHTS_NAME)
# an export's config.json is a few KiB (the largest: per-channel statistics and provenance)
CONFIG_MAX_BYTES = 4 * 2**20
# first bytes of files torch.save / pickle write: a zip archive, or pickle protocol >= 2
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_MAGIC = (_ZIP_MAGIC, b"\x80")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
# a zip archive's last record (zip64 archives too), 22 bytes and a comment of at most 65535
_ZIP_END_MAGIC = b"PK\x05\x06"
_ZIP_END_SPAN = 22 + 65535


def package_version() -> str:
    """The installed pdesurrogate's version ("unknown" when run from a bare source tree)."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("pdesurrogate")
    except PackageNotFoundError:
        return "unknown"


#: the libraries whose versions an export records (config.json's ``versions``) beside
#: pdesurrogate's own: their distribution names
LIBRARIES = ("torch", "lightning", "neuraloperator")


def library_versions() -> dict[str, str | None]:
    """config.json's ``versions``: ``{name: version}`` of each of :data:`LIBRARIES` installed
    where the export is written (None: not installed); torch's as ``torch.__version__``."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = str(torch.__version__) if name == "torch" else version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def check_versions(versions, where: str) -> None:
    """config.json's ``versions``: null, or an object of library names to version strings
    (or null); one ValueError naming ``where`` otherwise. Only recorded: ``load`` never
    compares them with what it runs on."""
    if versions is None:
        return
    if not isinstance(versions, dict) or not all(
            isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in versions.items()):
        raise ValueError(f"{where!r}: versions must be null or an object of library names to "
                         f"version strings (or null), got {versions!r}")


def _not_a_checkpoint(path: Path, reason: str) -> ValueError:
    return ValueError(f"{str(path)!r}: not a Lightning checkpoint ({reason})")


def _load_error_reason(e: BaseException) -> str:
    """A short reason for a failed ``torch.load(weights_only=True)``: torch's messages run to
    several paragraphs and advise ``weights_only=False``, which this module never does."""
    msg = str(e)
    if isinstance(e, pickle.UnpicklingError):
        m = re.search(r"Unsupported global: GLOBAL ([\w.]+)", msg)
        what = f"{m.group(1)} objects" if m else "objects other than tensors and plain data"
        return f"it holds {what}, which a weights-only load refuses"
    first = msg.strip().split("\n")[0].split(". ")[0].strip()
    if not first or "weights_only" in first:
        first = type(e).__name__
    return first if len(first) <= 160 else first[:157] + "..."


def _looks_like_text(head: bytes) -> bool:
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:  # the 512 bytes read may end inside a character
        return e.start >= len(head) - 3
    return True


def _has_zip_end(path: Path) -> bool:
    """Whether the last bytes of ``path`` hold a zip end-of-central-directory record, which a
    complete archive ends with (followed by a comment of at most 65535 bytes)."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - _ZIP_END_SPAN))
            return _ZIP_END_MAGIC in f.read()
    except OSError:
        return True  # unreadable now: torch's own reason stands


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The dict a Lightning ``.ckpt`` holds, read with ``torch.load(weights_only=True)``.

    Raises FileNotFoundError if ``path`` does not exist, else one ValueError
    ``'<path>': not a Lightning checkpoint (<reason>)`` for a directory, an empty file, a file
    that is not a torch.save zip archive (text, HDF5/netCDF, a plain pickle, ...), one whose
    objects a weights-only load refuses, or a dict without ``state_dict``.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"checkpoint {str(p)!r} does not exist")
    if p.is_dir():
        raise _not_a_checkpoint(p, "it is a directory; give the .ckpt file, e.g. "
                                   ".../checkpoints/last.ckpt")
    try:
        with open(p, "rb") as f:
            head = f.read(512)
    except OSError as e:
        raise _not_a_checkpoint(p, f"cannot read it: {e.strerror or e}") from None
    if not head:
        raise _not_a_checkpoint(p, "the file is empty")
    if not head.startswith(_ZIP_MAGIC):
        # torch.save (and so Lightning) writes zip archives; name what the file looks like
        if head.startswith(_HDF5_MAGIC):
            kind = "it is an HDF5/netCDF file"
        elif head.startswith(b"\x80"):
            kind = "it is a plain pickle, not a torch.save archive"
        elif _looks_like_text(head):
            kind = "it is a text file"
        else:
            kind = f"it is not a torch.save zip archive (it starts with {head[:8]!r})"
        raise _not_a_checkpoint(p, kind)
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols: not the point here
            warnings.simplefilter("ignore")
            if not has_escaped_bytes(str(p)):
                ckpt = torch.load(p, weights_only=True, map_location="cpu", mmap=True)
            else:  # torch maps a file by its name as UTF-8, which such a name is not
                with open(p, "rb") as f:
                    ckpt = torch.load(f, weights_only=True, map_location="cpu")
    except Exception as e:  # any failure inside torch.load means "not a checkpoint"
        # torch's reason for a cut-short archive was "[Errno 22] Invalid argument" (mmap)
        reason = (_load_error_reason(e) if _has_zip_end(p) else
                  "its zip archive has no end record: the file is cut short (an interrupted "
                  "copy or write; copy it again or use another checkpoint) or is no archive")
        raise _not_a_checkpoint(p, reason) from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise _not_a_checkpoint(p, "no 'state_dict'")
    return ckpt


def check_target(out: Path, overwrite: bool, source: str | os.PathLike | None = None) -> None:
    """Before an export is written to ``out``: restore or remove what killed exports left
    beside it (:func:`pdesurrogate.datasets.temp_files.clean_leftovers`, with a warning), then
    refuse an existing ``out`` (FileExistsError) unless ``overwrite``, and with it anything but
    an export folder (:func:`_not_an_export`)."""
    clean_leftovers(out)
    if not os.path.lexists(out):
        return
    if not overwrite:
        raise FileExistsError(f"{str(out)!r} exists; pass --overwrite (overwrite=True) to "
                              "replace it")
    _refuse_unless_export(out, source)


def _not_an_export(folder: Path, source: str | os.PathLike | None) -> str | None:
    """Why ``overwrite`` must not replace ``folder``, or None for an export folder: one holding
    nothing but :data:`EXPORT_FILES` as plain files (or nothing), that is neither the current
    folder nor one above it, nor holds ``source`` (the checkpoint being exported)."""
    if os.path.islink(folder):
        return "it is a symbolic link, not an export folder"
    if not folder.is_dir():
        return "it is a file, not an export folder"
    real, cwd = folder.resolve(), Path.cwd().resolve()
    if real == cwd or real in cwd.parents:
        return "it is the current folder" if real == cwd else \
            f"it holds the current folder {str(cwd)!r}"
    if source is not None and real in Path(source).resolve().parents:
        return f"it holds the checkpoint being exported, {str(source)!r}"
    with os.scandir(folder) as entries:
        others = sorted(e.name for e in entries
                        if e.name not in EXPORT_FILES or not e.is_file(follow_symlinks=False))
    if others:
        shown = ", ".join(repr(n) for n in others[:5]) + (", ..." if len(others) > 5 else "")
        return f"it holds {shown}, not only an export's files"
    return None


def _refuse_unless_export(out: Path, source, shown: Path | None = None) -> None:
    why = _not_an_export(out, source)
    if why is not None:
        raise FileExistsError(
            f"{str(shown or out)!r} exists and is not replaced: {why}. --overwrite "
            f"(overwrite=True) replaces only an export folder, holding nothing but "
            f"{' and '.join(EXPORT_FILES)}; give another output folder")


def weights_metadata(config: dict) -> dict[str, str]:
    """The string metadata of ``model.safetensors``, so that ``safe_open(...).metadata()``
    says what the weights are without pdesurrogate: ``format`` ``"pt"`` (torch tensors),
    ``pdesurrogate_version``, ``format_version``, ``kind`` (a PINN), ``model_class``,
    ``model_init_args`` (JSON), ``pde``, ``config`` (where the rest is). Taken from the
    export's ``config.json`` content ``config``; what it lacks is left out. ``load`` reads
    ``config.json``, never these."""
    model = config.get("model")
    model = model if isinstance(model, dict) else {}
    meta = {"format": "pt", "config": f"{CONFIG_NAME} beside this file: the model's "
            "constructor arguments, grid, channels, parameters, normalisation and provenance; "
            "load it with pdesurrogate.load(<folder>)"}
    for key, value in (("pdesurrogate_version", config.get("pdesurrogate_version")),
                       ("format_version", config.get("format_version")),
                       ("kind", config.get("kind")), ("model_class", model.get("class")),
                       ("pde", config.get("pde"))):
        if value is not None:
            meta[key] = str(value)
    if "init_args" in model:
        meta["model_init_args"] = json.dumps(model["init_args"], sort_keys=True, default=str)
    return meta


def write_export(out: Path, config: dict, tensors: dict[str, torch.Tensor], check,
                 source: str | os.PathLike | None = None, *, overwrite: bool) -> Path:
    """Write ``out/config.json`` and ``out/model.safetensors`` into a new temporary folder next
    to ``out`` (:func:`pdesurrogate.temp_files.temp_dir`), call ``check(tmp_dir)`` (it raises
    on what ``load`` would refuse), then put it in place. An existing ``out`` (which
    :func:`check_target` allowed) is renamed aside, the new folder renamed in, and the old one
    removed: a kill between the two renames leaves the old export under a backup name, which
    the next export to ``out`` restores. On any error nothing is left behind and an existing
    ``out`` is untouched. ``source``: the checkpoint exported, which ``out`` may not hold.
    ``overwrite``: as :func:`check_target` was given it; without it an ``out`` that another
    export (or anyone) made while this one was written is a FileExistsError, never replaced.
    Shared by every export layout (surrogates, PINNs)."""
    # own contiguous copies: safetensors refuses views sharing memory
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    _check_finite(tensors, source)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir(out)
    try:
        _write_files(tmp, out, config, tensors)
        check(tmp)  # never write what load would refuse
        os.chmod(tmp, umask_mode(0o777))  # as a plain mkdir makes it
        _put_in_place(tmp, out, source, overwrite)
    except BaseException:
        with contextlib.suppress(OSError):
            remove_flat(tmp)
        raise
    return out


def _check_finite(tensors: dict[str, torch.Tensor], source: str | os.PathLike | None) -> None:
    """One ValueError naming ``source`` (a checkpoint; None: a module in memory) and the tensors
    that hold NaN or inf. A fit that diverged (a learning rate far too large) outside
    ``pdesurrogate fit``, whose FiniteWeights callback stops it, trains on and checkpoints NaN
    weights; exported, they gave a surrogate that predicts NaN, found only when used."""
    bad = [k for k, v in tensors.items()
           if (v.is_floating_point() or v.is_complex()) and not bool(torch.isfinite(v).all())]
    if bad:
        what = repr(str(source)) if source is not None else "the module"
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise ValueError(f"{what}: its weights are not finite (NaN or inf in "
                         f"{', '.join(bad[:5])}{more}): the fit diverged (a learning rate too "
                         "large?); export a checkpoint of that run from before it diverged, "
                         "or fit again")


def _write_files(tmp: Path, out: Path, config: dict, tensors: dict[str, torch.Tensor]) -> None:
    """Write config.json and model.safetensors into the folder ``tmp`` and sync them to disk.
    A failed write (a full disk or quota, a file size limit) is an OSError naming the file
    under ``out``: safetensors' own SafetensorError ("I/O error: No space left on device (os
    error 28)") was a traceback, naming no file. The sync makes a network file system report
    a quota exceeded before the folder is renamed in, not at a close nobody checks."""
    for name, write in (
            (CONFIG_NAME, lambda path: path.write_text(json.dumps(config, indent=2) + "\n")),
            (WEIGHTS_NAME, lambda path: _save_weights(tensors, path, config))):
        try:
            write(tmp / name)
            fd = os.open(tmp / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            named_error(e, out / name)
            raise
    # safetensors creates its file 0600; give it the mode the umask gave config.json, so a
    # model shared in a group directory is readable as a whole
    os.chmod(tmp / WEIGHTS_NAME, stat.S_IMODE((tmp / CONFIG_NAME).stat().st_mode))


def _save_weights(tensors: dict[str, torch.Tensor], path: Path, config: dict) -> None:
    """safetensors' ``save_file``, with its I/O errors as OSError (errno from its message)."""
    try:
        save_file(tensors, str(path), metadata=weights_metadata(config))
    except SafetensorError as e:
        code = re.search(r"\(os error (\d+)\)", str(e))
        if code is None:
            raise
        raise OSError(int(code[1]), str(e), str(path)) from None


def _put_in_place(tmp: Path, out: Path, source, overwrite: bool) -> None:
    # a few rounds: exports to one ``out`` at the same time (--overwrite) move each other's
    # folders in and out between this one's steps; the last one renamed in stays
    for _ in range(ATTEMPTS):
        if not os.path.lexists(out):
            try:
                # rename, not replace: an export another process put in meanwhile (a folder
                # with files) makes it fail rather than vanish
                os.rename(tmp, out)
                return
            except OSError as e:
                if e.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                    raise
        if not overwrite:
            raise FileExistsError(f"{str(out)!r} was created by someone else (another "
                                  "export?) while this export was written, and is left alone; "
                                  "pass --overwrite (overwrite=True) to replace it")
        if _replace(tmp, out, source):
            return
    raise FileExistsError(f"{str(out)!r}: other exports kept replacing it while this one was "
                          f"put in place ({ATTEMPTS} tries); the new export was not put there")


def _replace(tmp: Path, out: Path, source) -> bool:
    """Rename the export ``out`` aside, ``tmp`` in, and remove the old one; False if another
    export moved ``out`` away or put its own in between these steps (nothing changed then but
    that an old export superseded by the other one is removed)."""
    try:
        _refuse_unless_export(out, source)  # again: it may have changed meanwhile
    except FileExistsError:
        if not os.path.lexists(out):
            return False  # renamed aside by another export just now: not "a file"
        raise
    backup = backup_name(out)
    try:
        os.rename(out, backup)
    except FileNotFoundError:
        return False
    try:
        _refuse_unless_export(backup, source, shown=out)  # what was renamed is what was checked
        os.replace(tmp, out)
    except OSError as e:
        if not os.path.lexists(out):
            os.rename(backup, out)
            raise
        if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
        _remove_export(backup, out)  # another export is in: this old one is superseded
        return False
    except BaseException:
        if not os.path.lexists(out):
            os.rename(backup, out)
        raise
    _remove_export(backup, out)
    return True


def _remove_export(backup: Path, out: Path) -> None:
    for name in EXPORT_FILES:  # only the export's own files: never a tree
        with contextlib.suppress(FileNotFoundError):
            os.unlink(backup / name)
    try:
        os.rmdir(backup)
    except OSError:
        warnings.warn(f"the export replaced in {str(out)!r} left {str(backup)!r}: something "
                      "was added to it meanwhile; it was not removed", stacklevel=4)


def materialise(build, cfg_path: Path) -> nn.Module:
    """``build()``, a model whose shapes were checked on the meta device, built in memory; its
    RuntimeError or MemoryError (sizes this machine cannot hold) as a ValueError naming
    ``cfg_path``."""
    try:
        return build()
    except (RuntimeError, MemoryError) as e:
        first = str(e).strip().split("\n")[0] or type(e).__name__
        raise ValueError(f"{str(cfg_path)!r}: the model it describes cannot be built on this "
                         f"machine ({first[:200]})") from None


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a torch.device; a ValueError (not torch's assertion deep inside ``.to``)
    if it names an accelerator this torch build or machine does not have."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"device {device!r} is not a torch device ({e})") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = ("in this torch build (CPU only)" if torch.version.cuda is None
                   else "(no CUDA GPU is visible)")
            raise ValueError(f"device {str(device)!r}: CUDA is not available {why}; use "
                             "device 'cpu'")
        n = torch.cuda.device_count()
        if dev.index is not None and dev.index >= n:
            raise ValueError(f"device {str(device)!r}: there are only {n} CUDA device(s) "
                             f"(cuda:0 .. cuda:{n - 1})")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {str(device)!r}: MPS is not available in this torch build "
                         "or on this machine; use device 'cpu'")
    return dev


def read_config(path: Path):
    """The parsed JSON of an export's ``config.json``; one ValueError naming it for anything
    but a regular file (a FIFO or a device such as /dev/zero is never read from: a FIFO would
    block, a device never end) of at most :data:`CONFIG_MAX_BYTES` holding UTF-8 JSON, nested
    no deeper than Python's parser goes. FileNotFoundError if it is missing."""
    try:
        # O_NONBLOCK: opening a FIFO without a writer returns at once instead of waiting
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except OSError as e:
        raise ValueError(f"{str(path)!r}: cannot read it: {e.strerror or e}") from None
    # checked before fdopen, which refuses a folder's descriptor with an error naming no file
    try:
        _require_regular(os.fstat(fd), path, "the export's JSON config")
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as f:
        data = f.read(CONFIG_MAX_BYTES + 1)
    if len(data) > CONFIG_MAX_BYTES:
        raise ValueError(f"{str(path)!r} is larger than {CONFIG_MAX_BYTES // 2**20} MiB; an "
                         "export's config.json holds a few KiB")
    try:
        return json.loads(data.decode("utf-8"))
    except RecursionError:
        raise ValueError(f"{str(path)!r} is not valid JSON: nested too deeply to parse (an "
                         "export's config.json is a few levels deep)") from None
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{str(path)!r} is not valid JSON: {e}") from None


def check_config_keys(cfg, where: str, required, optional, kind: str = "expected") -> None:
    """One ValueError naming ``where`` unless ``cfg`` (a parsed ``config.json``) is a JSON
    object with every key of ``required``, no key outside ``required`` and ``optional``, and
    this package's :data:`FORMAT_VERSION`. ``kind`` opens the list of keys in the message
    ("expected", "a PINN export has")."""
    if not isinstance(cfg, dict):
        raise ValueError(f"{where!r}: expected a JSON object, got {type(cfg).__name__}")
    unknown = sorted(set(cfg) - set(required) - set(optional))
    missing = [k for k in required if k not in cfg]
    if unknown or missing:
        raise ValueError(f"{where!r}: unknown key(s) {unknown}, missing key(s) {missing}; "
                         f"{kind} exactly {list(required)} (and optionally {list(optional)})")
    if cfg["format_version"] != FORMAT_VERSION:
        raise ValueError(f"{where!r}: format_version {cfg['format_version']!r} is not supported "
                         f"(this pdesurrogate reads {FORMAT_VERSION})")


def _require_regular(st: os.stat_result, path: Path, expected: str) -> None:
    if not stat.S_ISREG(st.st_mode):
        kind = ("a folder" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a file")
        raise ValueError(f"{str(path)!r} is not a regular file ({kind}); expected {expected}")


def _not_safetensors(path: Path, reason) -> ValueError:
    # the pickle test only chooses the message, as a safetensors file's first byte (its header
    # length) may be 0x80 too
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        head = b""
    if any(head.startswith(m) for m in _PICKLE_MAGIC):
        return ValueError(f"{str(path)!r} is a pickle / torch.save file, not safetensors; "
                          "refusing to load it (pickles can run arbitrary code)")
    return ValueError(f"{str(path)!r} is not a valid safetensors file: {reason}")


def _regular_weights(path: Path) -> None:
    try:
        st = os.stat(path)
    except OSError as e:
        raise ValueError(f"{str(path)!r}: cannot read it: {e.strerror or e}") from None
    _require_regular(st, path, "the model's safetensors weights")


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, on the CPU; one ValueError naming the file for a
    pickle (refused: it could run code), anything but a regular file, or anything else that is
    not safetensors."""
    _regular_weights(path)
    # safetensors never runs code, so it is tried first
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise _not_safetensors(path, e) from None


# safetensors' dtype codes, as torch dtypes; those of dtypes this torch lacks (float8 and
# uint16..64 came in later versions) are left out, and a file using one is refused by name
_DTYPES = {code: dtype for code, dtype in (
    ("F64", torch.float64), ("F32", torch.float32), ("F16", torch.float16),
    ("BF16", torch.bfloat16), ("I64", torch.int64), ("I32", torch.int32), ("I16", torch.int16),
    ("I8", torch.int8), ("U64", getattr(torch, "uint64", None)),
    ("U32", getattr(torch, "uint32", None)), ("U16", getattr(torch, "uint16", None)),
    ("U8", torch.uint8), ("BOOL", torch.bool), ("C64", torch.complex64),
    ("F8_E4M3", getattr(torch, "float8_e4m3fn", None)),
    ("F8_E4M3FNUZ", getattr(torch, "float8_e4m3fnuz", None)),
    ("F8_E5M2", getattr(torch, "float8_e5m2", None)),
    ("F8_E5M2FNUZ", getattr(torch, "float8_e5m2fnuz", None)),
    ("F8_E8M0", getattr(torch, "float8_e8m0fnu", None)),
) if dtype is not None}


def read_header(path: Path) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """``{name: (shape, dtype)}`` of a safetensors file's tensors, from its header alone (no
    tensor data is read); the same ValueErrors as :func:`read_weights`, and one naming the
    tensor and code for a dtype this torch does not have."""
    _regular_weights(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            out = {}
            for name in f.keys():
                part = f.get_slice(name)
                code = part.get_dtype()
                if code not in _DTYPES:
                    unknown = (name, code)
                    break
                out[name] = (tuple(part.get_shape()), _DTYPES[code])
            else:
                return out
    except (SafetensorError, OSError, ValueError) as e:
        raise _not_safetensors(path, e) from None
    raise ValueError(f"{str(path)!r}: tensor {unknown[0]!r} has safetensors dtype "
                     f"{unknown[1]!r}, which torch {torch.__version__} has no dtype for; "
                     f"expected one of {', '.join(sorted(_DTYPES))}")


def check_header(model: nn.Module, path: Path) -> None:
    """:func:`check_tensors` on the header of the safetensors file ``path`` alone, before any
    weights are read or a model is built in memory (``model`` may be on the meta device)."""
    _check_specs(model, read_header(path), path)


def check_tensors(model: nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    """One ValueError naming ``path`` unless ``tensors`` has exactly ``model``'s state-dict
    names, shapes and dtypes."""
    _check_specs(model, {k: (tuple(v.shape), v.dtype) for k, v in tensors.items()}, path)


def _check_specs(model: nn.Module, got: dict, path: Path) -> None:
    expected = {k: (tuple(v.shape), v.dtype) for k, v in model.state_dict().items()}
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    wrong = [f"{k}: {got[k][0]} (expected {v[0]})"
             for k, v in expected.items() if k in got and got[k][0] != v[0]]
    wrong += [f"{k}: dtype {got[k][1]} (expected {v[1]})"
              for k, v in expected.items() if k in got and got[k][1] != v[1]]
    if missing or unexpected or wrong:
        raise ValueError(f"{str(path)!r} does not match the model in config.json: missing "
                         f"{missing[:10]}, unexpected {unexpected[:10]}, wrong {wrong[:10]}")
