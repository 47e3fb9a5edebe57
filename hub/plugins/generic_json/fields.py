"""Sans-io helpers of the mapping: sequence tracking, dropping fields, privacy checks."""

from __future__ import annotations

__all__ = ["SequenceTracker", "drop_path", "find_identifier", "safe_repr"]

from collections import deque
from collections.abc import Collection
from typing import Any

from hub.privacy import classify_text


class SequenceTracker:
    """Sequence numbers of one device: duplicates, gaps, late arrivals and restarts.

    A number seen among the last ``window`` is a duplicate; a jump forward by
    more than one is a gap; a number up to ``window`` behind the highest is a
    late arrival (accepted, fills a gap); further back is a restart (device
    reboot, counter wrap): accepted and tracking starts again.
    """

    __slots__ = ("_order", "_seen", "last", "window")

    def __init__(self, window: int = 64) -> None:
        self.window = window
        self.last: int | None = None
        self._seen: set[int] = set()
        self._order: deque[int] = deque()

    def _remember(self, seq: int) -> None:
        self._seen.add(seq)
        self._order.append(seq)
        if len(self._order) > self.window:
            self._seen.discard(self._order.popleft())

    def check(self, seq: int) -> str:
        """'first' | 'ok' | 'gap' | 'duplicate' | 'late' | 'restart'."""
        last = self.last
        if last is None:
            self.last = seq
            self._remember(seq)
            return "first"
        if seq in self._seen:
            return "duplicate"
        if seq > last:
            self.last = seq
            self._remember(seq)
            return "gap" if seq > last + 1 else "ok"
        if last - seq <= self.window:
            self._remember(seq)
            return "late"
        self.last = seq
        self._seen.clear()
        self._order.clear()
        self._remember(seq)
        return "restart"


def safe_repr(value: Any) -> str:
    """A payload value fit for an error message: short, scalar, not identifier-like."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str) and len(value) <= 32 and classify_text(value) is None:
        return repr(value)
    return "<value withheld>"


def find_identifier(value: Any) -> str | None:
    """The kind of identifier in ``value`` (recursively), or None."""
    if isinstance(value, str):
        return classify_text(value)
    if isinstance(value, dict):
        for k, v in value.items():
            found = classify_text(str(k)) or find_identifier(v)
            if found:
                return found
    elif isinstance(value, list):
        for v in value:
            found = find_identifier(v)
            if found:
                return found
    return None


def drop_path(node: Any, parts: tuple[str, ...], i: int = 0) -> None:
    key = parts[i]
    last = i == len(parts) - 1
    if isinstance(node, dict):
        if key == "*":
            if last:
                node.clear()
                return
            children: Collection[Any] = list(node.values())
        elif last:
            node.pop(key, None)
            return
        elif key in node:
            children = (node[key],)
        else:
            return
    elif isinstance(node, list) and key == "*":
        if last:
            node.clear()
            return
        children = node
    else:
        return
    for child in children:
        drop_path(child, parts, i + 1)
