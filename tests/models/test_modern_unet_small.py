"""ModernUNet at the minimum grid with tiny widths: a GroupNorm group of a single value.

With ``hidden_channels=8`` every width is normalised in groups of one channel, and the minimum
grid leaves a 1-point map at the coarsest level, so those groups hold one value per sample.
Torch computes such a norm (it is the bias) at batch 2 but raised at batch 1.
"""

import pytest
import torch

from pdesurrogate.models import ModernUNet


@pytest.mark.parametrize("dim,grid,mults", [(1, (4,), [1, 1, 1]), (2, (4, 4), [1, 1, 1]),
                                            (1, (2,), [1, 2]), (1, (1,), [1])])
@pytest.mark.parametrize("train", [True, False])
def test_one_sample_equals_its_row_in_a_batch(dim, grid, mults, train):
    """At batch 1 the model returns what it returns for the same sample in a batch of 3,
    with gradients, in train and eval mode."""
    torch.manual_seed(0)
    m = ModernUNet(dim, 2, 1, hidden_channels=4 if mults == [1, 2] else 8,
                   channel_mults=mults, n_blocks=1, cond=True).train(train)
    u, c = torch.randn(3, 2, *grid), torch.tensor([0.5, 2.0, 7.0])
    batch = m(u, None, cond=c)
    for i in range(3):
        one = m(u[i:i + 1], None, cond=c[i:i + 1])
        torch.testing.assert_close(one, batch[i:i + 1], atol=1e-6, rtol=1e-6)
    one.sum().backward()
    assert all(torch.isfinite(q.grad).all() for q in m.parameters() if q.grad is not None)


def test_single_value_group_is_its_bias():
    """The one-value group normalises to 0: the norm's output is exactly its bias, whatever the
    input; torch's group_norm gives the same at batch 2 up to its rounding of ``x - mean``
    divided by ``sqrt(eps)`` (about 1e-5 here)."""
    torch.manual_seed(0)
    m = ModernUNet(1, 1, 1, hidden_channels=8, channel_mults=[1, 1, 1], n_blocks=1)
    norm = m.middle[0].norm1
    with torch.no_grad():
        norm.bias.copy_(torch.randn(8))
        norm.weight.copy_(torch.randn(8))
    x = torch.randn(1, 8, 1)
    torch.testing.assert_close(norm(x), norm.bias.detach().reshape(1, 8, 1).expand(1, 8, 1))
    pair = torch.cat([x, torch.randn(1, 8, 1)])
    torch.testing.assert_close(norm(pair), torch.nn.functional.group_norm(
        pair, 8, norm.weight, norm.bias, norm.eps), atol=1e-4, rtol=0)
