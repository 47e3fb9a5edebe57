"""Sans-io counting helpers shared by every camera: cumulative totals to deltas,
sequence tracking, replay deduplication, plausibility and interval bins.

No asyncio, no I/O, no wall clock: callers pass the times in.
"""

from __future__ import annotations

__all__ = [
    "Bin",
    "BinAggregator",
    "CumulativeCounter",
    "Delta",
    "DeviceClock",
    "Plausibility",
    "SeenKeys",
    "SequenceTracker",
    "worst_quality",
]

from collections import Counter, OrderedDict, deque
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from hub.events import Quality, QualityReason

_RANK = {Quality.OK: 0, Quality.ESTIMATED: 1, Quality.STALE: 2, Quality.SUSPECT: 3}
_REASON_QUALITY = {
    QualityReason.COUNTER_RESET: Quality.ESTIMATED,
    QualityReason.DERIVED: Quality.ESTIMATED,
    QualityReason.CLAMPED: Quality.ESTIMATED,
    QualityReason.RETRANSMISSION: Quality.STALE,
    QualityReason.ABOVE_MAXIMUM: Quality.SUSPECT,
    QualityReason.IMPLAUSIBLE_JUMP: Quality.SUSPECT,
}


def worst_quality(reasons: Iterable[QualityReason]) -> Quality:
    """The quality a set of reasons implies (SUSPECT > STALE > ESTIMATED > OK).

    A sequence gap alone leaves the quality OK: the counts that did arrive are right.
    """
    q = Quality.OK
    for r in reasons:
        cand = _REASON_QUALITY.get(r, Quality.OK)
        if _RANK[cand] > _RANK[q]:
            q = cand
    return q


@dataclass(frozen=True)
class Delta:
    """What changed since the previous cumulative reading."""

    values: dict[str, int]
    """Per counter name, never negative. Empty on the first reading (no baseline)."""
    first: bool = False
    """No earlier reading: ``values`` is empty, the totals only became the baseline."""
    reset: bool = False
    """The counter was reset (new epoch or a total went down): ``values`` are the totals."""


class CumulativeCounter:
    """Turns cumulative totals into deltas, per stream key.

    A reset is detected when the ``epoch`` changes (Axis ``startTime``, the
    local date for Hikvision's daily reset) or when any total decreases; the
    delta over a reset is the new totals (counts since the reset), never negative.
    """

    def __init__(self) -> None:
        self._last: dict[Hashable, tuple[str | None, dict[str, int]]] = {}

    def update(self, key: Hashable, totals: Mapping[str, int], epoch: str | None = None) -> Delta:
        prev = self._last.get(key)
        self._last[key] = (epoch, dict(totals))
        if prev is None:
            return Delta({}, first=True)
        prev_epoch, prev_totals = prev
        new_epoch = epoch is not None and prev_epoch is not None and epoch != prev_epoch
        went_down = any(v < prev_totals[k] for k, v in totals.items() if k in prev_totals)
        if new_epoch or went_down:
            return Delta(dict(totals), reset=True)
        return Delta({k: v - prev_totals.get(k, v) for k, v in totals.items()})

    def forget(self, key: Hashable) -> None:
        self._last.pop(key, None)


SequenceResult = Literal["first", "ok", "gap", "duplicate", "restart"]


class SequenceTracker:
    """Checks device sequence numbers (Hikvision ``activePostCount``) per stream key.

    The last ``window`` numbers of each key are remembered: one of them again is a
    replayed push (``duplicate``) and leaves the tracking alone, so a re-sent old push
    does not make the next new one look like a gap.
    """

    def __init__(self, window: int = 64) -> None:
        self._last: dict[Hashable, int] = {}
        self._recent: dict[Hashable, deque[int]] = {}
        self._window = window

    def check(self, key: Hashable, seq: int) -> SequenceResult:
        """``gap``: numbers were skipped; ``duplicate``: seen recently (a replay);
        ``restart``: it went down to a number not seen recently (device reboot)."""
        prev = self._last.get(key)
        recent = self._recent.get(key)
        if prev is None or recent is None:
            self._last[key] = seq
            self._recent[key] = deque((seq,), maxlen=self._window)
            return "first"
        if seq == prev or seq in recent:
            return "duplicate"
        self._last[key] = seq
        if seq < prev:
            recent.clear()
            recent.append(seq)
            return "restart"
        recent.append(seq)
        return "gap" if seq > prev + 1 else "ok"


class SeenKeys:
    """A bounded memory of keys already processed (bins, interval reports)."""

    def __init__(self, size: int = 4096) -> None:
        self._keys: OrderedDict[Hashable, None] = OrderedDict()
        self._size = size

    def add(self, key: Hashable) -> bool:
        """Remember ``key``; False when it was already there (a replay)."""
        if key in self._keys:
            self._keys.move_to_end(key)
            return False
        self._keys[key] = None
        if len(self._keys) > self._size:
            self._keys.popitem(last=False)
        return True


class Plausibility:
    """Configured limits: a count above ``max_count``, or a change larger than
    ``max_jump`` from the previous value of the same stream, is suspect."""

    def __init__(self, max_count: int | None, max_jump: int | None) -> None:
        self.max_count = max_count
        self.max_jump = max_jump
        self._prev: dict[Hashable, float] = {}

    def count(self, value: float) -> list[QualityReason]:
        if self.max_count is not None and value > self.max_count:
            return [QualityReason.ABOVE_MAXIMUM]
        return []

    def jump(self, key: Hashable, value: float) -> list[QualityReason]:
        """Compare with the previous value of ``key`` (then remember this one)."""
        prev = self._prev.get(key)
        self._prev[key] = value
        if self.max_jump is not None and prev is not None and abs(value - prev) > self.max_jump:
            return [QualityReason.IMPLAUSIBLE_JUMP]
        return []

    def step(self, value: float) -> list[QualityReason]:
        """A single cumulative step (one message's delta) larger than ``max_jump``."""
        if self.max_jump is not None and value > self.max_jump:
            return [QualityReason.IMPLAUSIBLE_JUMP]
        return []


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

    def _start(self, when: datetime) -> datetime:
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
        start = self._start(when)
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
