"""Sequence numbers (:class:`SequenceTracker`, :class:`Verdict`) and a bounded dedup
memory (:class:`SeenKeys`). Part of :mod:`hub.quality`."""

from __future__ import annotations

__all__ = ["SeenKeys", "SeqResult", "SequenceTracker", "Verdict"]

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from hub.events import QualityReason


class Verdict(StrEnum):
    """What one sequence number means, relative to the ones seen before."""

    FIRST = "first"
    """No number seen yet (or the tracker was reset)."""
    NEXT = "next"
    """Exactly one after the highest so far."""
    GAP = "gap"
    """Ahead by more than one: ``missed`` numbers never arrived (yet)."""
    DUPLICATE = "duplicate"
    """Seen recently and not newer: a redelivery or replay. Drop it."""
    OUT_OF_ORDER = "out_of_order"
    """Behind the highest, not seen, and older: a late arrival. Accept it."""
    RESTART = "restart"
    """Behind the highest but newer (or far behind): the device restarted its numbering."""

    @property
    def reason(self) -> QualityReason | None:
        """The quality reason this verdict implies (None for ``first``/``next``)."""
        return _VERDICT_REASON.get(self)


_VERDICT_REASON = {
    Verdict.GAP: QualityReason.SEQUENCE_GAP,
    Verdict.DUPLICATE: QualityReason.DUPLICATE,
    Verdict.OUT_OF_ORDER: QualityReason.OUT_OF_ORDER,
    Verdict.RESTART: QualityReason.SEQUENCE_RESTART,
}


@dataclass(frozen=True, slots=True)
class SeqResult:
    verdict: Verdict
    missed: int = 0
    """Numbers skipped before this one (``gap`` only)."""

    @property
    def reason(self) -> QualityReason | None:
        return self.verdict.reason

    @property
    def duplicate(self) -> bool:
        return self.verdict is Verdict.DUPLICATE


class SequenceTracker:
    """Sequence numbers of one stream (one device, one agent, one channel).

    The last ``window`` numbers are remembered. ``at`` is the time the device
    (or its network server) gives the message; when given it decides order:

    * ahead of the highest by one: ``next``; by more: ``gap`` (``missed`` set);
    * a remembered number that is not newer than the newest: ``duplicate``;
    * behind the highest and newer than the newest (by ``at``): ``restart``;
    * behind and not newer: ``out_of_order`` (a late arrival, accepted);
    * without ``at``: behind by up to ``window`` is ``out_of_order``, further
      behind is ``restart``.

    ``modulus`` (e.g. ``2**16``) makes the counter wrap: distances are taken
    modulo it, half the range ahead and half behind.
    """

    __slots__ = ("_last", "_last_at", "_recent", "counts", "missed", "modulus", "window")

    def __init__(self, window: int = 64, *, modulus: int | None = None) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        if modulus is not None and modulus < 2:
            raise ValueError("modulus must be at least 2")
        self.window = window
        self.modulus = modulus
        self._last: int | None = None
        self._last_at: datetime | None = None
        self._recent: OrderedDict[int, None] = OrderedDict()
        self.counts: dict[Verdict, int] = dict.fromkeys(Verdict, 0)
        """How often each verdict was recorded (``observe``/``record``)."""
        self.missed = 0
        """Numbers missed in gaps, in total."""

    @property
    def last(self) -> int | None:
        """The highest (newest) number so far."""
        return self._last

    def _norm(self, seq: int) -> int:
        return seq % self.modulus if self.modulus is not None else seq

    def _distance(self, seq: int, last: int) -> int:
        """How far ``seq`` is ahead of ``last`` (negative: behind)."""
        if self.modulus is None:
            return seq - last
        m = self.modulus
        return (seq - last + m // 2) % m - m // 2

    def check(self, seq: int, at: datetime | None = None) -> SeqResult:
        """The verdict for ``seq`` (seen at ``at``), without remembering it."""
        seq = self._norm(seq)
        last = self._last
        if last is None:
            return SeqResult(Verdict.FIRST)
        newer = at is not None and self._last_at is not None and at > self._last_at
        if seq in self._recent and not newer:
            return SeqResult(Verdict.DUPLICATE)
        d = self._distance(seq, last)
        if d == 1:
            return SeqResult(Verdict.NEXT)
        if d > 1:
            return SeqResult(Verdict.GAP, missed=d - 1)
        if at is not None and self._last_at is not None:
            return SeqResult(Verdict.RESTART if newer else Verdict.OUT_OF_ORDER)
        return SeqResult(Verdict.OUT_OF_ORDER if -d <= self.window else Verdict.RESTART)

    def record(self, seq: int, at: datetime | None = None) -> SeqResult:
        """Remember ``seq`` (call once its message was accepted); returns its verdict."""
        result = self.check(seq, at)
        seq = self._norm(seq)
        v = result.verdict
        self.counts[v] += 1
        if v is Verdict.DUPLICATE:
            return result
        if v is Verdict.RESTART:
            self._recent.clear()
        if v is not Verdict.OUT_OF_ORDER:
            self._last = seq
            self._last_at = at
        elif at is not None and self._last_at is None:
            self._last_at = at
        self.missed += result.missed
        self._recent[seq] = None
        self._recent.move_to_end(seq)
        while len(self._recent) > self.window:
            self._recent.popitem(last=False)
        return result

    def observe(self, seq: int, at: datetime | None = None) -> SeqResult:
        """:meth:`check` and :meth:`record` in one step."""
        return self.record(seq, at)


class SeenKeys:
    """A bounded memory of keys already processed (bins, reports, messages).

    Keeps the ``size`` most recently added or re-seen keys; older ones are forgotten.
    """

    __slots__ = ("_keys", "size")

    def __init__(self, size: int = 4096) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self._keys: OrderedDict[Hashable, None] = OrderedDict()
        self.size = size

    def __contains__(self, key: Hashable) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: Hashable) -> bool:
        """Remember ``key``; False when it was already there (a replay)."""
        if key in self._keys:
            self._keys.move_to_end(key)
            return False
        self._keys[key] = None
        if len(self._keys) > self.size:
            self._keys.popitem(last=False)
        return True

    def discard(self, key: Hashable) -> None:
        """Forget ``key`` (e.g. its event was refused and will be sent again)."""
        self._keys.pop(key, None)
