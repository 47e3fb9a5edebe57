"""Config of the ``generic_json`` source: where the JSON comes from and how it maps to events.

Every expression is JMESPath (https://jmespath.org) and is compiled here, at
config time, so a typo is reported before the hub starts::

    sources.generic_json[vs133].in: invalid JMESPath expression: ...
"""

from __future__ import annotations

__all__ = ["Expr", "GenericJsonConfig", "LineDirection", "MeasurementName"]

from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

import hub
from hub.privacy import MAX_EXTRA_TEXT
from hub.site import ID_PATTERN
from hub.transports import HttpAuth

from .expressions import ExpressionError, TimeFormat, compile_expression, selects_structure

MeasurementName = Literal["crossing", "occupancy", "devices", "density"]
_VALUE_FIELDS: dict[str, tuple[str, ...]] = {
    "crossing": ("in", "out"),
    "occupancy": ("count",),
    "devices": ("count",),
    "density": ("value",),
}


def _check_expression(text: str) -> str:
    try:
        compile_expression(text)
    except ExpressionError as err:
        raise PydanticCustomError("jmespath", "{detail}", {"detail": str(err)}) from None
    return text


Expr = Annotated[str, AfterValidator(_check_expression)]
"""A JMESPath expression, compiled (and rejected when invalid) at config time."""


def _problem(message: str) -> PydanticCustomError:
    return PydanticCustomError("generic_json", "{detail}", {"detail": message})


_DROP_FIELDS_GONE = (
    "removed: generic_json forwards only what the config names (the counts, times and "
    "mapped ids its expressions select, and each `extras` entry), so nothing is left to "
    "drop; delete drop_fields, and list every value you want kept as "
    'extras = { name = "expression" }'
)


class LineDirection(BaseModel):
    """How an azimuth (degrees of walking direction) maps onto one line's in/out."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    in_: float = Field(
        alias="in",
        ge=0,
        lt=360,
        description="azimuth of walking 'in' over this line (degrees, 0 = north, clockwise)",
    )
    tolerance: float = Field(
        default=45.0,
        gt=0,
        le=90,
        description="degrees either side of `in` (and of its opposite, 'out') still counted",
    )


def _auth_problem(auth: HttpAuth) -> str | None:
    if auth.scheme in ("bearer", "token") and not auth.token:
        return (
            f"auth.scheme = '{auth.scheme}' needs auth.token (e.g. token = \"${{INGEST_TOKEN}}\")"
        )
    if auth.scheme == "basic" and (not auth.username or auth.password is None):
        return "auth.scheme = 'basic' needs auth.username and auth.password"
    if auth.scheme == "hmac" and not auth.hmac_secret:
        return "auth.scheme = 'hmac' needs auth.hmac_secret"
    return None


class GenericJsonConfig(hub.SourceConfig):
    """One device (or one feed of many devices) sending JSON over MQTT or HTTP push."""

    # -- where the JSON comes from ---------------------------------------------------------
    transport: Literal["mqtt", "http"] = Field(
        default="mqtt",
        description="'mqtt': subscribe to `topics` on `broker`; 'http': the device POSTs "
        "JSON to /ingest/<id> on the hub's HTTP server",
    )
    broker: str = Field(default="default", description="id of the [[transports.mqtt]] to use")
    topics: tuple[str, ...] = Field(
        default=(), description="MQTT topic filters to subscribe to (wildcards allowed)"
    )
    qos: Literal[0, 1, 2] = Field(default=0, description="MQTT subscription QoS")
    auth: HttpAuth = Field(
        default_factory=HttpAuth,
        description="HTTP push authentication (bearer/token/basic/hmac/none); secrets via ${ENV}",
    )
    content_types: tuple[str, ...] = Field(
        default=("application/json",), description="HTTP content types accepted"
    )
    max_body_bytes: int = Field(default=1_048_576, gt=0, description="largest HTTP body")
    rate_per_s: float | None = Field(
        default=None, gt=0, description="HTTP requests per second allowed (None: unlimited)"
    )

    # -- what the JSON means -----------------------------------------------------------------
    drop_fields: Any = Field(
        default=None,
        description="removed: only what the expressions select is forwarded (an allowlist)",
        exclude=True,
    )
    items: Expr | None = Field(
        default=None,
        description="expression giving a list: one reading per element (several lines or "
        "zones in one message); the other expressions then see {item, message}",
    )
    measurement: MeasurementName = Field(
        default="crossing", description="crossing | occupancy | devices | density (fixed)"
    )
    measurement_expr: Expr | None = Field(
        default=None,
        description="expression yielding 'crossing'/'occupancy'/'devices'/'density' per "
        "reading (instead of a fixed `measurement`)",
    )
    line_expr: Expr | None = Field(
        default=None, description="expression yielding the line (looked up in `map`)"
    )
    zone_expr: Expr | None = Field(
        default=None, description="expression yielding the zone (looked up in `map`)"
    )
    map: dict[str, Annotated[str, Field(pattern=ID_PATTERN)]] = Field(
        default_factory=dict,
        description="device line/zone value -> site line/zone id (empty: the value is the id)",
    )
    unmapped: Literal["malformed", "drop"] = Field(
        default="malformed",
        description="a line/zone value missing from `map`: count the reading malformed, or "
        "drop it silently (devices that report unused lines)",
    )
    in_: Expr | None = Field(
        default=None, alias="in", description="crossings in the 'in' direction (crossing)"
    )
    out: Expr | None = Field(
        default=None, description="crossings in the 'out' direction (crossing)"
    )
    count: Expr | None = Field(
        default=None,
        description="people/devices (occupancy, devices); people per reading with "
        "direction_expr (crossing; default 1)",
    )
    value: Expr | None = Field(default=None, description="people per m² (density)")
    scale: float = Field(
        default=1.0, gt=0, description="multiply every value by this (counts are then rounded)"
    )
    cumulative: bool = Field(
        default=False,
        description="values are totals since a reset: emit the change since the previous "
        "message per line/zone (crossing, devices)",
    )
    reset_marker: Expr | None = Field(
        default=None,
        description="expression whose change means the device reset its totals "
        "(e.g. a start time); a decreasing total is always a reset",
    )

    direction_expr: Expr | None = Field(
        default=None,
        description="expression yielding the walking direction as an azimuth in degrees "
        "(crossing): mapped to in/out per line with `directions`",
    )
    directions: dict[Annotated[str, Field(pattern=ID_PATTERN)], LineDirection] = Field(
        default_factory=dict,
        description="site line id -> {in = <azimuth of 'in'>, tolerance = <degrees>}: "
        "an azimuth within tolerance of `in` is in, of its opposite out, else undirected",
    )

    # -- when ----------------------------------------------------------------------------
    time: Expr | None = Field(
        default=None,
        description="expression for the observation time (an instant or, "
        "with time_format = 'iso_interval', a 'start/end' interval)",
    )
    time_from: Expr | None = Field(default=None, description="expression for interval start")
    time_to: Expr | None = Field(default=None, description="expression for interval end")
    time_format: TimeFormat = Field(
        default="auto",
        description="auto | epoch_s | epoch_ms | rfc3339 | iso_interval ('auto': numbers "
        "by magnitude, strings as numbers, 'start/end' or RFC 3339)",
    )
    timezone: str | None = Field(
        default=None,
        description="IANA zone for times without an offset (default: the site's timezone)",
    )
    time_is: Literal["end", "start"] = Field(
        default="end",
        description="a single `time` on a crossing/devices reading marks the end (default) "
        "or the start of its `interval_s` interval",
    )
    interval_s: float = Field(
        default=60.0,
        gt=0,
        description="length of the interval a count covers when the payload gives only an "
        "instant, or no time at all (then it ends at the receive time)",
    )
    interval_expr: Expr | None = Field(
        default=None,
        description="expression for the interval length, seconds or an ISO 8601 duration "
        "(e.g. 'interval'); overrides interval_s per reading",
    )
    time_fallback: bool = Field(
        default=False,
        description="use the receive time when a configured time expression yields "
        "nothing (default: the message is counted malformed)",
    )

    # -- identity, order, plausibility --------------------------------------------------
    sequence: Expr | None = Field(
        default=None,
        description="expression for the message sequence number: gaps flag SEQUENCE_GAP, "
        "repeats are dropped as duplicates",
    )
    key: Expr | None = Field(
        default=None,
        description="expression making a reading unique at the device (deterministic "
        "event_id); default: sequence and/or device time",
    )
    device: Expr | None = Field(
        default=None,
        description="expression telling devices apart when several publish into one source "
        "(state is kept per device; the value never leaves the plugin). Default: the topic",
    )
    extras: dict[str, Expr] = Field(
        default_factory=dict,
        description="name -> expression copied into the event's extras (a list of "
        f"expressions uses the expression as the name): scalars only (text up to "
        f"{MAX_EXTRA_TEXT} characters, numbers, booleans); anything else is removed",
    )
    max_count: float | None = Field(
        default=None, ge=0, description="a value above this is SUSPECT (ABOVE_MAXIMUM)"
    )
    max_jump: float | None = Field(
        default=None,
        ge=0,
        description="the largest believable change between two consecutive readings: "
        "a level off the last plausible one, or a crossing's in + out, beyond it is "
        "SUSPECT (IMPLAUSIBLE_JUMP)",
    )

    @field_validator("extras", mode="before")
    @classmethod
    def _extras_list(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return {str(v): v for v in value}
        return value

    @field_validator("drop_fields")
    @classmethod
    def _drop_fields_gone(cls, value: Any) -> Any:
        if value is not None:
            raise _problem(_DROP_FIELDS_GONE)
        return value

    @field_validator("extras")
    @classmethod
    def _extras_scalar(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            what = selects_structure(text)
            if what is not None:
                raise _problem(
                    f"{name} = {text!r} selects {what}; an extras value is one scalar "
                    f"(text up to {MAX_EXTRA_TEXT} characters, a number, a boolean): select "
                    "one value, e.g. length(...) to count a list"
                )
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise _problem(f"unknown IANA time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        fields = self.model_fields_set
        if self.transport == "mqtt" and not self.topics:
            raise _problem("transport = 'mqtt' needs `topics` (the topic filters to subscribe to)")
        if self.transport == "http":
            if self.topics:
                raise _problem("`topics` is only used with transport = 'mqtt'")
            problem = _auth_problem(self.auth)
            if problem:
                raise _problem(problem)
        given = {name for name in ("in", "out", "count", "value") if self._expr(name)}
        if self.direction_expr is not None:
            if self.in_ is not None or self.out is not None:
                raise _problem("give `in`/`out` or `direction_expr`, not both")
            if not self.directions:
                raise _problem(
                    "direction_expr needs `directions`: per line, the azimuth of 'in' "
                    "(e.g. directions = { main-door = { in = 90, tolerance = 45 } })"
                )
            if "measurement" in fields and self.measurement != "crossing":
                raise _problem("direction_expr gives crossings: set measurement = 'crossing'")
            if self.cumulative:
                raise _problem("direction_expr counts per reading: cumulative = true cannot apply")
            given = given - {"count"} | {"in", "out"}
        elif self.directions:
            raise _problem("`directions` is used with direction_expr; set it or remove this")
        if self.measurement_expr is not None:
            if "measurement" in fields:
                raise _problem("give `measurement` or `measurement_expr`, not both")
            if not given:
                raise _problem("measurement_expr needs at least one of in, out, count, value")
        else:
            m = self.measurement
            wanted = set(_VALUE_FIELDS[m])
            if not given & wanted:
                raise _problem(
                    f"measurement = {m!r} needs {' and/or '.join(_VALUE_FIELDS[m])} "
                    "(an expression for the value)"
                )
            extra = sorted(given - wanted)
            if extra:
                raise _problem(f"{', '.join(extra)} is not used by measurement = {m!r}")
            if m in ("occupancy", "density") and self.cumulative:
                raise _problem(f"cumulative = true makes no sense for {m} (a level, not a total)")
            if m == "crossing" and self.line is None and self.line_expr is None:
                raise _problem("a crossing needs `line` or `line_expr`")
            if m != "crossing" and not (self.zone or self.zone_expr or self.line or self.line_expr):
                raise _problem(f"a {m} reading needs `zone` or `zone_expr`")
        if self.interval_expr is not None and self.time_format == "iso_interval":
            raise _problem("time_format = 'iso_interval' gives the interval; remove interval_expr")
        if self.line is not None and self.line_expr is not None:
            raise _problem("give `line` or `line_expr`, not both")
        if self.zone is not None and self.zone_expr is not None:
            raise _problem("give `zone` or `zone_expr`, not both")
        if self.map and self.line_expr is None and self.zone_expr is None:
            raise _problem("`map` translates line_expr/zone_expr values; set one of them")
        if self.reset_marker is not None and not self.cumulative:
            raise _problem("reset_marker needs cumulative = true")
        if self.time is not None and (self.time_from is not None or self.time_to is not None):
            raise _problem("give `time` or `time_from`/`time_to`, not both")
        if self.time_format == "iso_interval" and self.time is None:
            raise _problem("time_format = 'iso_interval' needs `time` (a 'start/end' string)")
        return self

    def _expr(self, name: str) -> str | None:
        """The expression configured for value field ``name`` ('in' is ``in_``)."""
        value: str | None = getattr(self, "in_" if name == "in" else name)
        return value

    def site_refs(self) -> list[tuple[str, str]]:
        """Line/zone ids in ``map``, so the core checks them against the site at config time."""
        refs = [("line", line) for line in self.directions]
        if self.line_expr is not None and self.zone_expr is None:
            refs += [("line", v) for v in self.map.values()]
        if self.zone_expr is not None and self.line_expr is None:
            refs += [("zone", v) for v in self.map.values()]
        return refs
