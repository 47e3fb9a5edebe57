"""What the zone model keeps from incoming events, per zone and per line (times: POSIX s).

Cheap to feed (the per-event path does a few dict and deque operations); the derived
figures are computed on clock ticks by :mod:`hub.zones.model`.

Occupancy methods of a zone:

* *counted*: the latest occupancy readings of the sensors covering the zone, combined
  by ``counted_combine`` (``sum`` for sensors covering parts; ``max``/``mean`` for the
  same area). Usable only while *every* known covering sensor is fresh: summing the
  fresh half of a zone would under-report it.
* *flow*: a running balance of in - out over the zone's lines, clamped at 0, reset at
  a local time, and re-anchored to the counted figure whenever a counted reading
  arrives while all counted sensors are fresh. Crossings observed before the anchor
  (an interval that ended by then) are already in it and are not added again.
* *devices*: distinct WiFi/BLE devices x calibration, always an estimate.
"""

from __future__ import annotations

__all__ = ["LineInputs", "ZoneInputs"]

from collections import deque
from typing import Any

_HOUR = 3600.0


class ZoneInputs:
    """Raw inputs of one zone."""

    __slots__ = (
        "anchor_t",
        "clamped_t",
        "counted",
        "devices",
        "flow",
        "gaps",
        "problems",
        "samples",
        "seen",
    )

    def __init__(self) -> None:
        self.counted: dict[str, tuple[float, float]] = {}  # source -> (people, time)
        self.devices: dict[str, tuple[float, float]] = {}  # source -> (people, time)
        self.flow = 0.0
        self.anchor_t = 0.0
        self.clamped_t: float | None = None
        self.seen: dict[str, float] = {}  # every source feeding the zone -> last time
        self.problems: dict[str, float] = {}  # "counter_reset:cam-1" -> last time
        self.gaps: dict[str, deque[float]] = {}
        self.samples: deque[tuple[float, float]] = deque()  # (time, occupancy) for inflow

    # --- the per-event path -------------------------------------------------------------

    def add_crossing(self, t_from: float, t: float, net: int) -> None:
        if t <= self.anchor_t:
            return  # observed before the anchor (reset or counted reading): already in it
        flow = self.flow + net
        if flow < 0:
            flow = 0.0
            self.clamped_t = t
        self.flow = flow

    def add_counted(
        self,
        source: str,
        people: float,
        t: float,
        stale_after: float,
        combine: str,
        jump: float,
        anchor: bool = True,
    ) -> None:
        """Record a counted reading; ``anchor``: re-anchor the flow balance (a zone
        without lines has none to anchor)."""
        prev = self.counted.get(source)
        if jump and prev is not None and abs(people - prev[0]) > jump:
            self.problems["implausible_jump:" + source] = t
        self.counted[source] = (people, t)
        if not anchor:
            return
        total = self.counted_value(t, stale_after, combine)
        if total is not None:
            self.flow = total
            self.anchor_t = t

    def add_gap(self, source: str, t: float, limit: int) -> None:
        q = self.gaps.get(source)
        if q is None or q.maxlen != limit:  # the newest `limit` are all the check needs:
            q = self.gaps[source] = deque(q or (), maxlen=limit)  # memory stays bounded
        q.append(t)
        while q and q[0] < t - _HOUR:
            q.popleft()
        if len(q) >= limit:
            self.problems["sequence_gaps:" + source] = t

    # --- on a tick ----------------------------------------------------------------------

    def counted_value(self, now: float, stale_after: float, combine: str) -> float | None:
        """The counted occupancy, or None unless every covering sensor is fresh."""
        if not self.counted:
            return None
        values = []
        for people, t in self.counted.values():
            if now - t > stale_after:
                return None
            values.append(people)
        if combine == "max":
            return max(values)
        if combine == "mean":
            return sum(values) / len(values)
        return sum(values)

    def devices_value(self, now: float, stale_after: float) -> float | None:
        if not self.devices:
            return None
        total = 0.0
        for people, t in self.devices.values():
            if now - t > stale_after:
                return None
            total += people
        return total

    def oldest(self, readings: dict[str, tuple[float, float]]) -> float:
        return min(t for _, t in readings.values())

    def reset_flow(self, at: float, now: float, stale_after: float, combine: str) -> None:
        """The daily reset: back to 0, or to the counted figure when it is fresh."""
        counted = self.counted_value(now, stale_after, combine)
        self.flow = counted if counted is not None else 0.0
        self.anchor_t = max(self.anchor_t, at)

    def forget(self, now: float, forget_after: float, problem_window: float) -> None:
        """Drop sources silent for ``forget_after`` and problems older than the window."""
        old = [s for s, t in self.seen.items() if now - t > forget_after]
        for s in old:
            del self.seen[s]
            self.counted.pop(s, None)
            self.devices.pop(s, None)
            self.gaps.pop(s, None)
        for key in [k for k, t in self.problems.items() if now - t > problem_window]:
            del self.problems[key]

    def net_inflow_from_samples(self, now: float, window: float, occupancy: float) -> float | None:
        """People per minute from the occupancy's change over the window (no lines)."""
        s = self.samples
        s.append((now, occupancy))
        while len(s) > 1 and s[1][0] <= now - window:
            s.popleft()
        t0, occ0 = s[0]
        if now - t0 < 60.0:
            return None
        return (occupancy - occ0) / ((now - t0) / 60.0)

    # --- snapshot -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "counted": {k: list(v) for k, v in self.counted.items()},
            "devices": {k: list(v) for k, v in self.devices.items()},
            "flow": self.flow,
            "anchor_t": self.anchor_t,
            "clamped_t": self.clamped_t,
            "seen": dict(self.seen),
            "problems": dict(self.problems),
            "gaps": {k: list(v) for k, v in self.gaps.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ZoneInputs:
        z = cls()
        z.counted = {k: (float(v[0]), float(v[1])) for k, v in data.get("counted", {}).items()}
        z.devices = {k: (float(v[0]), float(v[1])) for k, v in data.get("devices", {}).items()}
        z.flow = float(data.get("flow", 0.0))
        z.anchor_t = float(data.get("anchor_t", 0.0))
        z.clamped_t = data.get("clamped_t")
        z.seen = {k: float(v) for k, v in data.get("seen", {}).items()}
        z.problems = {k: float(v) for k, v in data.get("problems", {}).items()}
        z.gaps = {k: deque(float(x) for x in v) for k, v in data.get("gaps", {}).items()}
        return z


class LineInputs:
    """Crossings over one line in a sliding window."""

    __slots__ = ("first_t", "in_sum", "last_t", "out_sum", "window")

    def __init__(self) -> None:
        self.window: deque[tuple[float, int, int]] = deque()  # (interval end, in, out)
        self.in_sum = 0
        self.out_sum = 0
        self.first_t: float | None = None
        self.last_t: float | None = None

    def add(self, t_from: float, t: float, n_in: int, n_out: int) -> None:
        self.window.append((t, n_in, n_out))
        self.in_sum += n_in
        self.out_sum += n_out
        if self.first_t is None or t_from < self.first_t:
            self.first_t = t_from
        if self.last_t is None or t > self.last_t:
            self.last_t = t

    def evict(self, now: float, window: float) -> None:
        w = self.window
        edge = now - window
        while w and w[0][0] <= edge:
            _, n_in, n_out = w.popleft()
            self.in_sum -= n_in
            self.out_sum -= n_out

    def span_min(self, now: float, window: float) -> float:
        """Minutes the window really covers (shorter just after the first data), >= 1."""
        span = window if self.first_t is None else min(window, now - self.first_t)
        return max(span, 60.0) / 60.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": [list(x) for x in self.window],
            "first_t": self.first_t,
            "last_t": self.last_t,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LineInputs:
        ln = cls()
        for t, n_in, n_out in data.get("window", []):
            ln.window.append((float(t), int(n_in), int(n_out)))
            ln.in_sum += int(n_in)
            ln.out_sum += int(n_out)
        ln.first_t = data.get("first_t")
        ln.last_t = data.get("last_t")
        return ln
