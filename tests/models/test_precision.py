"""``full_float32``: autocast and TF32 off inside, the caller's settings back outside; the
refiner's small-noise evaluations run in it.

TF32 only acts on CUDA, but its settings are readable (and settable) on a CPU-only torch, so
a backbone that records them at each call shows what the GPU kernels would be told."""

import pytest
import torch

from pdesurrogate.models import PDERefiner
from pdesurrogate.models._precision import full_float32


def _conv_setting() -> tuple[object, str, object]:
    """Where this torch keeps the cuDNN-convolution TF32 switch, and its "on" value."""
    conv = getattr(torch.backends.cudnn, "conv", None)
    if hasattr(conv, "fp32_precision"):
        return conv, "fp32_precision", "tf32"
    return torch.backends.cudnn, "allow_tf32", True


def _conv_tf32() -> bool:
    owner, name, on = _conv_setting()
    return getattr(owner, name) == on


def _matmul_tf32() -> bool:
    return torch.get_float32_matmul_precision() != "highest"


@pytest.fixture
def tf32_on():
    """TF32 on for both, as on an Ampere GPU after Lightning's suggested
    ``set_float32_matmul_precision("high")``; the previous settings restored afterwards."""
    owner, name, on = _conv_setting()
    matmul, conv = torch.get_float32_matmul_precision(), getattr(owner, name)
    torch.set_float32_matmul_precision("high")
    setattr(owner, name, on)
    yield
    torch.set_float32_matmul_precision(matmul)
    setattr(owner, name, conv)


def test_full_float32_turns_off_autocast_and_tf32_and_restores_them(tf32_on):
    """Inside: no autocast (a matmul stays float32 under CPU bf16 autocast), TF32 off for
    both; after a normal exit and after an error: the settings as before."""
    a = torch.randn(3, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with full_float32(a.device):
            assert (a @ a).dtype == torch.float32
            assert not _conv_tf32() and not _matmul_tf32()
        assert (a @ a).dtype == torch.bfloat16
    assert _conv_tf32() and _matmul_tf32()
    with pytest.raises(RuntimeError, match="boom"), full_float32(a.device):
        raise RuntimeError("boom")
    assert _conv_tf32() and _matmul_tf32()
    assert torch.get_float32_matmul_precision() == "high"


class _FlagRecorder(torch.nn.Module):
    """A conditioned backbone that records, per call, its step and whether TF32 was on for
    convolutions and matrix products."""

    in_channels, out_channels, dim, n_params = 2, 1, 1, 0

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(()))
        self.calls = []

    def forward(self, x, params, cond):
        self.calls.append((int(cond[0]), _conv_tf32(), _matmul_tf32()))
        return self.w * x[:, 1:]


def test_refinement_steps_run_without_tf32(tf32_on):
    """The refinement evaluations (k >= 1) see noise of std down to sigma_min = 2e-7, far
    below TF32's resolution (about 5e-4): they run with TF32 off for convolutions and matrix
    products. k = 0 keeps the user's settings, which are back after the call."""
    rec = _FlagRecorder()
    m = PDERefiner(rec, n_refine_steps=3, sigma_min=2e-7)
    m(torch.randn(2, 1, 8))
    assert rec.calls == [(0, True, True), (1, False, False), (2, False, False),
                         (3, False, False)]
    assert _conv_tf32() and _matmul_tf32()


@pytest.mark.skipif(not hasattr(torch.backends.cuda.matmul, "fp32_precision"),
                    reason="torch before 2.9 has no per-backend TF32 settings")
@pytest.mark.parametrize("user", ["tf32", "none"])
def test_full_float32_also_turns_off_tf32_set_through_the_per_backend_api(user):
    """A user who set TF32 through torch's per-backend API alone
    (``cuda.matmul.fp32_precision = "tf32"``, which the legacy getter cannot read back): ieee
    inside, the user's value after. With nothing set ("none", inherit) it stays "none" after,
    so a later global setting still reaches the matrix products."""
    matmul = torch.backends.cuda.matmul
    before = matmul.fp32_precision
    matmul.fp32_precision = user
    try:
        with full_float32(torch.device("cpu")):
            assert matmul.fp32_precision == "ieee"
        assert matmul.fp32_precision == user
    finally:
        matmul.fp32_precision = before
