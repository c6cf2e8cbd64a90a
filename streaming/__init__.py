"""MPI transport for online training (Melissa-style): solver ranks stream samples to trainer
ranks, which train from a bounded buffer; nothing is written to disk.

One MPI job; on every rank::

    from pdesurrogate.solvers import Advection1D
    from pdesurrogate.streaming import (FIROBuffer, Receiver, Scheduler, BufferDataset,
                                        run_solver_rank, solver_simulation, split_roles)

    roles = split_roles(n_trainers=1)          # first ranks train, world rank 0 schedules
    scheduler = Scheduler({"beta": (0.1, 1.0)}, n_simulations=100, method="halton")
    names = scheduler.param_names
    if roles.is_trainer:
        buffer = FIROBuffer(capacity=1000, watermark=100)
        receiver = Receiver.from_roles(roles, buffer, names, scheduler=scheduler).start()
        data = BufferDataset(buffer, names, batch_size=32, sync=receiver.should_continue)
        ...                                    # DataLoader(data, batch_size=32), train
        receiver.join()
    else:
        run_solver_rank(roles, solver_simulation(Advection1D(n_points=64), 20, 0.05), names)

Modules: :mod:`.sample` (what travels), :mod:`.protocol` (wire format), :mod:`.roles`
(``COMM_WORLD`` split), :mod:`.scheduler`, :mod:`.client` (solver side, flow control),
:mod:`.receiver` (trainer side), :mod:`.pool` (recycled receive arrays), :mod:`.buffers`,
:mod:`.iterable`. Importing this package
does not start MPI; the MPI parts import ``mpi4py.MPI`` on first use (thread level
"multiple").
"""

from .buffers import (
    BUFFERS,
    BufferClosed,
    FIFOBuffer,
    FIROBuffer,
    ReservoirBuffer,
    TrainingBuffer,
    make_buffer,
)
from .client import NonFiniteFieldsError, StreamClient, route, run_solver_rank, solver_simulation
from .iterable import BufferDataset, collate_items, to_training_item
from .pool import ArrayPool
from .protocol import Kind, MalformedMessage
from .receiver import Receiver
from .roles import Roles, split_roles
from .sample import Pair, Sample
from .scheduler import Scheduler, SchedulerServer, Task, TaskClient, draw_parameters

__all__ = [
    "Sample", "Pair",
    "TrainingBuffer", "FIFOBuffer", "FIROBuffer", "ReservoirBuffer", "BUFFERS", "make_buffer",
    "BufferClosed",
    "Kind", "MalformedMessage",
    "Roles", "split_roles",
    "Scheduler", "SchedulerServer", "TaskClient", "Task", "draw_parameters",
    "StreamClient", "NonFiniteFieldsError", "route", "run_solver_rank", "solver_simulation",
    "Receiver", "ArrayPool",
    "BufferDataset", "to_training_item", "collate_items",
]
