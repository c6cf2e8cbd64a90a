"""Values a DATA header may not carry: non-finite parameters (a foreign or hand-written sender
skips StreamClient's own check; NaN params would reach the normalisation and poison an online
run) and a dimension of size 0 (an empty sample). parse_header must refuse both with their
reason."""

import numpy as np
import pytest

from pdesurrogate.streaming.protocol import MalformedMessage, data_header, parse_header


def parse(h: np.ndarray, n_params: int):
    return parse_header(h.view(np.uint8).copy(), n_params)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [0, 2])
def test_non_finite_parameter_is_rejected(bad, where):
    """A NaN/inf in any of the header's parameters (first or last of three) is
    ``non_finite_meta``; the same header with finite parameters parses, values intact."""
    values = [0.5, -2.0, 3.25]
    good = data_header((1, 4), np.float32, 0.0, 0, 0, values, False, 16)
    assert parse(good, 3).params == tuple(values)
    values[where] = bad
    with pytest.raises(MalformedMessage) as err:
        parse(data_header((1, 4), np.float32, 0.0, 0, 0, values, False, 16), 3)
    assert err.value.reason == "non_finite_meta"


@pytest.mark.parametrize("shape", [(1, 0), (0, 4), (2, 3, 0)])
@pytest.mark.parametrize("count", [1, 3])
def test_zero_size_dimension_is_rejected(shape, count):
    """A header announcing an empty sample is ``shape``, even when its nbytes agree with that
    shape (0 field bytes, plus the pack's times); the same header with no zero dimension
    parses."""
    nbytes = 8 * count if count > 1 else 0
    with pytest.raises(MalformedMessage) as err:
        parse(data_header(shape, np.float32, 0.0, 0, 0, [0.5], False, nbytes, count=count), 1)
    assert err.value.reason == "shape"
    full = tuple(max(n, 1) for n in shape)
    nbytes = count * 4 * int(np.prod(full)) + (8 * count if count > 1 else 0)
    assert parse(data_header(full, np.float32, 0.0, 0, 0, [0.5], False, nbytes,
                             count=count), 1).shape == full
