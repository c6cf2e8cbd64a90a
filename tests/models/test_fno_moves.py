"""FNO after a move to another device: neuralop's cached grid coordinates follow the input.

No GPU here, so the move is to the meta device (shapes only, no data): a tensor left on the
CPU by a stale cache meets the meta input exactly as one left on a GPU would meet a CPU input
after Lightning's teardown moved the module back (``strategy.teardown`` calls ``.cpu()``)."""

import pytest
import torch

from pdesurrogate.models import FNO, CAPEModule, CAPEWrapper


@pytest.mark.parametrize("grid", [(16,), (8, 12)])
def test_fno_runs_after_a_move(grid):
    """A forward on the CPU, then ``.to("meta")`` and a forward on a meta input of the same
    grid (the cache is keyed on the grid alone) gives a meta output of the right shape."""
    torch.manual_seed(0)
    m = FNO(1, 2, [4] * len(grid), hidden_channels=8, n_layers=1)
    x = torch.randn(2, 1, *grid)
    m(x)
    m.to("meta")
    y = m(x.to("meta"))
    assert y.device.type == "meta" and y.shape == (2, 2, *grid)


def test_cape_wrapper_with_fno_base_runs_after_a_move():
    """The FNO inside a CAPEWrapper is moved by the wrapper's (or a LightningModule's) ``.to``,
    which reaches it through its parent: the same holds."""
    torch.manual_seed(0)
    m = CAPEWrapper(FNO(2, 1, [4], hidden_channels=8, n_layers=1),
                    CAPEModule(1, 1, 1, modes=4, hidden=8))
    x, p = torch.randn(2, 1, 16), torch.rand(2, 1)
    m(x, p)
    m.to("meta")
    y = m(x.to("meta"), p.to("meta"))
    assert y.device.type == "meta" and y.shape == (2, 1, 16)


def test_fno_output_unchanged_by_the_cache_reset():
    """Dropping the stale cache rebuilds the same coordinates: moving to meta and back (the
    weights restored from a copy) gives the original output."""
    torch.manual_seed(0)
    m = FNO(1, 1, [4], hidden_channels=8, n_layers=1)
    x = torch.randn(2, 1, 16)
    want = m(x)
    state = {k: v.clone() for k, v in m.state_dict().items()}
    m.to("meta")
    m(x.to("meta"))
    m.to_empty(device="cpu")
    m.load_state_dict(state)
    torch.testing.assert_close(m(x), want, rtol=0, atol=0)
