"""Events and sites shared by the view tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hub import Crossing, Density, Devices, Event, Level, Occupancy, Provenance, Status
from hub.site import Line, Site, Zone

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PROV = Provenance(plugin="test", plugin_version="1.0", transport="simulated")

SITE = Site(
    id="fair",
    zones=(
        Zone(id="beach", area_m2=5000, capacity=4000),
        Zone(id="boulevard", area_m2=1200, capacity=2500),
        Zone(id="pier", area_m2=800),
    ),
    lines=(
        Line(id="gate-a", zone="beach", width_m=4.0),
        Line(id="gate-b", zone="boulevard", width_m=6.0),
        Line(id="pier-entry", zone="pier", width_m=3.0),
    ),
)


def _event(measurement: Any, key: object, *, received: datetime, **fields: Any) -> Event:
    return Event.create(
        source=fields.pop("source", "sensor-1"),
        kind=fields.pop("kind", "test"),
        measurement=measurement,
        provenance=PROV,
        key=str(key),
        received_at=received,
        site="fair",
        **fields,
    )


def crossing(
    line: str, start: datetime, cin: int, cout: int = 0, *, minutes: int = 1, **kw: Any
) -> Event:
    end = start + timedelta(minutes=minutes)
    return _event(
        Crossing(in_=cin, out=cout),
        f"{line}{start.isoformat()}{kw.get('source', '')}",
        received=kw.pop("received", end),
        line=line,
        observed_from=start,
        observed_to=end,
        **kw,
    )


def devices(zone: str, start: datetime, count: int, *, minutes: int = 5, **kw: Any) -> Event:
    end = start + timedelta(minutes=minutes)
    return _event(
        Devices(count=count, wifi=count, ble=0),
        f"d{zone}{start.isoformat()}",
        received=kw.pop("received", end),
        zone=zone,
        observed_from=start,
        observed_to=end,
        **kw,
    )


def occupancy(zone: str, at: datetime, count: float, **kw: Any) -> Event:
    return _event(
        Occupancy(count=count),
        f"o{zone}{at.isoformat()}",
        received=kw.pop("received", at),
        zone=zone,
        observed_at=at,
        **kw,
    )


def density(zone: str, at: datetime, value: float, **kw: Any) -> Event:
    return _event(
        Density(value=value),
        f"p{zone}{at.isoformat()}",
        received=kw.pop("received", at),
        zone=zone,
        observed_at=at,
        **kw,
    )


def status(zone: str | None, at: datetime, **kw: Any) -> Event:
    return _event(
        Status(state="ok", battery_mv=3700, uptime_s=1234),
        f"s{zone}{at.isoformat()}",
        received=kw.pop("received", at),
        zone=zone,
        observed_at=at,
        **kw,
    )


def level(zone: str, at: datetime, name: str = "orange", **kw: Any) -> Event:
    return _event(
        Level(of="zone_state", level=name, colour="#ff8800"),
        f"l{zone}{at.isoformat()}",
        received=kw.pop("received", at),
        zone=zone,
        observed_at=at,
        **kw,
    )


def numbers(value: Any, path: str = "") -> list[str]:
    """Paths of every JSON number (not bool) in a parsed payload."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in numbers(v, f"{path}.{k}" if path else k)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in numbers(v, f"{path}[{i}]")]
    return []


def zone_state(zone: str, at: datetime, occupancy: float, name: str = "yellow", **kw: Any) -> Event:
    from hub.events import ZoneState

    return _event(
        ZoneState(
            level=name,
            level_index=1,
            colour="#ffd700",
            occupancy=occupancy,
            method="counted",
            density=occupancy / 1000,
            capacity_use=occupancy / 4000,
            net_inflow_per_min=3.5,
            time_to_capacity_min=42.0,
            problems=("sensor_silent:cam-7",),
            usual_p10=10,
            usual_p50=50,
            usual_p90=90,
            usual_weeks=4,
        ),
        f"z{zone}{at.isoformat()}",
        received=kw.pop("received", at),
        zone=zone,
        source=kw.pop("source", "zones"),
        observed_at=at,
        **kw,
    )


def line_flow(line: str, at: datetime, cin: int, **kw: Any) -> Event:
    from hub.events import LineFlow

    return _event(
        LineFlow(
            in_=cin,
            out=1,
            in_per_m_min=cin / 4,
            out_per_m_min=0.25,
            window_s=60,
            level="green",
            level_index=0,
            colour="#2e7d32",
        ),
        f"f{line}{at.isoformat()}",
        received=kw.pop("received", at),
        line=line,
        source=kw.pop("source", "zones"),
        observed_at=at,
        **kw,
    )


def alert(zone: str, at: datetime, **kw: Any) -> Event:
    from hub.events import Alert

    return _event(
        Alert(
            alert_id=f"level:{zone}",
            rule="level",
            state="firing",
            severity="orange",
            severity_rank=2,
            value=2.4,
            threshold=2.15,
            since=at,
            summary="density 2.4 p/m2 above 2.15",
        ),
        f"a{zone}{at.isoformat()}",
        received=kw.pop("received", at),
        zone=zone,
        source=kw.pop("source", "zones"),
        observed_at=at,
        **kw,
    )
