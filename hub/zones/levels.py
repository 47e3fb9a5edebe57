"""Colour levels with hysteresis, a pending time before rising and a hold time before falling.

A :class:`LevelTracker` keeps the current level of one zone or line *by name*, so a
changed threshold or a switched profile never resets it. Each :meth:`~LevelTracker.update`
computes a target level from the metric:

* up: the highest level whose ``enter`` the value reaches;
* down: only when the value is below the current level's ``exit`` (lower than ``enter``),
  to the highest lower level whose ``exit`` the value still reaches.

A rise happens once the target has stayed above the current level for ``pending_s``; a
fall once it has stayed below for ``hold_s``. Any evaluation that does not confirm the
move restarts its timer, so a noisy signal around a threshold does not flap.
"""

from __future__ import annotations

__all__ = ["LevelTracker", "target_level"]

from typing import Any

from hub.zones.config import LevelSet


def target_level(levels: LevelSet, current: int, value: float) -> int:
    """The level ``value`` points to from ``current``, with hysteresis."""
    lv = levels.levels
    up = current
    for i in range(current + 1, len(lv)):
        enter = lv[i].enter
        if enter is not None and value >= enter:
            up = i
    if up > current:
        return up
    if current > 0 and value < lv[current].exit_at:
        j = current - 1
        while j > 0 and value < lv[j].exit_at:
            j -= 1
        return j
    return current


def _plain_level(levels: LevelSet, value: float) -> int:
    """The level by ``enter`` thresholds alone (no history to apply hysteresis to)."""
    return target_level(levels, 0, value)


class LevelTracker:
    """The level of one zone or line over time (times are POSIX seconds)."""

    __slots__ = ("falling_since", "level", "pending_since")

    def __init__(self) -> None:
        self.level: str | None = None
        self.pending_since: float | None = None
        self.falling_since: float | None = None

    def index(self, levels: LevelSet) -> int:
        """The current level's index in ``levels`` (0 when not yet known)."""
        if self.level is None:
            return 0
        i = levels.index(self.level)
        return 0 if i is None else i

    def update(self, levels: LevelSet, value: float, now: float) -> bool:
        """Feed the current metric; returns True when the level changed."""
        known = self.level is not None and levels.index(self.level) is not None
        if not known:
            # first evaluation, or the level's name left the set: take the plain level
            # at once (a restart restores the name, so this is not a restart path)
            new = levels.levels[_plain_level(levels, value)].name
            changed = new != self.level
            self.level, self.pending_since, self.falling_since = new, None, None
            return changed
        current = self.index(levels)
        target = target_level(levels, current, value)
        if target > current:
            self.falling_since = None
            if self.pending_since is None:
                self.pending_since = now
            if now - self.pending_since >= levels.pending_s:
                self.level = levels.levels[target].name
                self.pending_since = None
                return True
        elif target < current:
            self.pending_since = None
            if self.falling_since is None:
                self.falling_since = now
            if now - self.falling_since >= levels.hold_s:
                self.level = levels.levels[target].name
                self.falling_since = None
                return True
        else:
            self.pending_since = self.falling_since = None
        return False

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "pending_since": self.pending_since,
            "falling_since": self.falling_since,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LevelTracker:
        t = cls()
        t.level = data.get("level")
        t.pending_since = data.get("pending_since")
        t.falling_since = data.get("falling_since")
        return t
