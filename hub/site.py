"""The site model: zones and lines from the ``[site]`` table of the configuration.

Sources attach events to a zone and/or a line by id; the zone model
(:mod:`hub.zones`: occupancy, density, colour levels) reads areas, capacities,
widths and the per-zone settings from here.
"""

from __future__ import annotations

__all__ = ["ID_PATTERN", "Line", "Sensor", "Site", "SitePlan", "Zone"]

import difflib
from functools import cache
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.site_geometry import LonLat, PlanXY, SitePlan, check_geometry

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
_Id = Annotated[str, Field(pattern=ID_PATTERN, description="short id: letters, digits, _.:-")]


class Zone(BaseModel):
    """An area people are in: a square, a street segment, a festival field."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: _Id
    name: str = Field(default="", description="human-readable name")
    area_m2: float = Field(gt=0, description="walkable area in square metres")
    capacity: int | None = Field(
        default=None, gt=0, description="agreed maximum number of people, if any"
    )
    # read by the zone model (hub.zones); every field optional so older configs stay valid
    type: Literal["moving", "standing"] = Field(
        default="moving",
        description="moving crowd (street, route) or standing crowd (square, stage front): "
        "picks the default density levels",
    )
    levels: str | None = Field(
        default=None,
        description="level set name from [zones.level_sets] (default: the one for 'type')",
    )
    stale_after_s: float | None = Field(
        default=None, gt=0, description="inputs older than this make the zone unknown (grey)"
    )
    device_calibration: float | None = Field(
        default=None, gt=0, description="people per counted WiFi/BLE device"
    )
    occupancy_methods: tuple[Literal["counted", "flow", "devices"], ...] | None = Field(
        default=None, description="methods in order of preference (default counted, flow, devices)"
    )
    counted_combine: Literal["sum", "max", "mean"] = Field(
        default="sum",
        description="how counted sensors combine: 'sum' (each covers a part of the zone), "
        "'max' or 'mean' (they cover the same area)",
    )
    # where it is drawn on the dashboard's map (hub.site_geometry); optional
    polygon: tuple[LonLat, ...] | None = Field(
        default=None, description="outline as WGS84 [longitude, latitude] points (GeoJSON order)"
    )
    plan_polygon: tuple[PlanXY, ...] | None = Field(
        default=None, description="outline as [x, y] pixels on the site plan image"
    )


class Line(BaseModel):
    """A counting line (gate, entrance, street cross-section) on the edge of a zone."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: _Id
    zone: _Id = Field(description="the zone this line leads into")
    width_m: float = Field(gt=0, description="walkable width in metres (flow per metre)")
    in_direction: str = Field(
        default="into the zone",
        description="what counts as 'in' at this line, in words (e.g. 'towards the beach')",
    )
    levels: str | None = Field(
        default=None, description="level set name from [zones.level_sets] (default: 'flow')"
    )
    stale_after_s: float | None = Field(
        default=None, gt=0, description="counts older than this make the line unknown (grey)"
    )
    # the counting line on the dashboard's map; its "in" arrow points into `zone`
    path: tuple[LonLat, ...] | None = Field(
        default=None, description="the line as WGS84 [longitude, latitude] points"
    )
    plan_path: tuple[PlanXY, ...] | None = Field(
        default=None, description="the line as [x, y] pixels on the site plan image"
    )


class Sensor(BaseModel):
    """Where a device (a source instance, by its id) is, for the dashboard's map."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: _Id = Field(description="the source instance id ([[sources.<kind>]] id)")
    name: str = Field(default="", description="human-readable name")
    zone: _Id | None = Field(default=None, description="the zone it covers, if one")
    position: LonLat | None = Field(
        default=None, description="WGS84 [longitude, latitude] (GeoJSON order)"
    )
    plan_position: PlanXY | None = Field(
        default=None, description="[x, y] pixels on the site plan image"
    )


class Site(BaseModel):
    """One monitored place with its zones and lines."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: _Id = "site"
    name: str = ""
    timezone: str = Field(default="UTC", description="IANA time zone for local-time devices")
    zones: tuple[Zone, ...] = ()
    lines: tuple[Line, ...] = ()
    sensors: tuple[Sensor, ...] = Field(default=(), description="device positions for the map")
    plan: SitePlan | None = Field(
        default=None, description="a site-plan image the map draws on instead of a world map"
    )
    tiles: str | None = Field(
        default=None,
        description="a local map tile URL template ({z}/{x}/{y}) for WGS84 geometry; "
        "none: a plain background",
    )

    @model_validator(mode="after")
    def _check_geometry(self) -> Self:
        check_geometry(self.plan, self.tiles, self.zones, self.lines, self.sensors)
        return self

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        if value == "UTC":  # needs no time zone database
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            close = difflib.get_close_matches(value, _zone_names(), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else "e.g. 'Europe/Amsterdam'"
            raise ValueError(
                f"unknown IANA time zone {value!r}; {hint} (names as in the tz database)"
            ) from None
        return value

    @model_validator(mode="after")
    def _check_refs(self) -> Self:
        zone_ids = [z.id for z in self.zones]
        dup = {z for z in zone_ids if zone_ids.count(z) > 1}
        if dup:
            raise ValueError(f"duplicate zone id(s): {', '.join(sorted(dup))}")
        line_ids = [ln.id for ln in self.lines]
        dup = {x for x in line_ids if line_ids.count(x) > 1}
        if dup:
            raise ValueError(f"duplicate line id(s): {', '.join(sorted(dup))}")
        for ln in self.lines:
            if ln.zone not in zone_ids:
                raise ValueError(
                    f"line {ln.id!r} refers to unknown zone {ln.zone!r}; "
                    f"known zones: {', '.join(zone_ids) or '(none)'}"
                )
        return self

    def zone(self, zone_id: str) -> Zone | None:
        return next((z for z in self.zones if z.id == zone_id), None)

    def line(self, line_id: str) -> Line | None:
        return next((ln for ln in self.lines if ln.id == line_id), None)


@cache
def _zone_names() -> tuple[str, ...]:
    return tuple(sorted(available_timezones()))
