"""Configuration of the zone model: level sets, profiles, alert rules, timings.

The ``[zones]`` table of a configuration. Per-zone facts (area, capacity, crowd
type, stale limit, calibration) live on the zone itself in ``[[site.zones]]``;
this table holds what is shared: the level sets zones refer to by name, the
schedules that switch level sets (profiles), and the alert rules.

Built-in level sets (see ``docs/zones.md`` for the sources):

* ``moving``: density of a moving crowd, Fruin's walkway levels of service
  (green below LOS D 0.72 p/m², yellow LOS D, orange LOS E, red LOS F > 2.15);
* ``standing``: density of a standing crowd (G. K. Still, Taylor Report):
  yellow from 2, orange from 3, red from 4.7 p/m²;
* ``flow``: flow per metre of line width, Fruin (yellow 49, orange 66, red 82
  p/m/min);
* ``capacity``: capacity use (yellow 70 %, orange 85 %, red 95 %), a convention.

Every set can be replaced or extended by ``[zones.level_sets.<name>]``.
"""

from __future__ import annotations

__all__ = [
    "BUILTIN_LEVEL_SETS",
    "DEFAULT_RULES",
    "AlertRule",
    "Level",
    "LevelSet",
    "Method",
    "Metric",
    "Profile",
    "RuleKind",
    "ZonesConfig",
]

from datetime import date, datetime, time
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.site import ID_PATTERN

Metric = Literal["density", "capacity_use", "flow_per_m", "occupancy"]
Method = Literal["counted", "flow", "devices"]
RuleKind = Literal[
    "level",
    "time_to_capacity",
    "busier_than_usual",
    "too_quiet",
    "sensor_silent",
    "counter_reset",
    "implausible_jump",
]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_Id = Annotated[str, Field(pattern=ID_PATTERN)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Level(_Model):
    """One level of a level set: entered at ``enter``, left below ``exit``."""

    name: _Id
    colour: str = Field(default="grey", max_length=32, description="display colour (CSS name/hex)")
    enter: float | None = Field(
        default=None, ge=0, description="the metric at or above which this level is entered"
    )
    exit: float | None = Field(
        default=None,
        ge=0,
        description="the metric below which this level is left (default 90 % of enter)",
    )
    measures: str = Field(default="", description="the agreed package of measures for the level")

    @property
    def exit_at(self) -> float:
        """The effective exit threshold."""
        if self.exit is not None:
            return self.exit
        return 0.0 if self.enter is None else self.enter * 0.9


class LevelSet(_Model):
    """An ordered set of levels on one metric; the first level is the base (no threshold)."""

    metric: Metric = "density"
    levels: tuple[Level, ...]
    pending_s: float = Field(default=30.0, ge=0, description="seconds above 'enter' before rising")
    hold_s: float = Field(default=120.0, ge=0, description="seconds below 'exit' before falling")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not self.levels:
            raise ValueError("a level set needs at least one level")
        names = [lv.name for lv in self.levels]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate level names: {', '.join(names)}")
        if self.levels[0].enter not in (None, 0):
            raise ValueError(f"the first level ({names[0]!r}) is the base: give it no 'enter'")
        previous = 0.0
        for lv in self.levels[1:]:
            if lv.enter is None:
                raise ValueError(f"level {lv.name!r} needs 'enter'")
            if lv.enter <= previous:
                raise ValueError(f"level {lv.name!r}: 'enter' must rise from level to level")
            if lv.exit_at > lv.enter:
                raise ValueError(f"level {lv.name!r}: 'exit' must not be above 'enter'")
            previous = lv.enter
        return self

    def index(self, name: str) -> int | None:
        return next((i for i, lv in enumerate(self.levels) if lv.name == name), None)


def _levels(metric: Metric, *thresholds: float, colours: tuple[str, ...] = ()) -> LevelSet:
    names = ("green", "yellow", "orange", "red")
    colours = colours or names
    levels = [Level(name=names[0], colour=colours[0])]
    levels += [
        Level(name=n, colour=c, enter=t)
        for n, c, t in zip(names[1:], colours[1:], thresholds, strict=True)
    ]
    return LevelSet(metric=metric, levels=tuple(levels))


BUILTIN_LEVEL_SETS: dict[str, LevelSet] = {
    # Fruin walkway LOS: D from 0.72, E from 1.08, F above 2.15 p/m²
    "moving": _levels("density", 0.72, 1.08, 2.15),
    # G. K. Still (uncomfortable near 4-5 p/m²), Taylor Report (terraces <= 4.7 p/m²)
    "standing": _levels("density", 2.0, 3.0, 4.7),
    # Fruin walkway LOS by flow: D from 49, E from 66, F above 82 p/m/min
    "flow": _levels("flow_per_m", 49.0, 66.0, 82.0),
    # a convention, not literature: share of the agreed capacity
    "capacity": _levels("capacity_use", 0.70, 0.85, 0.95),
}


class Profile(_Model):
    """A schedule that swaps level sets (e.g. an event day), without touching zone state."""

    id: _Id
    weekdays: tuple[Weekday, ...] = Field(default=(), description="empty: every day")
    dates: tuple[date, ...] = Field(default=(), description="empty: every date")
    start: time = Field(default=time(0, 0), description="local start time")
    end: time | None = Field(default=None, description="local end time (exclusive; none = 24:00)")
    zones: tuple[_Id, ...] = Field(default=(), description="zones and lines; empty: all")
    level_sets: dict[str, str] = Field(
        description="level set name -> the set used instead while the profile is active"
    )

    def active(self, local: datetime, subject: str) -> bool:
        if self.zones and subject not in self.zones:
            return False
        if self.weekdays and WEEKDAYS[local.weekday()] not in self.weekdays:
            return False
        if self.dates and local.date() not in self.dates:
            return False
        t = local.time()
        return t >= self.start and (self.end is None or t < self.end)


class AlertRule(_Model):
    """When to raise an alert, for which zones (and lines, for level rules)."""

    id: _Id
    kind: RuleKind
    subjects: tuple[_Id, ...] = Field(
        default=(), description="zone (or line) ids; empty: every zone (level rules: and line)"
    )
    level: str | None = Field(default=None, description="level rules: the lowest level that fires")
    minutes: float | None = Field(default=None, gt=0, description="time_to_capacity: below this")
    factor: float | None = Field(
        default=None,
        gt=0,
        description="busier_than_usual: occupancy >= factor x p90; too_quiet: <= factor x p10",
    )
    min_weeks: int = Field(default=3, ge=1, description="history the normal band must rest on")
    after_s: float | None = Field(default=None, gt=0, description="sensor_silent: silent longer")
    severity: str = Field(default="warning", max_length=64, description="non-level rules")
    pending_s: float = Field(default=0.0, ge=0, description="condition true this long to fire")
    hold_s: float = Field(default=120.0, ge=0, description="condition false this long to resolve")
    close_after_s: float = Field(default=900.0, ge=0, description="resolved -> closed after")
    inhibits: tuple[_Id, ...] = Field(
        default=(), description="rule ids muted for the same zone while this one fires"
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        need = {
            "level": "level",
            "time_to_capacity": "minutes",
            "busier_than_usual": "factor",
            "too_quiet": "factor",
            "sensor_silent": "after_s",
        }.get(self.kind)
        if need is not None and getattr(self, need) is None:
            raise ValueError(f"a {self.kind} rule needs '{need}'")
        return self


DEFAULT_RULES: tuple[AlertRule, ...] = (
    AlertRule(id="level-orange", kind="level", level="orange"),
    AlertRule(id="level-red", kind="level", level="red"),
    # crowd managers need about 15 minutes to respond (PICTURE.md)
    AlertRule(id="capacity-soon", kind="time_to_capacity", minutes=15, pending_s=60),
    AlertRule(id="sensor-silent", kind="sensor_silent", after_s=600),
    AlertRule(id="counter-reset", kind="counter_reset", severity="info"),
    AlertRule(id="implausible-jump", kind="implausible_jump"),
)


class ZonesConfig(_Model):
    """The ``[zones]`` table: shared settings of the zone model."""

    enabled: bool = Field(
        default=True,
        description="false: no zone stage (no zone states, alerts, `hub zones` or gauges)",
    )
    stale_after_s: float = Field(default=300.0, gt=0, description="default for every zone/line")
    reset_at: time | None = Field(
        default=time(5, 0), description="local time the flow balance resets to 0 (none: never)"
    )
    window_s: float = Field(default=300.0, gt=0, description="sliding window for flows, inflow")
    heartbeat_s: float = Field(default=60.0, gt=0, description="publish states at least this often")
    publish_interval_s: float = Field(
        default=10.0, ge=0, description="publish a changed number at most this often"
    )
    device_calibration: float = Field(default=1.0, gt=0, description="people per device")
    occupancy_methods: tuple[Method, ...] = ("counted", "flow", "devices")
    max_jump: float | None = Field(
        default=None, gt=0, description="a counted reading changing by more is implausible"
    )
    problem_window_s: float = Field(
        default=900.0, gt=0, description="how long a counter reset or jump stays a problem"
    )
    gap_limit_per_h: int = Field(default=10, ge=1, description="sequence gaps per hour")
    history_weeks: int = Field(default=8, ge=1, le=60, description="weeks of quarter-hour history")
    forecast_quarters: int = Field(default=8, ge=1, le=16, description="forecast horizon")
    forecast_cap: float = Field(default=4.0, gt=0, description="cap of the now/median factor")
    level_sets: dict[str, LevelSet] = Field(
        default_factory=dict, description="extra or replaced level sets by name"
    )
    profiles: tuple[Profile, ...] = ()
    rules: tuple[AlertRule, ...] = DEFAULT_RULES

    @model_validator(mode="after")
    def _check(self) -> Self:
        sets = self.all_level_sets()
        for p in self.profiles:
            for old, new in p.level_sets.items():
                for name in (old, new):
                    if name not in sets:
                        raise ValueError(
                            f"profile {p.id!r}: unknown level set {name!r}; "
                            f"known: {', '.join(sorted(sets))}"
                        )
        ids = [r.id for r in self.rules]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"duplicate rule id(s): {', '.join(sorted(dup))}")
        for r in self.rules:
            unknown = [i for i in r.inhibits if i not in ids]
            if unknown:
                raise ValueError(f"rule {r.id!r} inhibits unknown rule(s): {', '.join(unknown)}")
        return self

    def all_level_sets(self) -> dict[str, LevelSet]:
        return {**BUILTIN_LEVEL_SETS, **self.level_sets}
