"""Configuration of the three source kinds of the ``lidar`` plugin, one model each:

* ``[[sources.tfluna]]`` (:class:`TfLunaConfig`): Benewake TF-Luna/TFmini beam(s) on
  serial ports, counting passages on ``line``;
* ``[[sources.rplidar]]`` (:class:`RplidarConfig`): a Slamtec RPLIDAR A1 2D scanner on a
  serial port, estimating the occupancy of a polygon in ``zone``;
* ``[[sources.xovis]]`` (:class:`XovisConfig`): Xovis 3D people counters pushing *logics*
  data over HTTP or MQTT.

Every model forbids unknown keys, so a key of another device (``polygon`` on a beam) is
reported with the allowed keys. A key that every source has but that means nothing for
a device (``zone`` on a beam) or for the chosen transport (``topic`` with HTTP) is
refused with the error type ``not_applicable``, which :mod:`.migration` also reads.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

import hub
from hub.transports import HttpAuth, SerialSettings

Point2 = tuple[float, float]
TfModel = Literal["tfluna", "tfmini_s", "tfmini_plus", "tfmini"]
NOT_APPLICABLE = "not_applicable"
"""pydantic error type of a key that does not apply to this kind or transport."""


def not_applicable(why: str) -> PydanticCustomError:
    return PydanticCustomError(NOT_APPLICABLE, "{why}", {"why": why})


class Beam(BaseModel):
    """One TF-Luna/TFmini beam of a pair (``beams = [{serial = {...}}, {serial = {...}}]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    serial: SerialSettings = Field(description="serial port of this beam (115200 8N1 default)")
    floor_distance_cm: float | None = Field(
        default=None,
        gt=0,
        description="this beam's distance to the floor (cm); default: the source's value",
    )


class XovisLogic(BaseModel):
    """Maps one Xovis logic (by id or name) to a site line or zone."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    logic: int | str = Field(description="logic id (e.g. 1008) or logic name as set on the sensor")
    line: str | None = Field(default=None, description="site line a LINE logic counts on")
    zone: str | None = Field(default=None, description="site zone a ZONE logic reports on")
    in_counter: str = Field(default="fw", description="counter name counted as 'in'")
    out_counter: str = Field(default="bw", description="counter name counted as 'out'")
    occupancy_counter: str = Field(
        default="balance", description="counter name holding the zone occupancy (state value)"
    )

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if (self.line is None) == (self.zone is None):
            raise ValueError(f"logic {self.logic!r}: set exactly one of 'line' or 'zone'")
        return self


class TfLunaConfig(hub.SourceConfig):
    """``[[sources.tfluna]]``: one TF-Luna/TFmini beam, or a pair of beams for direction."""

    model: TfModel = Field(
        default="tfluna",
        description="tfluna | tfmini_s | tfmini_plus (bytes 6-7 are the temperature) | tfmini "
        "(the original TFmini: bytes 6-7 are not a temperature)",
    )
    serial: SerialSettings | None = Field(
        default=None, description="serial port of a single beam (or use 'beams')"
    )
    beams: tuple[Beam, ...] = Field(
        default=(),
        max_length=2,
        description="one beam, or two beams as a pair for direction (A first, then B)",
    )
    frame_format: Literal["cm", "mm", "pix"] = Field(
        default="cm",
        description="sensor output format: 9-byte/cm (default), 9-byte/mm, or PIX ASCII metres",
    )
    frame_rate_hz: float = Field(
        default=100.0, gt=0, le=1000, description="frames per second the sensor sends"
    )
    min_amplitude: int = Field(
        default=100, ge=0, description="readings with a lower signal amplitude are unreliable"
    )
    floor_distance_cm: float = Field(
        default=250.0, gt=0, description="distance from the sensor to the floor (cm)"
    )
    threshold_cm: float = Field(
        default=100.0,
        gt=0,
        description="a person: distance below floor_distance_cm - threshold_cm",
    )
    hysteresis_cm: float = Field(
        default=10.0, ge=0, description="the beam is clear again above trigger + hysteresis"
    )
    min_dwell_ms: float = Field(
        default=60.0, ge=0, description="the beam must be blocked this long to count a person"
    )
    min_gap_ms: float = Field(
        default=100.0,
        ge=0,
        description="shorter clear gaps are part of the same person (debounce between people)",
    )
    pair_window_ms: float = Field(
        default=1000.0,
        gt=0,
        description="two beams: the second beam must break within this time of the first",
    )
    a_to_b: Literal["in", "out"] = Field(
        default="in", description="two beams: beam A breaking before beam B counts as this"
    )
    single_beam_as: Literal["in", "out"] = Field(
        default="in", description="one beam: undirected passages are counted in this field"
    )
    interval_s: float = Field(
        default=60.0, gt=0, le=86400, description="length of each crossing interval (s)"
    )
    max_unreliable_fraction: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="more unreliable readings than this in an interval mark it suspect",
    )
    max_count: int | None = Field(
        default=None,
        ge=0,
        description="a crossing with more than this (in + out) is marked suspect (above_maximum)",
    )

    @field_validator("zone")
    @classmethod
    def _no_zone(cls, value: Any) -> Any:
        if value is not None:
            raise not_applicable(
                "a tfluna source has no zone of its own: it counts on 'line', whose zone "
                "[[site.lines]] gives; delete this key"
            )
        return value

    @model_validator(mode="after")
    def _check(self) -> Self:
        if (self.serial is None) == (not self.beams):
            raise ValueError("set either 'serial' (one beam) or 'beams' (1-2)")
        if self.line is None:
            raise ValueError("set 'line' (the site line the beam counts on)")
        if self.threshold_cm >= min(self.floor_distances_cm()):
            raise ValueError("threshold_cm must be below floor_distance_cm")
        return self

    def beam_ports(self) -> list[SerialSettings]:
        """The serial ports of the beams, A first."""
        if self.beams:
            return [b.serial for b in self.beams]
        return [self.serial] if self.serial is not None else []

    def floor_distances_cm(self) -> list[float]:
        if self.beams:
            return [b.floor_distance_cm or self.floor_distance_cm for b in self.beams]
        return [self.floor_distance_cm]


class RplidarConfig(hub.SourceConfig):
    """``[[sources.rplidar]]``: one RPLIDAR A1 estimating the occupancy of a polygon."""

    serial: SerialSettings = Field(description="serial port of the scanner (115200 8N1 default)")
    polygon: tuple[Point2, ...] = Field(
        min_length=3,
        description="zone outline [[x, y], ...] in metres (at least 3 points), sensor frame "
        "unless sensor_position/sensor_rotation_deg place the sensor in site coordinates",
    )
    sensor_position: Point2 = Field(
        default=(0.0, 0.0), description="sensor position in polygon coordinates (m)"
    )
    sensor_rotation_deg: float = Field(
        default=0.0, description="sensor 0° axis, counter-clockwise from the polygon's x axis"
    )
    cluster_distance_m: float = Field(
        default=0.5, gt=0, description="points closer than this belong to one person"
    )
    min_points: int = Field(default=3, ge=1, description="smaller clusters are noise, not people")
    min_quality: int = Field(
        default=0, ge=0, le=63, description="ignore nodes with a lower quality"
    )
    max_range_m: float = Field(default=12.0, gt=0, description="ignore farther points (m)")
    emit_interval_s: float = Field(
        default=5.0, gt=0, description="one occupancy estimate per this many seconds"
    )
    aggregate: Literal["median", "max", "mean", "last"] = Field(
        default="median",
        description="how the per-revolution counts of a window become one estimate",
    )
    check_health: bool = Field(
        default=True, description="ask GET_HEALTH before scanning; stop on 'error'"
    )
    max_count: int | None = Field(
        default=None, ge=0, description="an occupancy above this is marked suspect (above_maximum)"
    )
    max_jump: int | None = Field(
        default=None,
        ge=0,
        description="an occupancy change larger than this is marked suspect (implausible_jump)",
    )

    @field_validator("line")
    @classmethod
    def _no_line(cls, value: Any) -> Any:
        if value is not None:
            raise not_applicable(
                "an rplidar source counts on no line: it estimates the occupancy of 'zone'; "
                "delete this key"
            )
        return value

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.zone is None:
            raise ValueError("set 'zone' (the site zone the polygon covers)")
        return self


class XovisConfig(hub.SourceConfig):
    """``[[sources.xovis]]``: Xovis 3D counters pushing logics data over HTTP or MQTT."""

    transport: Literal["http", "mqtt"] = Field(
        default="http", description="pushes arrive over HTTP (POST /ingest/<id>) or MQTT"
    )
    auth: HttpAuth = Field(
        default_factory=HttpAuth, description="transport http: authentication of pushes"
    )
    broker: str = Field(default="default", description="transport mqtt: transports.mqtt id")
    topic: str = Field(default="xovis/#", description="transport mqtt: topic filter to subscribe")
    qos: Literal[0, 1, 2] = Field(default=1, description="transport mqtt: subscription QoS")
    logics: tuple[XovisLogic, ...] = Field(
        default=(),
        description="logic -> line/zone map; empty: LINE logics go to 'line', ZONE logics to "
        "'zone'",
    )
    live_counts_only: bool = Field(
        default=False,
        description="accept the live push and derive only a head count from it (tracks never "
        "leave the plugin); false: the live push is rejected",
    )
    live_polygon: tuple[Point2, ...] = Field(
        default=(),
        description="live: count objects inside this outline (sensor position units, at least "
        "3 points); empty: every object the sensor tracks",
    )
    live_object_types: tuple[str, ...] = Field(
        default=("PERSON",), description="live: object types counted (empty: all)"
    )
    live_min_interval_s: float = Field(
        default=1.0, ge=0, description="live: at most one occupancy event per this long"
    )
    max_count: int | None = Field(
        default=None,
        ge=0,
        description="a crossing (in + out) or occupancy above this is marked suspect "
        "(above_maximum)",
    )
    max_jump: int | None = Field(
        default=None,
        ge=0,
        description="the largest believable change between two consecutive readings: an "
        "occupancy change, or a record's in + out, beyond it is suspect (implausible_jump)",
    )

    @field_validator("auth")
    @classmethod
    def _auth_for_http(cls, value: Any, info: ValidationInfo) -> Any:
        if info.data.get("transport") == "mqtt":
            raise not_applicable(
                'applies to transport = "http" only (the MQTT broker authenticates its '
                'clients); delete this key or set transport = "http"'
            )
        return value

    @field_validator("broker", "topic", "qos")
    @classmethod
    def _mqtt_only(cls, value: Any, info: ValidationInfo) -> Any:
        if info.data.get("transport", "mqtt") != "mqtt":  # absent: its own error is shown
            raise not_applicable(
                'applies to transport = "mqtt" only; delete this key or set transport = "mqtt"'
            )
        return value

    @field_validator("live_polygon", "live_object_types", "live_min_interval_s")
    @classmethod
    def _live_only(cls, value: Any, info: ValidationInfo) -> Any:
        if info.data.get("live_counts_only", True) is False:  # absent: its own error
            raise not_applicable(
                "applies with live_counts_only = true only; delete this key or set "
                "live_counts_only = true"
            )
        return value

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not self.logics and self.line is None and self.zone is None:
            raise ValueError("set 'logics', or 'line' and/or 'zone'")
        if self.transport == "http":
            _check_auth(self.auth)
        if self.live_counts_only and self.zone is None:
            raise ValueError("live_counts_only: set 'zone' (where the live head count goes)")
        if self.live_polygon and len(self.live_polygon) < 3:
            raise ValueError("live_polygon needs at least 3 points")
        return self


def _check_auth(auth: HttpAuth) -> None:
    if auth.scheme == "bearer" and auth.token is None:
        raise ValueError(
            "auth: scheme 'bearer' needs a token (token = \"${XOVIS_TOKEN}\"), or use "
            "scheme 'basic' with username/password as configured on the sensor"
        )
    if auth.scheme == "basic" and (auth.username is None or auth.password is None):
        raise ValueError("auth: scheme 'basic' needs username and password")
    if auth.scheme == "hmac" and auth.hmac_secret is None:
        raise ValueError("auth: scheme 'hmac' needs hmac_secret")
