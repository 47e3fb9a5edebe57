"""Sans-io passage counting for overhead single-point lidar beams (TF-Luna, TFmini).

Driven entirely by the timestamps passed in (seconds, any epoch), so it is
tested without sleeping:

* :class:`FrameClock` gives each frame a time: frames arrive at a known rate,
  so frame *n* is ``1/rate`` after frame *n-1*; a pause longer than
  ``resync_s`` (device restarted, frames lost) re-anchors on the host clock,
  and a clock running more than ``max_ahead_s`` ahead of the host while frames
  arrive at about the nominal rate (a device slightly faster than configured)
  advances 2 % slower. A recording replayed faster than real time keeps the
  recorded timing.
* :class:`BeamDetector` turns distances into confirmed *breaks*: the distance
  must stay below ``floor - threshold`` for ``min_dwell`` (debounce); the
  beam must then be clear (above the trigger plus hysteresis) for ``min_gap``
  before the next person can start, so a short gap (an arm, a bag) does not
  count twice.
* :class:`DirectionPairer` pairs breaks of beam A and beam B: whichever beam
  broke first gives the direction. A break with no partner within
  ``window_s`` is *unpaired* (someone turned back, or a beam was missed).
* :class:`IntervalCounter` sums passages into fixed intervals aligned to
  multiples of ``interval_s`` and closes them, zero counts included, once the
  stream time has moved past their end plus a settling delay.
"""

from __future__ import annotations

__all__ = [
    "BeamDetector",
    "CountBin",
    "DirectionPairer",
    "FrameClock",
    "IntervalCounter",
    "Passage",
]

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

Direction = Literal["a_to_b", "b_to_a"]
_SLEW = 0.98
_LIVE_AFTER_S = 10.0


class FrameClock:
    """Timestamps for a fixed-rate frame stream (sans-io)."""

    def __init__(self, rate_hz: float, *, resync_s: float = 0.5, max_ahead_s: float = 2.0) -> None:
        self.rate_hz = rate_hz
        self.period = 1.0 / rate_hz
        self.resync_s = resync_s
        self.max_ahead_s = max_ahead_s
        self._last: float | None = None
        self._anchor = 0.0
        self._count = 0
        self.ahead_s = 0.0
        """How far the frame time runs ahead of the host clock (rate set too low?)."""

    def stamp(self, now: float) -> float:
        """The time of the next frame, received at host time ``now``."""
        if self._last is None or now - (self._last + self.period) > self.resync_s:
            t, self._anchor, self._count = now, now, 0
        elif self._last + self.period - now > self.max_ahead_s and self._live(now):
            t = self._last + self.period * _SLEW  # the device is a bit faster than rate_hz
        else:
            t = self._last + self.period
        self._count += 1
        self._last = t
        self.ahead_s = t - now
        return t

    def _live(self, now: float) -> bool:
        """Frames arrive at about the nominal rate (a device, not a replayed recording)."""
        elapsed = now - self._anchor
        return elapsed >= _LIVE_AFTER_S and self._count / elapsed <= 1.1 * self.rate_hz

    def reset(self) -> None:
        self._last = None


class BeamDetector:
    """Edge detection with debounce on one beam. Feed reliable readings only."""

    def __init__(
        self,
        *,
        floor_cm: float,
        threshold_cm: float,
        hysteresis_cm: float = 10.0,
        min_dwell_s: float = 0.06,
        min_gap_s: float = 0.1,
    ) -> None:
        self.trigger_cm = floor_cm - threshold_cm
        self.release_cm = self.trigger_cm + hysteresis_cm
        self.min_dwell_s = min_dwell_s
        self.min_gap_s = min_gap_s
        self._state: Literal["clear", "candidate", "blocked"] = "clear"
        self._start = 0.0
        self._clear_since: float | None = None
        self.breaks = 0

    @property
    def blocked(self) -> bool:
        """A break is confirmed and has not ended yet."""
        return self._state == "blocked"

    def feed(self, t: float, distance_cm: float) -> float | None:
        """One reading at time ``t``; returns the start time of a newly confirmed break."""
        below = distance_cm < self.trigger_cm
        above = distance_cm >= self.release_cm
        if self._state == "clear":
            if below:
                self._state, self._start = "candidate", t
                return self._confirm(t)
        elif self._state == "candidate":
            if above:
                self._state = "clear"
            elif below:
                return self._confirm(t)
        elif below:
            self._clear_since = None
        elif above:
            if self._clear_since is None:
                self._clear_since = t
            if t - self._clear_since >= self.min_gap_s:
                self._state, self._clear_since = "clear", None
        return None

    def _confirm(self, t: float) -> float | None:
        if t - self._start + 1e-9 >= self.min_dwell_s:
            self._state, self._clear_since = "blocked", None
            self.breaks += 1
            return self._start
        return None

    def reset(self) -> None:
        self._state, self._clear_since = "clear", None


@dataclass(frozen=True, slots=True)
class Passage:
    """One person passing: at time ``t`` (first break), ``direction`` None when unknown."""

    t: float
    direction: Direction | None


class DirectionPairer:
    """Pairs confirmed breaks of beams A (0) and B (1) into directed passages."""

    def __init__(self, window_s: float, *, confirm_delay_s: float = 0.0) -> None:
        self.window_s = window_s
        self.confirm_delay_s = confirm_delay_s
        """How long after its start a break is confirmed (the detectors' dwell)."""
        self._pending: tuple[deque[float], deque[float]] = (deque(), deque())
        self.unpaired = 0

    def add(self, beam: int, t: float) -> None:
        q = self._pending[beam]
        q.append(t)
        if len(q) > 1 and q[-2] > t:  # keep each beam's breaks in time order
            self._pending = tuple(  # type: ignore[assignment]
                deque(sorted(p)) if k == beam else p for k, p in enumerate(self._pending)
            )

    def resolve(self, watermark: float, *, final: bool = False) -> list[Passage]:
        """Pair what can be paired. A break older than ``watermark - window`` with no
        partner (or every remaining one when ``final``) comes back unpaired
        (``direction=None``); so do two breaks at the very same time."""
        a, b = self._pending
        out: list[Passage] = []
        while a or b:
            first_a = bool(a) and (not b or a[0] < b[0])
            first, other = (a, b) if first_a else (b, a)
            x = first[0]
            if other and other[0] == x:  # simultaneous: direction unknown
                first.popleft()
                other.popleft()
                out += [Passage(x, None), Passage(x, None)]
                self.unpaired += 2
            elif other and other[0] - x <= self.window_s:
                first.popleft()
                other.popleft()
                out.append(Passage(x, "a_to_b" if first_a else "b_to_a"))
            elif final or watermark - x > self.window_s + self.confirm_delay_s:
                first.popleft()
                out.append(Passage(x, None))
                self.unpaired += 1
            else:
                break
        return out

    @property
    def pending(self) -> int:
        return len(self._pending[0]) + len(self._pending[1])


@dataclass(slots=True)
class CountBin:
    """Counts of one interval ``[start, end)``."""

    start: float
    end: float
    a_to_b: int = 0
    b_to_a: int = 0
    undirected: int = 0
    unpaired: int = 0
    readings: int = 0
    unreliable: int = 0
    partial: bool = False
    cut: bool = False
    """Cut short by the device going away or the hub stopping (emitted ``incomplete``)."""
    temperatures: list[float] = field(default_factory=list)


class IntervalCounter:
    """Fixed intervals aligned to multiples of ``interval_s`` (on the stream's epoch).

    The first interval starts with the first data, not at the aligned boundary, and
    is marked ``partial``; so is the one cut short by :meth:`finish` (the device
    went away). A restart inside an interval therefore never reuses a start time.
    """

    def __init__(self, interval_s: float, *, settle_s: float = 0.0) -> None:
        self.interval_s = interval_s
        self.settle_s = settle_s
        self._bins: dict[int, CountBin] = {}
        self._open_idx: int | None = None
        """Index of the first interval not emitted yet."""
        self._open_start = 0.0
        self.late = 0

    def _idx(self, t: float) -> int:
        return math.floor(t / self.interval_s + 1e-9)

    def _bin(self, t: float) -> CountBin:
        idx = self._idx(t)
        if self._open_idx is None:  # the first interval starts with the data (partial)
            self._open_idx, self._open_start = idx, max(t, idx * self.interval_s)
        if idx < self._open_idx:
            self.late += 1  # its interval was already closed: counted in the open one
            idx = self._open_idx
        b = self._bins.get(idx)
        if b is None:
            b = self._bins[idx] = CountBin(idx * self.interval_s, (idx + 1) * self.interval_s)
        return b

    def reading(self, t: float, *, reliable: bool, temperature_c: float | None = None) -> None:
        b = self._bin(t)
        b.readings += 1
        if not reliable:
            b.unreliable += 1
        if temperature_c is not None:
            b.temperatures.append(temperature_c)

    def add(self, passage: Passage) -> None:
        b = self._bin(passage.t)
        if passage.direction == "a_to_b":
            b.a_to_b += 1
        elif passage.direction == "b_to_a":
            b.b_to_a += 1
        else:
            b.undirected += 1

    def add_unpaired(self, t: float, n: int = 1) -> None:
        if n:
            self._bin(t).unpaired += n

    def close(self, watermark: float) -> list[CountBin]:
        """Every interval (zero counts included) that ended ``settle_s`` before ``watermark``."""
        out: list[CountBin] = []
        while self._open_idx is not None:
            idx = self._open_idx
            end = (idx + 1) * self.interval_s
            if end + self.settle_s > watermark:
                break
            out.append(self._pop(idx, end))
            self._open_idx, self._open_start = idx + 1, end
        return out

    def _pop(self, idx: int, end: float) -> CountBin:
        b = self._bins.pop(idx, None) or CountBin(idx * self.interval_s, end)
        if self._open_start > b.start:
            b.start, b.partial = self._open_start, True
        if end < b.end:
            b.end, b.partial, b.cut = end, True, True
        return b

    def finish(self, last_t: float) -> list[CountBin]:
        """Close everything up to ``last_t``; the last interval ends early (``partial``)."""
        out = self.close(last_t + self.settle_s)
        if self._open_idx is not None and last_t > self._open_start:
            out.append(self._pop(self._open_idx, last_t))
        self._bins.clear()
        self._open_idx = None
        return out
