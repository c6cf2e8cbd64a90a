"""UNet and ModernUNet wiring: each skip is concatenated at the resolution it was taken at, in
mirror order; every residual block's FiLM sees the conditioning; samples do not mix; the
documented smallest grids work for every padding mode or are refused with a ValueError."""

import pytest
import torch

from pdesurrogate.models import ModernUNet, UNet


def _modern(dim=2, **kw) -> ModernUNet:
    torch.manual_seed(0)
    args = dict(hidden_channels=4, channel_mults=[1, 2, 2], n_blocks=2, n_params=1)
    return ModernUNet(dim, 2, 1, **{**args, **kw}).double()


def test_modern_unet_skips_pair_with_their_mirror():
    """The stem's, each down block's and each downsample's outputs are the skips; the up
    blocks take them last-in first-out: up block k concatenates the (L*(n+1) - 1 - k)-th skip,
    of the same resolution."""
    m = _modern()
    skips, taken = [], []
    for mod in [m.stem, *[b for level in m.down for b in level], *m.downsample]:
        mod.register_forward_hook(lambda mod, args, out: skips.append((mod, out)))
    up = [b for level in m.up for b in level]
    for b in up:
        b.register_forward_hook(lambda mod, args, out: taken.append(args[0]))
    u, p = torch.randn(2, 2, 12, 9, dtype=torch.float64), torch.randn(2, 1, dtype=torch.float64)
    with torch.no_grad():
        m(u, p)
    # the hooks fire in forward order: stem, level 0 blocks, downsample 0, level 1 blocks, ...
    order = [m.stem]
    for level, blocks in enumerate(m.down):
        order += list(blocks)
        if level < len(m.downsample):
            order.append(m.downsample[level])
    by_module = dict(skips)
    assert len(taken) == len(order) == len(up)
    for k, x in enumerate(taken):
        s = by_module[order[-1 - k]]
        assert x.shape[2:] == s.shape[2:], k
        torch.testing.assert_close(x[:, -s.shape[1]:], s, rtol=0, atol=0, msg=str(k))


def test_unet_skips_pair_with_their_mirror():
    """Decoder block k concatenates (after the upsampled features) the encoder output of the
    same resolution: the finest-but-k-th level's."""
    torch.manual_seed(0)
    m = UNet(2, 2, 1, hidden_channels=4, n_levels=3, n_params=1).double()
    enc_out, dec_in = [], []
    m.inc.register_forward_hook(lambda mod, args, out: enc_out.append(out))
    for e in m.enc:
        e.register_forward_hook(lambda mod, args, out: enc_out.append(out))
    for d in m.dec:
        d.register_forward_hook(lambda mod, args, out: dec_in.append(args[0]))
    u, p = torch.randn(2, 2, 11, 8, dtype=torch.float64), torch.randn(2, 1, dtype=torch.float64)
    with torch.no_grad():
        m(u, p)
    assert len(dec_in) == 2
    for k, x in enumerate(dec_in):
        s = enc_out[-2 - k]
        assert x.shape[2:] == s.shape[2:]
        torch.testing.assert_close(x[:, -s.shape[1]:], s, rtol=0, atol=0)


def test_every_residual_block_is_conditioned():
    """With cond=True each residual block's FiLM runs once per forward, on the embedding of
    the given scalar: the up path and the middle are conditioned too, not only the down path."""
    m = _modern(dim=1, n_params=0, cond=True)
    blocks = [b for level in m.down for b in level] + list(m.middle) + \
        [b for level in m.up for b in level]
    calls = {id(b.film): 0 for b in blocks}
    for b in blocks:
        b.film.register_forward_hook(lambda mod, args, out: calls.__setitem__(
            id(mod), calls[id(mod)] + 1))
    with torch.no_grad():
        m(torch.randn(2, 2, 16, dtype=torch.float64), cond=torch.tensor([0.0, 3.0]))
    assert list(calls.values()) == [1] * len(blocks)
    # and each block's FiLM matters: zeroing one block's changes the output
    u, c = torch.randn(1, 2, 16, dtype=torch.float64), torch.tensor([2.0])
    with torch.no_grad():
        y = m(u, cond=c)
        for b in blocks:
            w = b.film.weight.clone()
            b.film.weight.zero_()
            assert (m(u, cond=c) - y).abs().max() > 1e-10
            b.film.weight.copy_(w)


@pytest.mark.parametrize("model", ["unet", "modern"])
def test_samples_of_a_batch_do_not_mix(model):
    """GroupNorm is per sample: changing sample 1 leaves sample 0's output unchanged."""
    torch.manual_seed(0)
    m = (UNet(2, 2, 1, hidden_channels=4, n_levels=3, n_params=1).double() if model == "unet"
         else _modern())
    u, p = torch.randn(2, 2, 9, 12, dtype=torch.float64), torch.randn(2, 1, dtype=torch.float64)
    u2, p2 = u.clone(), p.clone()
    u2[1] *= 3.0
    p2[1] += 1.0
    with torch.no_grad():
        y, y2 = m(u, p), m(u2, p2)
    torch.testing.assert_close(y2[0], y[0], rtol=0, atol=1e-13)
    assert (y2[1] - y[1]).abs().max() > 1e-6


@pytest.mark.parametrize("model", ["unet", "modern"])
@pytest.mark.parametrize("padding_mode", ["zeros", "circular", "reflect", "replicate"])
@pytest.mark.parametrize("n", [4, 5, 7])
def test_smallest_grids(model, padding_mode, n):
    """3 levels need 4 points per axis (the coarsest level has 1); reflect padding needs 2 at
    the coarsest level, so 5: smaller grids are a ValueError that names the minimum, not a
    RuntimeError from inside a convolution. ModernUNet: batch 2 and 8 channels per norm group,
    so that the coarsest level's GroupNorm has more than one value per group."""
    torch.manual_seed(0)
    m = (UNet(2, 1, 1, hidden_channels=4, n_levels=3, padding_mode=padding_mode)
         if model == "unet" else
         ModernUNet(2, 1, 1, hidden_channels=16, channel_mults=[1, 1, 1], n_blocks=1,
                    padding_mode=padding_mode))
    u = torch.randn(2, 1, n, n + 1)
    if padding_mode == "reflect" and n == 4:
        with pytest.raises(ValueError, match="at least 5 points"):
            m(u)
    else:
        assert m(u).shape == (2, 1, n, n + 1)


def test_residual_block_is_the_documented_film_formula():
    """``shortcut(x) + conv2(GELU(GN2(conv1(GELU(GN1(x)))) (1 + s) + b))`` with ``(s, b)`` the
    first and second halves of ``film(emb)``, from the block's own sub-modules."""
    from pdesurrogate.models.modern_unet import ResidualBlock

    torch.manual_seed(0)
    blk = ResidualBlock(1, 4, 8, 6, "circular").double()
    x, emb = torch.randn(2, 4, 10, dtype=torch.float64), torch.randn(2, 6, dtype=torch.float64)
    with torch.no_grad():
        h = blk.norm2(blk.conv1(torch.nn.functional.gelu(blk.norm1(x))))
        s, b = blk.film(emb)[:, :8, None], blk.film(emb)[:, 8:, None]
        want = blk.shortcut(x) + blk.conv2(torch.nn.functional.gelu(h * (1 + s) + b))
        torch.testing.assert_close(blk(x, emb), want, rtol=1e-12, atol=1e-12)
