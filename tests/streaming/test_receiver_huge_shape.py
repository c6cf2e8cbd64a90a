"""A split pack header may announce a sample shape whose size is consistent with its
``nbytes`` but enormous: the receiver must reject the pack as malformed when the first
message is not one sample's size, before allocating anything for samples that never arrive
(receiver_huge_shape.py runs the Receiver over COMM_SELF in a subprocess)."""


def test_a_split_header_with_a_huge_sample_shape_is_malformed_not_allocated(run_script):
    """2 samples of 8 TiB announced, 8-byte messages sent: counted malformed (payload_size),
    its simulation dropped, the next simulation stored; the receiver does not fail (before,
    it asked its pool for the announced arrays first and died of MemoryError)."""
    (r,) = run_script("receiver_huge_shape.py")
    assert r["error"] is None and r["ended"] is True
    assert r["malformed_by_reason"] == {"payload_size": 1} and r["malformed"] == 1
    assert r["sims_dropped"] == 1 and r["sims_committed"] == 1
    assert r["stored"] == [[8, 0], [8, 1]]
