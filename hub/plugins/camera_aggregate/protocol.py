"""Sans-io parsers for camera people-counting payloads: AXIS Object Analytics (MQTT
JSON) and VIVOTEK counting push (HTTP JSON). Hikvision ISAPI XML is in
:mod:`.hikvision`; the device time-zone helper is here. Counts and times
are read with :mod:`hub.quality` (``parse_count``, ``parse_timestamp``).

Every function takes bytes/str/dicts and returns typed readings, raising
:class:`hub.MalformedInput` with a message that names the field and never
quotes identifiers (camera serials are MAC addresses).
"""

from __future__ import annotations

__all__ = [
    "AXIS_CLASSES",
    "AxisClass",
    "AxisCrossline",
    "AxisMessage",
    "VivotekCount",
    "VivotekReport",
    "axis_crossline",
    "axis_occupancy",
    "axis_shape",
    "parse_axis",
    "parse_tz",
    "parse_vivotek",
    "plausible_count",
]

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.errors import MalformedInput
from hub.events import MAX_PLAUSIBLE_COUNT
from hub.quality import parse_count, parse_timestamp

AxisClass = Literal["human", "car", "bus", "truck", "motorcycle/bicycle", "unknown", "all"]
"""AOA object classes; ``all`` is the ``total`` of every class."""
AXIS_CLASSES: tuple[str, ...] = (
    "human",
    "car",
    "bus",
    "truck",
    "motorcycle/bicycle",
    "unknown",
)

_SCENARIO = re.compile(r"Device(\d{1,3})Scenario(\d{1,4})$")


# -- shared value helpers ----------------------------------------------------------------


_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)
_NAMED_OFFSET = re.compile(r"(?:UTC|GMT)\s*([+-])(\d{1,2})(?::?(\d{2}))?\b", re.IGNORECASE)
_SLASH_DATE = re.compile(r"^(\d{4})/(\d{2})/(\d{2})")


def parse_tz(value: Any) -> tzinfo | None:
    """A device time zone: '+02:00', 'UTC+8', 'GMT-03:30', '(GMT+08:00) Taipei', 'UTC',
    or an IANA name.

    None when it cannot be understood (the caller falls back to the site's zone).
    """
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.upper() in ("UTC", "GMT", "Z"):
        return UTC
    m = _OFFSET.match(text) or _NAMED_OFFSET.search(text)  # also '(GMT+08:00) Taipei'
    if m:
        hours, minutes = int(m.group(2)), int(m.group(3) or 0)
        if hours > 14 or minutes > 59:
            return None
        delta = timedelta(hours=hours, minutes=minutes)
        return timezone(-delta if m.group(1) == "-" else delta)
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _load_json(payload: bytes | str, what: str) -> Any:
    try:
        return json.loads(payload)
    except (ValueError, UnicodeDecodeError) as err:
        raise MalformedInput(f"{what}: body is not valid JSON ({type(err).__name__})") from None
    except RecursionError:
        raise MalformedInput(f"{what}: body is JSON nested too deeply to read") from None


# -- AXIS Object Analytics -------------------------------------------------------------


@dataclass(frozen=True)
class AxisMessage:
    """One AOA scenario message. Carries no serial: the camera identity stays out."""

    channel: int
    """``Device<N>`` of ``Device<N>Scenario<M>``: the video channel."""
    scenario: int
    timestamp: datetime
    data: Mapping[str, Any]


AxisShape = Literal["crossline", "occupancy", "trigger"]


def parse_axis(topic: str, payload: bytes | str) -> AxisMessage:
    """Parse an AOA MQTT message (``{"topic", "timestamp", "serial", "message": {"data"}}``).

    The scenario comes from the body's ``topic`` (``axis:.../Device1Scenario1``) or,
    when absent, the MQTT topic's last level. Raises MalformedInput.
    """
    doc = _load_json(payload, "AXIS message")
    if not isinstance(doc, dict):
        raise MalformedInput("AXIS message: expected a JSON object")
    name = doc.get("topic") if isinstance(doc.get("topic"), str) else topic
    m = _SCENARIO.search(str(name)) or _SCENARIO.search(topic)
    if m is None:
        raise MalformedInput(
            "AXIS message: topic does not end in Device<N>Scenario<M>; "
            "is this an Object Analytics scenario event?"
        )
    if "timestamp" not in doc:
        raise MalformedInput("AXIS message: 'timestamp' (epoch ms) is missing")
    ts = parse_timestamp(doc["timestamp"], where="AXIS message 'timestamp'", form="epoch")
    message = doc.get("message")
    data = message.get("data") if isinstance(message, dict) else None
    if not isinstance(data, dict):
        raise MalformedInput("AXIS message: 'message.data' object is missing")
    return AxisMessage(int(m.group(1)), int(m.group(2)), ts, data)


def axis_shape(msg: AxisMessage) -> AxisShape:
    """Which scenario type produced the message (AOA messages do not say it directly):
    crossline counting has ``reason``/``startTime``; occupancy has counts without
    them; the simple scenarios (object in area, line crossing) only ``active``."""
    d = msg.data
    if "reason" in d or "startTime" in d:
        return "crossline"
    if "total" in d or any(k in d for k in AXIS_CLASSES):
        return "occupancy"
    return "trigger"


def _cap(cls: str) -> str:
    return cls[0].upper() + cls[1:]


@dataclass(frozen=True)
class AxisCrossline:
    """Cumulative crossline totals since ``start_time`` (the last reset)."""

    start_time: str | None
    reason: str | None
    """The class whose crossing triggered this message."""
    totals: dict[str, int]
    """Per class (``human``, ``car``...) and ``all`` (the ``total`` field)."""


def axis_crossline(msg: AxisMessage) -> AxisCrossline:
    """Read the crossline counting totals (strings or numbers)."""
    where = f"AXIS crossline scenario {msg.scenario}"
    d = msg.data
    if "total" not in d:
        raise MalformedInput(f"{where}: 'total' is missing")
    totals = {"all": plausible_count(parse_count(d["total"], f"{where} 'total'"), where)}
    for cls in AXIS_CLASSES:
        key = "total" + _cap(cls)
        if key in d:
            totals[cls] = plausible_count(parse_count(d[key], f"{where} '{key}'"), where)
    start = d.get("startTime")
    reason = d.get("reason")
    return AxisCrossline(
        start_time=str(start) if start is not None else None,
        reason=str(reason).lower() if isinstance(reason, str) else None,
        totals=totals,
    )


def axis_occupancy(msg: AxisMessage, classes: Sequence[str]) -> int:
    """Objects of ``classes`` in the area now; per-class keys may be ``human`` or
    ``totalHuman`` (both seen); ``all`` reads ``total``."""
    where = f"AXIS occupancy scenario {msg.scenario}"
    d = msg.data
    count = 0
    for cls in classes:
        keys = ("total",) if cls == "all" else (cls, "total" + _cap(cls))
        key = next((k for k in keys if k in d), None)
        if key is None:
            raise MalformedInput(
                f"{where}: no count for class '{cls}' (looked for {', '.join(keys)}); "
                "set the scenario's classes to what the camera counts"
            )
        count += parse_count(d[key], f"{where} '{key}'")
    return plausible_count(count, where)


def plausible_count(count: int, where: str) -> int:
    """``count``, or MalformedInput beyond what any event may carry (the schema's bound)."""
    if count > MAX_PLAUSIBLE_COUNT:
        raise MalformedInput(
            f"{where}: a count of {count} is beyond any plausible count ({MAX_PLAUSIBLE_COUNT})"
        )
    return count


# -- VIVOTEK ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VivotekCount:
    """In/Out of one counting rule over ``[start, end]``."""

    rule: str
    in_: int
    out: int
    start: datetime
    end: datetime


@dataclass(frozen=True)
class VivotekReport:
    counts: list[VivotekCount] = field(default_factory=list)
    other_rules: int = 0
    """Entries of other rule types (not counting), ignored."""


def _field(obj: Mapping[str, Any], name: str) -> Any:
    """Case-insensitive lookup: firmwares differ in capitalisation."""
    if name in obj:
        return obj[name]
    low = name.lower()
    for k, v in obj.items():
        if isinstance(k, str) and k.lower() == low:
            return v
    return None


def parse_vivotek(doc_or_bytes: Any, default_tz: tzinfo = UTC) -> VivotekReport:
    """Parse a VIVOTEK counting push
    ``{"Source": {...}, "Data": [{"RuleType": "Counting", "CountingInfo": [...]}]}``.

    Times without offset use ``Source.TimeZone`` when it is understood, else
    ``default_tz``. Source identity (MAC, IP, DeviceID) is not read.
    """
    doc = (
        _load_json(doc_or_bytes, "VIVOTEK report")
        if isinstance(doc_or_bytes, bytes | str)
        else doc_or_bytes
    )
    if not isinstance(doc, dict):
        raise MalformedInput("VIVOTEK report: expected a JSON object")
    source = _field(doc, "Source")
    tz = default_tz
    if isinstance(source, dict):
        tz = parse_tz(_field(source, "TimeZone")) or default_tz
    data = _field(doc, "Data")
    if not isinstance(data, list):
        raise MalformedInput("VIVOTEK report: 'Data' list is missing")
    counts: list[VivotekCount] = []
    other = 0
    for i, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise MalformedInput(f"VIVOTEK report: Data[{i}] is not an object")
        rule_type = _field(entry, "RuleType")
        if not isinstance(rule_type, str) or rule_type.lower() != "counting":
            other += 1
            continue
        infos = _field(entry, "CountingInfo")
        if not isinstance(infos, list):
            raise MalformedInput(f"VIVOTEK report: Data[{i}].CountingInfo list is missing")
        for j, info in enumerate(infos):
            where = f"VIVOTEK report Data[{i}].CountingInfo[{j}]"
            if not isinstance(info, dict):
                raise MalformedInput(f"{where}: not an object")
            name = _field(info, "RuleName")
            if not isinstance(name, str | int) or isinstance(name, bool) or str(name) == "":
                raise MalformedInput(f"{where}: 'RuleName' is missing")
            fields = {}
            for key in ("In", "Out", "StartTime", "EndTime"):
                fields[key] = _field(info, key)
                if fields[key] is None:
                    raise MalformedInput(f"{where}: '{key}' is missing")
            start = parse_timestamp(fields["StartTime"], where=f"{where} 'StartTime'", tz=tz)
            end = parse_timestamp(fields["EndTime"], where=f"{where} 'EndTime'", tz=tz)
            if end < start:
                raise MalformedInput(f"{where}: EndTime is before StartTime")
            counts.append(
                VivotekCount(
                    rule=str(name),
                    in_=plausible_count(parse_count(fields["In"], f"{where} 'In'"), where),
                    out=plausible_count(parse_count(fields["Out"], f"{where} 'Out'"), where),
                    start=start,
                    end=end,
                )
            )
    return VivotekReport(counts, other)
