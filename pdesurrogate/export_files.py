"""The files of an exported model folder, shared by every export layout (surrogates, PINNs).

Names and format version of ``config.json`` + ``model.safetensors``; the checked read of a
Lightning ``.ckpt`` (``torch.load(weights_only=True)``); the write of an export folder under a
temporary name, renamed when complete; the read of safetensors weights that refuses pickles; the
check of a device string. What each layout's ``config.json`` holds is its own module's business
(:mod:`pdesurrogate.export`, :mod:`pdesurrogate.pinn.export`).
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import stat
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
# first bytes of files torch.save / pickle write: a zip archive, or pickle protocol >= 2
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_MAGIC = (_ZIP_MAGIC, b"\x80")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def package_version() -> str:
    """The installed pdesurrogate's version ("unknown" when run from a bare source tree)."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("pdesurrogate")
    except PackageNotFoundError:
        return "unknown"


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
            ckpt = torch.load(p, weights_only=True, map_location="cpu", mmap=True)
    except Exception as e:  # any failure inside torch.load means "not a checkpoint"
        raise _not_a_checkpoint(p, _load_error_reason(e)) from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise _not_a_checkpoint(p, "no 'state_dict'")
    return ckpt


def write_export(out: Path, config: dict, tensors: dict[str, torch.Tensor], check) -> Path:
    """Write ``out/config.json`` and ``out/model.safetensors`` under a temporary name next to
    ``out``, call ``check(tmp_dir)`` (it raises on what ``load`` would refuse), then replace
    ``out`` by it; on any error nothing is left behind and an existing ``out`` is untouched.
    Shared by every export layout (surrogates, PINNs)."""
    # own contiguous copies: safetensors refuses views sharing memory
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        (tmp / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
        save_file(tensors, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
        # safetensors creates its file 0600; give it the mode the umask gave config.json, so a
        # model shared in a group directory is readable as a whole
        os.chmod(tmp / WEIGHTS_NAME, stat.S_IMODE((tmp / CONFIG_NAME).stat().st_mode))
        check(tmp)  # never write what load would refuse
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


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


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, on the CPU; one ValueError naming the file for a
    pickle (refused: it could run code) or anything else that is not safetensors."""
    # safetensors never runs code, so it is tried first; the pickle test only chooses the
    # message, as a safetensors file's first byte (its header length) may be 0x80 too
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        reason = e
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        head = b""
    if any(head.startswith(m) for m in _PICKLE_MAGIC):
        raise ValueError(f"{str(path)!r} is a pickle / torch.save file, not safetensors; "
                         "refusing to load it (pickles can run arbitrary code)")
    raise ValueError(f"{str(path)!r} is not a valid safetensors file: {reason}")


def check_tensors(model: nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    """One ValueError naming ``path`` unless ``tensors`` has exactly ``model``'s state-dict
    names, shapes and dtypes."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = [f"{k}: {tuple(tensors[k].shape)} (expected {tuple(v.shape)})"
             for k, v in expected.items() if k in tensors and tensors[k].shape != v.shape]
    wrong += [f"{k}: dtype {tensors[k].dtype} (expected {v.dtype})"
              for k, v in expected.items() if k in tensors and tensors[k].dtype != v.dtype]
    if missing or unexpected or wrong:
        raise ValueError(f"{str(path)!r} does not match the model in config.json: missing "
                         f"{missing[:10]}, unexpected {unexpected[:10]}, wrong {wrong[:10]}")
