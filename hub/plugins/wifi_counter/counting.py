"""Per-device bookkeeping, sans-io: frame counters, cumulative totals, plausibility."""

from __future__ import annotations

__all__ = ["Cumulative", "Plausibility", "SeqResult", "SequenceTracker"]

from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from hub.events import QualityReason

SeqVerdict = Literal["first", "next", "gap", "duplicate", "restart"]


@dataclass(frozen=True, slots=True)
class SeqResult:
    verdict: SeqVerdict
    missed: int = 0
    """Frames missing before this one (``gap`` only)."""


class SequenceTracker:
    """LoRaWAN ``f_cnt`` handling for one device.

    The network server only forwards increasing frame counters within a session,
    so: ``last + 1`` is normal; higher means frames were lost (``gap``); a counter
    seen recently with the same fingerprint (``received_at``/payload) is a
    repeated delivery (``duplicate``, to drop); any other lower or equal counter is
    a new session after a rejoin or reboot (``restart``).
    """

    def __init__(self, window: int = 64) -> None:
        self._last: int | None = None
        self._recent: OrderedDict[int, str] = OrderedDict()
        self._window = window

    def observe(self, seq: int, fingerprint: str) -> SeqResult:
        seen = self._recent.get(seq)
        if seen is not None and seen == fingerprint:
            return SeqResult("duplicate")
        last = self._last
        if last is None:
            result = SeqResult("first")
        elif seq == last + 1:
            result = SeqResult("next")
        elif seq > last + 1:
            result = SeqResult("gap", missed=seq - last - 1)
        else:
            self._recent.clear()
            result = SeqResult("restart")
        self._last = seq
        self._recent[seq] = fingerprint
        self._recent.move_to_end(seq)
        while len(self._recent) > self._window:
            self._recent.popitem(last=False)
        return result


class Cumulative:
    """Turns cumulative totals (Paxcounter counter mode 1) into per-cycle deltas.

    The first total only sets the baseline (``None`` is returned: no interval is
    known yet). A total below the previous one is a reset (device restart or
    counter cleared): the new total itself is the delta since the reset.
    """

    def __init__(self) -> None:
        self._prev: tuple[int, int | None] | None = None

    def update(self, wifi: int, ble: int | None) -> tuple[int, int | None, bool] | None:
        prev = self._prev
        self._prev = (wifi, ble)
        if prev is None:
            return None
        reset = wifi < prev[0] or (ble is not None and prev[1] is not None and ble < prev[1])
        if reset:
            return wifi, ble, True
        d_ble = None if ble is None else ble - (prev[1] or 0)
        return wifi - prev[0], d_ble, False


class Plausibility:
    """Flags counts above ``max_count`` or jumping by more than ``max_jump``.

    A jump is measured from the last plausible count, so one wild reading
    (15, 31401, 16) does not drag the next one into suspicion. Two consecutive
    readings that agree with each other (within ``max_jump``) confirm a real
    level change, which becomes the new reference.
    """

    def __init__(self, max_count: int | None, max_jump: int | None) -> None:
        self.max_count = max_count
        self.max_jump = max_jump
        self._good: int | None = None
        self._last_jump: int | None = None

    def check(self, count: int) -> list[QualityReason]:
        reasons: list[QualityReason] = []
        if self.max_count is not None and count > self.max_count:
            reasons.append(QualityReason.ABOVE_MAXIMUM)
        jump = self.max_jump
        if jump is not None and self._good is not None and abs(count - self._good) > jump:
            confirmed = (
                self._last_jump is not None and abs(count - self._last_jump) <= jump and not reasons
            )
            if not confirmed:
                reasons.append(QualityReason.IMPLAUSIBLE_JUMP)
        if reasons:
            self._last_jump = count if QualityReason.IMPLAUSIBLE_JUMP in reasons else None
        else:
            self._good = count
            self._last_jump = None
        if self._good is None and not reasons:
            self._good = count
        return reasons
