"""RankAgreement: in one process the flags at once; over two gloo processes, ``later`` returns
the agreement on the previous call's flags (reduced in the background since), and a blocking
call also returns the flags still in flight, so none is dropped."""

import json
from types import SimpleNamespace

from pdesurrogate.training import rank_agreement as rank_agreement_module
from pdesurrogate.training.rank_agreement import RankAgreement

from .ddp_script import run_ranks

SCRIPT = '''
import importlib.util
import json
import os
import socket
import sys
from types import SimpleNamespace

import torch
import torch.distributed as dist

# the module alone, from its file: pdesurrogate.training's __init__ imports Lightning, which
# the parent and each spawned rank would import for nothing (about 4 s of CPU each)
_spec = importlib.util.spec_from_file_location("rank_agreement", RANK_AGREEMENT_FILE)
rank_agreement = sys.modules["rank_agreement"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rank_agreement)
RankAgreement = rank_agreement.RankAgreement


def agree(rank, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    ranks = RankAgreement()
    ranks.open(SimpleNamespace(world_size=2))
    seen = [ranks.distributed,
            ranks.any_rank([rank == 0, False], later=True),  # nothing was in flight
            ranks.any_rank([False, False], later=True),  # rank 0's flag 0 of the call before
            ranks.any_rank([False, rank == 1], later=True),
            ranks.any_rank([False, False]),  # at once, with rank 1's flag 1 still in flight
            ranks.any_rank([rank == 1, False]),  # at once
            ranks.any_rank([rank == 0, False], later=True),  # nothing was in flight
            # at once, OR-ed with rank 0's flag 0 still in flight: both sources at one call
            ranks.any_rank([False, rank == 1]),
            ranks.any_rank([False, rank == 0], later=True)]  # in flight when closed
    ranks.close()
    seen.append(ranks.distributed)
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump(seen, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torch.multiprocessing.spawn(agree, args=(port, sys.argv[1]), nprocs=2)
'''.replace("RANK_AGREEMENT_FILE", repr(rank_agreement_module.__file__))


def test_one_process_agrees_at_once_and_runs_no_collective():
    ranks = RankAgreement()  # never opened: one process
    assert not ranks.distributed
    assert ranks.any_rank([True, False], later=True) == [True, False]
    assert ranks.any_rank([False, True]) == [False, True]
    agreed = ranks.any_rank([1, 0])  # truthy values come back as bools, as under DDP
    assert agreed == [True, False] and all(type(f) is bool for f in agreed)


def test_a_process_group_of_one_rank_agrees_at_once(tmp_path):
    """A DDP strategy on one device initialises a process group of one rank: that is one
    process, so the flags come back at once (no collective, no delay with ``later``)."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0,
                            world_size=1)
    try:
        ranks = RankAgreement()
        ranks.open(SimpleNamespace(world_size=1))
        assert not ranks.distributed
        assert ranks.any_rank([True, False], later=True) == [True, False]
        ranks.close()
    finally:
        dist.destroy_process_group()


def test_two_ranks_agree_later_on_the_flags_of_the_call_before(tmp_path):
    code, out, err = run_ranks(SCRIPT, tmp_path)
    assert code == 0, out[-3000:] + err[-3000:]
    expected = [True, [False, False], [True, False], [False, False], [False, True],
                [True, False], [False, False], [True, True], [False, False], False]
    for rank in (0, 1):
        assert json.loads((tmp_path / f"rank{rank}.json").read_text()) == expected
