"""Sans-io interval bins for cameras: crossings summed into fixed intervals that close
on the device's clock. Sequence numbers, dedup, cumulative totals and plausibility
come from :mod:`hub.quality`.

No asyncio, no I/O, no wall clock: callers pass the times in.
"""

from __future__ import annotations

__all__ = ["Bin", "BinAggregator", "DeviceClock"]

from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hub.events import QualityReason


@dataclass
class Bin:
    """Crossings on one line during ``[start, end)``."""

    line: str
    start: datetime
    end: datetime
    in_: int = 0
    out: int = 0
    messages: int = 0
    revision: int = 0
    """0 for the first emission of this interval; 1, 2... for late additions."""
    reasons: set[QualityReason] = field(default_factory=set)
    extra: Counter[str] = field(default_factory=Counter)

    @property
    def key(self) -> str:
        """Unique per line and interval (and revision), stable across replays."""
        base = self.start.isoformat()
        return base if self.revision == 0 else f"{base}+{self.revision}"


class BinAggregator:
    """Sums crossings into fixed intervals aligned to the UTC epoch (``interval_s``).

    A bin is due once the device's clock is ``grace_s`` past its end. Counts
    that arrive for a bin already handed out go into a *revision* bin of the
    same interval (its own key), so nothing is lost and nothing is counted twice.
    """

    def __init__(self, interval_s: float, grace_s: float, remember: int = 4096) -> None:
        self.interval = timedelta(seconds=interval_s)
        self.grace = timedelta(seconds=grace_s)
        self._open: dict[tuple[str, datetime], Bin] = {}
        self._closed: OrderedDict[tuple[str, datetime], int] = OrderedDict()
        self._remember = remember

    def slot(self, when: datetime) -> datetime:
        """The start of the interval ``when`` falls in."""
        secs = self.interval.total_seconds()
        ts = when.timestamp()
        return datetime.fromtimestamp(ts - ts % secs, UTC)

    def add(
        self,
        line: str,
        when: datetime,
        in_: int = 0,
        out: int = 0,
        reasons: Iterable[QualityReason] = (),
        extra: Mapping[str, int] | None = None,
    ) -> Bin:
        """Add counts observed at ``when`` (zero counts still mark the bin as observed)."""
        start = self.slot(when)
        slot = (line, start)
        b = self._open.get(slot)
        if b is None:
            b = Bin(line, start, start + self.interval)
            if slot in self._closed:
                b.revision = self._closed[slot] + 1
            self._open[slot] = b
        b.in_ += in_
        b.out += out
        b.messages += 1
        b.reasons.update(reasons)
        if extra:
            b.extra.update(extra)
        return b

    def due(self, device_now: datetime) -> list[Bin]:
        """Close and return every bin whose end is ``grace_s`` before ``device_now``."""
        ready = [b for b in self._open.values() if b.end + self.grace <= device_now]
        return self._close(ready)

    def flush_all(self) -> list[Bin]:
        return self._close(list(self._open.values()))

    def _close(self, bins: list[Bin]) -> list[Bin]:
        bins.sort(key=lambda b: (b.start, b.line))
        for b in bins:
            slot = (b.line, b.start)
            del self._open[slot]
            self._closed[slot] = b.revision
            self._closed.move_to_end(slot)
            if len(self._closed) > self._remember:
                self._closed.popitem(last=False)
        return bins

    @property
    def open_bins(self) -> int:
        return len(self._open)


class DeviceClock:
    """The device's clock, estimated from its timestamps and our monotonic clock, so
    intervals close on device time even when the device clock is skewed from ours."""

    def __init__(self) -> None:
        self._ref: tuple[datetime, float] | None = None

    def observe(self, device_time: datetime, monotonic: float) -> None:
        now = self.now(monotonic)
        if now is None or device_time > now:
            self._ref = (device_time, monotonic)

    def now(self, monotonic: float) -> datetime | None:
        """The device's current time, or None before its first timestamp."""
        if self._ref is None:
            return None
        t, mono = self._ref
        return t + timedelta(seconds=monotonic - mono)
