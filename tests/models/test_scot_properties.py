"""scOT properties that its docstrings promise, checked numerically on tiny float64 models:
which tokens a (shifted) window block lets interact, the post-norm residual order, cosine
attention and its temperature cap, the relative-position index, that every time-conditioned
norm gets the lead time, and that samples of a batch do not mix."""

import math

import pytest
import torch

from pdesurrogate.models import ScOT
from pdesurrogate.models.scot import (
    ConvNeXtBlock,
    SwinBlock,
    TimeLayerNorm,
    WindowAttention,
    _relative_offsets,
)


def _tiny(**kw) -> ScOT:
    torch.manual_seed(0)
    args = dict(in_channels=2, out_channels=1, embed_dim=8, depths=[2, 2, 1],
                num_heads=[2, 2, 4], skip_blocks=[1, 1], window_size=4, patch_size=2,
                n_params=1, time_scale=10.0)
    return ScOT(**{**args, **kw}).double()


def _segment(i: int, n: int, w: int, shifted: bool) -> int:
    """Which window of a non-periodic axis of ``n`` tokens token ``i`` is in: windows of ``w``
    tokens from 0, or, shifted by ``s = w // 2``, ``[0, s), [s, s + w), ..., [n - w + s, n)``
    (the cyclic roll's wrapped window split in two by the mask)."""
    w = min(w, n)
    s = w // 2 if shifted and n > w else 0
    return (i + w - s) // w if s else i // w


@pytest.mark.parametrize("grid", [(8, 12), (4, 8)])
@pytest.mark.parametrize("shifted", [False, True])
def test_window_block_couples_exactly_the_tokens_of_one_window(grid, shifted):
    """Perturb each token in turn: the block's output changes at exactly the tokens of its
    (shifted) window, never across the field's edge (no wrap-around: the field is not
    periodic). (4, 8) shrinks the window to 4 x 4 rows, with no shift along them."""
    torch.manual_seed(0)
    h, w = grid
    blk = SwinBlock(8, 2, window_size=8 if h == 4 else 4, shifted=shifted,
                    mlp_ratio=2.0).double()
    win = blk.window_size
    x = torch.randn(1, h, w, 8, dtype=torch.float64)
    t = torch.tensor([0.3], dtype=torch.float64)
    with torch.no_grad():
        y0 = blk(x, t)
        for i in range(h):
            for j in range(w):
                dx = torch.zeros_like(x)
                dx[0, i, j] = 1.0
                changed = (blk(x + dx, t) - y0).abs().amax(-1)[0] > 1e-12
                want = torch.tensor([[_segment(a, h, win, shifted) == _segment(i, h, win, shifted)
                                      and _segment(b, w, win, shifted)
                                      == _segment(j, w, win, shifted)
                                      for b in range(w)] for a in range(h)])
                assert torch.equal(changed, want), (shifted, i, j)


def test_swin_block_is_residual_post_norm():
    """One window covering the grid: ``x1 = x + LN(attn(x); t)``, ``x1 + LN(mlp(x1); t)``
    (SwinV2's post-norm), from the block's own sub-modules."""
    torch.manual_seed(0)
    blk = SwinBlock(8, 2, window_size=4, shifted=False, mlp_ratio=2.0).double()
    x = torch.randn(2, 4, 4, 8, dtype=torch.float64)
    t = torch.tensor([0.0, 1.5], dtype=torch.float64)
    with torch.no_grad():
        a = blk.attn(x.reshape(2, 16, 8), (4, 4), None).reshape(2, 4, 4, 8)
        x1 = x + blk.norm1(a, t)
        want = x1 + blk.norm2(blk.mlp(x1), t)
        torch.testing.assert_close(blk(x, t), want, rtol=1e-12, atol=1e-12)


def test_convnext_block_is_residual():
    """``x + gamma * mlp(LN(dwconv(x); t))``: with gamma = 0 the block is the identity, with
    gamma = 1 it is that sum."""
    torch.manual_seed(0)
    blk = ConvNeXtBlock(4).double()
    x = torch.randn(2, 6, 6, 4, dtype=torch.float64)
    t = torch.tensor([0.0, 2.0], dtype=torch.float64)
    with torch.no_grad():
        blk.gamma.fill_(1.0)
        y = blk.dwconv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        torch.testing.assert_close(blk(x, t), x + blk.mlp(blk.norm(y, t)), rtol=1e-12,
                                   atol=1e-12)
        blk.gamma.zero_()
        torch.testing.assert_close(blk(x, t), x, rtol=0, atol=0)


def test_attention_is_cosine_with_capped_temperature():
    """Scaling the query and key projections leaves cosine attention unchanged (a dot-product
    attention would sharpen); a learnt temperature above 100 acts as 100."""
    torch.manual_seed(0)
    att = WindowAttention(8, 2).double()
    x = torch.randn(3, 16, 8, dtype=torch.float64)
    with torch.no_grad():
        y = att(x, (4, 4), None)
        att.qkv.weight[:16] *= 7.0
        att.qkv.bias[:16] *= 7.0
        torch.testing.assert_close(att(x, (4, 4), None), y, rtol=1e-10, atol=1e-12)
        att.logit_scale.fill_(math.log(100.0))
        y100 = att(x, (4, 4), None)
        att.logit_scale.fill_(math.log(1000.0))
        torch.testing.assert_close(att(x, (4, 4), None), y100, rtol=0, atol=0)
        att.logit_scale.fill_(math.log(50.0))
        assert (att(x, (4, 4), None) - y100).abs().max() > 1e-6


def test_relative_position_index_points_at_the_pair_offset():
    """For each pair of tokens (i, j) of a non-square window, the bias table row used is the
    log-spaced offset ``(y_i - y_j, x_i - x_j)``: ``sign(r) log2(1 + 8 |r| / (n - 1)) / 3``."""
    wh, ww = 4, 2
    table, index = _relative_offsets(wh, ww, "cpu")
    ys, xs = torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij")
    ys, xs = ys.reshape(-1), xs.reshape(-1)

    def log_spaced(r, n):
        r = r / max(n - 1, 1) * 8.0
        return math.copysign(math.log2(abs(r) + 1.0) / 3.0, r)

    for i in range(wh * ww):
        for j in range(wh * ww):
            dy, dx = int(ys[i] - ys[j]), int(xs[i] - xs[j])
            want = torch.tensor([log_spaced(dy, wh), log_spaced(dx, ww)])
            torch.testing.assert_close(table[index[i, j]], want, rtol=1e-6, atol=1e-6)


def test_every_norm_gets_the_lead_time_once():
    """Each TimeLayerNorm of the model (embedding, blocks of every encoder and decoder level,
    merges, unmerges, skip blocks) runs once per forward, on ``lead_time / time_scale``."""
    m = _tiny()
    u, p = torch.randn(2, 2, 16, 16, dtype=torch.float64), torch.randn(2, 1, dtype=torch.float64)
    lead = torch.tensor([3.0, 7.0], dtype=torch.float64)
    seen: dict[str, list[torch.Tensor]] = {}
    names = {mod: name for name, mod in m.named_modules() if isinstance(mod, TimeLayerNorm)}
    hooks = [mod.register_forward_hook(lambda mod, args, out: seen.setdefault(
        names[mod], []).append(args[1])) for mod in names]
    with torch.no_grad():
        m(u, p, lead)
    for hk in hooks:
        hk.remove()
    assert set(seen) == set(names.values())
    for name, ts in seen.items():
        assert len(ts) == 1, name
        torch.testing.assert_close(ts[0], lead / 10.0, rtol=0, atol=0, msg=name)


def test_each_level_conditions_the_output_on_the_lead_time():
    """With the time coefficients of all norms zeroed except one level's (encoder, decoder or
    skip), the lead time still changes the output: every level is conditioned."""
    m = _tiny()
    for blk in m.modules():
        if isinstance(blk, ConvNeXtBlock):
            blk.gamma.data.fill_(1.0)  # else the skip blocks' effect is 1e-6 of the rest
    u, p = torch.randn(1, 2, 16, 16, dtype=torch.float64), torch.randn(1, 1, dtype=torch.float64)
    groups = [m.encoder[i] for i in range(3)] + [m.decoder[i] for i in range(3)] + \
        [m.skips[i] for i in range(2)]
    saved = {n: (n.scale_t.data.clone(), n.shift_t.data.clone())
             for n in m.modules() if isinstance(n, TimeLayerNorm)}
    with torch.no_grad():
        for k, group in enumerate(groups):
            for n in saved:
                n.scale_t.zero_()
                n.shift_t.zero_()
            for n in group.modules():
                if isinstance(n, TimeLayerNorm):
                    n.scale_t.copy_(saved[n][0])
                    n.shift_t.copy_(saved[n][1])
            assert (m(u, p, 0.0) - m(u, p, 8.0)).abs().max() > 1e-8, k


def test_samples_of_a_batch_do_not_mix():
    """Changing sample 1's field, parameters and lead time leaves sample 0's output as it was
    (to 1e-13 in float64) and changes sample 1's."""
    m = _tiny()
    u, p = torch.randn(2, 2, 16, 16, dtype=torch.float64), torch.randn(2, 1, dtype=torch.float64)
    lead = torch.tensor([1.0, 2.0], dtype=torch.float64)
    u2, p2, lead2 = u.clone(), p.clone(), lead.clone()
    u2[1] += 1.0
    p2[1] -= 1.0
    lead2[1] = 9.0
    with torch.no_grad():
        y, y2 = m(u, p, lead), m(u2, p2, lead2)
        torch.testing.assert_close(y2[0], y[0], rtol=0, atol=1e-13)
        assert (y2[1] - y[1]).abs().max() > 1e-6
