"""What the dashboard reads and does: the :class:`PictureProvider` seam and its zone-model side.

The dashboard never touches the zone model directly; it asks a :class:`PictureProvider`
for JSON-ready dicts (the shapes are in :mod:`hub.dashboard.openapi`) and subscribes to
:class:`Change` notifications for the live stream. :class:`ZoneModelProvider` implements
it over a :class:`hub.zones.ZoneModel` in the same event loop: the zone stage calls
:meth:`ZoneModelProvider.update` after every ``model.tick(now)``; operator actions
(acknowledge, silence, measure) go through :class:`hub.zones.actions.ZoneActions` (the
same functions ``hub alerts`` uses; pass the running hub's, so an action also makes its
driver tick and persist at once) and are announced at once.

History: with a :class:`hub.dashboard.store.StoreHistory` (the running hub passes one over
its ``sqlite`` output) the occupancy comes from the store (``"source": "store"``), so it
survives a restart and reaches back as far as the store keeps it; without one, or when the
store cannot be read, from the in-memory minute trend and the model's quarter-hour history
(``"source": "memory"``). The normal band and the forecast always come from the model.
"""

from __future__ import annotations

__all__ = ["Change", "ChangeKind", "PictureProvider", "ZoneModelProvider"]

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from hub.clock import Clock, SystemClock
from hub.dashboard.serialize import (
    alert_dict,
    line_dict,
    memory_occupancy,
    sensor_dicts,
    zone_dict,
    zone_history,
)
from hub.dashboard.store import StoreError, StoreHistory
from hub.site import Site
from hub.zones import ZoneModel
from hub.zones.actions import ZoneActions
from hub.zones.log import query

log = logging.getLogger("hub.dashboard")

ChangeKind = Literal["zone", "line", "sensor", "alert", "log"]


@dataclass(frozen=True, slots=True)
class Change:
    """One changed item: a zone, line, sensor or alert (its new state) or a new log record."""

    kind: ChangeKind
    data: dict[str, Any]


class PictureProvider(Protocol):
    """The crowd picture as the dashboard needs it (every dict is JSON-ready)."""

    @property
    def site(self) -> Site: ...

    def now(self) -> datetime: ...

    def zones(self) -> list[dict[str, Any]]: ...

    def lines(self) -> list[dict[str, Any]]: ...

    def sensors(self) -> list[dict[str, Any]]: ...

    def alerts(self) -> list[dict[str, Any]]:
        """Open alerts (pending excluded), each with ``zone`` (and ``line``) for filtering."""
        ...

    def alert_log(
        self, *, since: datetime | None = None, until: datetime | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` alert and measures log records, oldest first, with ``zone``."""
        ...

    async def history(
        self, zone: str, start: datetime, end: datetime, step_s: int
    ) -> dict[str, Any]:
        """Occupancy per step with the normal band, and the forecast; ``KeyError``: no zone.

        ``"source"`` says where the occupancy came from: ``"store"`` or ``"memory"``."""
        ...

    def acknowledge(self, alert_id: str, *, by: str, note: str) -> dict[str, Any]: ...

    def silence(
        self, *, subject: str, rule: str | None, until: datetime, reason: str, by: str
    ) -> dict[str, Any]: ...

    def log_measure(self, subject: str, text: str, *, by: str) -> dict[str, Any]: ...

    def subscribe(self) -> AsyncIterator[Change]:
        """Changes from now on, until the provider closes or the subscriber falls behind."""
        ...


class _Subscriber:
    __slots__ = ("dropped", "queue")

    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[Change | None] = asyncio.Queue(size)
        self.dropped = False


class ZoneModelProvider:
    """A :class:`PictureProvider` over a :class:`ZoneModel` running in the same event loop."""

    def __init__(
        self,
        model: ZoneModel,
        *,
        clock: Clock | None = None,
        keep_minutes: int = 24 * 60,
        queue_size: int = 10_000,
        actions: ZoneActions | None = None,
        store: StoreHistory | None = None,
    ) -> None:
        self.model = model
        self.store = store
        self._store_failing = False
        self.clock = clock or SystemClock()
        self.actions = actions if actions is not None else ZoneActions(model, self.now)
        self._keep = keep_minutes
        self._queue_size = queue_size
        self._minutes: dict[str, deque[list[float]]] = {}
        self._last: dict[tuple[str, str], dict[str, Any]] = {}
        self._log_seq = model.alerts.log.seq
        self._subs: set[_Subscriber] = set()
        self._line_zone = {ln.id: ln.zone for ln in model.site.lines}

    # --- reading ------------------------------------------------------------------------

    @property
    def site(self) -> Site:
        return self.model.site

    def now(self) -> datetime:
        return self.clock.now()

    def zones(self) -> list[dict[str, Any]]:
        views = self.model.zones()
        return [zone_dict(z, views.get(z.id)) for z in self.site.zones]

    def lines(self) -> list[dict[str, Any]]:
        views = self.model.lines()
        return [line_dict(ln, views.get(ln.id)) for ln in self.site.lines]

    def sensors(self) -> list[dict[str, Any]]:
        zones = self.model.zones()
        problems = {k: v.problems for k, v in zones.items()}
        return sensor_dicts(self.site, self.model.sources(), problems, self.now().timestamp())

    def alerts(self) -> list[dict[str, Any]]:
        return [
            alert_dict(a, self._line_zone) for a in self.model.open_alerts() if a.state != "pending"
        ]

    def alert_log(
        self, *, since: datetime | None = None, until: datetime | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        records = query(self.model.alerts.log.records, since=since, until=until)
        return [self._with_zone(r) for r in records[-limit:]] if limit > 0 else []

    def _with_zone(self, record: dict[str, Any]) -> dict[str, Any]:
        subject = record.get("subject")
        zone = self._line_zone.get(subject, subject) if isinstance(subject, str) else None
        return {**record, "zone": zone}

    async def history(
        self, zone: str, start: datetime, end: datetime, step_s: int
    ) -> dict[str, Any]:
        cfg = self.site.zone(zone)
        if cfg is None:
            raise KeyError(f"unknown zone {zone!r}")
        a, b = start.timestamp(), end.timestamp()
        points = await self._stored(zone, a, b, step_s)
        source = "store"
        if points is None:
            source = "memory"
            minutes = self._minutes.get(zone, deque())
            points = memory_occupancy(zone, self.model.history, minutes, a, b, step_s)
        t0, values = points
        view = self.model.zones().get(zone)
        return zone_history(cfg, view, self.model.history, t0, values, step_s, source)

    async def _stored(
        self, zone: str, start: float, end: float, step_s: int
    ) -> tuple[float, list[float | None]] | None:
        """The store's answer, or None (no store, or it cannot be read: said once)."""
        if self.store is None:
            return None
        try:
            got = await self.store.occupancy(zone, start, end, step_s)
        except StoreError as err:
            if not self._store_failing:
                self._store_failing = True
                log.warning(
                    "dashboard history: sqlite[%s]: %s; answering from memory until it can be read",
                    self.store.output_id,
                    err,
                )
            return None
        if self._store_failing:
            self._store_failing = False
            log.info("dashboard history: sqlite[%s] can be read again", self.store.output_id)
        return got

    # --- acting -------------------------------------------------------------------------

    def acknowledge(self, alert_id: str, *, by: str, note: str) -> dict[str, Any]:
        """Raises :class:`hub.zones.actions.ActionError` (with an HTTP-like status)."""
        done = self.actions.acknowledge(alert_id, by=by, note=note)
        self._announce_alerts()
        record = next(a for a in self.model.alerts.open.values() if a.alert_id == done["alert_id"])
        return alert_dict(record, self._line_zone)

    def silence(
        self, *, subject: str, rule: str | None, until: datetime, reason: str, by: str
    ) -> dict[str, Any]:
        seconds = (until - self.now()).total_seconds()
        s = self.actions.silence(reason, by, seconds, rule=rule, subject=subject)
        self._announce_alerts()
        return {**s, "subject": subject, "rule": rule}

    def log_measure(self, subject: str, text: str, *, by: str) -> dict[str, Any]:
        rec = self.actions.log_measure(subject, text, by)
        self._announce_alerts()
        return self._with_zone(rec)

    # --- the live side ------------------------------------------------------------------

    def update(self, now: datetime) -> None:
        """Call after every ``model.tick(now)``: records the trend and announces changes."""
        ts = now.timestamp()
        minute = ts // 60 * 60
        for k, v in self.model.zones().items():
            if v.occupancy is None:
                continue
            ring = self._minutes.get(k)
            if ring is None:
                ring = self._minutes[k] = deque(maxlen=self._keep)
            if ring and ring[-1][0] == minute:
                ring[-1][1] += v.occupancy
                ring[-1][2] += 1
            else:
                ring.append([minute, v.occupancy, 1.0])
        if not self._subs:
            self._log_seq = self.model.alerts.log.seq
            self._last.clear()
            return
        for d in self.zones():
            self._offer("zone", d)
        for d in self.lines():
            self._offer("line", d)
        for d in self.sensors():
            self._offer("sensor", {k: v for k, v in d.items() if k != "age_s"})
        self._announce_alerts()

    def _announce_alerts(self) -> None:
        if not self._subs:
            return
        seen = set()
        for d in self.alerts():
            seen.add(d["id"])
            self._offer("alert", d)
        for key in [k for k in self._last if k[0] == "alert" and k[1] not in seen]:
            gone = self._last.pop(key)
            self._emit(Change("alert", {**gone, "state": "closed"}))
        for rec in self.model.alerts.log.since(self._log_seq):
            self._emit(Change("log", self._with_zone(rec)))
        self._log_seq = self.model.alerts.log.seq

    def _offer(self, kind: ChangeKind, data: dict[str, Any]) -> None:
        key = (kind, str(data["id"]))
        if self._last.get(key) != data:
            self._last[key] = data
            self._emit(Change(kind, data))

    def _emit(self, change: Change) -> None:
        for s in list(self._subs):
            try:
                s.queue.put_nowait(change)
            except asyncio.QueueFull:
                # fallen behind: end its stream; it reconnects and gets a fresh snapshot
                self._drop(s)

    def _drop(self, s: _Subscriber) -> None:
        self._subs.discard(s)
        s.dropped = True
        while not s.queue.empty():
            s.queue.get_nowait()
        s.queue.put_nowait(None)

    def close(self) -> None:
        """End every subscription."""
        for s in list(self._subs):
            self._drop(s)

    async def subscribe(self) -> AsyncIterator[Change]:
        s = _Subscriber(self._queue_size)
        if not self._subs:
            self._last.clear()  # the first subscriber starts from a clean slate
            self._log_seq = self.model.alerts.log.seq
        self._subs.add(s)
        try:
            while True:
                change = await s.queue.get()
                if change is None:
                    return
                yield change
        finally:
            self._subs.discard(s)
