"""``autocast_off``: leave mixed precision for computations that need float32.

Lightning's ``bf16-mixed`` / ``16-mixed`` run a training or evaluation step under
``torch.autocast``; the parts of a model whose results are lost in bfloat16/float16 (FFTs,
denoising at noise far below their resolution, second derivatives) turn it off with this.
"""

from __future__ import annotations

import contextlib

import torch


def autocast_off(device: torch.device) -> contextlib.AbstractContextManager:
    """A context in which autocast is off for ``device``'s type (tensors keep their dtype);
    a no-op where this torch has no autocast for that device type (e.g. MPS before torch
    2.5), where nothing can have turned it on."""
    try:
        return torch.autocast(device.type, enabled=False)
    except RuntimeError:
        return contextlib.nullcontext()
