"""Fourier neural operator: a thin wrapper around :class:`neuralop.models.FNO`.

The wrapper adds our model interface (``forward(u, params)``) and optional PDE parameters,
appended to the input as constant channels. neuralop's ``GridEmbeddingND`` appends the grid
coordinates (on ``[0, 1]`` per axis) when ``grid_embedding`` is true, with its cache replaced by
one that threads calling one model on different grids share safely
(:class:`~pdesurrogate.models._fno_grid.KeyedGridEmbedding`), and neuralop's
``DomainPadding`` by one that keeps nothing per grid size
(:class:`~pdesurrogate.models._fno_grid.StatelessDomainPadding`). With ``factorization`` set it is
neuralop's tensorized FNO (TFNO, Kossaifi et al., TMLR 2024): each Fourier layer's spectral
weight held as a low-rank Tucker, CP or tensor-train factorization (tensorly-torch, a
neuralop dependency).
"""

from __future__ import annotations

import math
import numbers
import sys
import warnings

import torch
from torch import nn

from ._checks import append_params, check_int, check_params, warn_unresolved_modes


def _neuralop_classes() -> tuple[type, type, type]:
    """neuralop's ``FNO``, our
    :class:`~pdesurrogate.models._fno_conv.FullPrecisionSpectralConv` and
    :class:`~pdesurrogate.models._fno_grid.KeyedGridEmbedding`, imported without wandb.

    neuraloperator depends on wandb and imports it if it can (for its own ``Trainer``, which
    we never use). Importing wandb costs about 0.4 s and patches ``sys.stdout.write`` and
    ``sys.stderr.write`` of the whole process for good (its ``console_capture``), so every
    command that builds an FNO paid for both. wandb is held back only while neuralop loads,
    which neuralop takes as wandb not installed; a ``WandbLogger`` imports it later as usual,
    and one imported before is left alone.

    neuralop's modules also put ``filterwarnings("once", category=UserWarning)`` in front of
    the process's warning filters as they load, which overrode a user's own filters for every
    ``UserWarning`` (``simplefilter("error", UserWarning)`` set before building an FNO no
    longer raised); the filters are put back as they were once neuralop has loaded.
    """
    held_back = "wandb" not in sys.modules
    if held_back:
        sys.modules["wandb"] = None  # ``import wandb`` now raises ModuleNotFoundError
    try:
        with warnings.catch_warnings():
            from neuralop.models import FNO as neuralop_fno

            from ._fno_conv import FullPrecisionSpectralConv
            from ._fno_grid import KeyedGridEmbedding
    finally:
        if held_back and sys.modules.get("wandb", 0) is None:
            del sys.modules["wandb"]
    return neuralop_fno, FullPrecisionSpectralConv, KeyedGridEmbedding


FACTORIZATIONS = ("tucker", "cp", "tt")


def _check_factorization(factorization, rank, shape: tuple[int, ...]
                         ) -> tuple[str | None, float]:
    """``(factorization, rank)`` of :class:`FNO` checked: ``factorization`` None or one of
    :data:`FACTORIZATIONS` in any case (returned lower-case), ``rank`` a number in (0, 1],
    1.0 without a factorization (where it would silently do nothing), and for CP large enough
    that a spectral weight of ``shape`` keeps at least one component."""
    if factorization is not None:
        name = factorization.lower() if isinstance(factorization, str) else None
        if name not in FACTORIZATIONS:
            raise ValueError(f"factorization must be None/null (dense spectral weights) or "
                             f"one of {list(FACTORIZATIONS)}, got {factorization!r}")
        factorization = name
    if isinstance(rank, bool) or not isinstance(rank, numbers.Real) or not 0 < rank <= 1:
        raise ValueError(f"rank must be a number in (0, 1] (the fraction of the dense spectral "
                         f"weights' parameters a factorization keeps), got {rank!r}")
    if factorization is None and rank != 1:
        raise ValueError(f"rank={rank!r} needs a factorization (one of "
                         f"{list(FACTORIZATIONS)}); without one the spectral weights are "
                         "dense and rank must stay 1.0")
    if factorization == "cp":
        from tensorly.cp_tensor import validate_cp_rank

        # tensorly rounds rank * size / sum(shape) to the number of CP components; at 0 the
        # weight's initialisation divides by zero deep inside tensorly-torch
        if validate_cp_rank(shape, float(rank)) < 1:
            raise ValueError(f"rank={rank!r} leaves the CP factorization of the spectral "
                             f"weights (shape {shape}) no component; use rank >= "
                             f"{sum(shape) / math.prod(shape):.2g}")
    # a float always: tensorly takes an int rank as the rank itself, not a fraction
    return factorization, float(rank)


class FNO(nn.Module):
    """FNO over 1-D or 2-D (or 3-D) fields; the dimension is ``len(n_modes)``.

    Args:
        in_channels: ``C_in``, channels of the state.
        out_channels: ``C_out``, channels of the prediction.
        n_modes: Fourier modes kept per spatial axis, in the state's axis order, counting
            positive and negative frequencies (neuralop's convention: on the last axis, the rFFT
            half-axis, that is ``n_modes // 2 + 1`` coefficients). At most ``n`` is useful for
            ``n`` points the Fourier layers see (the grid with its ``domain_padding``:
            :meth:`fourier_grid`); more warns once, at the first forward on such a grid.
        hidden_channels: width of the Fourier layers.
        n_layers: number of Fourier layers.
        n_params: ``P``, PDE parameters appended as constant channels (0: ``params`` ignored).
        grid_embedding: append normalised grid coordinates as extra input channels.
        domain_padding: fraction of each spatial axis, in [0, 1], added as zeros at both of its
            ends (``round(domain_padding * n)`` points per end) to the lifted field before the
            Fourier layers and cut off after them (neuralop's ``DomainPadding``). The Fourier
            layers treat their input as periodic; on a non-periodic domain (Dirichlet or other
            walls) padding keeps the two ends of an axis from acting on each other through the
            FFT. 0 (default): none, the right choice for periodic domains.
        factorization: how each Fourier layer's spectral weight (``hidden_channels x
            hidden_channels x`` the kept modes, complex) is held: None (default) dense, or as a
            low-rank ``"tucker"``, ``"cp"`` or ``"tt"`` (tensor-train) factorization, the
            weights of the tensorized FNO (TFNO); any case is taken and stored lower-case. The
            input is contracted with the factors directly, as neuralop does by default
            (``implementation="factorized"``).
        rank: with a ``factorization``, the fraction in (0, 1] of the dense weight's parameter
            count that each factorized weight keeps (tensorly's rule, so only about that:
            ``rank=0.1`` gives roughly a tenth). Must be left at 1.0 without a factorization.

    ``forward(u: (B, C_in, *grid), params: (B, P) | None) -> (B, C_out, *grid)``. Runs in
    float32 only (:attr:`weight_dtypes`).
    """

    # neuralop's spectral weights are complex64: cast to a real dtype they lose their imaginary
    # part, and its float64 forward still allocates a complex64 output, so only float32 runs
    # (mixed precision keeps float32 weights and works)
    weight_dtypes = (torch.float32,)

    def __init__(self, in_channels: int, out_channels: int, n_modes: list[int],
                 hidden_channels: int = 32, n_layers: int = 4, n_params: int = 0,
                 grid_embedding: bool = True, domain_padding: float = 0.0,
                 factorization: str | None = None, rank: float = 1.0):
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, 1)
        self.out_channels = check_int("out_channels", out_channels, 1)
        modes = list(n_modes) if isinstance(n_modes, (list, tuple)) else None
        if not modes or len(modes) > 3:
            raise ValueError(f"n_modes must be a list of 1 to 3 positive ints (one per spatial "
                             f"axis), got {n_modes!r}")
        self.n_modes = [check_int(f"n_modes[{i}]", m, 1) for i, m in enumerate(modes)]
        self.hidden_channels = check_int("hidden_channels", hidden_channels, 1)
        self.n_layers = check_int("n_layers", n_layers, 1)
        self.n_params = check_int("n_params", n_params, 0)
        self.grid_embedding = bool(grid_embedding)
        if (isinstance(domain_padding, bool) or not isinstance(domain_padding, numbers.Real)
                or not 0 <= domain_padding <= 1):
            raise ValueError(f"domain_padding must be a number in [0, 1] (a fraction of each "
                             f"spatial axis), got {domain_padding!r}")
        self.domain_padding = float(domain_padding)
        # a Fourier layer's spectral weight: channels in, out, modes (half the last, rFFT)
        shape = (self.hidden_channels, self.hidden_channels, *self.n_modes[:-1],
                 self.n_modes[-1] // 2 + 1)
        self.factorization, self.rank = _check_factorization(factorization, rank, shape)
        self.dim = len(self.n_modes)
        # imported here, not at the top: neuralop takes most of a second to import, and
        # `import pdesurrogate.models` (the other models, a PINN's load) should not pay for it
        neuralop_fno, spectral_conv, grid_embedding_cls = _neuralop_classes()
        # neuralop's own ("grid") caches one grid in a way threads on two grids break
        embedding = grid_embedding_cls(in_channels=self.in_channels + self.n_params,
                                       dim=self.dim, grid_boundaries=[[0.0, 1.0]] * self.dim)
        self.net = neuralop_fno(
            n_modes=tuple(self.n_modes),
            in_channels=self.in_channels + self.n_params,
            out_channels=self.out_channels,
            hidden_channels=self.hidden_channels,
            n_layers=self.n_layers,
            positional_embedding=embedding if self.grid_embedding else None,
            domain_padding=self.domain_padding or None,
            # FFTs in float32 under mixed precision (see _fno_conv): CUDA autocast would hand
            # them bfloat16, which cuFFT refuses
            conv_module=spectral_conv,
            factorization=self.factorization,
            rank=self.rank,
        )
        if self.net.domain_padding is not None:
            # neuralop's keeps two dicts per grid size, for ever, filled one after the other
            from ._fno_grid import StatelessDomainPadding

            self.net.domain_padding = StatelessDomainPadding(self.domain_padding)

    def state_dict(self, *args, **kwargs):
        # neuralop's BaseModel.state_dict puts its constructor kwargs (a function, a class)
        # under the key "_metadata" of the *shared* dict; that entry breaks strict loading in a
        # parent module, safetensors and torch.load(weights_only=True), so it is dropped
        out = super().state_dict(*args, **kwargs)
        meta = out.get("_metadata")
        if meta is not None and not isinstance(meta, torch.Tensor):
            del out["_metadata"]
        return out

    def fourier_grid(self, grid: tuple[int, ...]) -> tuple[int, ...]:
        """The spatial sizes the Fourier layers transform for states on ``grid``: ``grid``
        with ``round(domain_padding * n)`` points added at both ends of each axis of ``n``
        (neuralop's ``DomainPadding``, Python's ``round``), so ``n_modes`` up to these sizes
        are resolved."""
        return tuple(n + 2 * round(self.domain_padding * n) for n in grid)

    def forward(self, u: torch.Tensor, params: torch.Tensor | None = None) -> torch.Tensor:
        check_params(self, u, params)
        grid = tuple(u.shape[2:])
        seen = self.fourier_grid(grid)
        # the last axis keeps m // 2 + 1 of the n // 2 + 1 rFFT coefficients, the others m of n
        excess = (any(m > n for m, n in zip(self.n_modes[:-1], seen[:-1], strict=True))
                  or self.n_modes[-1] // 2 > seen[-1] // 2)
        if excess:  # the message only where it may be given: this runs every step
            setting = f"n_modes={self.n_modes}" + (
                f" (domain_padding={self.domain_padding:g} pads the grid {grid} to {seen} "
                "for the Fourier layers)" if seen != grid else "")
            warn_unresolved_modes(self, setting, list(seen), seen, excess)
        return self.net(append_params(u, params, self.n_params))
