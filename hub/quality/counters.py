"""Cumulative totals → deltas with time-ordered reset detection. Part of :mod:`hub.quality`."""

from __future__ import annotations

__all__ = ["CumulativeCounter", "Delta", "DeltaKind"]

from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from hub.events import QualityReason


class DeltaKind(StrEnum):
    FIRST = "first"
    """No earlier reading: the totals only became the baseline; no delta."""
    DELTA = "delta"
    """Counts since the previous reading."""
    RESET = "reset"
    """A new epoch, or a total went down with a newer time: the totals are the delta."""
    OUT_OF_ORDER = "out_of_order"
    """Older than the newest reading: no delta; the baseline stays the newest."""
    REPEAT = "repeat"
    """The same totals at the same time again (a replay): no delta."""


@dataclass(frozen=True, slots=True)
class Delta:
    """What changed since the previous cumulative reading of one stream."""

    kind: DeltaKind
    values: dict[str, int] = field(default_factory=dict)
    """Per counter name, never negative; empty unless ``kind`` is delta or reset."""
    since: datetime | None = None
    """The time of the previous reading (where the delta starts), when known."""

    @property
    def first(self) -> bool:
        return self.kind is DeltaKind.FIRST

    @property
    def reset(self) -> bool:
        return self.kind is DeltaKind.RESET

    @property
    def counts(self) -> bool:
        """True when ``values`` hold new counts (delta or reset)."""
        return self.kind in (DeltaKind.DELTA, DeltaKind.RESET)

    @property
    def reason(self) -> QualityReason | None:
        return _DELTA_REASON.get(self.kind)


_DELTA_REASON = {
    DeltaKind.RESET: QualityReason.COUNTER_RESET,
    DeltaKind.OUT_OF_ORDER: QualityReason.OUT_OF_ORDER,
    DeltaKind.REPEAT: QualityReason.DUPLICATE,
}


@dataclass(slots=True)
class _Reading:
    totals: dict[str, int]
    at: datetime | None
    epoch: Hashable


class CumulativeCounter:
    """Cumulative totals → deltas, per stream key (at most ``max_keys`` streams).

    ``at`` is the device's time of the reading; ``epoch`` a start marker the
    device resets with its counters (Axis ``startTime``, a local date for a daily
    reset). Rules, in order:

    1. first reading of a key: baseline only (``first``);
    2. ``at`` older than the newest reading's: ``out_of_order``, nothing changes;
    3. same ``at``, same totals: ``repeat``; same ``at``, a total lower: ``out_of_order``;
    4. a different ``epoch``, or a total lower than before: ``reset``, delta = totals;
    5. otherwise ``delta`` = totals - previous (a counter new in this reading counts 0).
    """

    def __init__(self, max_keys: int = 10_000) -> None:
        self._last: OrderedDict[Hashable, _Reading] = OrderedDict()
        self._max_keys = max_keys

    def check(
        self,
        key: Hashable,
        totals: Mapping[str, int],
        *,
        at: datetime | None = None,
        epoch: Hashable = None,
    ) -> Delta:
        """The delta for this reading, without remembering it."""
        prev = self._last.get(key)
        if prev is None:
            return Delta(DeltaKind.FIRST)
        went_down = any(v < prev.totals[k] for k, v in totals.items() if k in prev.totals)
        if at is not None and prev.at is not None:
            if at < prev.at:
                return Delta(DeltaKind.OUT_OF_ORDER, since=prev.at)
            if at == prev.at:
                if dict(totals) == prev.totals and epoch == prev.epoch:
                    return Delta(DeltaKind.REPEAT, since=prev.at)
                if went_down:
                    return Delta(DeltaKind.OUT_OF_ORDER, since=prev.at)
        new_epoch = epoch is not None and prev.epoch is not None and epoch != prev.epoch
        if new_epoch or went_down:
            return Delta(DeltaKind.RESET, dict(totals), since=prev.at)
        values = {k: v - prev.totals.get(k, v) for k, v in totals.items()}
        return Delta(DeltaKind.DELTA, values, since=prev.at)

    def update(
        self,
        key: Hashable,
        totals: Mapping[str, int],
        *,
        at: datetime | None = None,
        epoch: Hashable = None,
    ) -> Delta:
        """:meth:`check`, then remember the totals unless out of order or a repeat."""
        delta = self.check(key, totals, at=at, epoch=epoch)
        if delta.kind in (DeltaKind.OUT_OF_ORDER, DeltaKind.REPEAT):
            return delta
        self._last[key] = _Reading(dict(totals), at, epoch)
        self._last.move_to_end(key)
        while len(self._last) > self._max_keys:
            self._last.popitem(last=False)
        return delta

    def forget(self, key: Hashable) -> None:
        self._last.pop(key, None)
