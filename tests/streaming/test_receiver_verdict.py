"""The sender's verdict (``wait_large``) on a diverged sample (receiver_verdict.py runs a
Receiver over COMM_SELF in a subprocess): a NaN the sender found fails its simulation and is
counted as a non-finite sample, not as a malformed message."""


def test_a_diverged_sample_fails_its_simulation_and_is_not_malformed(run_script):
    r = run_script("receiver_verdict.py")[-1]
    assert r["malformed"] == 0 and r["malformed_by_reason"] == {}
    assert r["samples_non_finite"] == 1
    assert r["sims_failed"] == 1 and r["sims_dropped"] == 0
    assert r["committed_sims"] == [1] and r["stored"] == [[1, 0], [1, 1]]
