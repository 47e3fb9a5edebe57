"""Deferred acknowledgement: one commit for many upstream messages, nothing acknowledged early.

A source's ``emit`` normally returns once its events are committed in every
durable queue they went to (:meth:`hub.core.pipeline.Pipeline.deliver`). A
source that handles one message at a time then pays one commit per message. A
transport that acknowledges *later* (MQTT QoS 1/2: the PUBACK) opens a
:class:`Keeping` around the handling of each message instead (:func:`open_scope`,
a context variable of the source's task): ``emit`` then puts the events into
the queues and returns at once, and registers in the scope what they wait for
(each durable queue's :meth:`~hub.core.bus.SinkQueue.kept` future). The
transport acknowledges the message only once :meth:`Keeping.done` and
:meth:`Keeping.ok` say every commit succeeded, in the order the messages came;
the queues gather the puts of several messages into one commit meanwhile.

A commit that fails (full or read-only disk) leaves the message unacknowledged;
the transport then awaits :meth:`Keeping.settle`, which delivers the events
again (to the queues that missed them only) until they are kept, so the
guarantee stays: nothing is acknowledged upstream that is not on disk. While it
retries the source takes no new message (the broker keeps them). A source's own
sequence/dedup state has advanced when ``emit`` returned; the events are then
held by the hub until kept, or lost together with that state when the process
dies (and the broker sends the message again).

A message nobody acknowledges (MQTT QoS 0: the broker never sends it again)
opens a *detached* scope: ``emit`` puts the events into the queues and returns,
the queues commit them in the background (grouped, as above), and nothing
waits for those commits (no :class:`Keeping` item, no callback). A commit that
fails is counted by its queue (``unwritten``) and logged; there is nobody to
ask for the message again.

HTTP pushes open no scope: their ``emit`` still waits for the commit before the
``2xx``.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Sequence

from hub.core.bus import SinkQueue
from hub.errors import EventNotKept
from hub.events import Event

__all__ = ["Keeping", "current_scope", "open_scope"]

log = logging.getLogger("hub.pipeline")

Redeliver = Callable[[Sequence[Event], Sequence[SinkQueue]], Awaitable[None]]
"""``(events, queues that kept them)``: deliver ``events`` again, waiting for the commit;
raises :class:`~hub.errors.EventNotKept` when still not kept."""

Kept = Callable[[Sequence[Event]], None]
"""Told the events of one ``emit`` once every commit covering them succeeded."""

Wait = tuple[SinkQueue | None, "asyncio.Future[None]"]
"""A queue and the future of its commit (queue None: a queue refused the put)."""

_SCOPE: contextvars.ContextVar[tuple[object, Keeping] | None] = contextvars.ContextVar(
    "hub_keeping", default=None
)
"""(task, scope): a task started while a message is handled copies the context, but
its emits are its own (they wait for their commit), so a scope counts in its task only."""

RETRY_S = 1.0
"""Pause between two tries of events a queue could not keep (the queue itself
refuses puts for its ``retry_s`` after a failure)."""


class Keeping:
    """What the handling of one upstream message waits for before its acknowledgement.

    ``detached``: the message is acknowledged to nobody (MQTT QoS 0); its events'
    commits are not waited for (see the module doc)."""

    __slots__ = ("_items", "detached")

    def __init__(self, detached: bool = False) -> None:
        self._items: list[tuple[Sequence[Event], list[Wait], Redeliver, Kept]] = []
        self.detached = detached

    def __bool__(self) -> bool:
        return bool(self._items)

    def add(
        self, events: Sequence[Event], waits: list[Wait], redeliver: Redeliver, kept: Kept
    ) -> None:
        """``events`` are in the queues; each ``(queue, future)`` is one commit to wait
        for; ``redeliver`` delivers them again if a commit fails; ``kept`` is told once
        they are kept everywhere (the fan-out forgets what it held for a retry)."""
        self._items.append((events, waits, redeliver, kept))

    def finish(self) -> None:
        """Every commit succeeded (:meth:`ok`): tell each item's ``kept``."""
        for events, _, _, kept in self._items:
            kept(events)
        self._items.clear()

    def watch(
        self, callback: Callable[[asyncio.Future[None]], None], watched: list[asyncio.Future[None]]
    ) -> None:
        """Have ``callback`` called when each awaited commit is done, unless its future is
        in ``watched`` (the futures the caller watches already: many messages share one
        commit); appends the newly watched ones (the caller trims the list)."""
        for _, waits, _, _ in self._items:
            for _, fut in waits:
                if not fut.done() and fut not in watched:  # futures compare by identity
                    fut.add_done_callback(callback)
                    watched.append(fut)

    def state(self) -> bool | None:
        """None while a commit is still running; then True when every one succeeded."""
        ok = True
        for _, waits, _, _ in self._items:
            for _, fut in waits:
                if not fut.done():
                    return None
                if ok and fut.exception() is not None:
                    ok = False
        return ok

    async def settle(self) -> None:
        """Wait for every commit; deliver again what a queue could not keep, until kept."""
        for events, waits, redeliver, tell in self._items:
            kept: list[SinkQueue] = []
            failed = False
            for queue, fut in waits:
                try:
                    await fut
                except Exception:  # QueueUnavailable: counted and logged by the queue
                    failed = True
                else:
                    if queue is not None:
                        kept.append(queue)
            if not failed:
                tell(events)
            while failed:
                token = _SCOPE.set(None)  # this delivery waits for its commit
                try:
                    await redeliver(events, kept)
                except EventNotKept as err:
                    log.debug("still not kept, retrying: %s", err)
                    await asyncio.sleep(RETRY_S)
                else:
                    failed = False
                finally:
                    _SCOPE.reset(token)
        self._items.clear()


def current_scope() -> Keeping | None:
    """The :class:`Keeping` of the message being handled in this task, if any."""
    scope = _SCOPE.get()
    if scope is None or scope[0] is not asyncio.current_task():
        return None
    return scope[1]


def open_scope(detached: bool = False) -> Keeping:
    """Start a new :class:`Keeping` for the next message handled in this task
    (``detached``: a message nobody acknowledges, see :class:`Keeping`)."""
    keeping = Keeping(detached)
    _SCOPE.set((asyncio.current_task(), keeping))
    return keeping


def close_scope() -> None:
    """The task handles no more deferred messages."""
    _SCOPE.set(None)
