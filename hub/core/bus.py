"""The bus: a bounded queue in front of each sink, and the loop that feeds it batches.

Sources ``put`` events; when a sink's queue is full they wait (backpressure),
nothing is dropped silently. Each :class:`SinkRunner` takes what is queued
(up to ``batch_size``, optionally lingering ``linger_s`` to fill a batch),
calls ``Sink.write(batch)`` and only then removes the batch from its queue:
the return of ``write`` is the acknowledgement. That is the seam for the
durable store-and-forward queue: :class:`MemoryQueue` is swapped for a disk
queue with the same ``put / peek_batch / ack`` interface, sinks stay unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from hub.errors import SinkRejected, SinkUnavailable
from hub.events import Event
from hub.plugin import Sink, SinkConfig

log = logging.getLogger("hub.bus")


class SinkQueue(Protocol):
    """What a sink runner needs from its queue (memory now, durable later)."""

    def __len__(self) -> int: ...

    async def put(self, event: Event) -> None: ...

    async def wait_nonempty(self) -> None: ...

    def wake(self) -> None: ...

    def peek_batch(self, n: int) -> list[Event]: ...

    def ack(self, n: int) -> None: ...


class MemoryQueue:
    """A bounded in-memory FIFO with acknowledgement of the oldest ``n`` events."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: deque[Event] = deque()
        self._nonempty = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()

    def __len__(self) -> int:
        return len(self._items)

    async def put(self, event: Event) -> None:
        while len(self._items) >= self.maxsize:
            self._space.clear()
            await self._space.wait()
        self._items.append(event)
        self._nonempty.set()

    async def wait_nonempty(self) -> None:
        """Return when an event is queued, or when :meth:`wake` is called."""
        if not self._items:
            self._nonempty.clear()
            await self._nonempty.wait()

    def wake(self) -> None:
        self._nonempty.set()

    def peek_batch(self, n: int) -> list[Event]:
        items = self._items
        if len(items) <= n:
            return list(items)
        return [items[i] for i in range(n)]

    def ack(self, n: int) -> None:
        items = self._items
        for _ in range(min(n, len(items))):
            items.popleft()
        if len(items) < self.maxsize:
            self._space.set()


@dataclass
class SinkStats:
    events_out: int = 0
    batches: int = 0
    errors: int = 0
    retries: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    state: str = "starting"
    last_error: str | None = None


class SinkRunner:
    """Feeds one sink from its queue; retries with backoff; counts everything."""

    def __init__(self, sink: Sink[Any], config: SinkConfig, label: str) -> None:
        self.sink = sink
        self.config = config
        self.label = label
        self.queue: SinkQueue = MemoryQueue(config.queue_size)
        self.stats = SinkStats()
        self._closing = False
        types = config.measurements
        self._accepts: frozenset[str] | None = frozenset(types) if types else None

    def accepts(self, event: Event) -> bool:
        return self._accepts is None or event.measurement.type in self._accepts

    async def put(self, event: Event) -> None:
        await self.queue.put(event)

    def close_input(self) -> None:
        """No more events will come: write what is queued, then return from ``run``."""
        self._closing = True
        self.queue.wake()

    async def run(self) -> None:
        cfg = self.config
        attempt = 0
        down = False
        self.stats.state = "running"
        while True:
            if not len(self.queue):
                if self._closing:
                    return
                await self.queue.wait_nonempty()
                continue
            linger = cfg.linger_s
            if linger and len(self.queue) < cfg.batch_size and not self._closing:
                await asyncio.sleep(linger)
            batch = self.queue.peek_batch(cfg.batch_size)
            try:
                await self.sink.write(batch)
            except SinkRejected as err:
                self.stats.errors += 1
                self.stats.dropped["rejected"] += len(batch)
                self.stats.last_error = str(err)
                log.error(
                    "%s: output refused %d event(s), dropped: %s", self.label, len(batch), err
                )
                self.queue.ack(len(batch))
                continue
            except asyncio.CancelledError:
                raise
            except Exception as err:
                self.stats.errors += 1
                self.stats.retries += 1
                self.stats.last_error = str(err) or type(err).__name__
                if not down:
                    kind = "unavailable" if isinstance(err, SinkUnavailable) else "failed"
                    log.warning(
                        "%s: output %s (%s); keeping %d event(s) queued and retrying",
                        self.label,
                        kind,
                        self.stats.last_error,
                        len(self.queue),
                        exc_info=not isinstance(err, SinkUnavailable),
                    )
                    down = True
                self.stats.state = "retrying"
                delay = backoff(attempt, cfg.retry_initial_s, cfg.retry_max_s)
                retry_after = getattr(err, "retry_after", None)
                if retry_after is not None:
                    delay = max(delay, float(retry_after))
                attempt += 1
                if self._closing:
                    # shutting down: one more try after a short pause, then give up
                    if attempt > 3:
                        lost = len(self.queue)
                        self.stats.dropped["shutdown"] += lost
                        log.error(
                            "%s: output still failing at shutdown; %d queued event(s) lost",
                            self.label,
                            lost,
                        )
                        self.queue.ack(lost)
                        return
                    delay = min(delay, 0.5)
                await asyncio.sleep(delay)
                continue
            if down:
                log.warning(
                    "%s: output is back after %d retr%s",
                    self.label,
                    attempt,
                    "y" if attempt == 1 else "ies",
                )
                down = False
            attempt = 0
            self.stats.state = "running"
            self.stats.events_out += len(batch)
            self.stats.batches += 1
            self.queue.ack(len(batch))


def backoff(attempt: int, initial: float, maximum: float) -> float:
    """Jittered exponential backoff: ``initial * 2**attempt`` capped, times 0.5..1.0."""
    base: float = min(maximum, initial * (2 ** min(attempt, 30)))
    return float(base * random.uniform(0.5, 1.0))


async def fan_out(runners: Sequence[SinkRunner], event: Event) -> None:
    for runner in runners:
        if runner.accepts(event):
            await runner.put(event)
