"""Building and handing over the ``camera_aggregate`` events.

* A message's own events go out with :meth:`Delivery.deliver`: each carries the
  dedup key it claimed in :class:`hub.quality.SeenKeys`; when the hub does not
  take an event (``emit`` raised, or the HTTP handler timed out and was cancelled:
  answered ``503``) the keys of the events not taken are forgotten again, and the
  message's commit (sequence numbers, cumulative totals) does not run, so the
  device's retry is accepted rather than taken for a duplicate.
* Interval bins (AXIS crossline, Hikvision realTime) close on the device's clock
  and wait in a queue until the hub took them (:meth:`Delivery.flush`), so a
  refused push or a slow output never loses a closed interval.
* On a clean stop the still-open intervals go out as ``incomplete``
  (:meth:`Delivery.flush_open`).
"""

from __future__ import annotations

__all__ = ["Delivery"]

import asyncio
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from datetime import datetime
from typing import Any

import hub
from hub.events import Crossing, Event, QualityReason
from hub.quality import Plausibility, SeenKeys, worst_quality

from .bins import Bin, BinAggregator, DeviceClock

Planned = tuple[Event, Hashable | None]
"""An event and the dedup key it claimed (None: no key)."""


class Delivery:
    """Event builders, the queue of closed intervals and the hand-over to the hub."""

    def __init__(
        self,
        ctx: hub.SourceContext,
        device: str,
        transport: str,
        bins: BinAggregator,
        seen: SeenKeys,
        plausible: Plausibility,
    ) -> None:
        self.ctx = ctx
        self.device = device
        self.transport = transport
        """``provenance.transport`` of every event: mqtt (AXIS) or http."""
        self.bins = bins
        self.seen = seen
        self.plausible = plausible
        self.clock = DeviceClock()
        self._pending: deque[Event] = deque()
        self._queued: list[Event] = []
        self._lock = asyncio.Lock()

    # -- builders ----------------------------------------------------------------------
    def event(self, measurement: Any, **fields: Any) -> Event:
        return self.ctx.event(measurement, transport=self.transport, **fields)

    def bin_event(
        self, b: Bin, *, incomplete: bool = False, until: datetime | None = None
    ) -> Event:
        reasons = {*b.reasons, *self.plausible.count(b.in_ + b.out)}
        extras: dict[str, Any] = {"device": self.device, "messages": b.messages}
        if incomplete:
            reasons.add(QualityReason.INCOMPLETE)
            extras["incomplete"] = True
        if b.revision:
            extras["revision"] = b.revision
        extras.update(b.extra)
        end = b.end if until is None else max(b.start, min(b.end, until))
        ordered = sorted(reasons)
        return self.event(
            Crossing(in_=b.in_, out=b.out),
            key=b.key,
            observed_from=b.start,
            observed_to=end,
            line=b.line,
            quality=worst_quality(ordered),
            quality_reasons=ordered,
            extras=extras,
        )

    def interval_event(
        self,
        key: str,
        line: str,
        start: datetime,
        end: datetime,
        in_: int,
        out: int,
        reasons: Sequence[QualityReason],
        sequence: int | None = None,
        extras: dict[str, Any] | None = None,
    ) -> Event:
        """A crossing for a device-reported interval (Hikvision timeRange, VIVOTEK)."""
        all_reasons = [
            *reasons,
            *self.plausible.count(in_ + out),
            *self.plausible.change(in_ + out),
        ]
        return self.event(
            Crossing(in_=in_, out=out),
            key=key,
            observed_from=start,
            observed_to=end,
            line=line,
            quality=worst_quality(all_reasons),
            quality_reasons=sorted(set(all_reasons)),
            sequence=sequence,
            extras={"device": self.device, **(extras or {})},
        )

    def spread_event(
        self,
        line: str,
        in_: int,
        out: int,
        since: datetime | None,
        when: datetime,
        reasons: Sequence[QualityReason],
        scenario: int,
    ) -> Event:
        """AXIS crossings that cannot be binned by their own time (lost messages across an
        interval boundary): one crossing over ``since``..``when``, ``sequence_gap``,
        never ``ok``."""
        all_reasons = sorted(
            {*reasons, QualityReason.SEQUENCE_GAP, *self.plausible.change(in_ + out)}
        )
        quality = worst_quality(all_reasons)
        start = since or when
        return self.event(
            Crossing(in_=in_, out=out),
            key=f"spread:{start.isoformat()}/{when.isoformat()}",
            observed_from=start,
            observed_to=when,
            line=line,
            quality=hub.Quality.ESTIMATED if quality is hub.Quality.OK else quality,
            quality_reasons=all_reasons,
            extras={"device": self.device, "unbinned": True, "scenario": scenario},
        )

    # -- hand-over ---------------------------------------------------------------------
    async def deliver(
        self, planned: Sequence[Planned], commit: Callable[[], None] | None = None
    ) -> None:
        """Emit a message's events, then ``commit`` its state; forget the dedup keys of
        the events the hub did not take (so a retry is accepted)."""
        for i, (event, _) in enumerate(planned):
            try:
                await self.ctx.emit(event)
            except BaseException:
                for _, key in planned[i:]:
                    if key is not None:
                        self.seen.discard(key)
                raise
        if commit is not None:
            commit()

    def queue(self, events: Sequence[Event]) -> None:
        """Events to go out with the next :meth:`flush` (after the due intervals)."""
        self._queued.extend(events)

    def _take_due(self) -> None:
        self._pending.extend(self.due())
        self._pending.extend(self._queued)
        self._queued.clear()

    def due(self) -> list[Event]:
        now = self.clock.now(self.ctx.clock.monotonic())
        return [] if now is None else [self.bin_event(b) for b in self.bins.due(now)]

    async def flush(self) -> None:
        """Close the due intervals and emit everything queued, oldest first; an event
        leaves the queue only once the hub took it."""
        self._take_due()
        async with self._lock:
            while self._pending:
                await self.ctx.emit(self._pending[0])
                self._pending.popleft()

    async def flush_open(self, timeout_s: float = 5.0) -> int:
        """On a clean stop: the queue, then every open interval as ``incomplete``.

        Bounded by ``timeout_s`` (outputs that take nothing must not block the stop);
        returns how many events could not be handed over."""
        now = self.clock.now(self.ctx.clock.monotonic())
        self._take_due()
        self._pending.extend(
            self.bin_event(b, incomplete=True, until=now) for b in self.bins.flush_all()
        )
        try:
            async with asyncio.timeout(timeout_s):
                while self._pending:
                    await self.ctx.emit(self._pending[0])
                    self._pending.popleft()
        except TimeoutError:
            pass
        left = len(self._pending)
        self._pending.clear()
        return left
