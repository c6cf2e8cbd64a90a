"""``TrainerRanksEnvironment``: tell Lightning which processes form the DDP group of an online run.

In an online run only the trainer ranks of the MPI job train; the solver ranks must not join
``torch.distributed``. Lightning's own MPI and SLURM environments would count every rank of the
job, so ``pdesurrogate online`` computes the trainer group from its role communicator (sizes,
ranks, the address and a free port of trainer 0) and hands it over with this plugin. The
processes already exist (started by mpiexec or srun): Lightning must not launch any.
"""

from __future__ import annotations

from lightning.fabric.plugins.environments import ClusterEnvironment


class TrainerRanksEnvironment(ClusterEnvironment):
    """A fixed DDP group: ``world_size`` trainer processes, this one ``global_rank``.

    Args:
        world_size: number of trainer ranks.
        global_rank: this trainer's rank among them (0-based).
        local_rank: its rank among the trainers on this node (picks the GPU).
        node_rank: index of this node among the nodes that hold trainers.
        main_address: host name or IP of trainer 0 (the rendezvous).
        main_port: a free TCP port on that host.
    """

    def __init__(self, world_size: int, global_rank: int, local_rank: int, node_rank: int,
                 main_address: str, main_port: int):
        super().__init__()
        if not (0 <= global_rank < world_size and 0 <= local_rank and 0 <= node_rank):
            raise ValueError(f"inconsistent ranks: world_size={world_size}, global_rank="
                             f"{global_rank}, local_rank={local_rank}, node_rank={node_rank}")
        if not (0 < int(main_port) < 65536):
            raise ValueError(f"main_port must be a TCP port, got {main_port!r}")
        self._world_size, self._global_rank = int(world_size), int(global_rank)
        self._local_rank, self._node_rank = int(local_rank), int(node_rank)
        self._address, self._port = str(main_address), int(main_port)

    @property
    def creates_processes_externally(self) -> bool:
        return True

    @property
    def main_address(self) -> str:
        return self._address

    @property
    def main_port(self) -> int:
        return self._port

    @staticmethod
    def detect() -> bool:
        return False  # only ever given explicitly

    def world_size(self) -> int:
        return self._world_size

    def set_world_size(self, size: int) -> None:
        if size != self._world_size:
            raise ValueError(f"the online run has {self._world_size} trainer ranks; the trainer "
                             f"asked for {size} processes (set trainer devices/num_nodes to "
                             "match the ranks)")

    def global_rank(self) -> int:
        return self._global_rank

    def set_global_rank(self, rank: int) -> None:
        if rank != self._global_rank:
            raise ValueError(f"trainer rank {self._global_rank} cannot become rank {rank}")

    def local_rank(self) -> int:
        return self._local_rank

    def node_rank(self) -> int:
        return self._node_rank
