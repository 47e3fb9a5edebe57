"""The queue seam between the pipeline's fan-out and one sink runner, and the memory queue.

One queue per sink. The fan-out puts events in without waiting
(:meth:`SinkQueue.put_nowait`); the sink's :class:`~hub.core.bus.runner.SinkRunner`
takes a batch from the head (:meth:`SinkQueue.peek_batch`), hands it to
``Sink.write`` and only then removes it (:meth:`SinkQueue.ack`): the return of
``write`` is the acknowledgement. See the package docstring for the contract.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from typing import Literal, Protocol, runtime_checkable

from hub.events import Event

__all__ = ["MemoryQueue", "Overflow", "OverflowLog", "SinkQueue"]

Overflow = Literal["drop_oldest", "block"]

log = logging.getLogger("hub.bus")


@runtime_checkable
class SinkQueue(Protocol):
    """What the fan-out and a sink runner need from a sink's queue (memory, durable...)."""

    durable: bool
    """True when queued events survive a restart of the hub."""
    dropped: Counter[str]
    """Events this queue gave up, by reason (``overflow``); the runner adds its own reasons."""

    def __len__(self) -> int:
        """Events queued and not yet acknowledged (including the batch being written)."""
        ...

    def put_nowait(self, event: Event) -> bool:
        """Queue ``event`` without waiting; apply the overflow policy when full.

        ``drop_oldest``: always True (the oldest waiting event is dropped and counted).
        ``block``: False when full, and nothing was queued: the caller awaits :meth:`put`.
        """
        ...

    async def put(self, event: Event) -> None:
        """Queue ``event``, waiting for room under ``block``; same as ``put_nowait`` otherwise."""
        ...

    async def wait_nonempty(self) -> None:
        """Return when an event is queued, or when :meth:`wake` is called."""
        ...

    def wake(self) -> None:
        """Make a pending :meth:`wait_nonempty` return (the runner is told to stop)."""
        ...

    def peek_batch(self, n: int) -> list[Event]:
        """The oldest ``n`` events (fewer if fewer are queued), left in the queue."""
        ...

    def ack(self, n: int) -> None:
        """The oldest ``n`` events are delivered (or given up): remove them."""
        ...

    async def flush(self) -> None:
        """Return once every event put so far is kept (on disk, for a durable queue).

        Raises :class:`~hub.errors.QueueUnavailable` when some could not be written:
        they are not queued; acknowledge nothing of them upstream.
        """
        ...

    def close(self) -> None:
        """The hub stops: release files and waiters. Queued events stay (a durable queue keeps
        them for the next start)."""
        ...


class OverflowLog:
    """Log an overflowing queue once per burst: at the first drop and when it has recovered.

    A burst ends when the queue is down to half its bound; the closing line says
    how many events the burst cost. Shared by every queue class.
    """

    def __init__(self, label: str, maxsize: int) -> None:
        self.label = label
        self.low_water = maxsize // 2
        self.in_burst = 0
        self.started = 0.0

    def dropped(self, n: int = 1) -> None:
        if not self.in_burst:
            self.started = time.monotonic()
            log.warning(
                '%s: queue full; dropping the oldest events (overflow = "drop_oldest"). '
                "The output is slower than the sources or down; see hub status",
                self.label,
            )
        self.in_burst += n

    def level(self, queued: int) -> None:
        """Call after events left the queue; ends the burst below the low-water mark."""
        if self.in_burst and queued <= self.low_water:
            log.warning(
                "%s: queue has room again; %d event(s) dropped in %.0f s",
                self.label,
                self.in_burst,
                time.monotonic() - self.started,
            )
            self.in_burst = 0


class MemoryQueue:
    """A bounded in-memory FIFO (lost when the hub stops) with an overflow policy.

    ``maxsize`` bounds the events held, including the batch being written. Under
    ``drop_oldest`` a full queue drops the oldest event that is not part of the
    batch being written (if every queued event is in that batch, the new event
    is dropped instead); under ``block`` :meth:`put_nowait` refuses and
    :meth:`put` waits for room.
    """

    durable = False

    def __init__(self, maxsize: int, overflow: Overflow = "drop_oldest", label: str = "") -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self.overflow: Overflow = overflow
        self.dropped: Counter[str] = Counter()
        self._items: deque[Event] = deque()
        self._inflight = 0  # events handed out by peek_batch and not yet acknowledged
        self._nonempty = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self._block = overflow == "block"
        self._log = OverflowLog(label or "queue", maxsize)

    def __len__(self) -> int:
        return len(self._items)

    def put_nowait(self, event: Event) -> bool:
        items = self._items
        if len(items) >= self.maxsize:
            if self._block:
                return False
            self._drop_oldest(event)
        else:
            items.append(event)
        self._nonempty.set()
        return True

    def _drop_oldest(self, event: Event) -> None:
        items = self._items
        if self._inflight < len(items):
            del items[self._inflight]  # the oldest event that is not being written
            items.append(event)
        self.dropped["overflow"] += 1
        self._log.dropped()

    async def put(self, event: Event) -> None:
        while not self.put_nowait(event):
            self._space.clear()
            await self._space.wait()

    async def wait_nonempty(self) -> None:
        if not self._items:
            self._nonempty.clear()
            await self._nonempty.wait()

    def wake(self) -> None:
        self._nonempty.set()

    def peek_batch(self, n: int) -> list[Event]:
        items = self._items
        batch = list(items) if len(items) <= n else [items[i] for i in range(n)]
        self._inflight = len(batch)
        return batch

    def ack(self, n: int) -> None:
        items = self._items
        n = min(n, len(items))
        for _ in range(n):
            items.popleft()
        self._inflight = max(0, self._inflight - n)
        if len(items) < self.maxsize:
            self._space.set()
        if self._log.in_burst:
            self._log.level(len(items))

    async def flush(self) -> None:
        return  # kept in memory as soon as put (until the hub stops)

    def close(self) -> None:
        self._nonempty.set()  # nothing to release: what is queued is lost with the process
