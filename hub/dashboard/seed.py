"""A delayed picture seeded from the embedded store at start, so a restart leaves no gap.

A view with ``delay_s`` sees the picture as it was ``delay_s`` ago through an in-memory
delay line (:mod:`hub.dashboard.delay`); after a restart that line is empty, and for
``delay_s`` the view would show every zone ``unknown``. :class:`StoreSeed` fills it from
the ``sqlite`` output the dashboard reads history from (the same file, read-only, in a
worker thread), before the dashboard serves its first request:

* ``zone_state`` and ``line_flow`` events of the last ``delay_s``, per zone or line the
  newest one of each ``step_s`` of the delay line (``GROUP BY`` in SQL: at most about
  ``delay_s / step_s + 1`` rows per item leave the database, the bound of the live line),
  plus the newest one in the ``carry_s`` before the window (a state holds until the next;
  the heartbeat bounds the gap), so the picture at ``now - delay_s`` is complete;
* ``alert`` events of the last ``alert_lookback_s`` (an alert is stored when it changes,
  and may fire long before the window), at most ``max_alerts``; an alert the store shows
  open that the running hub no longer has is closed at the restart;
* each stored event becomes the change the live picture would have announced (the zone's
  level legend and measures from the configured level sets) and goes into the delay line
  by :meth:`~hub.dashboard.delay.DelayedPicture.record`, the path of every live change: the
  views' filtering and coarsening apply to it exactly as to a live one.

What the store does not keep stays empty until the delay has passed: the sensors' health
(not stored) and anything older than the store's raw retention. Without a store (history
from memory) there is nothing to seed: the delayed view reads ``unknown`` for ``delay_s``.
"""

from __future__ import annotations

__all__ = ["StoreSeed"]

import asyncio
import logging
import sqlite3
from collections.abc import Iterable
from datetime import UTC
from typing import Any

from pydantic import ValidationError

from hub.dashboard.provider import Change
from hub.dashboard.serialize import line_dict, zone_dict
from hub.dashboard.store import StoreError, StoreHistory
from hub.events import Alert, Event, LineFlow, ZoneState
from hub.zones import Band, LevelSet, LineView, ZoneModel, ZoneView

log = logging.getLogger("hub.dashboard")

STATES = """
SELECT MAX(time_ms), event FROM events
 WHERE measurement IN ('zone_state', 'line_flow') AND time_ms >= :since AND time_ms <= :now
 GROUP BY measurement, zone, line,
          CASE WHEN time_ms <= :cut THEN -1 ELSE (time_ms - :cut - 1) / :step END
"""
"""Per zone or line: the newest state at or before the cut (back to ``since``) and the
newest of each step after it. SQLite gives the bare column ``event`` of the row that
holds the ``MAX(time_ms)`` of its group."""

ALERTS = """
SELECT time_ms, event FROM events
 WHERE measurement = 'alert' AND time_ms >= :since AND time_ms <= :now
 ORDER BY time_ms DESC LIMIT :limit
"""

EMPTY = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'"

Seeded = list[tuple[float, Change]]


class StoreSeed:
    """Reads what a delay line needs from the store and turns it into picture changes."""

    def __init__(
        self,
        store: StoreHistory,
        model: ZoneModel,
        *,
        alert_lookback_s: float = 24 * 3600,
        max_alerts: int = 5000,
    ) -> None:
        self.store = store
        self.model = model
        self.alert_lookback_s = alert_lookback_s
        self.max_alerts = max_alerts
        self._sets = model.config.all_level_sets()
        self._line_zone = {ln.id: ln.zone for ln in model.site.lines}

    async def changes(self, now: float, delay_s: float, step_s: float) -> Seeded:
        """The changes of ``[now - delay_s - carry_s, now]``, oldest first, off the loop.

        Raises :class:`~hub.dashboard.store.StoreError` when the store cannot be read."""
        return await asyncio.to_thread(self.read, now, delay_s, step_s)

    def read(self, now: float, delay_s: float, step_s: float) -> Seeded:
        """:meth:`changes` in the calling thread."""
        cut = now - delay_s
        if not self.store.path.is_file():
            return []  # the first start: nothing stored yet
        try:
            db = self.store.connect()
        except sqlite3.Error as err:
            raise StoreError(f"cannot open {self.store.path} read-only: {err}") from err
        try:
            if db.execute(EMPTY).fetchone() is None:
                return []  # created, but the output has not made its table yet
            states = db.execute(
                STATES,
                {
                    "since": _ms(cut - self.store.carry_s),
                    "cut": _ms(cut),
                    "now": _ms(now),
                    "step": max(1, _ms(step_s)),
                },
            ).fetchall()
            alerts = db.execute(
                ALERTS,
                {
                    "since": _ms(cut - self.alert_lookback_s),
                    "now": _ms(now),
                    "limit": self.max_alerts,
                },
            ).fetchall()
        except sqlite3.Error as err:
            raise StoreError(f"cannot read {self.store.path}: {err}") from err
        finally:
            db.close()
        out: Seeded = []
        bad = 0
        for t_ms, text in [*states, *reversed(alerts)]:
            try:
                change = self.change(Event.model_validate_json(text))
            except (ValidationError, ValueError):
                bad += 1
                continue
            if change is not None:
                out.append((t_ms / 1000, change))
        if bad:
            log.warning("dashboard delay seed: %d stored event(s) could not be read", bad)
        out.sort(key=lambda tc: tc[0])
        return out

    # --- stored events -> changes ---------------------------------------------------------

    def change(self, e: Event) -> Change | None:
        """The change the live picture announced for stored event ``e`` (None: not one)."""
        m = e.measurement
        if isinstance(m, ZoneState) and e.zone is not None:
            z = self.model.site.zone(e.zone)
            return None if z is None else Change("zone", zone_dict(z, self._zone_view(e, m)))
        if isinstance(m, LineFlow) and e.line is not None:
            ln = next((x for x in self.model.site.lines if x.id == e.line), None)
            return None if ln is None else Change("line", line_dict(ln, self._line_view(e, m)))
        if isinstance(m, Alert) and m.state != "pending":
            return Change("alert", self._alert(e, m))
        return None

    def _levels(self, base: str, profile: str | None) -> tuple[str, LevelSet]:
        name = base
        for p in self.model.config.profiles:
            if p.id == profile and base in p.level_sets:
                name = p.level_sets[base]
        ls = self._sets.get(name) or self._sets[base]
        return name, ls

    def _zone_view(self, e: Event, m: ZoneState) -> ZoneView:
        z = self.model.site.zone(str(e.zone))
        assert z is not None
        name, ls = self._levels(z.levels or z.type, m.profile)
        band = None
        if m.usual_p10 is not None and m.usual_p50 is not None and m.usual_p90 is not None:
            band = Band(m.usual_p10, m.usual_p50, m.usual_p90, m.usual_weeks)
        return ZoneView(
            zone=z.id,
            at=e.time,
            level=m.level,
            level_index=m.level_index,
            colour=m.colour,
            measures=_measures(ls, m.level_index),
            level_set=name,
            levels=ls,
            metric_value=None,
            occupancy=m.occupancy,
            method=m.method,
            density=m.density,
            capacity_use=m.capacity_use,
            net_inflow_per_min=m.net_inflow_per_min,
            time_to_capacity_min=m.time_to_capacity_min,
            age_s=m.age_s,
            problems=tuple(m.problems),
            clamped=False,
            band=band,
            forecast=None,
            next_level_in_min=m.next_level_in_min,
            profile=m.profile,
        )

    def _line_view(self, e: Event, m: LineFlow) -> LineView:
        ln = next(x for x in self.model.site.lines if x.id == e.line)
        name, ls = self._levels(ln.levels or "flow", None)
        return LineView(
            line=ln.id,
            zone=ln.zone,
            at=e.time,
            level=m.level,
            level_index=m.level_index,
            colour=m.colour,
            measures=_measures(ls, m.level_index),
            level_set=name,
            levels=ls,
            in_count=m.in_,
            out_count=m.out,
            in_per_m_min=m.in_per_m_min,
            out_per_m_min=m.out_per_m_min,
            metric_value=None,
            window_s=m.window_s,
            age_s=None,
            profile=None,
        )

    def _alert(self, e: Event, m: Alert) -> dict[str, Any]:
        line = e.line if e.line in self._line_zone else None
        since = m.since.astimezone(UTC).isoformat()
        return {
            "id": m.alert_id,
            "rule": m.rule,
            "subject": line or e.zone,
            "zone": self._line_zone[line] if line else e.zone,
            "line": line,
            "state": m.state,
            "severity": m.severity,
            "since": since,
            "fired_at": since,
            "acked_at": None if m.acknowledged_at is None else m.acknowledged_at.isoformat(),
            "acked_by": None,  # not stored: who acted stays in the hub's measures log
            "ack_note": "",
            "escalated": m.escalated,
            "silenced": m.silenced,
            "inhibited": m.inhibited,
            "value": None if m.value is None else round(m.value, 2),
            "threshold": m.threshold,
            "summary": m.summary,
        }


def closed_since(seeded: Iterable[tuple[float, Change]], open_now: set[str]) -> list[Change]:
    """Alerts the store last saw open that the running hub no longer has: closed now."""
    last: dict[str, Change] = {}
    for _, c in seeded:
        if c.kind == "alert":
            last[str(c.data["id"])] = c
    return [
        Change("alert", {**c.data, "state": "closed"})
        for ident, c in last.items()
        if c.data["state"] != "closed" and ident not in open_now
    ]


def _measures(ls: LevelSet, index: int) -> str:
    return ls.levels[index].measures if 0 <= index < len(ls.levels) else ""


def _ms(t: float) -> int:
    return int(t * 1000)
