"""Sans-io parser for Hikvision ISAPI people-counting alerts (``<EventNotificationAlert>``).

Bodies arrive as ``application/xml``/``text/xml`` or, in the camera's "HTTP
listening" mode, as ``multipart/form-data`` with the XML as one part (images may
be other parts). Both namespaces are accepted, ``urn:psialliance-org`` (ISAPI
1.0) and ``http://www.isapi.org/ver20/XMLSchema`` (2.0): tags are matched
without their namespace. Documents with a DOCTYPE or entity declaration are
refused by a hardened expat parser (``safexml``) in any encoding, UTF-16 included:
no entity is declared or expanded. ``ipAddress``/``macAddress`` are never read.
"""

from __future__ import annotations

__all__ = [
    "HikAlert",
    "HikRealTime",
    "HikTimeRange",
    "parse_alert",
    "parse_body",
    "xml_from_body",
]

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Literal

from hub.errors import MalformedInput
from hub.plugins.camera_aggregate.protocol import plausible_count
from hub.plugins.camera_aggregate.safexml import parse_xml
from hub.quality import parse_count, parse_timestamp

NS_V1 = "urn:psialliance-org"
NS_V2 = "http://www.isapi.org/ver20/XMLSchema"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_BOUNDARY = re.compile(r'boundary="?([^";,]+)"?', re.IGNORECASE)


@dataclass(frozen=True)
class HikRealTime:
    """Cumulative counts since the last (daily) reset, at ``time``."""

    time: datetime
    enter: int
    exit: int
    pass_: int | None = None
    local_date: str = ""
    """The device's local calendar date of ``time`` (its counters reset daily)."""


@dataclass(frozen=True)
class HikTimeRange:
    """Counts during the bin ``[start, end]``."""

    start: datetime
    end: datetime
    enter: int
    exit: int
    pass_: int | None = None


@dataclass(frozen=True)
class HikAlert:
    """One alert, without the device's network identity."""

    event_type: str
    channel: int
    date_time: datetime | None
    active_post_count: int | None
    namespace: Literal["1.0", "2.0", "other"]
    retransmission: bool = False
    region: int | None = None
    counting: HikRealTime | HikTimeRange | None = None


def xml_from_body(body: bytes, content_type: str) -> bytes:
    """The XML document of a push: the body itself, or the XML part of a multipart body.

    ``content_type`` is the full header (with ``boundary=``); when it is missing
    the boundary is read from the body's first line.
    """
    base = content_type.split(";", 1)[0].strip().lower()
    if not base.startswith("multipart/"):
        return body
    m = _BOUNDARY.search(content_type)
    if m:
        boundary = m.group(1).strip().encode()
    else:
        first = body.lstrip(b"\r\n").split(b"\n", 1)[0].strip()
        if not first.startswith(b"--") or len(first) < 3:
            raise MalformedInput("multipart body without a boundary")
        boundary = first[2:]
    for part in body.split(b"--" + boundary):
        if part.startswith(b"--"):
            break  # closing delimiter
        part = part.lstrip(b"\r\n")
        if not part:
            continue
        sep = re.search(rb"\r?\n\r?\n", part)
        if sep is None:
            continue
        content = part[sep.end() :].rstrip(b"\r\n")
        if content.lstrip(b"\xef\xbb\xbf \t\r\n").startswith((b"<", b"\xff\xfe", b"\xfe\xff")):
            return content
    raise MalformedInput(
        "multipart body has no XML part (expected an EventNotificationAlert document)"
    )


def _strip_leading(xml: bytes) -> bytes:
    """Without a UTF-8 BOM and whitespace before the declaration (some firmware sends a
    newline first); UTF-16 bodies are left to the parser, which reads their BOM itself."""
    if xml.startswith((b"\xff\xfe", b"\xfe\xff")):
        return xml
    return xml.lstrip(b"\xef\xbb\xbf \t\r\n")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(el: ET.Element, name: str) -> ET.Element | None:
    for c in el:
        if _local(c.tag) == name:
            return c
    return None


def _text(el: ET.Element, name: str) -> str | None:
    c = _child(el, name)
    if c is None or c.text is None:
        return None
    return c.text.strip() or None


def parse_alert(xml: bytes, default_tz: tzinfo = UTC) -> HikAlert:
    """Parse one ``EventNotificationAlert``. Times without offset are local in
    ``default_tz``; times with an offset keep their exact instant (stored as UTC)."""
    root = parse_xml(_strip_leading(xml), "Hikvision alert")
    if _local(root.tag) != "EventNotificationAlert":
        raise MalformedInput("Hikvision alert: root element is not EventNotificationAlert")
    ns = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""
    version: Literal["1.0", "2.0", "other"] = (
        "1.0" if ns == NS_V1 else "2.0" if ns == NS_V2 else "other"
    )
    event_type = _text(root, "eventType")
    if event_type is None:
        raise MalformedInput("Hikvision alert: 'eventType' is missing")
    chan_text = _text(root, "channelID") or _text(root, "dynChannelID")
    channel = parse_count(chan_text, "Hikvision alert 'channelID'") if chan_text else 1
    dt_text = _text(root, "dateTime")
    date_time = (
        parse_timestamp(dt_text, where="Hikvision alert 'dateTime'", tz=default_tz)
        if dt_text
        else None
    )
    apc = _text(root, "activePostCount")
    seq = parse_count(apc, "Hikvision alert 'activePostCount'") if apc else None
    retrans = (_text(root, "isDataRetransmission") or "").lower() == "true"
    alert = HikAlert(
        event_type=event_type[:64],
        channel=channel,
        date_time=date_time,
        active_post_count=seq,
        namespace=version,
        retransmission=retrans,
    )
    if event_type.lower() != "peoplecounting":
        return alert
    pc = _child(root, "peopleCounting")
    if pc is None:
        raise MalformedInput("Hikvision PeopleCounting alert: <peopleCounting> is missing")
    return _people_counting(pc, alert, default_tz)


def _people_counting(pc: ET.Element, alert: HikAlert, tz: tzinfo) -> HikAlert:
    where = f"Hikvision PeopleCounting channel {alert.channel}"
    retrans = alert.retransmission or (_text(pc, "isDataRetransmission") or "").lower() == "true"
    region_text = _text(pc, "regionsID")
    region = parse_count(region_text, f"{where} 'regionsID'") if region_text else None
    counts = {}
    for name in ("enter", "exit"):
        value = _text(pc, name)
        if value is None:
            raise MalformedInput(f"{where}: <{name}> is missing")
        counts[name] = plausible_count(parse_count(value, f"{where} <{name}>"), where)
    pass_text = _text(pc, "pass")
    passed = parse_count(pass_text, f"{where} <pass>") if pass_text else None
    method = (_text(pc, "statisticalMethods") or "").lower()
    counting: HikRealTime | HikTimeRange
    if method == "timerange" or (not method and _child(pc, "TimeRange") is not None):
        tr = _child(pc, "TimeRange")
        start_t = _text(tr, "startTime") if tr is not None else None
        end_t = _text(tr, "endTime") if tr is not None else None
        if start_t is None or end_t is None:
            raise MalformedInput(f"{where}: timeRange without <TimeRange><startTime>/<endTime>")
        start = parse_timestamp(start_t, where=f"{where} <startTime>", tz=tz)
        end = parse_timestamp(end_t, where=f"{where} <endTime>", tz=tz)
        if end < start:
            raise MalformedInput(f"{where}: <endTime> is before <startTime>")
        counting = HikTimeRange(start, end, counts["enter"], counts["exit"], passed)
    elif method == "realtime" or (not method and _child(pc, "RealTime") is not None):
        rt = _child(pc, "RealTime")
        t_text = _text(rt, "time") if rt is not None else None
        if t_text is not None:
            when = parse_timestamp(t_text, where=f"{where} <RealTime><time>", tz=tz)
        elif alert.date_time is not None:
            when = alert.date_time
        else:
            raise MalformedInput(f"{where}: realTime without <RealTime><time> or <dateTime>")
        local = t_text if t_text is not None else ""
        local_date = local[:10] if _DATE.match(local) else when.astimezone(tz).date().isoformat()
        counting = HikRealTime(when, counts["enter"], counts["exit"], passed, local_date)
    else:
        raise MalformedInput(f"{where}: statisticalMethods must be realTime or timeRange")
    return HikAlert(
        event_type=alert.event_type,
        channel=alert.channel,
        date_time=alert.date_time,
        active_post_count=alert.active_post_count,
        namespace=alert.namespace,
        retransmission=retrans,
        region=region,
        counting=counting,
    )


def parse_body(body: bytes, content_type: str, default_tz: tzinfo = UTC) -> HikAlert:
    """``xml_from_body`` then ``parse_alert``."""
    return parse_alert(xml_from_body(body, content_type), default_tz)
