"""Clocks for tests: :class:`FakeClock` (``sleep`` jumps ahead at once) and
:class:`ManualClock` (time moves only when the test or the conformance harness says so).
Both are re-exported from :mod:`hub.testing`."""

from __future__ import annotations

__all__ = ["FakeClock", "ManualClock"]

import asyncio
import heapq
from datetime import UTC, datetime, timedelta


class FakeClock:
    """A clock that only moves when told to. ``sleep`` advances it instantly."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
        self._mono = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._mono += seconds

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(0)


class ManualClock:
    """A clock that moves only when the harness advances it.

    Unlike :class:`hub.testing.FakeClock`, ``sleep`` does not move time: it waits
    until :meth:`advance_to` passes its deadline, so a source that aggregates
    over intervals sees exactly the time the case script gives it.
    """

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._mono = 1000.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + seconds, self._seq, fut))
        self._seq += 1
        try:
            await fut
        finally:
            if not fut.done():
                fut.cancel()

    def next_deadline(self) -> float | None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None

    def advance_to(self, mono: float) -> int:
        """Move to ``mono`` (never backwards) and wake every sleeper due; returns how many."""
        if mono > self._mono:
            self._now += timedelta(seconds=mono - self._mono)
            self._mono = mono
        woken = 0
        while self._sleepers and self._sleepers[0][0] <= self._mono:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)
                woken += 1
        return woken
