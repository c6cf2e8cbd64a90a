"""Wire format: header/payload round trip and rejection of malformed messages."""

import warnings

import numpy as np
import pytest

from pdesurrogate.streaming.protocol import (
    FLAG_END,
    FLAG_FINITE,
    FLAG_SPLIT,
    FLAG_VERDICT,
    HEADER_BYTES,
    HEADER_DTYPE,
    MAX_PARAMS,
    Kind,
    MalformedMessage,
    all_finite,
    chain_nbytes,
    chain_segments,
    check_pack,
    data_header,
    decode_header,
    decode_payload,
    encode_control,
    encode_data,
    header_params,
    pack_nbytes,
    parse_header,
    payload_array,
    payload_pack,
    split_messages,
)


def roundtrip(fields, n_params=2):
    h, p = encode_data(fields, 0.25, 3, 11, [0.5, -2.0][:n_params])
    raw = h.view(np.uint8).copy()
    return decode_header(raw, n_params), p.copy()


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5,), (2, 8), (1, 4, 6), (3, 2, 4, 5)])
def test_round_trip_exact(dtype, shape):
    """Fields, t, step, sim_id and params come back bit-exact for 1..4 dims and 3 dtypes."""
    fields = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    h, payload = roundtrip(fields)
    assert HEADER_BYTES == h.dtype.itemsize
    out = decode_payload(h, payload)
    assert out.dtype == fields.dtype and out.shape == fields.shape
    np.testing.assert_array_equal(out, fields)
    assert (float(h["t"]), int(h["step"]), int(h["sim_id"])) == (0.25, 3, 11)
    assert header_params(h, ["a", "b"]) == {"a": 0.5, "b": -2.0}


def corrupt(field, value):
    fields = np.ones((2, 4), np.float32)
    h, p = encode_data(fields, 0.0, 0, 1, [1.0, 2.0])
    h[field] = value
    return h.view(np.uint8).copy(), p.copy()


@pytest.mark.parametrize("field,value,reason", [
    ("magic", 1234, "magic"),
    ("version", 99, "version"),
    ("kind", 77, "kind"),
    ("dtype", 42, "dtype"),
    ("ndim", 5, "ndim"),
    ("ndim", 0, "ndim"),
    ("nbytes", 12, "nbytes"),
    ("n_params", 3, "n_params"),
    ("t", np.nan, "non_finite_meta"),
    ("sim_id", -4, "ids"),
])
def test_bad_header_rejected(field, value, reason):
    """Each corrupted header field raises MalformedMessage with its reason."""
    raw, _ = corrupt(field, value)
    with pytest.raises(MalformedMessage) as err:
        decode_header(raw, 2)
    assert err.value.reason == reason


def test_bad_payload_rejected():
    """Wrong header size, payload byte-count mismatch and NaN/Inf field values are rejected."""
    with pytest.raises(MalformedMessage, match="header_size"):
        decode_header(np.zeros(HEADER_BYTES - 8, np.uint8), 2)
    fields = np.ones((2, 4), np.float32)
    h, p = roundtrip(fields)
    with pytest.raises(MalformedMessage, match="payload_size"):
        decode_payload(h, p[:-4])
    for bad in (np.nan, np.inf):
        fields[1, 2] = bad
        h, p = roundtrip(fields)
        with pytest.raises(MalformedMessage, match="non_finite_fields"):
            decode_payload(h, p)


def test_control_messages_and_encode_errors():
    """Control messages carry kind, sim_id, count and a UTF-8 reason; bad inputs to
    encode_data raise ValueError naming the problem."""
    h, p = encode_control(Kind.FAILED, sim_id=4, step=2, text="diverged at t=0.3")
    hd = decode_header(h.view(np.uint8).copy(), 5)
    assert Kind(int(hd["kind"])) == Kind.FAILED and int(hd["step"]) == 2
    assert bytes(p).decode() == "diverged at t=0.3" and int(hd["nbytes"]) == p.nbytes
    with pytest.raises(ValueError, match="float16, float32 or float64"):
        encode_data(np.ones(3, np.int32), 0.0, 0, 0, [])
    with pytest.raises(ValueError, match="dims"):
        encode_data(np.ones((1, 1, 1, 1, 2)), 0.0, 0, 0, [])
    with pytest.raises(ValueError, match="parameters"):
        encode_data(np.ones(3), 0.0, 0, 0, [0.0] * (MAX_PARAMS + 1))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_all_finite_exact(dtype):
    """all_finite is exact: NaN, +inf and -inf anywhere are caught, and huge finite values
    (whose squares overflow the fast path) are still finite; none of it warns."""
    warnings.simplefilter("error")  # pytest restores the filters after the test
    x = np.ones(1000, dtype)
    assert all_finite(x)
    for bad in (np.nan, np.inf, -np.inf):
        y = x.copy()
        y[617] = bad
        assert not all_finite(y)
    huge = np.full(10, np.finfo(dtype).max / 2, dtype)
    assert all_finite(huge)
    huge[3] = np.inf
    assert not all_finite(huge)


def test_finite_flag_skips_the_receiver_check():
    """encode_data(finite=True) sets FLAG_FINITE and the receiver trusts it; unflagged
    messages are checked (what a client sends when its own check failed)."""
    fields = np.ones((2, 4), np.float32)
    h, p = encode_data(fields, 0.0, 0, 1, [0.5], finite=True)
    parsed = parse_header(h.view(np.uint8).copy(), 1)
    assert parsed.finite and int(h["flags"][0]) & FLAG_FINITE
    np.testing.assert_array_equal(payload_array(parsed, p.copy()), fields)
    fields[0, 1] = np.nan
    h, p = encode_data(fields, 0.0, 0, 1, [0.5])
    parsed = parse_header(h.view(np.uint8).copy(), 1)
    assert not parsed.finite
    with pytest.raises(MalformedMessage, match="non_finite_fields"):
        payload_array(parsed, p.copy())


def pack_message(block, times, finite=True, end_total=0):
    """Header (raw bytes) and payload of a pack of ``block`` (n, *shape) samples."""
    n = len(block)
    payload = np.concatenate([block.reshape(-1).view(np.uint8),
                              np.asarray(times, np.float64).view(np.uint8)])
    h = data_header(block.shape[1:], block.dtype, float(times[0]), 5, 9, [0.5], finite,
                    pack_nbytes(n, block[0].nbytes), count=n, end_total=end_total)
    return h.view(np.uint8).copy(), payload


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_pack_round_trip_exact(dtype):
    """A pack of 3 samples (odd float16 sizes put the times at an unaligned offset) comes back
    bit-exact: fields, times, first step, count."""
    block = np.random.default_rng(1).standard_normal((3, 1, 7)).astype(dtype)
    raw, payload = pack_message(block, [0.1, 0.2, 0.3])
    h = parse_header(raw, 1)
    assert (h.count, h.step, h.shape, h.nbytes) == (3, 5, (1, 7), payload.nbytes)
    fields, times = payload_pack(h, payload)
    np.testing.assert_array_equal(fields, block)
    assert times.tolist() == [0.1, 0.2, 0.3]
    with pytest.raises(ValueError, match="use payload_pack"):
        payload_array(h, payload)


def test_pack_that_ends_its_simulation():
    """A pack sent by ``close`` carries FLAG_END and the simulation's sample count; a plain
    pack has end_total 0; a count in all smaller than the pack's own is refused."""
    block = np.ones((3, 1, 8), np.float32)
    assert parse_header(pack_message(block, [0.0, 1.0, 2.0])[0], 1).end_total == 0
    raw, _ = pack_message(block, [0.0, 1.0, 2.0], end_total=8)
    h = parse_header(raw, 1)
    assert (h.end_total, h.count, h.step) == (8, 3, 5)
    assert int(raw.view(HEADER_DTYPE)["flags"][0]) & FLAG_END
    bad = raw.copy()
    bad.view(HEADER_DTYPE)["total"] = 2
    with pytest.raises(MalformedMessage) as err:
        parse_header(bad, 1)
    assert err.value.reason == "total"


def test_pack_malformed():
    """Count out of range or not matching nbytes, a short payload, non-finite times, and
    non-finite fields in an unflagged pack are refused with their reasons."""
    block = np.ones((4, 1, 8), np.float32)
    raw, payload = pack_message(block, [0.0, 1.0, 2.0, 3.0])
    for count, reason in ((0, "count"), (3, "nbytes")):
        bad = raw.copy()
        bad.view(HEADER_DTYPE)["count"] = count
        with pytest.raises(MalformedMessage) as err:
            parse_header(bad, 1)
        assert err.value.reason == reason
    with pytest.raises(MalformedMessage) as err:
        payload_pack(parse_header(raw, 1), payload[:-8])
    assert err.value.reason == "payload_size"
    raw_t, payload_t = pack_message(block, [0.0, np.nan, 2.0, 3.0])
    with pytest.raises(MalformedMessage) as err:
        payload_pack(parse_header(raw_t, 1), payload_t)
    assert err.value.reason == "non_finite_meta"
    block[2, 0, 3] = np.inf
    raw_f, payload_f = pack_message(block, [0.0, 1.0, 2.0, 3.0], finite=False)
    with pytest.raises(MalformedMessage) as err:
        payload_pack(parse_header(raw_f, 1), payload_f)
    assert err.value.reason == "non_finite_fields"


def test_check_pack_per_sample_arrays():
    """The receiver's scattered packs (one array per sample) are checked as a block is: an
    infinity in the third sample's array is refused unless the sender flagged the pack
    finite; non-finite times are refused either way."""
    block = np.ones((3, 1, 8), np.float32)
    block[2, 0, 5] = np.inf
    for finite in (False, True):
        raw, _ = pack_message(block, [0.0, 1.0, 2.0], finite=finite)
        h = parse_header(raw, 1)
        arrays = [block[i].copy() for i in range(3)]
        if finite:
            check_pack(h, arrays, np.array([0.0, 1.0, 2.0]))
        else:
            with pytest.raises(MalformedMessage) as err:
                check_pack(h, arrays, np.array([0.0, 1.0, 2.0]))
            assert err.value.reason == "non_finite_fields"
        with pytest.raises(MalformedMessage) as err:
            check_pack(h, arrays, np.array([0.0, np.nan, 2.0]))
        assert err.value.reason == "non_finite_meta"


def test_split_pack_header():
    """A split pack's header carries FLAG_SPLIT and the same count and nbytes as a contiguous
    pack of the same samples; it announces count + 1 payload messages (one per sample, then the
    times), which the receiver also trusts for a rejected header of the current version (so it
    drains them), but not for one with a bad magic or a plain pack; a split pack of one sample
    is refused on both sides."""
    block = np.ones((3, 1, 8), np.float32)
    h = data_header((1, 8), np.float32, 0.0, 5, 9, [0.5], True, pack_nbytes(3, block[0].nbytes),
                    count=3, split=True)
    raw = h.view(np.uint8).copy()
    parsed = parse_header(raw, 1)
    assert parsed.split and not parse_header(pack_message(block, [0.0, 1.0, 2.0])[0], 1).split
    assert (parsed.count, parsed.nbytes) == (3, 3 * 32 + 3 * 8)
    assert int(raw.view(HEADER_DTYPE)["flags"][0]) & FLAG_SPLIT
    assert split_messages(raw) == 4
    assert split_messages(pack_message(block, [0.0, 1.0, 2.0])[0]) == 1
    nan_t = raw.copy()
    nan_t.view(HEADER_DTYPE)["t"] = np.nan
    with pytest.raises(MalformedMessage, match="non_finite_meta"):
        parse_header(nan_t, 1)
    assert split_messages(nan_t) == 4
    bad_magic = raw.copy()
    bad_magic.view(HEADER_DTYPE)["magic"] = 7
    assert split_messages(bad_magic) == 1
    assert split_messages(raw[:-8].copy()) == 1
    one = raw.copy()
    one.view(HEADER_DTYPE)["count"], one.view(HEADER_DTYPE)["nbytes"] = 1, 32
    with pytest.raises(MalformedMessage) as err:
        parse_header(one, 1)
    assert err.value.reason == "count"
    with pytest.raises(ValueError, match="at least 2"):
        data_header((1, 8), np.float32, 0.0, 5, 9, [0.5], True, 32, count=1, split=True)


def test_verdict_header():
    """A one-sample message may announce the sender's verdict (FLAG_VERDICT): the header is not
    flagged finite, one more payload message follows (the receiver drains 2 after a rejected
    one), and a verdict with a pack or with FLAG_FINITE is refused on both sides."""
    h = data_header((1, 8), np.float32, 0.0, 5, 9, [0.5], False, 32, verdict=True)
    raw = h.view(np.uint8).copy()
    parsed = parse_header(raw, 1)
    assert parsed.verdict and not parsed.finite and parsed.count == 1
    assert int(raw.view(HEADER_DTYPE)["flags"][0]) & FLAG_VERDICT
    assert split_messages(raw) == 2
    nan_t = raw.copy()
    nan_t.view(HEADER_DTYPE)["t"] = np.nan
    assert split_messages(nan_t) == 2
    assert not parse_header(encode_data(np.ones((1, 8), np.float32), 0.0, 0, 1, [0.5])[0]
                            .view(np.uint8).copy(), 1).verdict
    for flags in (FLAG_VERDICT | FLAG_FINITE, FLAG_VERDICT | FLAG_END):
        bad = raw.copy()
        bad.view(HEADER_DTYPE)["flags"] = flags
        if flags & FLAG_END:  # a verdict after a pack of 2
            bad.view(HEADER_DTYPE)["count"] = bad.view(HEADER_DTYPE)["total"] = 2
            bad.view(HEADER_DTYPE)["nbytes"] = pack_nbytes(2, 32)
        with pytest.raises(MalformedMessage) as err:
            parse_header(bad, 1)
        assert err.value.reason == "flags"
    with pytest.raises(ValueError, match="verdict"):
        data_header((1, 8), np.float32, 0.0, 5, 9, [0.5], True, 32, verdict=True)
    with pytest.raises(ValueError, match="verdict"):
        data_header((1, 8), np.float32, 0.0, 5, 9, [0.5], False, pack_nbytes(2, 32), count=2,
                    verdict=True)


def chain_message(segments, n_params=1, shape=(1, 4)):
    """Header bytes and table bytes of a chain pack of ``segments`` rows (sim, step, count,
    end total, params)."""
    count = sum(sg[2] for sg in segments)
    table = np.concatenate([
        np.array([sg[:4] for sg in segments], "<i8").reshape(-1).view(np.uint8),
        np.array([sg[4] for sg in segments], "<f8").reshape(-1).view(np.uint8)])
    nbytes = pack_nbytes(count, 16) + table.nbytes
    raw = data_header(shape, np.dtype(np.float32), 0.0, segments[0][1], segments[0][0],
                      segments[0][4], True, nbytes, count=count, chain=len(segments))
    return raw.view(np.uint8).copy(), table


def test_chain_pack_segments():
    """A chain pack's header announces its segments and the bytes of their table; the table
    comes back exact, and every inconsistency in it is refused as 'chain'."""
    good = [(4, 0, 3, 3, [0.5]), (6, 0, 2, 5, [0.25]), (8, 0, 1, 0, [1.0])]
    raw, table = chain_message(good)
    h = parse_header(raw, 1)
    assert (h.chain, h.count, h.end_total, h.sim_id) == (3, 6, 0, 4)
    assert h.nbytes == pack_nbytes(6, 16) + chain_nbytes(3, 1) == pack_nbytes(6, 16) + 120
    assert [tuple(sg) for sg in chain_segments(h, table)] == [
        (4, 0, 3, 3, (0.5,)), (6, 0, 2, 5, (0.25,)), (8, 0, 1, 0, (1.0,))]
    # an unaligned table (after float16 fields of odd size) reads the same
    shifted = np.empty(table.nbytes + 1, np.uint8)[1:]
    shifted[:] = table
    assert chain_segments(h, shifted) == chain_segments(h, table)
    bad_tables = [
        [(4, 0, 3, 0, [0.5]), (6, 0, 2, 5, [0.25]), (8, 0, 1, 0, [1.0])],  # 4 never ended
        [(4, 0, 3, 3, [0.5]), (4, 3, 2, 5, [0.25]), (8, 0, 1, 0, [1.0])],  # 4 twice in a row
        [(4, 0, 3, 2, [0.5]), (6, 0, 2, 5, [0.25]), (8, 0, 1, 0, [1.0])],  # END of 2 < 3 sent
        [(-1, 0, 3, 3, [0.5]), (6, 0, 2, 5, [0.25]), (8, 0, 1, 0, [1.0])],  # bad id
        [(4, 0, 2, 3, [0.5]), (6, 0, 3, 5, [0.25]), (8, 0, 0, 0, [1.0])],  # empty segment
    ]
    for rows in bad_tables:
        with pytest.raises(MalformedMessage) as err:
            chain_segments(h, chain_message(rows)[1])
        assert err.value.reason == "chain", rows
    with pytest.raises(MalformedMessage) as err:  # counts adding up to another total
        chain_segments(h, chain_message([(4, 0, 3, 3, [0.5]), (6, 0, 2, 5, [0.25]),
                                         (8, 0, 2, 0, [1.0])])[1])
    assert err.value.reason == "chain"
    with pytest.raises(MalformedMessage) as err:
        chain_segments(h, chain_message([(4, 0, 3, 3, [0.5]), (6, 0, 2, 5, [np.nan]),
                                         (8, 0, 1, 0, [1.0])])[1])
    assert err.value.reason == "non_finite_meta"
    with pytest.raises(MalformedMessage) as err:
        chain_segments(h, table[:-8])
    assert err.value.reason == "chain"
    # the header: a chain of one segment, or with an END flag of its own, is refused
    for total, flags in ((1, 0), (3, FLAG_END)):
        bad = raw.copy()
        rec = bad.view(HEADER_DTYPE)
        rec["total"], rec["flags"] = total, int(rec["flags"][0]) | flags
        with pytest.raises(MalformedMessage) as err:
            parse_header(bad, 1)
        assert err.value.reason == "chain"
    with pytest.raises(ValueError, match="chain pack"):
        data_header((1, 4), np.dtype(np.float32), 0.0, 0, 4, [0.5], True, 100, count=3,
                    chain=2, end_total=3)
