"""Configuration of ``[[sources.camera_aggregate]]``: one table per camera."""

from __future__ import annotations

__all__ = [
    "AxisScenario",
    "CameraAggregateConfig",
    "Direction",
    "HikvisionChannel",
    "VivotekRule",
    "hikvision_channel",
    "safe_name",
    "split_directions",
    "unknown_places",
]

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

import hub
from hub.plugins.camera_aggregate.protocol import AxisClass
from hub.privacy import classify_text
from hub.site import ID_PATTERN, Site
from hub.transports import HttpAuth

Direction = Literal["in", "out"]


class _Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AxisScenario(_Mapping):
    """One AXIS Object Analytics scenario (``Device<channel>Scenario<scenario>``)."""

    scenario: int = Field(ge=1, description="scenario number N of the topic '...ScenarioN'")
    channel: int = Field(
        default=1, ge=1, description="video channel N of 'DeviceN...' (multi-sensor cameras)"
    )
    type: Literal["crossline", "occupancy"] = Field(
        default="crossline",
        description="'crossline' (crossline counting) or 'occupancy' (occupancy in area)",
    )
    line: str | None = Field(
        default=None,
        pattern=ID_PATTERN,
        description="crossline: the site line (default: the source's line)",
    )
    direction: Direction = Field(
        default="in",
        description="crossline: AOA counts one direction per scenario; 'in' or 'out' on the line",
    )
    zone: str | None = Field(
        default=None,
        pattern=ID_PATTERN,
        description="occupancy: the site zone (default: the source's zone)",
    )
    classes: tuple[AxisClass, ...] = Field(
        default=("human",),
        min_length=1,
        description="object classes counted: human, car, bus, truck, motorcycle/bicycle, "
        "unknown, or all",
    )


class HikvisionChannel(_Mapping):
    """One Hikvision counting channel (``channelID``, optionally one ``regionsID``)."""

    channel: int = Field(default=1, ge=1, description="the alert's channelID")
    region: int | None = Field(
        default=None, ge=0, description="only this regionsID (default: any region)"
    )
    line: str | None = Field(
        default=None, pattern=ID_PATTERN, description="the site line (default: source's line)"
    )
    enter: Direction = Field(
        default="in", description="what the camera's 'enter' is on the line (exit is the other)"
    )
    occupancy_zone: str | None = Field(
        default=None,
        pattern=ID_PATTERN,
        description="realTime only: also emit occupancy = enter - exit (since the daily "
        "reset, clamped at 0, quality estimated) for this zone",
    )


class VivotekRule(_Mapping):
    """One VIVOTEK counting rule (``RuleName``)."""

    rule: str = Field(min_length=1, description="the rule's RuleName as set on the camera")
    line: str | None = Field(
        default=None, pattern=ID_PATTERN, description="the site line (default: source's line)"
    )
    enter: Direction = Field(
        default="in", description="what the camera's 'In' is on the line (Out is the other)"
    )


class CameraAggregateConfig(hub.SourceConfig):
    """A people-counting camera that aggregates on board (AXIS, Hikvision, VIVOTEK)."""

    device: Literal["axis", "hikvision", "vivotek"] = Field(
        default="axis",
        description="axis (Object Analytics over MQTT), hikvision (ISAPI XML push over "
        "HTTP) or vivotek (counting JSON push over HTTP)",
    )
    # -- AXIS / MQTT
    broker: str = Field(default="default", description="axis: id of the [[transports.mqtt]]")
    topic_prefix: str = Field(
        default="axis/+",
        min_length=1,
        description="axis: the camera's MQTT topic prefix ('axis/<serial>' by default on "
        "the camera; '+' matches any camera, or set the custom prefix)",
    )
    qos: Literal[0, 1, 2] = Field(default=1, description="axis: MQTT subscription QoS")
    scenarios: tuple[AxisScenario, ...] = Field(
        default=(), description="axis: every counted scenario, configured explicitly"
    )
    # -- HTTP push
    http: str | None = Field(
        default=None, description="hikvision/vivotek: id of the [[transports.http]] server"
    )
    auth: HttpAuth | None = Field(
        default=None,
        description="hikvision/vivotek: how pushes authenticate; required: "
        "{scheme = 'basic', username = ..., password = '${ENV}'} or {scheme = 'none'}",
    )
    rate_per_s: float | None = Field(
        default=None, gt=0, description="hikvision/vivotek: max pushes per second (default: off)"
    )
    channels: tuple[HikvisionChannel, ...] = Field(
        default=(), description="hikvision: every counted channel"
    )
    rules: tuple[VivotekRule, ...] = Field(default=(), description="vivotek: every counted rule")
    daily_reset: bool = Field(
        default=True,
        description="hikvision realTime: a new local date means the counters were reset",
    )
    # -- aggregation and plausibility
    interval_s: float = Field(
        default=60.0,
        ge=1.0,
        le=86_400.0,
        description="crossings from cumulative totals (axis crossline, hikvision realTime) "
        "are summed per interval of this length (s), aligned to the clock",
    )
    grace_s: float = Field(
        default=10.0,
        ge=0.0,
        le=3600.0,
        description="an interval is emitted this long (s, device time) after it ends",
    )
    max_count: int | None = Field(
        default=None, ge=0, description="counts above this are suspect (default: no limit)"
    )
    max_jump: int | None = Field(
        default=None,
        ge=0,
        description="the largest believable change between two consecutive readings "
        "(crossings of one message, or an occupancy change); beyond it is suspect "
        "(default: off)",
    )
    dedupe_window: int = Field(
        default=4096, ge=16, description="how many interval reports are remembered for replays"
    )

    @model_validator(mode="after")
    def _check_device(self) -> Self:
        wrong = {
            "axis": ("channels", "rules", "auth"),
            "hikvision": ("scenarios", "rules"),
            "vivotek": ("scenarios", "channels"),
        }[self.device]
        for name in wrong:
            if getattr(self, name):
                raise ValueError(f"'{name}' does not apply to device = '{self.device}'")
        if self.device == "axis":
            if "#" in self.topic_prefix or self.topic_prefix.startswith("/"):
                raise ValueError(
                    "topic_prefix: use the camera's prefix, e.g. 'axis/+' or 'axis/<serial>' "
                    "('#' is not allowed; '/event/#' is appended)"
                )
            if not self.scenarios:
                raise ValueError("device 'axis' needs at least one [[...scenarios]] table")
            seen: set[tuple[int, int]] = set()
            for s in self.scenarios:
                if (s.channel, s.scenario) in seen:
                    raise ValueError(f"scenario {s.scenario} (channel {s.channel}) given twice")
                seen.add((s.channel, s.scenario))
                if "all" in s.classes and len(s.classes) > 1:
                    raise ValueError(
                        f"scenario {s.scenario}: classes = ['all'] already counts every class"
                    )
                if len(set(s.classes)) != len(s.classes):
                    raise ValueError(f"scenario {s.scenario}: a class is listed twice")
                if s.type == "crossline" and not (s.line or self.line):
                    raise ValueError(f"crossline scenario {s.scenario} needs a line")
                if s.type == "occupancy" and not (s.zone or self.zone):
                    raise ValueError(f"occupancy scenario {s.scenario} needs a zone")
            return self
        if self.auth is None:
            raise ValueError(
                f"device '{self.device}' pushes over HTTP: set auth = {{scheme = 'basic', "
                "username = '...', password = '${ENV}'}, or auth = {scheme = 'none'} "
                "for cameras that cannot authenticate"
            )
        if self.device == "hikvision":
            if not self.channels:
                raise ValueError("device 'hikvision' needs at least one [[...channels]] table")
            keys = [(c.channel, c.region) for c in self.channels]
            if len(set(keys)) != len(keys):
                raise ValueError("a channel (and region) is given twice")
            for c in self.channels:
                if not (c.line or self.line):
                    raise ValueError(f"channel {c.channel} needs a line")
        else:
            if not self.rules:
                raise ValueError("device 'vivotek' needs at least one [[...rules]] table")
            names = [r.rule for r in self.rules]
            if len(set(names)) != len(names):
                raise ValueError("a rule is given twice")
            for r in self.rules:
                if not (r.line or self.line):
                    raise ValueError(f"rule {r.rule!r} needs a line")
        return self


def unknown_places(config: CameraAggregateConfig, site: Site) -> list[str]:
    """Mapped lines/zones the site does not define (when it defines any), for a warning."""
    lines = {c.line for c in config.channels if c.line} | {r.line for r in config.rules if r.line}
    lines |= {s.line for s in config.scenarios if s.line and s.type == "crossline"}
    zones = {s.zone for s in config.scenarios if s.zone and s.type == "occupancy"}
    zones |= {c.occupancy_zone for c in config.channels if c.occupancy_zone}
    missing = [f"line {x!r}" for x in sorted(lines) if site.lines and site.line(x) is None]
    return missing + [f"zone {z!r}" for z in sorted(zones) if site.zones and site.zone(z) is None]


def hikvision_channel(
    config: CameraAggregateConfig, channel: int, region: int | None
) -> HikvisionChannel | None:
    """The mapping of a Hikvision channel/region: exact region first, then the channel's."""
    fallback = None
    for c in config.channels:
        if c.channel == channel and c.region == region:
            return c
        if c.channel == channel and c.region is None:
            fallback = c
    return fallback


def split_directions(direction: Direction, forward: int, backward: int) -> tuple[int, int]:
    """(in, out) from the device's forward (enter/In) and backward counts."""
    return (forward, backward) if direction == "in" else (backward, forward)


def safe_name(name: str) -> str:
    """A device-given name for a log line, unless it looks like an identifier."""
    return "(a name that looks like an identifier)" if classify_text(name) else repr(name[:40])
