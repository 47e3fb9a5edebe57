"""Plausibility limits, bounded counts and the quality reasons imply. Part of
:mod:`hub.quality`."""

from __future__ import annotations

__all__ = ["MAX_COUNT", "Plausibility", "parse_count", "worst_quality"]

import math
import re
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Any

from hub.errors import MalformedInput
from hub.events import MAX_INT64, Quality, QualityReason

MAX_COUNT = MAX_INT64
"""The largest count :func:`parse_count` reads (fits a signed 64-bit integer column); the
event schema bounds counts further, to ``hub.events.MAX_PLAUSIBLE_COUNT``."""

_RANK = {Quality.OK: 0, Quality.ESTIMATED: 1, Quality.STALE: 2, Quality.SUSPECT: 3}
_REASON_QUALITY = {
    QualityReason.COUNTER_RESET: Quality.ESTIMATED,
    QualityReason.DERIVED: Quality.ESTIMATED,
    QualityReason.CLAMPED: Quality.ESTIMATED,
    QualityReason.INCOMPLETE: Quality.ESTIMATED,
    QualityReason.RETRANSMISSION: Quality.STALE,
    QualityReason.ABOVE_MAXIMUM: Quality.SUSPECT,
    QualityReason.IMPLAUSIBLE_JUMP: Quality.SUSPECT,
    QualityReason.CLOCK_SKEW: Quality.SUSPECT,
}


def worst_quality(reasons: Iterable[QualityReason]) -> Quality:
    """The quality ``reasons`` imply: SUSPECT > STALE > ESTIMATED > OK.

    ``above_maximum``/``implausible_jump``/``clock_skew`` → suspect; ``retransmission`` → stale;
    ``counter_reset``/``derived``/``clamped``/``incomplete`` → estimated. A gap,
    duplicate, out-of-order or restart flag alone leaves OK: the counts that did
    arrive are right.
    """
    q = Quality.OK
    for r in reasons:
        cand = _REASON_QUALITY.get(r, Quality.OK)
        if _RANK[cand] > _RANK[q]:
            q = cand
    return q


class Plausibility:
    """Configured limits on readings; the reasons they give make an event SUSPECT.

    * ``max_count``: a value above it is ``above_maximum``.
    * ``max_jump``: **the largest believable change between two consecutive
      readings of one stream**. For a *level* (occupancy, devices in an
      interval, density: :meth:`level`) that is the difference from the last
      plausible level of the same stream; one wild reading (15, 31401, 16) does
      not drag the next into suspicion, and two consecutive readings that agree
      (within ``max_jump``) confirm a real change. For a *counter* (crossings:
      :meth:`change`) the reading already is a change (a cumulative delta or
      the count of one message/interval), so it is compared with ``max_jump``
      itself.
    """

    def __init__(
        self, max_count: float | None, max_jump: float | None, *, max_keys: int = 10_000
    ) -> None:
        self.max_count = max_count
        self.max_jump = max_jump
        self._good: OrderedDict[Hashable, float] = OrderedDict()
        self._pending: dict[Hashable, float] = {}
        self._max_keys = max_keys

    def count(self, value: float) -> list[QualityReason]:
        """``above_maximum`` when ``value`` exceeds ``max_count``."""
        if self.max_count is not None and value > self.max_count:
            return [QualityReason.ABOVE_MAXIMUM]
        return []

    def change(self, value: float) -> list[QualityReason]:
        """A counter's change (delta, crossings of one reading) above ``max_jump``."""
        if self.max_jump is not None and abs(value) > self.max_jump:
            return [QualityReason.IMPLAUSIBLE_JUMP]
        return []

    def level(self, key: Hashable, value: float) -> list[QualityReason]:
        """A level reading of stream ``key``: :meth:`count` plus the jump check."""
        reasons = self.count(value)
        jump = self.max_jump
        good = self._good.get(key)
        if jump is not None and good is not None and abs(value - good) > jump:
            pending = self._pending.get(key)
            confirmed = pending is not None and abs(value - pending) <= jump and not reasons
            if not confirmed:
                reasons.append(QualityReason.IMPLAUSIBLE_JUMP)
        if reasons:
            if QualityReason.IMPLAUSIBLE_JUMP in reasons:
                self._pending[key] = value
            else:
                self._pending.pop(key, None)
            return reasons
        self._pending.pop(key, None)
        self._good[key] = value
        self._good.move_to_end(key)
        while len(self._good) > self._max_keys:
            old, _ = self._good.popitem(last=False)
            self._pending.pop(old, None)
        return reasons


def parse_count(value: Any, where: str, *, signed: bool = False) -> int:
    """A whole number given as an int, an integral float or a string of digits.

    Raises :class:`MalformedInput` (``"<where>: ..."``) for booleans, fractions,
    NaN, text, negative values (unless ``signed``) and anything beyond a 64-bit
    integer (``MAX_COUNT``).
    """
    if isinstance(value, bool):
        raise MalformedInput(f"{where}: expected a whole number, got a boolean")
    n: int
    if isinstance(value, int):
        n = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        if abs(value) > MAX_COUNT:
            raise MalformedInput(f"{where}: {_too_big()}")
        n = int(value)
    elif isinstance(value, str) and _INT_TEXT.match(value.strip()):
        text = value.strip()
        if len(text) > 20:
            raise MalformedInput(f"{where}: {_too_big()}")
        n = int(text)
    else:
        raise MalformedInput(f"{where}: expected a whole number (or a string of digits)")
    if n < 0 and not signed:
        raise MalformedInput(f"{where}: a count cannot be negative")
    if abs(n) > MAX_COUNT:
        raise MalformedInput(f"{where}: {_too_big()}")
    return n


_INT_TEXT = re.compile(r"^[+-]?\d+$")


def _too_big() -> str:
    return "out of range (a count must fit a 64-bit integer)"
