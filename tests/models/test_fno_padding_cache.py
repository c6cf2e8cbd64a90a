"""An FNO with ``domain_padding`` called on many grid sizes (a served surrogate: an FNO runs on
any grid) keeps no state per size: neuralop's ``DomainPadding`` kept two dict entries per size
for ever (and the FNO a set of the sizes). Its output stays what neuralop's padding gives, bit
for bit, on every size."""

import gc
import tracemalloc

import pytest
import torch
from neuralop.layers.padding import DomainPadding

from pdesurrogate.models import FNO


def _fno(fraction: float, n_modes=(4,)) -> FNO:
    torch.manual_seed(0)
    return FNO(1, 1, list(n_modes), hidden_channels=4, n_layers=1, domain_padding=fraction)


def _python_bytes_after(model: FNO, sizes) -> int:
    """Python memory held after calling ``model`` once on each of ``sizes`` (1-D grids)."""
    gc.collect()
    tracemalloc.start()
    try:
        with torch.no_grad():
            for n in sizes:
                model(torch.zeros(1, 1, n))
        gc.collect()
        return tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_number_of_grid_sizes():
    """On the old code 300 more sizes held about 160 kB more (550 bytes a size); the grid
    embedding's own cache is bounded (8 grids), so nothing here should grow with the count."""
    m = _fno(0.25)
    with torch.no_grad():
        for n in range(8, 40):  # first-call allocations, warnings' registries, the embedding
            m(torch.zeros(1, 1, n))
    few = _python_bytes_after(m, range(40, 60))
    many = _python_bytes_after(m, range(60, 380))
    assert many - few < 40_000, f"{many - few} bytes more after 320 grid sizes than after 20"
    assert not vars(m.net.domain_padding).get("_padding")
    assert not vars(m.net.domain_padding).get("_unpad_indices")


@pytest.mark.parametrize("fraction", [0.0625, 0.1, 0.125, 0.25, 1 / 3, 0.5, 1.0])
def test_output_is_neuralops_padding_bit_for_bit(fraction):
    """Each size pads and unpads as neuralop's DomainPadding does (its rounding, Python's
    ``round`` to even, included: 0.125 x 20 = 2.5 pads 2), 1-D and 2-D with unequal axes,
    keeping nothing of the sizes it saw."""
    ours = _fno(fraction)
    theirs = _fno(fraction)
    theirs.net.domain_padding = DomainPadding(domain_padding=fraction)
    for n in range(1, 70):
        x = torch.randn(2, 1, n)
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)
        p = ours.net.domain_padding
        assert p.pad(x).shape[-1] == n + 2 * round(fraction * n)
        torch.testing.assert_close(p.unpad(p.pad(x)), x, rtol=0, atol=0)
    ours2, theirs2 = _fno(fraction, (4, 3)), _fno(fraction, (4, 3))
    theirs2.net.domain_padding = DomainPadding(domain_padding=fraction)
    for shape in ((12, 20), (9, 31), (20, 12)):
        x = torch.randn(1, 1, *shape)
        torch.testing.assert_close(ours2(x), theirs2(x), rtol=0, atol=0)
    for m in (ours, ours2):  # and nothing was kept of the 72 sizes
        assert not vars(m.net.domain_padding).get("_padding")
        assert not vars(m.net.domain_padding).get("_unpad_indices")


@pytest.mark.parametrize("fraction", [0.1, 1 / 3, 0.7, 1.0])
def test_3d_and_odd_sizes_match_neuralop_and_unpad_finds_every_size(fraction):
    """A 3-D FNO on odd, unequal axes is neuralop's bit for bit; every padded size of grids
    of 0..2999 points leads back to its one grid size, and a size no grid pads to is an
    error."""
    import warnings

    from pdesurrogate.models._fno_grid import StatelessDomainPadding

    ours, theirs = _fno(fraction, (2, 2, 2)), _fno(fraction, (2, 2, 2))
    theirs.net.domain_padding = DomainPadding(domain_padding=fraction)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # more modes than a 1-point axis resolves
        for shape in ((5, 7, 9), (3, 4, 11), (1, 2, 6)):
            x = torch.randn(1, 1, *shape)
            torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)
    p = StatelessDomainPadding(fraction)
    padded = {n + 2 * round(fraction * n): n for n in range(3000)}
    for m, n in padded.items():
        assert p.padded_from(m) == n
    with pytest.raises(ValueError, match=rf"no grid of domain_padding={fraction:g} pads to"):
        p.padded_from(min(set(range(50)) - set(padded)))
