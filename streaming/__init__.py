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
:mod:`.iterable`, :mod:`.polling` (waiting without taking a core). Importing this package
does not start MPI; the MPI parts import ``mpi4py.MPI`` on first use (thread level
"multiple").

The path of one sample in ``pdesurrogate online``, solver rank to training batch:

1. Solver rank (``pdesurrogate.online.solver_rank.run_solver``): :func:`run_solver_rank` asks
   the scheduler for a :class:`Task`, opens it (``StreamClient.open``) and calls
   ``simulate(task, client)`` (:func:`solver_simulation`: ``solver.advance`` per step), which
   calls ``StreamClient.send(fields, t, step)`` for each saved state.
2. ``send`` copies a small field into the open pack, which ``_flush_pack`` sends as one
   message when full or at ``close``; a large field goes alone (``_send``). Either way
   :func:`.protocol.data_header` makes the fixed header, ``_take_credit`` waits for the
   trainer's credit (back-pressure) and ``_post`` hands header and payload to
   :func:`.protocol.isend_message`.
3. Trainer rank, the :class:`Receiver`'s thread: ``_loop`` -> ``_take_messages`` -> ``_handle``
   receives the header, checks it (:func:`.protocol.parse_header`) and receives the payload
   straight into one array per sample (``_on_data``, ``_recv_pack``); the samples stay
   pending per simulation (``_accept``).
4. The simulation's END (sent by ``StreamClient.close``, or a flag in its last pack):
   ``_on_end`` pairs consecutive steps (:func:`.sample.pairs_of`) into :class:`Pair` items,
   and ``_flush_commits`` puts them into the training buffer (``TrainingBuffer.put_many``).
5. Training loop: ``pdesurrogate.training.stream_data.StreamDataModule`` reads the buffer
   through a ``BufferDataset(collate=True)``, which asks ``Receiver.should_continue`` (every
   trainer rank can draw a batch), draws ``buffer.get_many(batch_size)`` and stacks the items
   (:func:`collate_items`) into ``{"input", "target": (B, C, *grid), "params": (B, P), ...}``,
   the batch ``NextStepModule.training_step`` trains on.
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
