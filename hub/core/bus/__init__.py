"""The bus: one queue in front of each sink, and the runner that feeds the sink batches.

::

    pipeline fan-out ──put_nowait──▶ SinkQueue (per sink) ──peek_batch──▶ SinkRunner ──▶ Sink.write
                                          ▲                                   │
                                          └───────────────ack(n)──────────────┘

Modules: :mod:`~hub.core.bus.queue` (the seam and :class:`MemoryQueue`),
:mod:`~hub.core.bus.durable` (:class:`DurableQueue`, the default: SQLite WAL, one
file per output; with ``durable_store``, ``durable_index``, ``durable_settings``),
:mod:`~hub.core.bus.runner` (:class:`SinkRunner`), :mod:`~hub.core.bus.factory`
(which class a sink's ``queue = "..."`` names; register a new class in ``QUEUES``).

The queue seam (:class:`SinkQueue`), what every queue class implements:

``__len__()``
    events held and not yet acknowledged, the batch being written included.
``put_nowait(event) -> bool``
    never waits. Under ``overflow = "drop_oldest"`` it always queues the event;
    when full it first drops the oldest event not being written and counts it in
    ``dropped["overflow"]`` (logged once per burst). Under ``"block"`` it returns
    False when full and queues nothing.
``async put(event)``
    waits for room under ``"block"`` (backpressure for this sink alone; the
    fan-out has already handed the event to every other sink).
``async wait_nonempty()`` / ``wake()``
    the runner's wait for work, and its interruption at shutdown.
``async flush()``
    returns once everything put so far is kept (a durable queue: committed to
    disk); raises :class:`~hub.errors.QueueUnavailable` for what could not be
    written. The pipeline awaits it before ``ctx.emit`` returns.
``peek_batch(n)`` / ``ack(n)``
    the oldest ``n`` events stay queued while ``Sink.write`` runs; ``ack``
    removes them once written (or given up). Delivery is at-least-once.
``durable: bool``
    whether what is queued survives a restart; a non-durable queue's leftovers
    are counted as lost at shutdown, a durable one keeps them for the next start.
``dropped: Counter[str]``
    events given up, by reason; the runner shares it for ``rejected`` and
    ``shutdown``, so ``hub status`` and ``/metrics`` read one counter.
``close()``
    the hub stops; release what the queue holds open.
"""

from hub.core.bus.durable import DurableQueue
from hub.core.bus.factory import QUEUES, QueueSpec, make_queue, queue_problems
from hub.core.bus.queue import MemoryQueue, Overflow, OverflowLog, SinkQueue
from hub.core.bus.runner import SINK_STATES, SinkRunner, SinkStats

__all__ = [
    "QUEUES",
    "SINK_STATES",
    "DurableQueue",
    "MemoryQueue",
    "Overflow",
    "OverflowLog",
    "QueueSpec",
    "SinkQueue",
    "SinkRunner",
    "SinkStats",
    "make_queue",
    "queue_problems",
]
