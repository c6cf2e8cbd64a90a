"""Back-pressure is exact: a StreamClient with ``credits=2`` has at most 2 DATA messages not
yet credited back on the wire, and its third send waits until one credit returns
(client_credits.py runs the client against its own rank over COMM_SELF in a subprocess, so
this process never starts MPI)."""



def test_the_client_sends_no_more_messages_than_its_credits(run_script):
    (r,) = run_script("client_credits.py")
    assert r["before"] == [0, 1]  # exactly the 2 credited messages, not a third
    assert r["waited"] and r["credit_waits"] == 1  # the third send waited ...
    assert r["finished"] and r["after"] == [2]  # ... until one credit came back
