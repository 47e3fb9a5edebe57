"""Sans-io simulators that produce the cameras' real wire formats.

Each generator yields :class:`WireMessage` objects (MQTT topic or HTTP content
type, body bytes, and the device time it stands for); a caller publishes or
POSTs them. Options cover counts and rate plus the faults the plugin must
handle: counter resets and new ``startTime`` (AXIS), lost messages, sequence
gaps and retransmissions (Hikvision), both ISAPI namespaces, multipart bodies.
Deterministic for a given ``seed``. Serials/MACs/IPs produced here are fake.
"""

from __future__ import annotations

__all__ = [
    "WireMessage",
    "axis_crossline",
    "axis_occupancy",
    "hikvision_multipart",
    "hikvision_realtime",
    "hikvision_timerange",
    "vivotek_reports",
]

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

from hub.plugins.camera_aggregate.protocol import AXIS_CLASSES
from hub.simulate.surge import Surge

_AOA = "CameraApplicationPlatform/ObjectAnalytics"
_EPOCH = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
_NS = {"1.0": "urn:psialliance-org", "2.0": "http://www.isapi.org/ver20/XMLSchema"}


@dataclass(frozen=True)
class WireMessage:
    """One message as the device sends it."""

    at: datetime
    """Device time the message stands for (UTC)."""
    body: bytes
    topic: str | None = None
    """MQTT topic (AXIS); None for HTTP pushes."""
    content_type: str = "application/json"
    """HTTP Content-Type header (with boundary for multipart)."""
    retain: bool = False


def _cap(cls: str) -> str:
    return cls[0].upper() + cls[1:]


def _axis_doc(
    serial: str, channel: int, scenario: int, at: datetime, data: dict[str, str]
) -> bytes:
    doc = {
        "topic": f"axis:{_AOA}/Device{channel}Scenario{scenario}",
        "timestamp": int(at.timestamp() * 1000),
        "serial": serial,
        "message": {"source": {}, "key": {}, "data": data},
    }
    return json.dumps(doc).encode()


def _axis_topic(prefix: str, serial: str, channel: int, scenario: int) -> str:
    base = prefix.replace("<SERIAL>", serial)
    return (
        f"{base}/event/CameraApplicationPlatform/ObjectAnalytics/Device{channel}Scenario{scenario}"
    )


def axis_crossline(
    *,
    crossings: int = 20,
    rate_per_min: float = 30.0,
    scenario: int = 1,
    channel: int = 1,
    serial: str = "ACCC8E000001",
    prefix: str = "axis/<SERIAL>",
    start: datetime = _EPOCH,
    classes: Sequence[str] = ("human", "human", "human", "car"),
    initial_totals: dict[str, int] | None = None,
    reset_at: Sequence[int] = (),
    drop: Sequence[int] = (),
    numbers_as_strings: bool = True,
    seed: int = 1,
) -> Iterator[WireMessage]:
    """AOA crossline counting: one message per crossing with cumulative totals.

    ``reset_at``: before these crossing indexes the camera resets (new ``startTime``,
    totals from 0). ``drop``: these crossings happen but their message is lost.
    The class of each crossing is drawn from ``classes``.
    """
    rng = random.Random(seed)
    totals = {c: 0 for c in AXIS_CLASSES}
    if initial_totals:
        totals.update(initial_totals)
    start_time = start - timedelta(hours=1)
    at = start
    for i in range(crossings):
        at += timedelta(seconds=rng.expovariate(rate_per_min / 60.0))
        if i in reset_at:
            totals = {c: 0 for c in AXIS_CLASSES}
            start_time = at - timedelta(seconds=1)
        cls = rng.choice(list(classes))
        totals[cls] += 1
        if i in drop:
            continue
        data: dict[str, str] = {
            "startTime": start_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "reason": cls,
            "total": str(sum(totals.values())),
        }
        for c in AXIS_CLASSES:
            data["total" + _cap(c)] = str(totals[c])
        body = _axis_doc(serial, channel, scenario, at, data)
        if not numbers_as_strings:
            doc = json.loads(body)
            d = doc["message"]["data"]
            for k in list(d):
                if k.startswith("total"):
                    d[k] = int(d[k])
            body = json.dumps(doc).encode()
        yield WireMessage(at, body, _axis_topic(prefix, serial, channel, scenario))


def axis_occupancy(
    *,
    messages: int = 10,
    every_s: float = 5.0,
    scenario: int = 2,
    channel: int = 1,
    serial: str = "ACCC8E000001",
    prefix: str = "axis/<SERIAL>",
    name: str = "Occupancy",
    start: datetime = _EPOCH,
    max_people: int = 12,
    class_keys: Literal["plain", "total"] = "plain",
    seed: int = 1,
) -> Iterator[WireMessage]:
    """AOA occupancy in area: the number of objects in the area now, as strings.
    ``class_keys='total'`` names per-class counts ``totalHuman`` instead of ``human``."""
    rng = random.Random(seed)
    people = rng.randint(0, max_people)
    for i in range(messages):
        at = start + timedelta(seconds=every_s * i)
        people = max(0, min(max_people, people + rng.randint(-2, 2)))
        cars = rng.randint(0, 2)
        key = (lambda c: c) if class_keys == "plain" else (lambda c: "total" + _cap(c))
        data = {
            "scenario": name,
            "total": str(people + cars),
            key("human"): str(people),
            key("car"): str(cars),
        }
        yield WireMessage(
            at,
            _axis_doc(serial, channel, scenario, at, data),
            _axis_topic(prefix, serial, channel, scenario),
        )


def _hik_xml(
    ns: str,
    seq: int,
    channel: int,
    date_time: str,
    counting: str,
    retransmission: bool | None,
    mac: str,
    ip: str,
) -> bytes:
    retrans = (
        ""
        if retransmission is None
        else (f"<isDataRetransmission>{str(retransmission).lower()}</isDataRetransmission>\n")
    )
    version = "2.0" if ns == _NS["2.0"] else "1.0"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<EventNotificationAlert version="{version}" xmlns="{ns}">\n'
        f"<ipAddress>{ip}</ipAddress>\n<portNo>80</portNo>\n<protocol>HTTP</protocol>\n"
        f"<macAddress>{mac}</macAddress>\n<channelID>{channel}</channelID>\n"
        f"<dateTime>{date_time}</dateTime>\n<activePostCount>{seq}</activePostCount>\n"
        f"<eventType>PeopleCounting</eventType>\n<eventState>active</eventState>\n"
        f"<eventDescription>peopleCounting alarm</eventDescription>\n"
        f"<channelName>Camera 01</channelName>\n"
        f"<peopleCounting>\n{counting}{retrans}</peopleCounting>\n"
        f"</EventNotificationAlert>\n"
    ).encode()


def _local(t: datetime, offset_h: float) -> str:
    return t.astimezone(timezone(timedelta(hours=offset_h))).isoformat(timespec="seconds")


def hikvision_timerange(
    *,
    bins: int = 10,
    bin_s: int = 60,
    channel: int = 1,
    namespace: Literal["1.0", "2.0"] = "1.0",
    offset_h: float = 2.0,
    start: datetime = _EPOCH,
    first_seq: int = 1,
    gaps_after: Sequence[int] = (),
    retransmit: Sequence[int] = (),
    mean_enter: float = 5.0,
    mean_exit: float = 4.0,
    seed: int = 1,
    mac: str = "44:47:cc:00:00:01",
    ip: str = "10.0.0.64",
) -> Iterator[WireMessage]:
    """timeRange alerts, one per bin. ``gaps_after``: after these bin indexes one
    ``activePostCount`` is skipped. ``retransmit``: these bins are sent a second time
    (right after the next bin) with ``isDataRetransmission`` true."""
    rng = random.Random(seed)
    seq = first_seq
    sent: list[tuple[int, bytes]] = []
    for i in range(bins):
        b_start = start + timedelta(seconds=bin_s * i)
        b_end = b_start + timedelta(seconds=bin_s)
        enter, exit_ = round(rng.expovariate(1 / mean_enter)), round(rng.expovariate(1 / mean_exit))
        counting = (
            "<statisticalMethods>timeRange</statisticalMethods>\n<TimeRange>\n"
            f"<startTime>{_local(b_start, offset_h)}</startTime>\n"
            f"<endTime>{_local(b_end, offset_h)}</endTime>\n</TimeRange>\n"
            f"<enter>{enter}</enter>\n<exit>{exit_}</exit>\n<pass>{rng.randint(0, 3)}</pass>\n"
        )

        def build(s: int, retrans: bool, c: str = counting, t: datetime = b_end) -> bytes:
            return _hik_xml(
                _NS[namespace],
                s,
                channel,
                _local(t, offset_h),
                c,
                retrans if namespace == "2.0" or retrans else None,
                mac,
                ip,
            )

        yield WireMessage(b_end, build(seq, False), content_type="application/xml")
        sent.append((i, counting.encode()))
        seq += 2 if i in gaps_after else 1
        if i - 1 in retransmit and i >= 1:
            prev_counting = sent[i - 1][1].decode()
            b_prev = start + timedelta(seconds=bin_s * i)
            yield WireMessage(
                b_prev, build(seq, True, prev_counting, b_prev), content_type="application/xml"
            )
            seq += 1


def hikvision_realtime(
    *,
    pushes: int = 20,
    every_s: float = 15.0,
    channel: int = 1,
    namespace: Literal["1.0", "2.0"] = "1.0",
    offset_h: float = 8.0,
    start: datetime = _EPOCH,
    first_seq: int = 1,
    initial: tuple[int, int] = (0, 0),
    reset_at: Sequence[int] = (),
    gaps_after: Sequence[int] = (),
    seed: int = 1,
    mac: str = "84:9a:40:00:00:01",
    ip: str = "192.168.1.64",
    surge: Surge | None = None,
) -> Iterator[WireMessage]:
    """realTime alerts: running enter/exit totals since the (daily) reset.
    ``reset_at``: before these push indexes the totals restart from 0. ``surge``: enter
    and exit follow a scripted surge, so enter - exit (the people in the area) tracks
    :meth:`Surge.people <hub.simulate.surge.Surge.people>`."""
    rng = random.Random(seed)
    enter, exit_ = initial
    seq = first_seq
    for i in range(pushes):
        at = start + timedelta(seconds=every_s * i)
        if i in reset_at:
            enter, exit_ = 0, 0
        if surge is not None:
            gap = round(surge.people(every_s * i)) - (enter - exit_)
            both = rng.randint(0, 3)  # people passing through both ways
            enter += max(gap, 0) + both
            exit_ = min(enter, exit_ + max(-gap, 0) + both)
            yield _hik_realtime(namespace, seq, channel, at, offset_h, enter, exit_, mac, ip)
            seq += 2 if i in gaps_after else 1
            continue
        enter += rng.randint(0, 3)
        # nobody leaves who did not come in since the reset: the area never goes negative
        exit_ = min(enter, exit_ + rng.randint(0, 3))
        yield _hik_realtime(namespace, seq, channel, at, offset_h, enter, exit_, mac, ip)
        seq += 2 if i in gaps_after else 1


def _hik_realtime(
    namespace: Literal["1.0", "2.0"],
    seq: int,
    channel: int,
    at: datetime,
    offset_h: float,
    enter: int,
    exit_: int,
    mac: str,
    ip: str,
) -> WireMessage:
    counting = (
        "<statisticalMethods>realTime</statisticalMethods>\n"
        f"<RealTime>\n<time>{_local(at, offset_h)}</time>\n</RealTime>\n"
        f"<enter>{enter}</enter>\n<exit>{exit_}</exit>\n<regionsID>1</regionsID>\n"
    )
    return WireMessage(
        at,
        _hik_xml(_NS[namespace], seq, channel, _local(at, offset_h), counting, None, mac, ip),
        content_type="application/xml",
    )


def hikvision_multipart(
    xml: bytes, *, boundary: str = "MIME_boundary", with_image: bool = True
) -> tuple[str, bytes]:
    """Wrap an alert like the camera's HTTP listening mode: multipart/form-data with the
    XML part (and optionally a JPEG part). Returns (Content-Type header, body)."""
    parts = [
        (
            b'Content-Disposition: form-data; name="PeopleCounting"; '
            b'filename="PeopleCounting.xml"\r\n'
            b"Content-Type: application/xml\r\n"
            + f"Content-Length: {len(xml)}\r\n\r\n".encode()
            + xml
        ),
    ]
    if with_image:
        jpeg = b"\xff\xd8\xff\xe0" + bytes(range(64)) + b"\xff\xd9"
        parts.append(
            b'Content-Disposition: form-data; name="image"; filename="pic.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n" + jpeg
        )
    sep = f"--{boundary}\r\n".encode()
    body = b"".join(sep + p + b"\r\n" for p in parts) + f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", body


def vivotek_reports(
    *,
    reports: int = 5,
    interval_s: int = 300,
    rules: Sequence[str] = ("Entrance",),
    start: datetime = _EPOCH,
    tz: str = "+08:00",
    local_times: bool = True,
    duplicate: Sequence[int] = (),
    seed: int = 1,
    mac: str = "00:02:D1:00:00:01",
    ip: str = "192.168.0.90",
) -> Iterator[WireMessage]:
    """VIVOTEK counting pushes: one report per interval with In/Out per rule.
    ``local_times``: Start/EndTime as local time without offset (the TimeZone applies);
    otherwise with the offset. ``duplicate``: these reports are sent twice."""
    rng = random.Random(seed)
    sign = -1 if tz.startswith("-") else 1
    hh, mm = tz.lstrip("+-").split(":")
    offset = timezone(sign * timedelta(hours=int(hh), minutes=int(mm)))
    for i in range(reports):
        b_start = start + timedelta(seconds=interval_s * i)
        b_end = b_start + timedelta(seconds=interval_s)

        def fmt(t: datetime) -> str:
            local = t.astimezone(offset)
            return local.strftime("%Y-%m-%dT%H:%M:%S") if local_times else local.isoformat()

        doc = {
            "Source": {
                "UtcTime": b_end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "DeviceID": "SC8131-01",
                "ModelName": "SC8131",
                "MacAddress": mac,
                "IPAddress": ip,
                "TimeZone": tz,
            },
            "Data": [
                {
                    "RuleType": "Counting",
                    "CountingInfo": [
                        {
                            "RuleName": r,
                            "In": rng.randint(0, 30),
                            "Out": rng.randint(0, 30),
                            "StartTime": fmt(b_start),
                            "EndTime": fmt(b_end),
                        }
                        for r in rules
                    ],
                }
            ],
        }
        msg = WireMessage(b_end, json.dumps(doc).encode())
        yield msg
        if i in duplicate:
            yield msg
