"""Time, behind a seam so tests can drive it (:class:`hub.testing.FakeClock`)."""

from __future__ import annotations

__all__ = ["Clock", "SystemClock"]

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """What sources and the core use for time. Always UTC, always aware."""

    def now(self) -> datetime:
        """Wall-clock time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for intervals and debounce)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Sleep on this clock."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
