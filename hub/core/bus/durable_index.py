"""The in-memory index of a durable queue: size and queue time of every queued seq.

The queue is the seq range ``[head, next)``; this keeps 12 bytes per seq (a
``uint32`` size and a ``float64`` time in two arrays) so the byte and age bounds
are exact without reading the file. Times never decrease (a clock stepping
back is clamped), which lets the age bound bisect.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable


class SeqIndex:
    __slots__ = ("_base", "_sizes", "_times", "bytes", "head")

    def __init__(self, head: int, entries: Iterable[tuple[float, int]] = ()) -> None:
        self.reset(head, entries)

    def reset(self, head: int, entries: Iterable[tuple[float, int]] = ()) -> None:
        """Start over at ``head`` with ``(time, size)`` per seq."""
        pairs = list(entries)
        self.head = head
        self._base = head  # seq of _sizes[0] / _times[0]
        self._sizes = array("I", (n for _, n in pairs))
        self._times = array("d", (t for t, _ in pairs))
        self.bytes = sum(self._sizes)

    @property
    def next(self) -> int:
        return self._base + len(self._sizes)

    def __len__(self) -> int:
        return self.next - self.head

    def time_of(self, seq: int) -> float:
        return self._times[seq - self._base]

    def append(self, size: int, t: float) -> float:
        """Index the next seq; returns the time kept (never before the previous one)."""
        if self._times and t < self._times[-1]:
            t = self._times[-1]
        self._sizes.append(size)
        self._times.append(t)
        self.bytes += size
        return t

    def pop_front(self, k: int) -> None:
        """Forget the ``k`` oldest seqs (acknowledged or dropped)."""
        i = self.head - self._base
        self.bytes -= sum(self._sizes[i : i + k])
        self.head += k
        off = self.head - self._base
        if off > 4096 and off * 2 > len(self._sizes):
            del self._sizes[:off]
            del self._times[:off]
            self._base = self.head

    def truncate(self, cut: int) -> None:
        """Forget every seq >= ``cut``."""
        i = cut - self._base
        self.bytes -= sum(self._sizes[i:])
        del self._sizes[i:]
        del self._times[i:]

    def count_older_than(self, cutoff: float) -> int:
        """How many of the oldest were queued before ``cutoff``."""
        i = self.head - self._base
        if i >= len(self._times) or self._times[i] >= cutoff:
            return 0
        return bisect.bisect_left(self._times, cutoff, lo=i) - i

    def count_to_free(self, excess: int) -> int:
        """How many of the oldest to drop to free ``excess`` bytes (never the newest)."""
        i = self.head - self._base
        last = len(self) - 1
        k = freed = 0
        while freed < excess and k < last:
            freed += self._sizes[i + k]
            k += 1
        return k
