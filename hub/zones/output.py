"""Plain :class:`hub.Event` objects from the model's views and alerts (counts only)."""

from __future__ import annotations

__all__ = ["alert_event", "line_flow_event", "zone_state_event"]

from datetime import UTC, datetime

from hub.events import (
    Alert,
    Event,
    LineFlow,
    Provenance,
    Quality,
    QualityReason,
    ZoneState,
)
from hub.zones.alerts import AlertRecord
from hub.zones.views import LineView, ZoneView


def _r(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(x, digits)


def _ts(t: float | None) -> datetime | None:
    return None if t is None else datetime.fromtimestamp(t, UTC)


def zone_state_event(
    v: ZoneView, *, source: str, provenance: Provenance, site: str | None
) -> Event:
    band = v.band
    reasons: tuple[QualityReason, ...]
    if not v.fresh:
        quality, reasons = Quality.STALE, ()
    elif v.method == "counted":
        quality, reasons = Quality.OK, ()
    else:
        quality, reasons = Quality.ESTIMATED, (QualityReason.DERIVED,)
    if v.clamped:
        reasons = (*reasons, QualityReason.CLAMPED)
    m = ZoneState(
        level=v.level,
        level_index=v.level_index,
        colour=v.colour,
        occupancy=_r(v.occupancy, 1),
        method=v.method,
        density=_r(v.density),
        capacity_use=_r(v.capacity_use),
        net_inflow_per_min=_r(v.net_inflow_per_min, 2),
        time_to_capacity_min=_r(v.time_to_capacity_min, 1),
        fresh=v.fresh,
        age_s=_r(v.age_s, 1),
        problems=v.problems,
        usual_p10=None if band is None else round(band.p10, 1),
        usual_p50=None if band is None else round(band.p50, 1),
        usual_p90=None if band is None else round(band.p90, 1),
        usual_weeks=0 if band is None else band.weeks,
        next_level_in_min=_r(v.next_level_in_min, 1),
        profile=v.profile,
    )
    return Event.create(
        source=source,
        kind="zones",
        measurement=m,
        provenance=provenance,
        key=int(v.at.timestamp() * 1000),
        received_at=v.at,
        site=site,
        zone=v.zone,
        observed_at=v.at,
        quality=quality,
        quality_reasons=reasons,
    )


def line_flow_event(v: LineView, *, source: str, provenance: Provenance, site: str | None) -> Event:
    m = LineFlow(
        in_=v.in_count,
        out=v.out_count,
        in_per_m_min=round(v.in_per_m_min, 2),
        out_per_m_min=round(v.out_per_m_min, 2),
        window_s=v.window_s,
        level=v.level,
        level_index=v.level_index,
        colour=v.colour,
        fresh=v.fresh,
    )
    return Event.create(
        source=source,
        kind="zones",
        measurement=m,
        provenance=provenance,
        key=int(v.at.timestamp() * 1000),
        received_at=v.at,
        site=site,
        zone=v.zone,
        line=v.line,
        observed_at=v.at,
        quality=Quality.OK if v.fresh else Quality.STALE,
    )


def alert_event(
    a: AlertRecord,
    now: datetime,
    *,
    zone: str | None,
    line: str | None,
    source: str,
    provenance: Provenance,
    site: str | None,
) -> Event:
    m = Alert(
        alert_id=a.alert_id,
        rule=a.rule,
        state=a.state,
        severity=a.severity,
        severity_rank=max(a.rank, 0),
        value=_r(a.value),
        threshold=a.threshold,
        since=datetime.fromtimestamp(a.fired_at or a.since, UTC),
        acknowledged_at=_ts(a.acked_at),
        escalated=a.escalated,
        silenced=a.silenced,
        inhibited=a.inhibited,
        summary=a.summary[:200],
    )
    return Event.create(
        source=source,
        kind="zones",
        measurement=m,
        provenance=provenance,
        key=f"{a.alert_id}:{a.state}:{a.rank}:{int(now.timestamp() * 1000)}",
        received_at=now,
        site=site,
        zone=zone,
        line=line,
        observed_at=now,
    )
