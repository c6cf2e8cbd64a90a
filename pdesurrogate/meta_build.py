"""``meta_build``: a context in which a model is built on the meta device for its shapes and
dtypes alone (no memory, whatever sizes it names), with its random initialisation skipped.

Meta tensors hold no values, so drawing or scaling them computes nothing. But torch runs most
ops on the meta device through Python reference kernels, some of which import
``torch._dynamo`` (and sympy) on their first call: 1-2 s of every ``load``, ``predict``,
``export`` and ``info`` for a model whose ``__init__`` does ``w.normal_(0, s)`` or
``s * torch.randn(...)`` (neuraloperator's spectral convolutions, CAPE, scOT, the PINN
problems). Inside this context those calls return a meta tensor of the shape and dtype they
would have returned, without running the kernel; every other op runs as it would on the meta
device. The skipping is a torch function mode pushed for the ``with`` block only: nothing
changes outside it, nor on a tensor that is not on the meta device.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor
from torch.overrides import TorchFunctionMode


@contextlib.contextmanager
def meta_build() -> Iterator[None]:
    """Build modules in the ``with`` block on the meta device: factory calls without a
    ``device`` make meta tensors, and random fills, random draws and arithmetic with a number
    on meta tensors give a meta tensor of the right shape and dtype without computing."""
    with torch.device("meta"), _SkipValuesOnMeta():
        yield


# in-place random fills: on a meta tensor they return it unchanged (nothing to fill)
_FILLS = frozenset({Tensor.normal_, Tensor.uniform_, Tensor.bernoulli_, Tensor.exponential_,
                    Tensor.cauchy_, Tensor.log_normal_, Tensor.geometric_, Tensor.random_,
                    # these two dispatch as a whole, so their inner fill is not seen here
                    torch.nn.init.normal_, torch.nn.init.uniform_})
# random draws of a given size: on the meta device an empty tensor of that size
_DRAWS = frozenset({torch.randn, torch.rand})
# a tensor and a number (``s * t`` is ``t.mul(s)``, ``1 - t`` is ``t.__rsub__(1)``): the
# tensor's shape, torch's promoted dtype
_WITH_A_NUMBER = frozenset({Tensor.mul, Tensor.add, Tensor.sub, Tensor.div, Tensor.__rsub__,
                            Tensor.__rdiv__, torch.mul, torch.add, torch.sub, torch.div})
_DIVISIONS = frozenset({Tensor.div, Tensor.__rdiv__, torch.div})


class _SkipValuesOnMeta(TorchFunctionMode):
    """The torch function mode of :func:`meta_build`."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _FILLS and _on_meta(args[0] if args else kwargs.get("tensor")):
            return args[0] if args else kwargs["tensor"]
        if func in _DRAWS and _draws_on_meta(kwargs):
            kwargs = {k: v for k, v in kwargs.items() if k != "generator"}
            return torch.empty(*args, **kwargs)
        if func in _WITH_A_NUMBER and len(args) == 2 and not kwargs:
            t, n = args if isinstance(args[0], Tensor) else args[::-1]
            # a contiguous tensor (bool ones, not contiguous ones and those autograd records
            # take the kernel) and a number: a contiguous result of its shape and the dtype
            # torch promotes to, a float one for a true division
            if _on_meta(t) and _is_number(n) and t.dtype != torch.bool and t.is_contiguous() \
                    and not (t.requires_grad and torch.is_grad_enabled()):
                dtype = torch.result_type(t, n)
                if func in _DIVISIONS and not (dtype.is_floating_point or dtype.is_complex):
                    dtype = torch.get_default_dtype()
                return torch.empty(t.shape, dtype=dtype, device=t.device)
        return func(*args, **kwargs)


def _on_meta(t) -> bool:
    return isinstance(t, Tensor) and t.is_meta


def _is_number(n) -> bool:
    return isinstance(n, (int, float, complex))  # bool among them


def _draws_on_meta(kwargs: dict) -> bool:
    """Whether a draw with these keywords makes a meta tensor (an empty one has its size)."""
    if kwargs.get("out") is not None:
        return False
    device = kwargs.get("device")
    return (torch.get_default_device() if device is None else torch.device(device)).type == "meta"
