"""neuralop's ``SpectralConv`` with its FFTs in float32 under mixed precision.

Under CUDA autocast (``--trainer.precision bf16-mixed`` or ``16-mixed`` on a GPU) the FNO's
lifting convolution returns bfloat16 or float16, and autocast leaves FFTs alone on CUDA (on the
CPU it casts them to float32), so neuralop's ``SpectralConv`` would transform the
low-precision tensor: cuFFT refuses bfloat16 in the torch versions we support, and takes
float16 only on power-of-two grids, with float16's range for sums over the whole grid. This
subclass casts a bfloat16/float16 input to float32 and runs the layer with autocast off, so the
spectral part of every Fourier layer computes in float32 whatever the trainer's precision; its
output is float32 and the rest of the block follows autocast. With a factorized weight (the
tensorized FNO, :class:`~pdesurrogate.models.FNO`'s ``factorization``), the contraction of the
transformed input with the Tucker/CP/TT factors runs in float32 too. Parameters and state-dict
keys are neuralop's, so checkpoints and exports of either class load into the other.
"""

from __future__ import annotations

import torch
from neuralop.layers.spectral_convolution import SpectralConv

from ._precision import autocast_off

_LOW_PRECISION = (torch.float16, torch.bfloat16)


class FullPrecisionSpectralConv(SpectralConv):
    """``SpectralConv`` whose input is cast from bfloat16/float16 to float32, run with autocast
    off (module docstring). ``(B, C_in, *grid) -> (B, C_out, *grid)``, float32 for a
    low-precision input, otherwise the input's dtype as in neuralop."""

    def forward(self, x: torch.Tensor, output_shape=None) -> torch.Tensor:
        if x.dtype in _LOW_PRECISION:
            x = x.float()
        with autocast_off(x.device):
            return super().forward(x, output_shape=output_shape)
