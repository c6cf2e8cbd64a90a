"""``load``: an export folder (``config.json`` and ``model.safetensors``, written by
:mod:`pdesurrogate.export`) read back as a :class:`~pdesurrogate.surrogate.Surrogate` (a
steady map's as a :class:`~pdesurrogate.steady_surrogate.SteadySurrogate`, a PINN's as a
:class:`~pdesurrogate.pinn.PINNSurrogate`), checked before the model is built
(:mod:`pdesurrogate.export_checks`), never unpickling anything, and read again when another
export replaces the folder meanwhile.

Named ``loading``, not ``load``: importing a module ``pdesurrogate.load`` would bind it as the
package's attribute ``load`` and hide the function ``pdesurrogate.load``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from torch import nn

from pdesurrogate.export_checks import STEADY_KIND, _checked_model
from pdesurrogate.export_files import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    check_device,
    check_header,
    check_tensors,
    materialise,
    read_config,
    read_weights,
)
from pdesurrogate.models import build_model, check_models
from pdesurrogate.pinn.export import PINNSurrogate
from pdesurrogate.surrogate import Surrogate
from pdesurrogate.temp_files import BACKUP, leftover_pattern


def load(outdir: str | os.PathLike, device: str | torch.device = "cpu", *,
         models: dict[str, type[nn.Module]] | None = None) -> Surrogate | PINNSurrogate:
    """Load an exported surrogate directory; see :class:`Surrogate`. A PINN export
    (``"kind": "pinn"``) loads as :class:`pdesurrogate.pinn.PINNSurrogate` (u at points).

    An export of a model of your own code (config.json's ``model.class`` a qualified name such
    as ``"mynet.MyNet"``) needs its class: ``models={"mynet.MyNet": MyNet}``. Names in
    ``config.json`` are only looked up there and in ``MODELS``, never imported.

    ``config.json`` is read only if it is a regular file of at most
    :data:`~pdesurrogate.export_files.CONFIG_MAX_BYTES`. Its model is built on the meta device
    first and checked against the names, shapes and dtypes in ``model.safetensors``' header;
    only a model that matches them is built in memory and given the weights, so a config that
    names a huge model does not allocate it.

    Raises:
        FileNotFoundError: the directory or one of its two files is missing.
        ValueError (naming the file): config.json not a regular file, too large or invalid
            JSON, missing or unknown config keys, a model not in ``MODELS`` nor handed in
            ``models``, bad constructor arguments, a grid, channel_names,
            param_names or normalization that contradict each other or the model, a weights
            file that is a pickle or not safetensors, missing/unexpected tensors or wrong
            shapes or dtypes, a model too large to build; a ``device`` this torch cannot use
            (e.g. ``"cuda"`` on a CPU-only build); a ``models`` that is not a dict of names
            to nn.Module subclasses.
    """
    device = check_device(device)
    models = check_models(models)
    d = Path(outdir)
    # an export replaced while it is read (another process exporting into it with --overwrite
    # renames a whole new folder in): read again, so that config.json and model.safetensors
    # always come from one export, never the config of one with the weights of the other
    for attempt in range(_READ_ATTEMPTS):
        before = _folder_id(d)
        if before is None and _being_replaced(d):
            time.sleep(0.02 * (attempt + 1))  # between its two renames: the new one comes next
            continue
        try:
            surrogate = _load_once(d, device, models)
        except (OSError, ValueError, RuntimeError):
            if before is None or _folder_id(d) == before:
                raise
            continue
        if _folder_id(d) == before:
            return surrogate
    if _folder_id(d) is None:
        return _load_once(d, device, models)  # its error names what is missing
    raise RuntimeError(f"{str(d)!r} was replaced {_READ_ATTEMPTS} times while it was read "
                       "(another process exporting into it?); load it when that is done")


# reads of an export folder that another export keeps replacing, before load gives up
_READ_ATTEMPTS = 8


def _being_replaced(d: Path) -> bool:
    """Whether an export's backup of ``d`` lies beside it: another export has renamed the old
    folder aside and is about to rename the new one in (or was killed between the two)."""
    pattern = leftover_pattern(d)
    try:
        names = os.listdir(d.parent)
    except OSError:
        return False
    return any((m := pattern.fullmatch(n)) and m.group(3) == BACKUP for n in names)


def _folder_id(d: Path) -> tuple[int, int] | None:
    """The identity of the folder at ``d`` now (an export renamed in is a new folder)."""
    try:
        st = os.stat(d)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _load_once(d: Path, device: torch.device, models: dict | None) -> Surrogate | PINNSurrogate:
    cfg_path, w_path = d / CONFIG_NAME, d / WEIGHTS_NAME
    for p in (d, cfg_path, w_path):
        if not p.exists():
            raise FileNotFoundError(f"{str(p)!r} does not exist (an exported surrogate is a "
                                    f"directory holding {CONFIG_NAME} and {WEIGHTS_NAME})")
    cfg = read_config(cfg_path)
    if isinstance(cfg, dict) and cfg.get("kind") == "pinn":
        from pdesurrogate.pinn.export import load_pinn  # a PINN: u(x) at points

        return load_pinn(d, cfg, device)
    check_header(_checked_model(cfg, cfg_path, models), w_path)
    model = materialise(lambda: build_model(cfg["model"], "model", models), cfg_path)
    tensors = read_weights(w_path)
    check_tensors(model, tensors, w_path)
    model.load_state_dict(tensors, strict=True)
    if cfg.get("kind") == STEADY_KIND:
        from pdesurrogate.steady_surrogate import SteadySurrogate  # subclasses Surrogate

        return SteadySurrogate(model, cfg).to(device)
    return Surrogate(model, cfg).to(device)
