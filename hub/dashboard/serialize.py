"""JSON-ready dicts of the zone model's state (full detail; views filter them afterwards)."""

from __future__ import annotations

__all__ = [
    "alert_dict",
    "level_legend",
    "line_dict",
    "sensor_dicts",
    "site_dict",
    "zone_dict",
    "zone_history",
]

import math
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from hub.site import Line, Site, Zone
from hub.zones import AlertRecord, Band, History, LevelSet, LineView, ZoneView

_QUARTER = 900


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def _r(x: float | None, digits: int) -> float | None:
    return None if x is None else round(x, digits)


def level_legend(levels: LevelSet) -> list[dict[str, Any]]:
    return [
        {"name": lv.name, "colour": lv.colour, "enter": lv.enter, "measures": lv.measures}
        for lv in levels.levels
    ]


def zone_dict(z: Zone, v: ZoneView | None) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": z.id,
        "name": z.name or z.id,
        "area_m2": z.area_m2,
        "capacity": z.capacity,
    }
    if v is None:
        d.update(level="unknown", colour="grey", fresh=False)
        return d
    data_at = None if v.age_s is None else v.at.timestamp() - v.age_s
    band = v.band
    d.update(
        level=v.level,
        level_index=v.level_index,
        colour=v.colour,
        measures=v.measures,
        level_set=v.level_set,
        metric=v.levels.metric,
        levels=level_legend(v.levels),
        profile=v.profile,
        fresh=v.fresh,
        method=v.method,
        occupancy=_r(v.occupancy, 1),
        density=_r(v.density, 3),
        capacity_use=_r(v.capacity_use, 3),
        net_inflow_per_min=_r(v.net_inflow_per_min, 1),
        time_to_capacity_min=_r(v.time_to_capacity_min, 1),
        next_level_in_min=_r(v.next_level_in_min, 0),
        data_at=_iso(data_at),
        problems=list(v.problems),
        usual=None
        if band is None
        else {
            "p10": round(band.p10, 1),
            "p50": round(band.p50, 1),
            "p90": round(band.p90, 1),
            "weeks": band.weeks,
        },
        forecast_weeks=0 if v.forecast is None else v.forecast.weeks,
    )
    return d


def line_dict(ln: Line, v: LineView | None) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": ln.id,
        "zone": ln.zone,
        "width_m": ln.width_m,
        "in_direction": ln.in_direction,
    }
    if v is None:
        d.update(level="unknown", colour="grey", fresh=False)
        return d
    data_at = None if v.age_s is None else v.at.timestamp() - v.age_s
    d.update(
        level=v.level,
        level_index=v.level_index,
        colour=v.colour,
        measures=v.measures,
        fresh=v.fresh,
        in_count=v.in_count,
        out_count=v.out_count,
        in_per_m_min=round(v.in_per_m_min, 1),
        out_per_m_min=round(v.out_per_m_min, 1),
        window_s=v.window_s,
        data_at=_iso(data_at),
    )
    return d


def sensor_dicts(
    site: Site,
    sources: Mapping[str, tuple[float, Mapping[str, float]]],
    problems: Mapping[str, tuple[str, ...]],
    now: float,
) -> list[dict[str, Any]]:
    """Every configured sensor and every source seen feeding a zone, with its health."""
    names = {s.id: s for s in site.sensors}
    out: dict[str, dict[str, Any]] = {}
    for zone, (stale, seen) in sources.items():
        zone_problems = problems.get(zone, ())
        for src, t in seen.items():
            mine = sorted({p.split(":", 1)[0] for p in zone_problems if p.endswith(":" + src)})
            age = max(0.0, now - t)
            health = "silent" if age > stale else ("problem" if mine else "ok")
            prev = out.get(src)
            if prev is not None and prev["last_seen"] and prev["last_seen"] >= (_iso(t) or ""):
                continue
            cfg = names.get(src)
            out[src] = {
                "id": src,
                "name": (cfg.name if cfg else "") or src,
                "zone": cfg.zone if cfg and cfg.zone else zone,
                "health": health,
                "problems": [p for p in mine if p != "sensor_silent"],
                "last_seen": _iso(t),
                "age_s": round(age, 1),
            }
    for s in site.sensors:
        if s.id not in out:
            out[s.id] = {
                "id": s.id,
                "name": s.name or s.id,
                "zone": s.zone,
                "health": "unknown",
                "problems": [],
                "last_seen": None,
                "age_s": None,
            }
    return [out[k] for k in sorted(out)]


def alert_dict(a: AlertRecord, line_zone: Mapping[str, str]) -> dict[str, Any]:
    line = a.subject if a.subject in line_zone else None
    return {
        "id": a.alert_id,
        "rule": a.rule,
        "subject": a.subject,
        "zone": line_zone[a.subject] if line else a.subject,
        "line": line,
        "state": a.state,
        "severity": a.severity,
        "since": _iso(a.since),
        "fired_at": _iso(a.fired_at),
        "acked_at": _iso(a.acked_at),
        "acked_by": a.acked_by,
        "ack_note": a.ack_note,
        "escalated": a.escalated,
        "silenced": a.silenced,
        "inhibited": a.inhibited,
        "value": _r(a.value, 2),
        "threshold": a.threshold,
        "summary": a.summary,
    }


def site_dict(site: Site, plan_url: str | None) -> dict[str, Any]:
    """Geometry and facts of the site (no state)."""
    mode = "plan" if site.plan is not None else "wgs84"
    return {
        "id": site.id,
        "name": site.name or site.id,
        "timezone": site.timezone,
        "mode": mode,
        "plan": None
        if site.plan is None
        else {"url": plan_url, "width_px": site.plan.width_px, "height_px": site.plan.height_px},
        "tiles": site.tiles,
        "zones": [
            {
                "id": z.id,
                "name": z.name or z.id,
                "type": z.type,
                "area_m2": z.area_m2,
                "capacity": z.capacity,
                "shape": z.plan_polygon if site.plan is not None else z.polygon,
            }
            for z in site.zones
        ],
        "lines": [
            {
                "id": ln.id,
                "zone": ln.zone,
                "width_m": ln.width_m,
                "in_direction": ln.in_direction,
                "shape": ln.plan_path if site.plan is not None else ln.path,
            }
            for ln in site.lines
        ],
        "sensors": [
            {
                "id": s.id,
                "name": s.name or s.id,
                "zone": s.zone,
                "shape": s.plan_position if site.plan is not None else s.position,
            }
            for s in site.sensors
        ],
    }


def _thresholds(z: Zone, v: ZoneView | None) -> list[dict[str, Any]]:
    """Each level's entry as an occupancy, where the level's metric converts to one."""
    if v is None:
        return []
    out = []
    for lv in v.levels.levels[1:]:
        enter = lv.enter or 0.0
        if v.levels.metric == "density":
            occ: float | None = enter * z.area_m2
        elif v.levels.metric == "capacity_use":
            occ = None if z.capacity is None else enter * z.capacity
        elif v.levels.metric == "occupancy":
            occ = enter
        else:
            occ = None
        if occ is not None:
            out.append({"level": lv.name, "colour": lv.colour, "occupancy": round(occ, 1)})
    return out


def memory_occupancy(
    zone: str, history: History, minutes: deque[list[float]], start: float, end: float, step: int
) -> tuple[float, list[float | None]]:
    """Mean occupancy per ``step`` in [start, end) from the in-memory minute trend, else the
    model's quarter-hour history; returns the first point's time and the values."""
    t0 = math.floor(start / step) * step
    n = max(0, math.ceil((end - t0) / step))
    sums = [0.0] * n
    counts = [0.0] * n
    for m, total, k in minutes:
        if t0 <= m < end:
            i = int((m - t0) // step)
            sums[i] += total
            counts[i] += k
    values: list[float | None] = []
    for i in range(n):
        if counts[i]:
            values.append(sums[i] / counts[i])
        else:  # older than the minute trend
            values.append(history.value(zone, int((t0 + i * step) // _QUARTER)))
    return t0, values


def zone_history(
    z: Zone,
    v: ZoneView | None,
    history: History,
    t0: float,
    occupancy: list[float | None],
    step: int,
    source: str,
) -> dict[str, Any]:
    """The history answer: ``occupancy[i]`` at ``t0 + i * step`` with the normal band, the
    forecast and the thresholds; ``source`` says where the occupancy came from."""
    bands: dict[int, Band | None] = {}

    def band(t: float) -> Band | None:
        q = int(t // _QUARTER)
        if q not in bands:
            bands[q] = history.band(z.id, q * _QUARTER)
        return bands[q]

    t_out: list[float] = []
    occ: list[float | None] = []
    p10: list[float | None] = []
    p50: list[float | None] = []
    p90: list[float | None] = []
    for i, value in enumerate(occupancy):
        t = t0 + i * step
        b = band(t)
        t_out.append(t)
        occ.append(_r(value, 1))
        p10.append(None if b is None else round(b.p10, 1))
        p50.append(None if b is None else round(b.p50, 1))
        p90.append(None if b is None else round(b.p90, 1))
    fc: dict[str, Any] = {"t": [], "values": [], "p10": [], "p90": [], "weeks": 0}
    if v is not None and v.forecast is not None:
        f = v.forecast
        fc["weeks"] = f.weeks
        fc["factor"] = round(f.factor, 2)
        for s, val in zip(f.starts, f.values, strict=True):
            b = band(s.timestamp())
            fc["t"].append(s.timestamp())
            fc["values"].append(round(val, 1))
            fc["p10"].append(None if b is None else round(b.p10, 1))
            fc["p90"].append(None if b is None else round(b.p90, 1))
    return {
        "zone": z.id,
        "step_s": step,
        "source": source,
        "t": t_out,
        "occupancy": occ,
        "p10": p10,
        "p50": p50,
        "p90": p90,
        "forecast": fc,
        "thresholds": _thresholds(z, v),
    }
