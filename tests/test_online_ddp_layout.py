"""How the online trainer ranks are presented to Lightning's DDP (``ddp_layout``): ranks that
see all of their node's GPUs keep their node and local rank (device ``cuda:local_rank``); ranks
that see one GPU each (Slurm's ``--gpus-per-task=1``) become one-device nodes (``cuda:0``);
any other mix is refused naming what each rank sees."""

import re

import pytest

from pdesurrogate.online import UsageError
from pdesurrogate.online.trainer_rank import ddp_layout


def test_cpu_ranks_keep_the_node_layout():
    # 2 nodes x 2 trainer ranks, world rank 3 = node 1, local rank 1
    assert ddp_layout(2, 1, 1, 2, 4, 3, None) == (2, 2, 1, 1)


def test_ranks_that_see_all_their_nodes_gpus_keep_the_node_layout():
    assert ddp_layout(2, 1, 1, 2, 4, 3, [(4, 2, None)] * 4) == (2, 2, 1, 1)
    assert ddp_layout(2, 0, 0, 1, 2, 0, [(2, 2, None)] * 2) == (2, 1, 0, 0)


def test_each_rank_is_compared_with_its_own_node():
    """A node of one trainer rank seeing one GPU beside a node of two seeing two: every rank
    sees all of its node's GPUs, so the node layout stands."""
    ranks = [(2, 2, None), (2, 2, None), (1, 1, "c/GPU-c")]
    assert ddp_layout(1, 0, 1, 2, 3, 2, ranks) == (1, 2, 1, 0)


@pytest.mark.parametrize("world_rank", range(4))
def test_one_gpu_per_rank_makes_each_rank_a_one_device_node(world_rank):
    """Two trainer ranks per node, each seeing only its own GPU: Lightning must be asked for
    one device (cuda:0, the visible one) on each of four "nodes", the rank's world rank."""
    node, local = divmod(world_rank, 2)
    devices, n_nodes, node_rank, local_rank = ddp_layout(2, local, node, 2, 4, world_rank,
                                                         [(1, 2, f"n{r // 2}/GPU-{r}")
                                                          for r in range(4)])
    assert (devices, n_nodes, node_rank, local_rank) == (1, 4, world_rank, 0)
    assert devices * n_nodes == 4  # Lightning's world size: every trainer rank, once


def test_a_single_trainer_rank_per_node_with_one_gpu_keeps_its_layout():
    assert ddp_layout(1, 0, 1, 2, 2, 1, [(1, 1, 'a/GPU-0'), (1, 1, 'b/GPU-0')]) == (1, 2, 1, 0)


@pytest.mark.parametrize("seen", [[2, 1, 2, 2], [0, 0, 0, 0], [1, 1, 1, 3]])
def test_ranks_that_cannot_be_placed_are_refused(seen):
    with pytest.raises(UsageError,
                       match=re.escape(f"see {seen} GPUs") + ".*--gpus-per-task=1"):
        ddp_layout(2, 0, 0, 2, 4, 0, [(n, 2, None) for n in seen])


def test_ranks_that_would_share_one_gpu_are_refused():
    """Two trainer ranks on a one-GPU machine each see that GPU: not one GPU per rank, so
    refused naming it, where Lightning would put both on cuda:0."""
    with pytest.raises(UsageError, match=r"share a GPU \(host/GPU-u0\).*lower --trainers"):
        ddp_layout(2, 1, 0, 1, 2, 1, [(1, 2, "host/GPU-u0"), (1, 2, "host/GPU-u0")])


@pytest.mark.parametrize("uuid, known", [("1f2e-aa", True), ("00000000-0000-0000-0000-000000000000",
                                                              False), ("", False), (None, False)])
def test_a_gpu_without_a_usable_uuid_is_unknown(monkeypatch, uuid, known):
    """A build that reports no UUID or an all-zero one cannot tell devices apart: such a GPU
    is unknown (never taken for another rank's), not "host/GPU-0000..." shared by all."""
    import types

    import torch

    from pdesurrogate.online.trainer_rank import _gpu_identity

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda i: types.SimpleNamespace(uuid=uuid))
    n, gpu = _gpu_identity()
    assert n == 1 and (gpu is not None) == known
    if known:
        assert gpu.endswith(f"/GPU-{uuid}")
