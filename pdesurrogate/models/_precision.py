"""Leave reduced precision for computations that need float32.

``autocast_off``: Lightning's ``bf16-mixed`` / ``16-mixed`` run a training or evaluation step
under ``torch.autocast``; the parts of a model whose results are lost in bfloat16/float16 (FFTs,
denoising at noise far below their resolution, second derivatives) turn it off with this.

``full_float32``: autocast off and TensorFloat-32 off too. On Ampere and later GPUs float32
convolutions run in TF32 by default (cuDNN), and matrix products do after
``torch.set_float32_matmul_precision("high")`` (which Lightning suggests at start-up): TF32
rounds the inputs to a 10-bit mantissa (relative resolution about 5e-4), which erases the same
small signals as bfloat16 does, only less completely.

``check_precision``: Lightning's ``*-true`` precisions cast a whole model to one dtype; a model
that cannot run in it (complex Fourier weights, noise below the dtype's resolution) is
refused by name before training starts, not with a dtype error from deep inside a layer.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import torch
from torch import nn


def autocast_off(device: torch.device) -> contextlib.AbstractContextManager:
    """A context in which autocast is off for ``device``'s type (tensors keep their dtype);
    a no-op where this torch has no autocast for that device type (e.g. MPS before torch
    2.5), where nothing can have turned it on."""
    try:
        return torch.autocast(device.type, enabled=False)
    except RuntimeError:
        return contextlib.nullcontext()


@contextlib.contextmanager
def full_float32(device: torch.device) -> Iterator[None]:
    """A context in which float32 computations are float32 throughout: autocast off for
    ``device``'s type (:func:`autocast_off`), and TF32 off for cuDNN convolutions and CUDA
    matrix products. The previous settings are restored on exit, also on an error.

    The TF32 settings are global (every device, every thread), as torch keeps them: while any
    thread is inside, TF32 is off for all of them, and the settings found by the first thread
    in are restored when the last one leaves (threads sharing one model, as a server's do).
    """
    with autocast_off(device), _tf32_off():
        yield


# threads inside full_float32 now, and the TF32 settings found by the first of them to enter
_TF32_LOCK = threading.Lock()
_tf32_users = 0
_tf32_saved: tuple | None = None


@contextlib.contextmanager
def _tf32_off() -> Iterator[None]:
    # The settings are global, so each thread saving and restoring them itself raced: with two
    # threads inside (a server's threads sharing one loaded PDE-Refiner), the first to leave put
    # TF32 back on under the other's refinement, and the last left the first one's "off" for
    # good. The first thread in saves them and turns TF32 off, the last one out restores them.
    global _tf32_users, _tf32_saved
    with _TF32_LOCK:
        if _tf32_users == 0:
            saved = _tf32_settings()
            try:
                _set_tf32_off(saved)
            except BaseException:
                _restore_tf32(saved)
                raise
            _tf32_saved = saved
        _tf32_users += 1
    try:
        yield
    finally:
        with _TF32_LOCK:
            _tf32_users -= 1
            if _tf32_users == 0:
                _restore_tf32(_tf32_saved)
                _tf32_saved = None


def _tf32_settings() -> tuple:
    """The TF32 settings as :func:`_restore_tf32` puts them back: ``(matmul, per_backend,
    conv, legacy_conv)``.

    Matrix products: through the float32-matmul precision, which sets the legacy flag
    (torch.backends.cuda.matmul.allow_tf32) and, from torch 2.9, the per-backend ones
    together; setting only one of them makes cuBLAS refuse to run ("mix of the legacy and
    new APIs"). A user of the per-backend API alone (cuda.matmul.fp32_precision = "tf32")
    has a state the legacy getter cannot read (``matmul`` None): there the per-backend
    settings are set to "ieee", which agrees with the legacy default. Either way the
    per-backend values are put back as they were ("none", inherit, stays "none").
    Convolutions: the per-operator setting where this torch has it (from 2.9: the legacy
    cudnn.allow_tf32 = False there only resets it to "inherit", which a global "tf32" would
    still turn on), the legacy flag before."""
    backends = [m for m in (getattr(torch.backends.cuda, "matmul", None),
                            getattr(getattr(torch.backends, "mkldnn", None), "matmul", None))
                if hasattr(m, "fp32_precision")]
    per_backend = [(m, m.fp32_precision) for m in backends]
    try:
        matmul = torch.get_float32_matmul_precision()
    except RuntimeError:
        matmul = None
    conv = getattr(getattr(torch.backends.cudnn, "conv", None), "fp32_precision", None)
    legacy_conv = torch.backends.cudnn.allow_tf32 if conv is None else None
    return matmul, per_backend, conv, legacy_conv


def _set_tf32_off(saved: tuple) -> None:
    matmul, per_backend, conv, _ = saved
    if matmul is not None:
        torch.set_float32_matmul_precision("highest")
    for m, _ in per_backend:
        m.fp32_precision = "ieee"
    if conv is not None:
        torch.backends.cudnn.conv.fp32_precision = "ieee"
    else:
        torch.backends.cudnn.allow_tf32 = False


def _restore_tf32(saved: tuple) -> None:
    matmul, per_backend, conv, legacy_conv = saved
    if matmul is not None:
        torch.set_float32_matmul_precision(matmul)
    for m, value in per_backend:
        m.fp32_precision = value
    if conv is not None:
        torch.backends.cudnn.conv.fp32_precision = conv
    else:
        torch.backends.cudnn.allow_tf32 = legacy_conv


FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)

# Lightning's --trainer.precision values that cast the whole module, weights and inputs, to one
# dtype. The others (32-true, bf16-mixed, 16-mixed) keep float32 weights, which every model
# runs in (mixed precision is autocast).
TRUE_PRECISIONS: dict[str, torch.dtype] = {
    "64-true": torch.float64, "bf16-true": torch.bfloat16, "16-true": torch.float16,
    "transformer-engine": torch.bfloat16, "transformer-engine-float16": torch.float16,
}
KEEP_FLOAT32 = ("32-true", "bf16-mixed", "16-mixed")


def refusing_module(model: nn.Module, dtype: torch.dtype) -> nn.Module | None:
    """The first of ``model``'s modules (itself included) that cannot run with its weights and
    inputs cast to ``dtype``, or None. A module lists the floating dtypes it runs in as its
    ``weight_dtypes`` attribute; one without it runs in all of :data:`FLOAT_DTYPES`."""
    return next((m for m in model.modules()
                 if dtype not in getattr(m, "weight_dtypes", FLOAT_DTYPES)), None)


def check_precision(precision, model: nn.Module, refused: dict[torch.dtype, str] | None = None
                    ) -> None:
    """Refuse Lightning's ``precision`` (``trainer.precision``, e.g. ``"bf16-true"``) when it
    casts the weights to a dtype that ``model`` cannot run in (:func:`refusing_module`) or one
    that ``refused`` maps to a reason (the training around the model cannot use it), with a
    ValueError that names the setting, the model and the precisions that work. Precisions
    that keep float32 weights, and ones not known here, pass."""
    refused = refused or {}
    dtype = TRUE_PRECISIONS.get(str(precision))
    if dtype is None:
        return
    bad = refusing_module(model, dtype)
    if bad is None and dtype not in refused:
        return
    name = type(model).__name__
    if bad is None:
        why = refused[dtype]
    else:
        runs = " and ".join(str(d).removeprefix("torch.") for d in bad.weight_dtypes)
        why = (f"{'' if bad is model else 'its '}{type(bad).__name__} runs in {runs} only "
               f"(its weight_dtypes)")
    works = list(KEEP_FLOAT32) + [p for p, d in TRUE_PRECISIONS.items()
                                  if not p.startswith("transformer") and d not in refused
                                  and refusing_module(model, d) is None]
    raise ValueError(f"trainer.precision={precision!r} cannot run {name}: it casts the weights "
                     f"and inputs to {dtype}, and {why}. Use one of {works}")
