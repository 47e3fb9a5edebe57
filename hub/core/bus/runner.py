"""The sink runner: feeds one sink from its queue, retries with the hub's backoff, counts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.core.backoff import Backoff
from hub.core.bus.queue import MemoryQueue, SinkQueue
from hub.errors import SinkRejected, SinkUnavailable
from hub.events import Event
from hub.plugin import Sink, SinkConfig

__all__ = ["SINK_STATES", "RefusedEvent", "SinkRunner", "SinkStats"]

log = logging.getLogger("hub.bus")

SINK_STATES = ("starting", "running", "retrying", "disabled", "stopped")
"""Every state a sink runner reports (``hub status``, ``crowdhub_sink_state``)."""

RefusedEvent = Callable[[str, Event, str], None]
"""``(output label, event, reason)``: record one event an output refused (dead letter)."""

SHUTDOWN_TRIES = 3
"""Tries left to a failing output once the hub stops, each after at most 0.5 s."""


@dataclass
class SinkStats:
    events_out: int = 0
    batches: int = 0
    errors: int = 0
    retries: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    state: str = "starting"
    last_error: str | None = None
    left_queued: int = 0  # durable queue: events kept for the next start at shutdown


class SinkRunner:
    """Feeds one sink from its queue; retries with backoff; counts everything.

    ``queue`` defaults to a :class:`MemoryQueue` of ``config.queue_size`` with
    ``config.overflow``; the hub passes the one its queue factory made. The
    runner's ``stats.dropped`` is the queue's ``dropped`` counter, so every drop
    (``overflow`` by the queue, ``rejected`` and ``shutdown`` by the runner) is
    counted in one place.
    """

    def __init__(
        self,
        sink: Sink[Any],
        config: SinkConfig,
        label: str,
        queue: SinkQueue | None = None,
        dead_letter: RefusedEvent | None = None,
    ) -> None:
        self.sink = sink
        self.config = config
        self.label = label
        self.dead_letter = dead_letter
        if queue is None:  # not `queue or ...`: an empty queue is falsy
            queue = MemoryQueue(config.queue_size, config.overflow, label)
        self.queue: SinkQueue = queue
        self.stats = SinkStats(dropped=self.queue.dropped)
        self._closing = False
        self._closed = asyncio.Event()
        self.on_written: Callable[[Sequence[Event]], None] | None = None
        """Called with each batch the sink took (the audit of what went where)."""
        types = config.measurements
        self.measurements: frozenset[str] | None = frozenset(types) if types else None

    def accepts(self, event: Event) -> bool:
        return self.measurements is None or event.measurement.type in self.measurements

    async def put(self, event: Event) -> None:
        await self.queue.put(event)

    @property
    def lost(self) -> int:
        """Events given up because the hub stopped while the output was failing."""
        return self.stats.dropped["shutdown"]

    def close_input(self) -> None:
        """No more events will come: write what is queued, then return from ``run``.

        A retry wait in progress is cut short; a still failing output gets
        ``SHUTDOWN_TRIES`` quick tries, then what is left is given up (memory
        queue: counted as ``shutdown`` drops) or kept (durable queue).
        """
        self._closing = True
        self._closed.set()
        self.queue.wake()

    def give_up(self, reason: str) -> int:
        """Stop delivering: count what is still queued as lost (or kept, if durable)."""
        left = len(self.queue)
        if not left:
            return 0
        if self.queue.durable:
            if self.stats.left_queued == left:
                return 0  # said already
            self.stats.left_queued = left
            log.warning(
                "%s: %s; %d event(s) stay queued for the next start", self.label, reason, left
            )
            return 0
        self.stats.dropped["shutdown"] += left
        log.error(
            "%s: %s; %d queued event(s) lost (the memory queue does not survive a stop)",
            self.label,
            reason,
            left,
        )
        self.queue.ack(left)
        return left

    async def _pause(self, delay: float) -> None:
        """Sleep ``delay`` seconds, or less when the input is closed meanwhile."""
        if self._closing:
            await asyncio.sleep(min(delay, 0.5))
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), delay)

    async def run(self) -> None:
        cfg = self.config
        queue = self.queue
        policy = Backoff(cfg.retry_initial_s, cfg.retry_max_s)
        down = False
        closing_tries = 0
        self.stats.state = "running"
        while True:
            if not len(queue):
                if self._closing:
                    self.stats.state = "stopped"
                    return
                await queue.wait_nonempty()
                continue
            linger = cfg.linger_s
            if linger and len(queue) < cfg.batch_size and not self._closing:
                await asyncio.sleep(linger)
            batch = queue.peek_batch(cfg.batch_size)
            if not batch:  # a durable queue holds back what a pending commit may refuse
                await queue.wait_nonempty()
                if len(queue) and not queue.peek_batch(1):  # cannot read back (logged)
                    await asyncio.sleep(0.1)
                continue
            written: int | None = None  # None: all of it
            try:
                await self.sink.write(batch)
            except SinkRejected as err:
                written = self._rejected(batch, err)
                queue.ack(len(batch))
                if not written:
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
                        len(queue),
                        exc_info=not isinstance(err, SinkUnavailable),
                    )
                    down = True
                self.stats.state = "retrying"
                if self._closing:
                    closing_tries += 1
                    if closing_tries > SHUTDOWN_TRIES:
                        self.give_up("output still failing at shutdown")
                        self.stats.state = "stopped"
                        return
                retry_after = getattr(err, "retry_after", None)
                await self._pause(policy.next_delay(retry_after=retry_after))
                continue
            if down:
                log.warning(
                    "%s: output is back after %d retr%s",
                    self.label,
                    policy.attempt,
                    "y" if policy.attempt == 1 else "ies",
                )
                down = False
            policy.reset()
            self.stats.state = "running"
            if written is None:  # the whole batch (a partial one is counted and acked above)
                self.stats.events_out += len(batch)
                self.stats.batches += 1
                if self.on_written is not None:
                    self.on_written(batch)
                queue.ack(len(batch))

    def _rejected(self, batch: Sequence[Event], err: SinkRejected) -> int:
        """Count (and dead-letter) what the output refused; return how many it wrote.

        ``err.events`` names single refused events (the rest of the batch was written,
        the output works): each is dead-lettered with its reason. Without it the whole
        batch was refused: dropped and counted as before.
        """
        self.stats.errors += 1
        self.stats.last_error = str(err)
        if err.events is None:
            self.stats.dropped["rejected"] += len(batch)
            log.error("%s: output refused %d event(s), dropped: %s", self.label, len(batch), err)
            return 0
        refused = [e for e in batch if e.event_id in err.events]
        self.stats.dropped["rejected"] += len(refused)
        written = len(batch) - len(refused)
        log.error(
            "%s: output refused %d of %d event(s), dead-lettered: %s",
            self.label,
            len(refused),
            len(batch),
            err,
        )
        if self.dead_letter is not None:
            for event in refused:
                self.dead_letter(self.label, event, err.events[event.event_id])
        if written:
            self.stats.events_out += written
            self.stats.batches += 1
            if self.on_written is not None:
                self.on_written([e for e in batch if e.event_id not in err.events])
        return written
