"""Leave reduced precision for computations that need float32.

``autocast_off``: Lightning's ``bf16-mixed`` / ``16-mixed`` run a training or evaluation step
under ``torch.autocast``; the parts of a model whose results are lost in bfloat16/float16 (FFTs,
denoising at noise far below their resolution, second derivatives) turn it off with this.

``full_float32``: autocast off and TensorFloat-32 off too. On Ampere and later GPUs float32
convolutions run in TF32 by default (cuDNN), and matrix products do after
``torch.set_float32_matmul_precision("high")`` (which Lightning suggests at start-up): TF32
rounds the inputs to a 10-bit mantissa (relative resolution about 5e-4), which erases the same
small signals as bfloat16 does, only less completely.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


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

    The TF32 settings are global (every device, every thread), as torch keeps them.
    """
    with autocast_off(device), _tf32_off():
        yield


@contextlib.contextmanager
def _tf32_off() -> Iterator[None]:
    # matrix products: through the float32-matmul precision, which sets the legacy flag
    # (torch.backends.cuda.matmul.allow_tf32) and, from torch 2.9, the per-backend one
    # together; setting only one of them makes cuBLAS refuse to run ("mix of the legacy and
    # new APIs"). A state already mixed (by the user) cannot be read back, so it is left alone.
    try:
        matmul = torch.get_float32_matmul_precision()
    except RuntimeError:
        matmul = None
    # convolutions: the per-operator setting where this torch has it (from 2.9: the legacy
    # cudnn.allow_tf32 = False there only resets it to "inherit", which a global "tf32"
    # would still turn on), the legacy flag before
    conv = getattr(getattr(torch.backends.cudnn, "conv", None), "fp32_precision", None)
    legacy_conv = torch.backends.cudnn.allow_tf32 if conv is None else None
    try:
        if matmul is not None:
            torch.set_float32_matmul_precision("highest")
        if conv is not None:
            torch.backends.cudnn.conv.fp32_precision = "ieee"
        else:
            torch.backends.cudnn.allow_tf32 = False
        yield
    finally:
        if matmul is not None:
            torch.set_float32_matmul_precision(matmul)
        if conv is not None:
            torch.backends.cudnn.conv.fp32_precision = conv
        else:
            torch.backends.cudnn.allow_tf32 = legacy_conv
