"""FNO's warning on modes beyond the grid counts the grid its Fourier layers transform: with
``domain_padding`` that is the padded grid (neuralop's ``DomainPadding`` adds
``round(domain_padding * n)`` zeros at both ends of an axis of ``n``), so modes between the
state's size and the padded size are used and must not be called unused."""

import warnings

import pytest
import torch

from pdesurrogate.models import FNO


@pytest.mark.parametrize("n_modes, padding, grid, unused", [
    ([20, 20], 0.25, (16, 16), False),  # padded to (24, 24): all 20 modes are there
    ([24, 24], 0.25, (16, 16), False),
    ([26, 24], 0.25, (16, 16), True),  # 26 > 24 on the first axis
    ([14], 0.25, (10,), False),  # round(2.5) = 2 per end: 14 points
    ([16], 0.25, (10,), True),  # 16 // 2 + 1 = 9 rFFT coefficients of 14 // 2 + 1 = 8
    ([20, 20], 0.0, (16, 16), True),  # unpadded: as before
], ids=["2d-within", "2d-all", "2d-beyond", "1d-round-within", "1d-round-beyond", "unpadded"])
def test_the_modes_warning_fires_exactly_when_padded_grid_modes_are_unused(
        n_modes, padding, grid, unused):
    torch.manual_seed(0)
    model = FNO(1, 1, n_modes, hidden_channels=4, n_layers=1, domain_padding=padding)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model(torch.randn(2, 1, *grid)).square().sum().backward()
    weight = next(p for k, p in model.net.fno_blocks.convs[0].named_parameters()
                  if k.startswith("weight"))  # (in, out, *modes)
    assert bool((weight.grad.abs().sum(dim=(0, 1)) == 0).any()) == unused
    messages = [str(w.message) for w in caught if "Fourier modes" in str(w.message)]
    assert len(messages) == int(unused), messages
    if unused and padding:
        seen = tuple(n + 2 * round(padding * n) for n in grid)
        assert f"pads the grid {grid} to {seen}" in messages[0]
        assert f"than the grid {seen} resolves" in messages[0]
