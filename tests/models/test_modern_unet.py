"""ModernUNet: shapes on any grid, scalar conditioning, argument checks (tiny models, CPU)."""

import pytest
import torch

from pdesurrogate.models import ModernUNet, build_model, model_spec
from pdesurrogate.models.modern_unet import sinusoidal_embedding


@pytest.mark.parametrize("dim,grid", [(1, (37,)), (1, (64,)), (2, (12, 9))])
def test_shapes_and_gradients(dim, grid):
    """(B, C_in, *grid) -> (B, C_out, *grid) for odd and even sizes, 1-D and 2-D."""
    torch.manual_seed(0)
    m = ModernUNet(dim, 3, 2, hidden_channels=8, channel_mults=[1, 2, 2], n_blocks=2,
                   n_params=1)
    y = m(torch.randn(2, 3, *grid), torch.randn(2, 1))
    assert y.shape == (2, 2, *grid)
    y.sum().backward()
    assert all(q.grad is not None for q in m.parameters())


def test_conditioning_changes_output():
    """With cond=True the scalar changes the output (distinct integers stay distinct); the
    spec round trip rebuilds the same function."""
    torch.manual_seed(0)
    m = ModernUNet(1, 1, 1, hidden_channels=8, channel_mults=[1, 2], n_blocks=1, cond=True)
    u = torch.randn(3, 1, 32)
    with torch.no_grad():
        outs = [m(u, None, cond=torch.full((3,), float(k))) for k in range(4)]
    for a in range(4):
        for b in range(a + 1, 4):
            assert (outs[a] - outs[b]).abs().max() > 1e-6
    m2 = build_model(model_spec(m))
    m2.load_state_dict(m.state_dict())
    torch.testing.assert_close(m2(u, None, cond=2), outs[2], atol=0, rtol=0)
    emb = sinusoidal_embedding(torch.arange(4), 9)
    assert emb.shape == (4, 9) and torch.all(emb[0, :4] == 1)


def test_periodic_padding_is_shift_equivariant():
    """With circular padding every layer commutes with a shift by a multiple of the total
    downsampling factor (4 for 3 levels)."""
    torch.manual_seed(0)
    m = ModernUNet(1, 1, 1, hidden_channels=8, channel_mults=[1, 2, 2], n_blocks=1)
    u = torch.randn(2, 1, 32)
    with torch.no_grad():
        torch.testing.assert_close(m(torch.roll(u, 8, -1)), torch.roll(m(u), 8, -1),
                                   atol=1e-5, rtol=1e-5)


def test_checks():
    with pytest.raises(ValueError, match="dim must be 1 or 2"):
        ModernUNet(3, 1, 1)
    with pytest.raises(ValueError, match="channel_mults"):
        ModernUNet(1, 1, 1, channel_mults=[])
    with pytest.raises(ValueError, match="padding_mode"):
        ModernUNet(1, 1, 1, padding_mode="wrap")
    plain = ModernUNet(1, 1, 1, hidden_channels=4, channel_mults=[1, 2])
    with pytest.raises(ValueError, match="takes no cond"):
        plain(torch.randn(1, 1, 8), cond=torch.zeros(1))
    cond = ModernUNet(1, 1, 1, hidden_channels=4, channel_mults=[1, 2], cond=True)
    with pytest.raises(ValueError, match="give cond"):
        cond(torch.randn(1, 1, 8))
    with pytest.raises(ValueError, match="at least 2 points"):
        cond(torch.randn(1, 1, 1), cond=torch.zeros(1))
