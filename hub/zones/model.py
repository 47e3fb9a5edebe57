"""The zone model: events and clock ticks in, zone states, line flows and alerts out.

Sans-io: no asyncio, no I/O, no clock of its own. A driver (the zone stage of the
pipeline) calls :meth:`ZoneModel.ingest` for every event, :meth:`ZoneModel.tick`
about once a second with the current time and puts the events it returns on the
bus, appends :meth:`AlertLog.since <hub.zones.log.AlertLog.since>` records to the
measures log file, and writes :meth:`ZoneModel.to_dict` to the data dir now and
then; on start it restores with :meth:`ZoneModel.from_dict`, also with a changed
config (levels are kept by name, so new thresholds do not reset them).

``ingest`` only records (a few dict and deque operations per event); ``tick``
derives the figures, moves levels and alerts, and publishes a zone's state when its
level, freshness or method changes at once, a changed number at most every
``publish_interval_s``, and everything at least every ``heartbeat_s``.
"""

from __future__ import annotations

__all__ = ["ZoneModel"]

from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from zoneinfo import ZoneInfo

from hub.events import (
    Crossing,
    Density,
    Devices,
    Event,
    Occupancy,
    Provenance,
    Quality,
    QualityReason,
)
from hub.site import Site
from hub.zones.alerts import AlertBook, AlertRecord
from hub.zones.config import LevelSet, ZonesConfig
from hub.zones.history import Band, Forecast, History
from hub.zones.inputs import LineInputs, ZoneInputs
from hub.zones.levels import LevelTracker
from hub.zones.output import alert_event, line_flow_event, zone_state_event
from hub.zones.rules import conditions
from hub.zones.slots import LineSlot, ZoneSlot
from hub.zones.validate import check_site
from hub.zones.views import UNKNOWN, LineView, ZoneView

SNAPSHOT_VERSION = 1
_FORGET_S = 86_400.0
_ZONE_READINGS = (Occupancy, Density, Devices)
_JUMP_REASONS = frozenset({QualityReason.IMPLAUSIBLE_JUMP, QualityReason.ABOVE_MAXIMUM})


def _provenance() -> Provenance:
    try:
        v = version("crowdhub")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        v = "0.0.0+unknown"
    return Provenance(plugin="crowdhub.zones", plugin_version=v, transport=None)


class ZoneModel:
    """The crowd picture of one site."""

    def __init__(
        self,
        site: Site,
        config: ZonesConfig | None = None,
        *,
        source: str = "zones",
        provenance: Provenance | None = None,
    ) -> None:
        self.site = site
        self.config = conf = config or ZonesConfig()
        self.source = source
        self.provenance = provenance or _provenance()
        self.tz = ZoneInfo(site.timezone)
        self._sets = conf.all_level_sets()
        self._rules = {r.id: r for r in conf.rules}
        self._zones = {z.id: ZoneSlot(z, conf) for z in site.zones}
        self._lines = {ln.id: LineSlot(ln, self._zones[ln.zone], conf) for ln in site.lines}
        for ln in self._lines.values():
            ln.zone.lines.append(ln)
        self._subjects = frozenset(self._zones) | frozenset(self._lines)
        check_site(site, conf)
        self.history = History(site.timezone, conf.history_weeks)
        self.alerts = AlertBook()
        self.next_reset: float | None = None
        self.ignored = 0
        self._zone_views: dict[str, ZoneView] = {}
        self._line_views: dict[str, LineView] = {}
        self._housekeeping = 0.0
        self._outlooks: dict[str, tuple[float, Band | None, Forecast]] = {}

    # --- configuration ------------------------------------------------------------------

    def _levels_for(
        self, subject: str, base: str, local: datetime
    ) -> tuple[str, LevelSet, str | None]:
        for p in self.config.profiles:
            if base in p.level_sets and p.active(local, subject):
                name = p.level_sets[base]
                return name, self._sets[name], p.id
        return base, self._sets[base], None

    # --- the per-event path -------------------------------------------------------------

    def ingest(self, event: Event) -> None:
        """Record one event (cheap; figures are derived on :meth:`tick`)."""
        m = event.measurement
        if isinstance(m, Crossing):
            ln = self._lines.get(event.line or "")
            if ln is None:
                self.ignored += 1
                return
            assert event.observed_from is not None and event.observed_to is not None
            t0 = event.observed_from.timestamp()
            t = event.observed_to.timestamp()
            ln.inputs.add(t0, t, m.in_, m.out)
            z = ln.zone
            z.inputs.add_crossing(t0, t, m.in_ - m.out)
        elif isinstance(m, _ZONE_READINGS):
            z_ = self._zones.get(event.zone or "")
            if z_ is None:
                self.ignored += 1
                return
            z = z_
            t = event.time.timestamp()
            if isinstance(m, Devices):
                z.inputs.devices[event.source] = (m.count * z.calibration, t)
            elif event.quality is Quality.SUSPECT:
                z.inputs.problems["suspect:" + event.source] = t
            else:
                people = m.count if isinstance(m, Occupancy) else m.value * z.area
                z.inputs.add_counted(
                    event.source, people, t, z.stale, z.combine, z.jump, bool(z.lines)
                )
        else:
            return  # status and the model's own derived events
        z.inputs.seen[event.source] = t
        if event.quality_reasons:
            self._reasons(z, event, t)

    def _reasons(self, z: ZoneSlot, event: Event, t: float) -> None:
        for r in event.quality_reasons:
            if r is QualityReason.COUNTER_RESET:
                z.inputs.problems["counter_reset:" + event.source] = t
            elif r in _JUMP_REASONS:
                z.inputs.problems["implausible_jump:" + event.source] = t
            elif r is QualityReason.SEQUENCE_GAP:
                z.inputs.add_gap(event.source, t, self.config.gap_limit_per_h)

    # --- ticks --------------------------------------------------------------------------

    def tick(self, now: datetime) -> list[Event]:
        """Advance to ``now``: derive figures, move levels and alerts; events to publish."""
        ts = now.timestamp()
        local = now.astimezone(self.tz)
        self._daily_reset(ts)
        if ts - self._housekeeping >= 60.0:
            self._housekeeping = ts
            for z in self._zones.values():
                z.inputs.forget(ts, _FORGET_S, self.config.problem_window_s)
            self.history.prune(ts)
        silent: dict[str, float] = {}
        self._line_views = {k: self._line_view(ln, ts, now, local) for k, ln in self._lines.items()}
        for k, z in self._zones.items():
            self._zone_views[k] = self._zone_view(z, ts, now, local)
            seen = z.inputs.seen.values()
            silent[k] = max((ts - t for t in seen), default=0.0)
        conds = conditions(self._rules.values(), self._zone_views, self._line_views, silent)
        notify = self.alerts.evaluate(ts, self._rules, conds, self._subjects)
        return self._publish(ts, now, notify)

    def _daily_reset(self, ts: float) -> None:
        reset_at = self.config.reset_at
        if reset_at is None:
            return
        if self.next_reset is not None and ts >= self.next_reset:
            at = self.next_reset
            for z in self._zones.values():
                z.inputs.reset_flow(at, ts, z.stale, z.combine)
            self.alerts.log.append(ts, "daily_reset", note=f"flow balance reset at {reset_at}")
            self.next_reset = None
        if self.next_reset is None:
            local = datetime.fromtimestamp(ts, UTC).astimezone(self.tz)
            cand = datetime.combine(local.date(), reset_at, tzinfo=self.tz)
            if cand.timestamp() <= ts:
                cand = datetime.combine(local.date() + timedelta(days=1), reset_at, tzinfo=self.tz)
            self.next_reset = cand.timestamp()

    def _zone_view(self, z: ZoneSlot, ts: float, now: datetime, local: datetime) -> ZoneView:
        inp = z.inputs
        occ: float | None = None
        method: str | None = None
        age: float | None = None
        for meth in z.methods:
            if meth == "counted":
                occ = inp.counted_value(ts, z.stale, z.combine)
                if occ is not None:
                    age = ts - inp.oldest(inp.counted)
            elif meth == "devices":
                occ = inp.devices_value(ts, z.stale)
                if occ is not None:
                    age = ts - inp.oldest(inp.devices)
            elif z.lines:
                lasts = [ln.inputs.last_t for ln in z.lines]
                oldest = None if None in lasts else min(t for t in lasts if t is not None)
                if oldest is not None and ts - oldest <= z.stale:
                    occ, age = inp.flow, ts - oldest
            if occ is not None:
                method = meth
                break
        name, ls, profile = self._levels_for(z.cfg.id, z.level_set, local)
        window = self.config.window_s
        if occ is None:
            inflow = ttc = value = None
            index = -1
        else:
            age = max(age or 0.0, 0.0)
            self.history.add(z.cfg.id, ts, occ)
            if z.lines:
                inflow = sum(
                    (ln.inputs.in_sum - ln.inputs.out_sum) / ln.inputs.span_min(ts, window)
                    for ln in z.lines
                )
            else:
                inflow = inp.net_inflow_from_samples(ts, window, occ)
            ttc = None
            if z.capacity is not None:
                if occ >= z.capacity:
                    ttc = 0.0
                elif inflow is not None and inflow > 0:
                    ttc = (z.capacity - occ) / inflow
            value = self._metric(ls, z, occ)
            z.tracker.update(ls, value, ts)
            index = z.tracker.index(ls)
        band, forecast = self._outlook(z.cfg.id, ts)
        next_in = None
        if 0 <= index < len(ls.levels) - 1 and forecast.weeks:
            enter = ls.levels[index + 1].enter or 0.0
            for start, v in zip(forecast.starts, forecast.values, strict=True):
                if self._metric(ls, z, v) >= enter:
                    next_in = max(0.0, (start.timestamp() - ts) / 60.0)
                    break
        problems = [f"sensor_silent:{s}" for s, t in inp.seen.items() if ts - t > z.stale]
        problems += inp.problems
        clamped = inp.clamped_t is not None and ts - inp.clamped_t <= self.config.problem_window_s
        if clamped:
            problems.append("flow_clamped")
        lv = ls.levels[index] if index >= 0 else None
        return ZoneView(
            zone=z.cfg.id,
            at=now,
            level=lv.name if lv else UNKNOWN,
            level_index=index,
            colour=lv.colour if lv else "grey",
            measures=lv.measures if lv else "",
            level_set=name,
            levels=ls,
            metric_value=value,
            occupancy=occ,
            method=method,
            density=None if occ is None else occ / z.area,
            capacity_use=None if occ is None or z.capacity is None else occ / z.capacity,
            net_inflow_per_min=inflow,
            time_to_capacity_min=ttc,
            age_s=age,
            problems=tuple(sorted(problems)),
            clamped=clamped,
            band=band,
            forecast=forecast if forecast.weeks else None,
            next_level_in_min=next_in,
            profile=profile,
        )

    def _outlook(self, zone: str, ts: float) -> tuple[Band | None, Forecast]:
        """Band and forecast, recomputed once a minute (they move slowly)."""
        hit = self._outlooks.get(zone)
        if hit is None or ts - hit[0] >= 60.0 or ts < hit[0] or ts // 900 != hit[0] // 900:
            band = self.history.band(zone, ts)
            forecast = self.history.forecast(
                zone, ts, self.config.forecast_quarters, self.config.forecast_cap
            )
            hit = self._outlooks[zone] = (ts, band, forecast)
        return hit[1], hit[2]

    @staticmethod
    def _metric(ls: LevelSet, z: ZoneSlot, occ: float) -> float:
        if ls.metric == "density":
            return occ / z.area
        if ls.metric == "capacity_use":
            return occ / (z.capacity or 1)
        return occ

    def _line_view(self, ln: LineSlot, ts: float, now: datetime, local: datetime) -> LineView:
        inp = ln.inputs
        window = self.config.window_s
        inp.evict(ts, window)
        name, ls, profile = self._levels_for(ln.cfg.id, ln.level_set, local)
        span = inp.span_min(ts, window)
        width = ln.cfg.width_m
        in_rate = inp.in_sum / width / span
        out_rate = inp.out_sum / width / span
        fresh = inp.last_t is not None and ts - inp.last_t <= ln.stale
        value: float | None = None
        index = -1
        if fresh:
            value = in_rate + out_rate
            ln.tracker.update(ls, value, ts)
            index = ln.tracker.index(ls)
        lv = ls.levels[index] if index >= 0 else None
        return LineView(
            line=ln.cfg.id,
            zone=ln.zone.cfg.id,
            at=now,
            level=lv.name if lv else UNKNOWN,
            level_index=index,
            colour=lv.colour if lv else "grey",
            measures=lv.measures if lv else "",
            level_set=name,
            levels=ls,
            in_count=inp.in_sum,
            out_count=inp.out_sum,
            in_per_m_min=in_rate,
            out_per_m_min=out_rate,
            metric_value=value,
            window_s=window,
            age_s=None if inp.last_t is None else max(0.0, ts - inp.last_t),
            profile=profile,
        )

    # --- publication --------------------------------------------------------------------

    def _due(
        self, pub: tuple[float, tuple[Any, ...]] | None, ts: float, sig: tuple[Any, ...]
    ) -> bool:
        if pub is None:
            return True
        last, old = pub
        if sig[:4] != old[:4]:
            return True  # level, freshness, method or profile changed: at once
        if sig != old and ts - last >= self.config.publish_interval_s:
            return True
        return ts - last >= self.config.heartbeat_s

    def _publish(self, ts: float, now: datetime, notify: list[AlertRecord]) -> list[Event]:
        out: list[Event] = []
        kw: dict[str, Any] = {
            "source": self.source,
            "provenance": self.provenance,
            "site": self.site.id,
        }
        for k, v in self._zone_views.items():
            z = self._zones[k]
            sig = (
                v.level_index,
                v.method,
                v.profile,
                v.problems,
                None if v.occupancy is None else round(v.occupancy),
                None if v.net_inflow_per_min is None else round(v.net_inflow_per_min, 1),
            )
            if self._due(z.pub, ts, sig):
                z.pub = (ts, sig)
                out.append(zone_state_event(v, **kw))
        for k, lv in self._line_views.items():
            ln = self._lines[k]
            sig = (lv.level_index, None, lv.profile, (), lv.in_count, lv.out_count)
            if self._due(ln.pub, ts, sig):
                ln.pub = (ts, sig)
                out.append(line_flow_event(lv, **kw))
        for a in notify:
            if a.subject in self._lines:
                zone, line = self._lines[a.subject].zone.cfg.id, a.subject
            else:
                zone, line = a.subject, None
            out.append(alert_event(a, now, zone=zone, line=line, **kw))
        return out

    # --- what a driver, `hub zones` and `hub alerts` read -------------------------------

    def zones(self) -> dict[str, ZoneView]:
        """The views of the last tick, by zone id."""
        return dict(self._zone_views)

    def lines(self) -> dict[str, LineView]:
        return dict(self._line_views)

    def sources(self) -> dict[str, tuple[float, dict[str, float]]]:
        """Per zone: its stale limit (s) and the sources feeding it -> last seen (POSIX s)."""
        return {k: (z.stale, dict(z.inputs.seen)) for k, z in self._zones.items()}

    def open_alerts(self) -> list[AlertRecord]:
        return sorted(self.alerts.open.values(), key=lambda a: a.since)

    def acknowledge(self, alert_id: str, *, by: str, now: datetime, note: str = "") -> AlertRecord:
        """Acknowledge a firing alert (published with the next tick)."""
        return self.alerts.acknowledge(alert_id, by=by, note=note, now=now.timestamp())

    def close(self, alert_id: str, *, by: str, now: datetime, note: str = "") -> AlertRecord:
        return self.alerts.close(alert_id, by=by, note=note, now=now.timestamp())

    def silence(
        self,
        *,
        until: datetime,
        reason: str,
        by: str,
        now: datetime,
        rule: str | None = None,
        subject: str | None = None,
    ) -> str:
        """Mute matching alerts until ``until``; returns the silence id."""
        if rule is not None and rule not in self._rules:
            raise KeyError(f"unknown rule {rule!r}; rules: {', '.join(self._rules)}")
        if subject is not None and subject not in self._zones and subject not in self._lines:
            raise KeyError(f"unknown zone or line {subject!r}")
        s = self.alerts.silence(
            until=until.timestamp(),
            reason=reason,
            by=by,
            now=now.timestamp(),
            rule=rule,
            subject=subject,
        )
        return s.silence_id

    def unsilence(self, silence_id: str, *, by: str, now: datetime) -> None:
        self.alerts.unsilence(silence_id, by=by, now=now.timestamp())

    def log_measure(self, subject: str, text: str, *, by: str, now: datetime) -> dict[str, Any]:
        """Record a measure taken (e.g. 'closed entrance B') in the measures log."""
        if subject not in self._zones and subject not in self._lines:
            raise KeyError(f"unknown zone or line {subject!r}")
        if not text.strip():
            raise ValueError("a measure needs a description")
        return self.alerts.log.append(now.timestamp(), "measure", by=by, note=text, subject=subject)

    # --- snapshot -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Everything that must survive a restart, as JSON-ready data."""
        return {
            "version": SNAPSHOT_VERSION,
            "zones": {
                k: {"inputs": z.inputs.to_dict(), "level": z.tracker.to_dict()}
                for k, z in self._zones.items()
            },
            "lines": {
                k: {"inputs": ln.inputs.to_dict(), "level": ln.tracker.to_dict()}
                for k, ln in self._lines.items()
            },
            "alerts": self.alerts.to_dict(),
            "history": self.history.to_dict(),
            "next_reset": self.next_reset,
        }

    def load(self, data: dict[str, Any]) -> None:
        """Restore a snapshot; zones, lines and rules no longer configured are dropped."""
        if data.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"zone snapshot version {data.get('version')!r} is not supported")
        for k, raw in data.get("zones", {}).items():
            z = self._zones.get(k)
            if z is not None:
                z.inputs = ZoneInputs.from_dict(raw.get("inputs", {}))
                z.tracker = LevelTracker.from_dict(raw.get("level", {}))
        for k, raw in data.get("lines", {}).items():
            ln = self._lines.get(k)
            if ln is not None:
                ln.inputs = LineInputs.from_dict(raw.get("inputs", {}))
                ln.tracker = LevelTracker.from_dict(raw.get("level", {}))
        self.alerts.load(data.get("alerts", {}))
        self._outlooks.clear()
        self.history.load({k: v for k, v in data.get("history", {}).items() if k in self._zones})
        self.next_reset = data.get("next_reset")

    @classmethod
    def from_dict(
        cls, site: Site, config: ZonesConfig | None, data: dict[str, Any], **kwargs: Any
    ) -> ZoneModel:
        model = cls(site, config, **kwargs)
        model.load(data)
        return model
