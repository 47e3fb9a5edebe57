"""One view's policy as a sans-io pipeline stage: events and clock ticks in, shaped events out.

One :class:`ViewPolicy` per view (not per sink): ten sinks on one view cost one
transformation. The runtime hands it every event after the privacy check (and
after the zone model), delivers what :meth:`ViewPolicy.handle` and
:meth:`ViewPolicy.tick` return to the sinks of that view, and calls ``tick``
about once a second. Nothing here does I/O or reads a clock.

What happens to an event, in order:

1. **filter** (:meth:`ViewPolicy.accepts`): measurement type, zone, line, sensor
   health. A line event is decided by its line, else a zone event by its zone;
   an event with neither only reaches views that see all zones and lines.
2. **aggregate** to ``time_resolution``, per measurement x source x zone x line
   x interval (:mod:`hub.views.measurements` says how each type combines). A
   bucket is sent when its interval has ended and ``grace_s`` has passed, or as
   soon as the same source reports a later interval. A reading for an interval
   already sent is late: counted, not sent (a second value for one interval
   would undo the noise).
3. **shape**, on the aggregate only: noise, suppression, rounding of counts;
   rates that would give a coarsened count back removed; ``levels_only``
   projects onto :class:`hub.events.Level`; sensor health and vendor extras
   removed unless allowed.
4. **delay**: held until ``interval end + delay_s`` (raw: ``event time + delay_s``).

Event times drive it too: an event's ``received_at`` counts as "now" for closing
buckets and releasing held events, so a busy hub does not wait for the tick.
Open buckets and held events live in memory only: on a stop they are dropped,
never sent early.
"""

from __future__ import annotations

__all__ = ["FullDetail", "ViewPolicy", "ViewStage", "ViewStats"]

import hashlib
import heapq
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from hub.events import Event, Level, Quality, QualityReason
from hub.site import Site
from hub.views.coarsen import NoiseKey, coarsen_count, interval_label
from hub.views.config import INTERNAL, View, policy_version
from hub.views.measurements import RULES, MeasurementRule

_QUALITY_RANK = {Quality.OK: 0, Quality.ESTIMATED: 1, Quality.STALE: 2, Quality.SUSPECT: 3}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FAR = datetime.max.replace(tzinfo=UTC)
_M = TypeVar("_M", bound=BaseModel)


@dataclass
class ViewStats:
    """Counters of one view's stage (for status and metrics)."""

    received: int = 0
    filtered: int = 0
    sent: int = 0
    late: int = 0
    held: int = 0
    suppressed: int = 0
    """Interval counts reported as 0 because they were below ``suppress_below``."""


@dataclass(slots=True)
class _Bucket:
    start: float
    last: Event
    values: list[float | None]
    n: int = 1
    quality: Quality = Quality.OK
    reasons: set[QualityReason] = field(default_factory=set)


class ViewStage(Protocol):
    """What the runtime, the API and the audit need of one view's stage."""

    name: str
    view_id: str
    version: str
    """The view's policy version (``internal`` for full detail), for the audit log."""
    stats: ViewStats

    def accepts(self, event: Event) -> bool: ...
    def handle(self, event: Event) -> Sequence[Event]: ...
    def tick(self, now: datetime) -> Sequence[Event]: ...
    def answer(self, stored: Iterable[Event], now: datetime) -> list[Event]: ...
    def pending(self) -> int: ...


class FullDetail:
    """The built-in ``internal`` view: every event, unchanged."""

    name = f"view:{INTERNAL}"
    view_id = INTERNAL
    version = "internal"

    def __init__(self) -> None:
        self.stats = ViewStats()

    def accepts(self, event: Event) -> bool:
        return True

    def handle(self, event: Event) -> Sequence[Event]:
        self.stats.received += 1
        self.stats.sent += 1
        return (event,)

    def tick(self, now: datetime) -> Sequence[Event]:
        return ()

    def answer(self, stored: Iterable[Event], now: datetime) -> list[Event]:
        return list(stored)

    def pending(self) -> int:
        return 0


class ViewPolicy:
    """Filter, aggregate, coarsen and delay events for one view."""

    def __init__(self, view: View, site: Site, key: NoiseKey) -> None:
        self.view = view
        self.view_id = view.id
        self.name = f"view:{view.id}"
        self.version = policy_version(view)
        self.stats = ViewStats()
        self._site, self._noise_key = site, key
        self._key = key if view.noise else None
        self._res = view.resolution_s
        self._grace = timedelta(seconds=view.grace_s)
        self._delay = timedelta(seconds=view.delay_s)
        self._all_places = view.zones == "all" and view.lines == "all"
        self._zones: frozenset[str] | None = None if view.zones == "all" else frozenset(view.zones)
        if view.lines != "all":
            self._lines: frozenset[str] | None = frozenset(view.lines)
        elif self._zones is not None:
            self._lines = frozenset(ln.id for ln in site.lines if ln.zone in self._zones)
        else:
            self._lines = None
        self._rules = {t: r for t, r in RULES.items() if self._admits(r)}
        self._as_is = frozenset(t for t, r in self._rules.items() if not self._changes(r))
        self._strip_extras = not view.vendor_extras
        self._coarsens = view.coarsens
        self._fast_raw = not self._res and not self._delay
        self._types = frozenset(self._rules)
        self._open: dict[tuple[str, str, str | None, str | None], _Bucket] = {}
        self._sent_start: dict[tuple[str, str, str | None, str | None], float] = {}
        self._next_due = _FAR
        self._held: list[tuple[datetime, int, Event]] = []
        self._seq = itertools.count()

    def _admits(self, rule: MeasurementRule) -> bool:
        v = self.view
        if v.measurements != "all" and rule.type not in v.measurements:
            return False
        if rule.health and not v.sensor_health:
            return False
        if v.levels_only:
            return rule.level is not None or rule.levels_only_as_is
        if v.coarsens_counts:
            return not any(f.required for f in rule.of_kind("rate"))
        return True

    def _changes(self, rule: MeasurementRule) -> bool:
        """Whether this view changes the measurement itself (not only extras/sequence)."""
        v = self.view
        if v.levels_only:
            return rule.level is not None
        if rule.of_kind("health") and not v.sensor_health:
            return True
        return v.coarsens_counts and bool(
            rule.of_kind("count") or rule.of_kind("rate") or rule.of_kind("text")
        )

    # -- the stage interface -------------------------------------------------------------
    def accepts(self, event: Event) -> bool:
        """Whether the view may see this event at all (type and place)."""
        if event.measurement.type not in self._types:
            return False
        if self._all_places:
            return True
        line = event.line
        if line is not None:
            return self._lines is None or line in self._lines
        zone = event.zone
        if zone is not None:
            return self._zones is None or zone in self._zones
        return False

    def handle(self, event: Event) -> Sequence[Event]:
        """The events to send now for ``event`` (often none: aggregated or held)."""
        stats = self.stats
        stats.received += 1
        if not self.accepts(event):
            stats.filtered += 1
            return ()
        if self._fast_raw:  # no aggregation, no delay: one event in, at most one out
            shaped = self._shape_raw(event)
            if shaped is None:
                return ()
            stats.sent += 1
            return (shaped,)
        out: list[Event] = []
        if self._res:
            self._add(event, out)
        else:
            shaped = self._shape_raw(event)
            if shaped is not None:
                out.append(shaped)
        now = event.received_at
        if now >= self._next_due:
            self._close_due(now, out)
        if self._delay:
            out = self._hold(out, now)
        self.stats.sent += len(out)
        return out

    def tick(self, now: datetime) -> Sequence[Event]:
        """Buckets that closed and held events that are due by ``now``."""
        out: list[Event] = []
        if now >= self._next_due:
            self._close_due(now, out)
        if self._delay:
            out = self._hold(out, now)
        self.stats.sent += len(out)
        return out

    def answer(self, stored: Iterable[Event], now: datetime) -> list[Event]:
        """What this view may see of stored events at ``now`` (an API history query).

        A fresh stage runs over ``stored`` (in time order), so the answer is filtered,
        aggregated and coarsened exactly as the live stream was, with the same noise;
        only what lies within ``history_days`` and is at least ``delay_s`` old.
        """
        fresh = ViewPolicy(self.view, self._site, self._noise_key)
        out: list[Event] = []
        for e in stored:
            out.extend(fresh.handle(e))
        out.extend(fresh.tick(now))
        start, end = self.view.window(now)
        return [e for e in out if start <= e.time <= end]

    def pending(self) -> int:
        """Open buckets plus held events (what a stop would drop)."""
        return len(self._open) + len(self._held)

    # -- aggregation -----------------------------------------------------------------------
    def _add(self, event: Event, out: list[Event]) -> None:
        m = event.measurement
        rule = self._rules[m.type]
        t = event.observed_from or event.observed_at or event.time
        ts = t.timestamp()
        start = ts - ts % self._res
        key = (m.type, event.source, event.zone, event.line)
        bucket = self._open.get(key)
        if bucket is None or bucket.start != start:
            if bucket is not None and start < bucket.start:
                self.stats.late += 1
                return
            if start <= self._sent_start.get(key, -1.0):
                self.stats.late += 1
                return
            if bucket is not None:  # the source moved on: its earlier interval is complete
                self._emit(key, bucket, out)
            values = [getattr(m, f.name) for f in rule.of_kind("count")]
            self._open[key] = _Bucket(start, event, values)
            due = _EPOCH + timedelta(seconds=start + self._res) + self._grace
            if due < self._next_due:
                self._next_due = due
        else:
            bucket.n += 1
            bucket.last = event
            if rule.combine != "last":
                values = bucket.values
                for i, f in enumerate(rule.of_kind("count")):
                    v = getattr(m, f.name)
                    old = values[i]
                    if v is None:
                        continue
                    if old is None:
                        values[i] = v
                    elif rule.combine == "sum":
                        values[i] = old + v
                    elif v > old:
                        values[i] = v
        if event.quality is not Quality.OK:
            b = self._open[key]
            if _QUALITY_RANK[event.quality] > _QUALITY_RANK[b.quality]:
                b.quality = event.quality
            b.reasons.update(event.quality_reasons)

    def _close_due(self, now: datetime, out: list[Event]) -> None:
        limit = (now - self._grace - _EPOCH).total_seconds() - self._res
        nxt = _FAR
        for key, bucket in list(self._open.items()):
            if bucket.start <= limit:
                self._emit(key, bucket, out)
            else:
                due = _EPOCH + timedelta(seconds=bucket.start + self._res) + self._grace
                if due < nxt:
                    nxt = due
        self._next_due = nxt

    def _emit(
        self, key: tuple[str, str, str | None, str | None], bucket: _Bucket, out: list[Event]
    ) -> None:
        del self._open[key]
        self._sent_start[key] = bucket.start
        shaped = self._shape(bucket.last, bucket, key)
        if shaped is not None:
            out.append(shaped)

    # -- shaping ---------------------------------------------------------------------------
    def _shape_raw(self, event: Event) -> Event | None:
        if event.measurement.type not in self._as_is:
            return self._shape(event, None, None)
        changes: dict[str, Any] | None = None
        if event.extras and self._strip_extras:
            changes = {"extras": {}}
        if self._coarsens and event.sequence is not None:
            changes = (changes or {}) | {"sequence": None}
        return _replace(event, changes) if changes else event

    def _shape(
        self,
        event: Event,
        bucket: _Bucket | None,
        key: tuple[str, str, str | None, str | None] | None,
    ) -> Event | None:
        v = self.view
        m = event.measurement
        rule = self._rules[m.type]
        update: dict[str, Any] = {}
        if bucket is not None:
            counts = rule.of_kind("count")
            if rule.combine != "last":
                update = {
                    f.name: _like(getattr(m, f.name), x)
                    for f, x in zip(counts, bucket.values, strict=True)
                }
        m_update, marks = self._coarsen(rule, m, update, event, bucket)
        if not v.sensor_health:
            for f in rule.of_kind("health"):
                m_update[f.name] = type(m).model_fields[f.name].default
        measurement: Any = _replace(m, m_update) if m_update else m
        if v.levels_only and rule.level is not None:
            measurement = Level(
                of=rule.type,
                level=getattr(m, rule.level),
                colour=getattr(m, rule.colour) if rule.colour else "",
                fresh=bool(getattr(m, rule.fresh)) if rule.fresh else True,
            )
        ev_update: dict[str, Any] = {}
        if measurement is not m:
            ev_update["measurement"] = measurement
        if event.extras and not v.vendor_extras:
            ev_update["extras"] = {}
        if marks:
            ev_update["extras"] = {"view": {"suppressed_below": v.suppress_below, "fields": marks}}
        if bucket is not None and key is not None:
            start = _EPOCH + timedelta(seconds=bucket.start)
            end = start + timedelta(seconds=self._res)
            ident = (
                f"{self.view_id}\x1f{key[0]}\x1f{key[1]}\x1f{key[2]}\x1f{key[3]}\x1f{bucket.start}"
            )
            ev_update["event_id"] = hashlib.blake2b(ident.encode(), digest_size=16).hexdigest()
            if event.observed_from is not None:
                ev_update["observed_from"], ev_update["observed_to"] = start, end
            else:
                ev_update["observed_at"] = end
            ev_update["received_at"] = max(end, event.received_at)
            ev_update["sequence"] = None
            ev_update["quality"] = bucket.quality
            ev_update["quality_reasons"] = tuple(sorted(bucket.reasons))
        elif v.coarsens and event.sequence is not None:
            ev_update["sequence"] = None
        return _replace(event, ev_update) if ev_update else event

    def _coarsen(
        self,
        rule: MeasurementRule,
        m: Any,
        update: dict[str, Any],
        event: Event,
        bucket: _Bucket | None,
    ) -> tuple[dict[str, Any], list[str]]:
        v = self.view
        marks: list[str] = []
        if not v.coarsens_counts or v.levels_only:
            return update, marks
        start = bucket.start if bucket is not None else event.time.timestamp()
        for f in rule.of_kind("count"):
            true = update.get(f.name, getattr(m, f.name))
            if true is None:
                continue
            value, suppressed = coarsen_count(
                true,
                key=self._key,
                label=interval_label(
                    self.view_id, rule.type, event.source, event.zone, event.line, f.name, start
                ),
                suppress_below=v.suppress_below,
                round_to=v.round_to,
            )
            update[f.name] = _like(true, value)
            if suppressed:
                self.stats.suppressed += 1
            if suppressed and v.suppress_as == "below":
                marks.append(type(m).model_fields[f.name].alias or f.name)
        for f in rule.of_kind("rate"):
            update[f.name] = None  # required rates never get here (_admits)
        for f in rule.of_kind("text"):
            update[f.name] = type(m).model_fields[f.name].default
        return update, marks

    # -- delay -----------------------------------------------------------------------------
    def _hold(self, out: list[Event], now: datetime) -> list[Event]:
        held = self._held
        for e in out:
            heapq.heappush(held, (e.time + self._delay, next(self._seq), e))
        ready: list[Event] = []
        while held and held[0][0] <= now:
            ready.append(heapq.heappop(held)[2])
        self.stats.held = len(held)
        return ready


def _replace(model: _M, changes: dict[str, Any]) -> _M:
    """A copy of a frozen pydantic model with ``changes`` (values already valid).

    What ``model_copy(update=...)`` does, without its generic overhead: this runs
    for every event a restricted raw view passes.
    """
    cls = type(model)
    new = cls.__new__(cls)
    data = dict(model.__dict__)
    data.update(changes)
    object.__setattr__(new, "__dict__", data)
    object.__setattr__(
        new, "__pydantic_fields_set__", model.__pydantic_fields_set__ | changes.keys()
    )
    object.__setattr__(new, "__pydantic_extra__", None)
    object.__setattr__(new, "__pydantic_private__", None)
    return new


def _like(template: Any, value: float | None) -> Any:
    """``value`` with the type of the field it replaces (int fields stay int)."""
    if value is None or isinstance(template, bool):
        return value
    if isinstance(template, float):
        return float(value)
    if isinstance(template, int):
        return int(value)
    return value  # the last reading had None: the aggregate keeps its type (int sums stay int)


def _conforms(a: ViewPolicy, b: FullDetail) -> tuple[ViewStage, ViewStage]:
    """Type check only: both stages satisfy :class:`ViewStage`."""
    return a, b
