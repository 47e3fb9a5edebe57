"""The one event schema every source emits and every sink receives.

An :class:`Event` says *who* measured (``source``, ``kind``), *where*
(``site``, ``zone``, ``line``), *what* (``measurement``: one of the typed
measurement kinds with units; ``zone_state``, ``line_flow`` and ``alert`` are
derived by the hub's zone model, :mod:`hub.zones`), *when* (an instant
``observed_at`` or an interval ``observed_from``/``observed_to``, plus
``received_at``), *how good* it is (``quality`` and ``quality_reasons``) and
*through what* (``provenance``).
Vendor specifics go under ``extras``, namespaced by plugin kind.

Events are frozen and reject unknown fields. They carry counts only: the hub
refuses to forward any event whose text contains a MAC address, an IP
address, an e-mail address or a UUID-like track id, and forwards ``extras``
values only when they are scalars (see :mod:`hub.privacy`).

Every value is bounded, so no output can be handed an impossible event: counts
are whole numbers up to :data:`MAX_PLAUSIBLE_COUNT` (far below a 64-bit
integer), floats are finite, every time lies in ``[EARLIEST, LATEST)``. Against
the hub's clock, the pipeline's clock check (:mod:`hub.core.clock_check`) flags an
event whose time is ahead by more than ``[hub] max_clock_skew_s`` with
``clock_skew`` and refuses one far ahead.

Build events with :meth:`Event.create`, which derives a deterministic
``event_id`` from the source and a device-provided key (sequence number or
unique key), so a replayed message yields the same id and consumers can
deduplicate.
"""

from __future__ import annotations

__all__ = [
    "EARLIEST",
    "LATEST",
    "MAX_INT64",
    "MAX_PLAUSIBLE_COUNT",
    "SCHEMA_VERSION",
    "Alert",
    "Crossing",
    "Density",
    "Devices",
    "Event",
    "Level",
    "LineFlow",
    "Measurement",
    "MeasurementType",
    "Occupancy",
    "Provenance",
    "Quality",
    "QualityReason",
    "Status",
    "ZoneState",
    "event_id_for",
    "event_json_schema",
]

import hashlib
import os
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    model_validator,
)

SCHEMA_VERSION = 2
"""2 added the derived ``zone_state``, ``line_flow`` and ``alert`` measurements, and ``level``
(a colour level without numbers, what a levels-only view of :mod:`hub.views` publishes)."""

MAX_INT64 = 2**63 - 1
"""The largest whole number any event field may hold (a signed 64-bit column)."""
MAX_PLAUSIBLE_COUNT = 1_000_000_000
"""The largest count (people, devices, crossings) one event may carry: more than a
billion in one reading is never a measurement, whatever the device says."""
_MAX_DENSITY = 1000.0  # people per m²: physically impossible long before this
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
"""Event times before this are refused: a device clock that was never set (1970)."""
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
"""Event times from this on are refused (year 9999, a wrong unit)."""

_Count = Annotated[int, Field(ge=0, le=MAX_PLAUSIBLE_COUNT)]
_Int64 = Annotated[int, Field(ge=0, le=MAX_INT64)]
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
"""Configured ids (site, zone, line, source instance): short slugs."""


class MeasurementType(StrEnum):
    CROSSING = "crossing"
    OCCUPANCY = "occupancy"
    DEVICES = "devices"
    DENSITY = "density"
    STATUS = "status"
    LEVEL = "level"
    ZONE_STATE = "zone_state"
    LINE_FLOW = "line_flow"
    ALERT = "alert"


class Quality(StrEnum):
    """How far a consumer may trust the numbers."""

    OK = "ok"
    """Measured as the device documents it."""
    ESTIMATED = "estimated"
    """Derived (e.g. occupancy from lidar point clusters, a delta over a reset)."""
    SUSPECT = "suspect"
    """Implausible or inconsistent: shown, but not to be acted on alone."""
    STALE = "stale"
    """Old data: retransmitted or delayed past the source's freshness limit."""


class QualityReason(StrEnum):
    IMPLAUSIBLE_JUMP = "implausible_jump"
    ABOVE_MAXIMUM = "above_maximum"
    COUNTER_RESET = "counter_reset"
    SEQUENCE_GAP = "sequence_gap"
    DUPLICATE = "duplicate"
    RETRANSMISSION = "retransmission"
    UNRELIABLE_SIGNAL = "unreliable_signal"
    CLOCK_SKEW = "clock_skew"
    DERIVED = "derived"
    CLAMPED = "clamped"
    INCOMPLETE = "incomplete"
    """The device measured only part of the interval (e.g. Xovis samples < samples_expected)."""
    OUT_OF_ORDER = "out_of_order"
    """Older than a message already received (a late arrival or a replay)."""
    SEQUENCE_RESTART = "sequence_restart"
    """The device's sequence numbering started again (reboot, rejoin)."""


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Crossing(_Value):
    """People crossing a line during ``observed_from``..``observed_to``.

    ``in`` follows the configured line direction (``site.lines[].in_direction``).
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        serialize_by_alias=True,
        allow_inf_nan=False,
    )
    type: Literal["crossing"] = "crossing"
    in_: Annotated[_Count, Field(alias="in", description="crossings in the 'in' direction")]
    out: Annotated[_Count, Field(description="crossings in the 'out' direction")]
    unit: Literal["person"] = "person"


class Occupancy(_Value):
    """Number of people in a zone at ``observed_at``."""

    type: Literal["occupancy"] = "occupancy"
    count: Annotated[
        float,
        Field(ge=0, le=MAX_PLAUSIBLE_COUNT, description="people present (may be an estimate)"),
    ]
    unit: Literal["person"] = "person"


class Devices(_Value):
    """Distinct radio devices seen during an interval (WiFi/BLE counters).

    A proxy for people, not a head count: phones randomise MAC addresses and
    people carry zero or several devices.
    """

    type: Literal["devices"] = "devices"
    count: Annotated[_Count, Field(description="distinct devices, wifi + ble")]
    wifi: Annotated[_Count | None, Field(description="distinct WiFi devices")] = None
    ble: Annotated[_Count | None, Field(description="distinct Bluetooth LE devices")] = None
    unit: Literal["device"] = "device"


class Density(_Value):
    """People per square metre in a zone at ``observed_at``."""

    type: Literal["density"] = "density"
    value: Annotated[float, Field(ge=0, le=_MAX_DENSITY, description="people per m²")]
    unit: Literal["person/m2"] = "person/m2"


class Status(_Value):
    """Health of a device: battery, uptime, temperature, restarts."""

    type: Literal["status"] = "status"
    state: Literal["ok", "degraded", "offline"] = "ok"
    battery_mv: _Int64 | None = None
    uptime_s: _Int64 | None = None
    temperature_c: Annotated[float | None, Field(ge=-273.15, le=1000)] = None
    free_memory_bytes: _Int64 | None = None
    restarts: _Int64 | None = None
    reset_reason: Annotated[int | None, Field(ge=-MAX_INT64, le=MAX_INT64)] = None
    detail: Annotated[str | None, Field(max_length=200)] = None


class Level(_Value):
    """A colour level without any number: what a ``levels_only`` view publishes.

    :mod:`hub.views` projects every measurement that has a level (a zone's or a
    line's state) onto this, so a public feed carries no count at all.
    """

    type: Literal["level"] = "level"
    of: Annotated[
        str, Field(pattern=r"^[a-z][a-z0-9_]*$", description="measurement type it summarises")
    ]
    level: Annotated[str, Field(max_length=64, description="level name, e.g. 'orange'")]
    colour: Annotated[str, Field(max_length=32, description="display colour of the level")] = ""
    fresh: bool = Field(default=True, description="false: the data behind it is stale (grey)")


_Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]


class ZoneState(_Value):
    """The crowd picture of one zone at ``observed_at`` (derived by :mod:`hub.zones`).

    ``level`` is ``"unknown"`` (``level_index`` -1, grey) when every input is older
    than the zone's ``stale_after_s``: stale data is never green.
    """

    type: Literal["zone_state"] = "zone_state"
    level: Annotated[str, Field(description="level name, or 'unknown' when stale")]
    level_index: Annotated[int, Field(ge=-1, description="0 = lowest level; -1 = unknown")]
    colour: Annotated[str, Field(max_length=32, description="display colour of the level")]
    occupancy: Annotated[float | None, Field(ge=0, description="people in the zone")] = None
    method: Literal["counted", "flow", "devices"] | None = None
    density: Annotated[float | None, Field(ge=0, description="people per m²")] = None
    capacity_use: Annotated[float | None, Field(ge=0, description="occupancy / capacity")] = None
    net_inflow_per_min: Annotated[
        float | None, Field(description="people per minute in minus out, sliding window")
    ] = None
    time_to_capacity_min: Annotated[
        float | None, Field(ge=0, description="minutes until capacity at the current net inflow")
    ] = None
    fresh: bool = True
    age_s: Annotated[float | None, Field(ge=0, description="age of the oldest input used")] = None
    problems: tuple[Annotated[str, Field(max_length=100)], ...] = Field(
        default=(), description="data-quality problems, e.g. 'sensor_silent:cam-1'"
    )
    usual_p10: Annotated[float | None, Field(ge=0)] = None
    usual_p50: Annotated[float | None, Field(ge=0)] = None
    usual_p90: Annotated[float | None, Field(ge=0)] = None
    usual_weeks: Annotated[int, Field(ge=0, description="weeks the normal band rests on")] = 0
    next_level_in_min: Annotated[
        float | None, Field(ge=0, description="forecast minutes until the next level")
    ] = None
    profile: _Name | None = None
    unit: Literal["person"] = "person"


class LineFlow(_Value):
    """Flow over one line in a sliding window (derived by :mod:`hub.zones`)."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        serialize_by_alias=True,
        allow_inf_nan=False,
    )
    type: Literal["line_flow"] = "line_flow"
    in_: Annotated[_Count, Field(alias="in", description="crossings in within the window")]
    out: Annotated[_Count, Field(description="crossings out within the window")]
    in_per_m_min: Annotated[float, Field(ge=0, description="in, persons per metre per minute")]
    out_per_m_min: Annotated[float, Field(ge=0, description="out, persons per metre per minute")]
    window_s: Annotated[float, Field(gt=0)]
    level: str
    level_index: Annotated[int, Field(ge=-1)]
    colour: Annotated[str, Field(max_length=32)]
    fresh: bool = True
    unit: Literal["person/m/min"] = "person/m/min"


class Alert(_Value):
    """A notification about one alert of the zone model: one alert per (rule, zone or line).

    Carries no person: who acknowledged and their note stay in the hub's measures log.
    """

    type: Literal["alert"] = "alert"
    alert_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,160}$")]
    rule: _Name
    state: Literal["pending", "firing", "acknowledged", "resolved", "closed"]
    severity: Annotated[str, Field(max_length=64, description="level name or rule severity")]
    severity_rank: Annotated[int, Field(ge=0)] = 0
    value: float | None = None
    threshold: float | None = None
    since: AwareDatetime
    acknowledged_at: AwareDatetime | None = None
    escalated: bool = False
    silenced: bool = False
    inhibited: bool = False
    summary: Annotated[str, Field(max_length=200)] = ""


Measurement = Annotated[
    Crossing | Occupancy | Devices | Density | Status | ZoneState | LineFlow | Alert | Level,
    Field(discriminator="type"),
]
"""One typed measurement; ``measurement.type`` tells which."""

_AnyMeasurement = (
    Crossing | Occupancy | Devices | Density | Status | ZoneState | LineFlow | Alert | Level
)

_INTERVAL_TYPES = frozenset({"crossing", "devices"})


class Provenance(BaseModel):
    """Which code and which path produced an event."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    plugin: str = Field(description="plugin (distribution entry) that produced the event")
    plugin_version: str
    transport: str | None = Field(
        default=None, description="serial / mqtt / http / http-poll / simulated"
    )


class Event(BaseModel):
    """One normalised, privacy-safe observation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1, 2] = 2
    event_id: Annotated[
        str,
        Field(
            pattern=r"^[0-9a-f]{32}$",
            description="32 hex chars; deterministic for a device-provided key",
        ),
    ]
    source: Annotated[str, Field(pattern=_ID, description="configured source instance id")]
    kind: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", description="plugin kind")]
    site: Annotated[str | None, Field(pattern=_ID)] = None
    zone: Annotated[str | None, Field(pattern=_ID)] = None
    line: Annotated[str | None, Field(pattern=_ID)] = None
    measurement: Measurement
    observed_at: AwareDatetime | None = None
    observed_from: AwareDatetime | None = None
    observed_to: AwareDatetime | None = None
    received_at: AwareDatetime
    quality: Quality = Quality.OK
    quality_reasons: tuple[QualityReason, ...] = ()
    sequence: Annotated[
        int | None,
        Field(ge=0, le=MAX_INT64, description="device sequence number, when it has one"),
    ] = None
    provenance: Provenance
    extras: dict[str, dict[str, JsonValue]] = Field(
        default_factory=dict,
        description="vendor extras, one namespace per plugin kind: {'axis': {...}}",
    )

    @model_validator(mode="after")
    def _check_time(self) -> Self:
        for name in ("observed_at", "observed_from", "observed_to", "received_at"):
            t = getattr(self, name)
            if t is not None and not EARLIEST <= t < LATEST:
                raise ValueError(
                    f"{name} outside {EARLIEST.year}..{LATEST.year - 1}: "
                    "check the device clock and the time unit"
                )
        interval = self.observed_from is not None or self.observed_to is not None
        if interval:
            if self.observed_from is None or self.observed_to is None:
                raise ValueError("observed_from and observed_to must be given together")
            if self.observed_to < self.observed_from:
                raise ValueError("observed_to is before observed_from")
            if self.observed_at is not None:
                raise ValueError("give observed_at or observed_from/observed_to, not both")
        elif self.observed_at is None:
            raise ValueError("an event needs observed_at or observed_from/observed_to")
        if self.measurement.type in _INTERVAL_TYPES and not interval:
            raise ValueError(
                f"a {self.measurement.type} measurement covers an interval: "
                "set observed_from and observed_to"
            )
        if self.measurement.type == "crossing" and self.line is None:
            raise ValueError("a crossing measurement needs a line")
        return self

    @property
    def type(self) -> str:
        """Shortcut for ``measurement.type``."""
        return self.measurement.type

    @property
    def time(self) -> datetime:
        """The instant this event is filed under: ``observed_at`` or the interval end."""
        t = self.observed_at or self.observed_to
        assert t is not None
        return t

    @classmethod
    def create(
        cls,
        *,
        source: str,
        kind: str,
        measurement: _AnyMeasurement,
        provenance: Provenance,
        key: str | int | None = None,
        received_at: datetime | None = None,
        **fields: Any,
    ) -> Event:
        """Validate and build an event, deriving ``event_id`` from ``key``.

        ``key`` is what makes this observation unique at the device: a sequence
        number, a bin start time, a message id. Without a key the id is random.
        """
        return cls(
            event_id=event_id_for(
                source, measurement.type, key, fields.get("line") or fields.get("zone")
            ),
            source=source,
            kind=kind,
            measurement=measurement,
            provenance=provenance,
            received_at=received_at or datetime.now(UTC),
            **fields,
        )


def event_id_for(
    source: str, measurement: str, key: str | int | None, place: str | None = None
) -> str:
    """The deterministic event id for ``key`` (random when ``key`` is None)."""
    if key is None:
        return os.urandom(16).hex()
    # surrogatepass: a key read from JSON may hold a lone surrogate ("\ud800"); still an id
    raw = f"{source}\x1f{measurement}\x1f{place or ''}\x1f{key}".encode("utf-8", "surrogatepass")
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def event_json_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`Event` (what ``hub schema`` prints)."""
    schema = Event.model_json_schema(mode="serialization")
    schema["$id"] = f"urn:crowdhub:event:v{SCHEMA_VERSION}"
    return schema
