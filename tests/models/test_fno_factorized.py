"""The tensorized FNO (``FNO(..., factorization=, rank=)``, neuralop's TFNO): fewer parameters
by tensorly's rank rule, shapes, fitting, float32 FFTs under mixed precision, exact export
round trips, old exports rebuilding dense, and the argument checks."""

import json
import math
from pathlib import Path

import pytest
import torch
from tensorly.cp_tensor import validate_cp_rank
from tensorly.tt_tensor import validate_tt_rank
from tensorly.tucker_tensor import validate_tucker_rank

from pdesurrogate.datasets import ChannelStats
from pdesurrogate.export import export_surrogate
from pdesurrogate.loading import load
from pdesurrogate.models import FNO
from pdesurrogate.training import NextStepModule

FACTORIZATIONS = ["tucker", "cp", "tt"]
OLD_FNO_EXPORT = Path(__file__).parents[1] / "fixtures" / "compat" / "0f8a5e0" / "exp_fno"


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def _factorized_count(factorization: str, shape: tuple[int, ...], rank: float) -> int:
    """Entries of a ``shape`` tensor factorized at fractional ``rank``, with the ranks
    tensorly picks: Tucker core + factor matrices, CP weights + factors, TT cores."""
    if factorization == "tucker":
        r = validate_tucker_rank(shape, rank=rank)
        return math.prod(r) + sum(s * k for s, k in zip(shape, r, strict=True))
    if factorization == "cp":
        r = validate_cp_rank(shape, rank=rank)
        return r + r * sum(shape)
    r = validate_tt_rank(shape, rank=rank)
    return sum(r[i] * s * r[i + 1] for i, s in enumerate(shape))


@pytest.mark.parametrize("factorization", FACTORIZATIONS)
def test_rank_0_1_keeps_about_a_tenth_of_the_spectral_weights(factorization):
    """Each layer's dense (h, h, 8, 8 // 2 + 1) complex weight becomes the factorization's
    entries at tensorly's ranks; everything else is as in the dense model, so the whole
    FNO has well under a quarter of the dense one's parameters."""
    h, modes, layers = 16, [8, 8], 3
    dense = FNO(2, 1, modes, hidden_channels=h, n_layers=layers)
    shape = (h, h, modes[0], modes[1] // 2 + 1)
    assert all(c.weight.to_tensor().shape == shape for c in dense.net.fno_blocks.convs)
    small = FNO(2, 1, modes, hidden_channels=h, n_layers=layers, factorization=factorization,
                rank=0.1)
    per_layer = _factorized_count(factorization, shape, 0.1)
    assert per_layer <= 0.15 * math.prod(shape)
    assert _count(small) == _count(dense) - layers * (math.prod(shape) - per_layer)
    assert _count(small) < 0.25 * _count(dense)


@pytest.mark.parametrize("factorization", FACTORIZATIONS)
@pytest.mark.parametrize("grid", [(24,), (12, 10)])
def test_factorized_shapes(factorization, grid):
    """(B, C_in, *grid) -> (B, C_out, *grid) in 1-D and 2-D; the parameters reach the output
    and the spectral weights are the factorization's, not a dense tensor."""
    torch.manual_seed(0)
    m = FNO(2, 3, [4] * len(grid), hidden_channels=8, n_layers=2, n_params=2,
            factorization=factorization.upper(), rank=0.5)
    assert m.factorization == factorization and m.rank == 0.5
    assert {type(c.weight).__name__ for c in m.net.fno_blocks.convs} == {
        {"tucker": "TuckerTensor", "cp": "CPTensor", "tt": "TTTensor"}[factorization]}
    assert m(torch.randn(5, 2, *grid), torch.randn(5, 2)).shape == (5, 3, *grid)
    u = torch.randn(1, 2, *grid)
    assert not torch.allclose(m(u, torch.zeros(1, 2)), m(u, torch.ones(1, 2)))


@pytest.mark.parametrize("factorization", FACTORIZATIONS)
def test_factorized_fno_overfits_a_few_samples(factorization):
    """Four periodic samples, target a shift plus a square of the input: Adam takes the mean
    squared error down by at least 100x at rank 0.1."""
    torch.manual_seed(0)
    m = FNO(1, 1, [8], hidden_channels=16, n_layers=2, factorization=factorization, rank=0.1)
    x = torch.arange(32) / 32
    u = torch.stack([torch.sin(2 * torch.pi * k * x + k) for k in range(1, 5)])[:, None]
    y = torch.roll(u, 3, -1) + 0.5 * u**2
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    losses = []
    for _ in range(200):
        opt.zero_grad()
        loss = (m(u) - y).square().mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert min(losses[-5:]) <= losses[0] / 100, (losses[0], losses[-5:])


@pytest.mark.parametrize("factorization", FACTORIZATIONS)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_factorized_spectral_convs_compute_in_float32(factorization, dtype):
    """As for the dense FNO (tests/models/test_models.py): a bfloat16/float16 input, as CUDA
    autocast hands the Fourier layers, is transformed and contracted with the factors in
    float32, the same as its float32 copy, and gradients reach the factors."""
    torch.manual_seed(0)
    m = FNO(1, 1, [4, 4], hidden_channels=8, n_layers=2, factorization=factorization,
            rank=0.5)
    x = torch.randn(3, 8, 12, 10).to(dtype)
    for conv in m.net.fno_blocks.convs:
        y = conv(x)
        assert y.dtype == torch.float32
        torch.testing.assert_close(y, conv(x.float()), rtol=0, atol=0)
        y.square().mean().backward()
        grads = [q.grad for q in conv.weight.parameters()]
        assert grads and all(g is not None and bool(torch.isfinite(g).all()) for g in grads)


def _module(model) -> NextStepModule:
    m = NextStepModule(model, residual=True)
    m.set_normalization(ChannelStats(mean=[0.5], std=[2.0], spatial_dims=1,
                                     param_names=["nu"], param_mean=[0.1], param_std=[0.02]))
    m.data_info = {"pde": "toy", "grid_shape": [16], "channel_names": ["u"],
                   "param_names": ["nu"], "k": 1, "dt": 0.1}
    return m


@pytest.mark.parametrize("factorization", FACTORIZATIONS)
def test_factorized_export_loads_with_identical_predictions(factorization, tmp_path):
    """config.json records factorization and rank; the factors are what model.safetensors
    holds, and load(export(m)) rolls out exactly (atol 0) what the module does."""
    torch.manual_seed(0)
    m = _module(FNO(1, 1, [6], 8, 2, n_params=1, factorization=factorization, rank=0.3))
    out = export_surrogate(m, tmp_path / "sur")
    init = json.loads((out / "config.json").read_text())["model"]["init_args"]
    assert (init["factorization"], init["rank"]) == (factorization, 0.3)
    s = load(out)
    assert (s.model.factorization, s.model.rank) == (factorization, 0.3)
    assert s.model.state_dict().keys() == m.model.state_dict().keys()
    assert not any(k.endswith(".weight.tensor") for k in s.model.state_dict())
    u, p = torch.randn(3, 1, 16), 0.1 + 0.02 * torch.randn(3, 1)
    torch.testing.assert_close(s.rollout(u, p, 4), m.rollout(u, p, 4), atol=0, rtol=0)


def test_an_export_without_the_keys_rebuilds_a_dense_fno(tmp_path):
    """A dense FNO's export now records factorization null and rank 1.0; an export written
    before they existed (tests/fixtures/compat, no such keys) loads as the dense FNO it was."""
    torch.manual_seed(0)
    out = export_surrogate(_module(FNO(1, 1, [6], 8, 2, n_params=1)), tmp_path / "sur")
    init = json.loads((out / "config.json").read_text())["model"]["init_args"]
    assert (init["factorization"], init["rank"]) == (None, 1.0)
    old = json.loads((OLD_FNO_EXPORT / "config.json").read_text())["model"]
    assert old["class"] == "fno" and not {"factorization", "rank"} & set(old["init_args"])
    model = load(OLD_FNO_EXPORT).model
    assert (model.factorization, model.rank) == (None, 1.0)
    assert {type(c.weight).__name__ for c in model.net.fno_blocks.convs} == {"DenseTensor"}


@pytest.mark.parametrize("kwargs, match", [
    ({"factorization": "svd"}, r"factorization must be None/null .* one of \['tucker', 'cp', "
                               r"'tt'\], got 'svd'"),
    ({"factorization": ""}, r"one of \['tucker', 'cp', 'tt'\], got ''"),
    ({"factorization": 3}, r"one of \['tucker', 'cp', 'tt'\], got 3"),
    ({"factorization": "tucker", "rank": 0}, r"rank must be a number in \(0, 1\].*got 0"),
    ({"factorization": "cp", "rank": 1.5}, r"rank must be a number in \(0, 1\].*got 1\.5"),
    ({"factorization": "tt", "rank": -0.1}, r"rank must be .*got -0\.1"),
    ({"factorization": "tt", "rank": float("nan")}, r"rank must be .*got nan"),
    ({"factorization": "tt", "rank": "0.1"}, r"rank must be .*got '0\.1'"),
    ({"factorization": "tt", "rank": True}, r"rank must be .*got True"),
    ({"rank": 0.1}, r"rank=0\.1 needs a factorization \(one of \['tucker', 'cp', 'tt'\]\)"),
    # (8, 8, 3) weights: round(0.04 * 192 / 19) = 0 CP components
    ({"factorization": "cp", "rank": 0.04}, r"rank=0\.04 leaves the CP factorization of the "
                                            r"spectral weights \(shape \(8, 8, 3\)\) no "
                                            r"component; use rank >= 0\.099"),
])
def test_bad_factorization_or_rank_is_refused_naming_what_was_expected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FNO(1, 1, [4], 8, 1, **kwargs)


def test_the_smallest_cp_rank_the_refusal_names_builds_one_component():
    m = FNO(1, 1, [4], 8, 1, factorization="cp", rank=0.099)
    assert m.net.fno_blocks.convs[0].weight.rank == 1


def test_an_int_rank_is_a_fraction_too():
    """``rank: 1`` in YAML is an int, which tensorly would take as one CP component: it is
    the fraction 1.0, recorded as such."""
    m = FNO(1, 1, [4], 8, 1, factorization="cp", rank=1)
    assert m.rank == 1.0 and isinstance(m.rank, float)
    assert m.net.fno_blocks.convs[0].weight.rank == validate_cp_rank((8, 8, 3), rank=1.0) > 1
