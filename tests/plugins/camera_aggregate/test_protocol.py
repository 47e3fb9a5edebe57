"""Sans-io parsers and counting helpers on recorded and derived payloads (fixtures/)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from hub import MalformedInput, QualityReason
from hub.plugins.camera_aggregate import hikvision, protocol
from hub.plugins.camera_aggregate.bins import BinAggregator
from hub.quality import CumulativeCounter

FIX = Path(__file__).parent / "fixtures"
TOPIC = "axis/B8A44F941234/event/CameraApplicationPlatform/ObjectAnalytics/Device1Scenario1"


def _t(s: str) -> datetime:
    return datetime.fromisoformat(s)


# -- AXIS ------------------------------------------------------------------------------


def test_axis_occupancy_sample() -> None:
    m = protocol.parse_axis(TOPIC, (FIX / "axis_aoa_occupancy.json").read_bytes())
    assert (m.channel, m.scenario) == (1, 1)
    assert m.timestamp == datetime(2024, 2, 15, 12, 26, 40, tzinfo=UTC)
    assert protocol.axis_shape(m) == "occupancy"
    assert protocol.axis_occupancy(m, ["human"]) == 7
    assert protocol.axis_occupancy(m, ["all"]) == 7
    with pytest.raises(MalformedInput, match="no count for class 'car'"):
        protocol.axis_occupancy(m, ["car"])


def test_axis_occupancy_total_prefixed_class_keys_and_string_timestamp() -> None:
    body = (FIX / "axis_aoa_occupancy_total_keys.json").read_bytes()
    m = protocol.parse_axis("custom/prefix/event/x", body)
    assert (m.channel, m.scenario) == (2, 4)
    assert m.timestamp == datetime(2024, 2, 15, 12, 26, 40, 500000, tzinfo=UTC)
    assert protocol.axis_occupancy(m, ["human"]) == 8
    assert protocol.axis_occupancy(m, ["human", "car"]) == 9


def test_axis_trigger_scenario_shape() -> None:
    m = protocol.parse_axis(TOPIC, (FIX / "axis_aoa_object_in_area.json").read_bytes())
    assert protocol.axis_shape(m) == "trigger"


def _sequence() -> list[tuple[str, bytes]]:
    lines = (FIX / "axis_aoa_crossline_sequence.jsonl").read_text().splitlines()
    return [(d["mqtt_topic"], json.dumps(d["payload"]).encode()) for d in map(json.loads, lines)]


def test_axis_crossline_totals_strings_and_numbers() -> None:
    msgs = [protocol.parse_axis(t, p) for t, p in _sequence()]
    assert all(protocol.axis_shape(m) == "crossline" for m in msgs)
    first = protocol.axis_crossline(msgs[0])
    assert first.start_time == "2024-02-15T06:00:00Z"
    assert first.reason == "human"
    assert first.totals == {
        "all": 41,
        "human": 37,
        "car": 3,
        "bus": 0,
        "truck": 0,
        "motorcycle/bicycle": 1,
        "unknown": 0,
    }
    numeric = protocol.axis_crossline(msgs[4])  # numbers instead of strings
    assert numeric.totals["human"] == 3


def test_axis_crossline_deltas_with_resets() -> None:
    counter = CumulativeCounter()
    humans = []
    resets = []
    for topic, payload in _sequence():
        m = protocol.parse_axis(topic, payload)
        cl = protocol.axis_crossline(m)
        d = counter.update("s3", cl.totals, at=m.timestamp, epoch=cl.start_time)
        humans.append(None if d.first else d.values["human"])
        resets.append(d.reset)
    # first = baseline; car; +3 (lost messages); new startTime -> 2 since reset;
    # +1; total went down with the same startTime -> reset, 1 since reset
    assert humans == [None, 0, 3, 2, 1, 1]
    assert resets == [False, False, False, True, False, True]
    assert all(v is None or v >= 0 for v in humans)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"topic": "axis:Other/Thing", "timestamp": 1}', "Device<N>Scenario<M>"),
        (b'{"topic": "axis:X/Device1Scenario1", "message": {"data": {}}}', "'timestamp'"),
        (b'{"topic": "axis:X/Device1Scenario1", "timestamp": 1708000000000}', "message.data"),
        (
            b'{"topic": "axis:X/Device1Scenario1", "timestamp": "soon", "message": {"data": {}}}',
            "epoch",
        ),
    ],
)
def test_axis_malformed(body: bytes, match: str) -> None:
    with pytest.raises(MalformedInput, match=match) as err:
        protocol.parse_axis("axis/B8A44F941234/event/x", body)
    assert "B8A44F941234" not in str(err.value)


def test_axis_bad_counts() -> None:
    def msg(data: dict[str, object]) -> protocol.AxisMessage:
        doc = {
            "topic": "axis:X/Device1Scenario1",
            "timestamp": 1708000000000,
            "message": {"data": data},
        }
        return protocol.parse_axis("t", json.dumps(doc))

    with pytest.raises(MalformedInput, match=r"'totalHuman'.*whole number"):
        protocol.axis_crossline(msg({"startTime": "x", "total": "1", "totalHuman": "one"}))
    with pytest.raises(MalformedInput, match="cannot be negative"):
        protocol.axis_crossline(msg({"startTime": "x", "total": "-1"}))
    with pytest.raises(MalformedInput, match="'total' is missing"):
        protocol.axis_crossline(msg({"reason": "human"}))


# -- shared value helpers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hours"),
    [
        ("+08:00", 8),
        ("UTC+8", 8),
        ("GMT-03:30", -3.5),
        ("-0500", -5),
        ("UTC", 0),
        ("(GMT+08:00) Taipei", 8),
    ],
)
def test_parse_tz(text: str, hours: float) -> None:
    tz = protocol.parse_tz(text)
    assert tz is not None
    assert tz.utcoffset(None) == timedelta(hours=hours)


def test_parse_tz_iana_and_unknown() -> None:
    tz = protocol.parse_tz("Europe/Amsterdam")
    assert tz is not None
    assert datetime(2024, 7, 1, tzinfo=tz).utcoffset() == timedelta(hours=2)
    assert protocol.parse_tz("Mars/Olympus") is None
    assert protocol.parse_tz(None) is None


# -- Hikvision -------------------------------------------------------------------------


def test_hikvision_realtime_v1_sample() -> None:
    a = hikvision.parse_alert((FIX / "hikvision_isapi_peoplecounting_realtime.xml").read_bytes())
    assert a.namespace == "1.0"
    assert a.event_type == "PeopleCounting"
    assert (a.channel, a.region, a.active_post_count) == (1, 1, 1)
    assert isinstance(a.counting, hikvision.HikRealTime)
    assert a.counting.time == _t("2020-07-09T04:07:07+00:00")  # 12:07:07+08:00
    assert (a.counting.enter, a.counting.exit) == (70, 75)
    assert a.counting.local_date == "2020-07-09"
    assert not a.retransmission
    assert "84:9a" not in repr(a) and "192.168" not in repr(a)


def test_hikvision_timerange_v1_sample() -> None:
    a = hikvision.parse_alert((FIX / "hikvision_isapi_peoplecounting_timerange.xml").read_bytes())
    assert a.active_post_count == 1560
    assert isinstance(a.counting, hikvision.HikTimeRange)
    assert a.counting.start == _t("2020-04-19T17:33:00+00:00")
    assert a.counting.end == _t("2020-04-19T17:35:00+00:00")
    assert (a.counting.enter, a.counting.exit, a.counting.pass_) == (0, 0, 0)


def test_hikvision_v2_realtime_local_date_uses_device_offset() -> None:
    a = hikvision.parse_alert((FIX / "hikvision_v2_realtime.xml").read_bytes())
    assert a.namespace == "2.0"
    assert isinstance(a.counting, hikvision.HikRealTime)
    assert a.counting.time == _t("2024-03-31T04:59:30+00:00")
    assert a.counting.local_date == "2024-03-31"
    assert (a.counting.enter, a.counting.exit, a.counting.pass_) == (120, 97, 14)
    assert a.retransmission is False


def test_hikvision_v2_timerange_retransmission() -> None:
    a = hikvision.parse_alert((FIX / "hikvision_v2_timerange_retransmission.xml").read_bytes())
    assert (a.namespace, a.channel, a.retransmission) == ("2.0", 2, True)
    assert isinstance(a.counting, hikvision.HikTimeRange)
    assert a.counting.start == _t("2024-07-01T04:30:00+00:00")
    assert a.counting.end - a.counting.start == timedelta(minutes=15)


def test_hikvision_heartbeat_is_not_counting() -> None:
    a = hikvision.parse_alert((FIX / "hikvision_heartbeat_videoloss.xml").read_bytes())
    assert a.event_type == "videoloss"
    assert a.counting is None


def test_hikvision_refuses_doctype() -> None:
    with pytest.raises(MalformedInput, match="DOCTYPE"):
        hikvision.parse_alert((FIX / "hikvision_doctype_entities.xml").read_bytes())


def test_hikvision_multipart_with_and_without_header_boundary() -> None:
    body = (FIX / "hikvision_multipart_timerange.bin").read_bytes()
    ct = "multipart/form-data; boundary=" + "-" * 28 + "7e13971310878"
    for content_type in (ct, "multipart/form-data"):
        a = hikvision.parse_body(body, content_type)
        assert isinstance(a.counting, hikvision.HikTimeRange)
        assert a.active_post_count == 1560
    with pytest.raises(MalformedInput, match="no XML part"):
        hikvision.xml_from_body(b"--b\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\r\n--b--", ct)


@pytest.mark.parametrize(
    ("xml", "match"),
    [
        (b"<EventNotificationAlert>", "not well-formed"),
        (b"<Other/>", "not EventNotificationAlert"),
        (
            b"<EventNotificationAlert><channelID>1</channelID></EventNotificationAlert>",
            "'eventType' is missing",
        ),
        (
            b"<EventNotificationAlert><eventType>PeopleCounting</eventType>"
            b"</EventNotificationAlert>",
            "<peopleCounting> is missing",
        ),
        (
            b"<EventNotificationAlert><eventType>PeopleCounting</eventType><peopleCounting>"
            b"<statisticalMethods>realTime</statisticalMethods><enter>1</enter>"
            b"</peopleCounting></EventNotificationAlert>",
            "<exit> is missing",
        ),
        (
            b"<EventNotificationAlert><eventType>PeopleCounting</eventType><peopleCounting>"
            b"<statisticalMethods>timeRange</statisticalMethods><enter>1</enter><exit>1</exit>"
            b"</peopleCounting></EventNotificationAlert>",
            "<TimeRange>",
        ),
        (
            b"<EventNotificationAlert><eventType>PeopleCounting</eventType><peopleCounting>"
            b"<statisticalMethods>daily</statisticalMethods><enter>1</enter><exit>1</exit>"
            b"</peopleCounting></EventNotificationAlert>",
            "realTime or timeRange",
        ),
    ],
)
def test_hikvision_malformed(xml: bytes, match: str) -> None:
    with pytest.raises(MalformedInput, match=match):
        hikvision.parse_alert(xml)


def test_hikvision_time_without_offset_uses_default_zone() -> None:
    xml = (FIX / "hikvision_isapi_peoplecounting_timerange.xml").read_bytes()
    xml = xml.replace(b"+02:00", b"")
    a = hikvision.parse_alert(xml, timezone(timedelta(hours=2)))
    assert isinstance(a.counting, hikvision.HikTimeRange)
    assert a.counting.start == _t("2020-04-19T17:33:00+00:00")


# -- VIVOTEK -------------------------------------------------------------------------


def test_vivotek_report() -> None:
    r = protocol.parse_vivotek((FIX / "vivotek_counting.json").read_bytes())
    assert r.other_rules == 1
    assert [(c.rule, c.in_, c.out) for c in r.counts] == [("Entrance", 17, 9), ("Side door", 3, 0)]
    for c in r.counts:  # local 14:00 at +08:00 (TimeZone) and with explicit offset
        assert c.start == _t("2024-05-02T06:00:00+00:00")
        assert c.end == _t("2024-05-02T06:15:00+00:00")
    assert "00:02:D1" not in repr(r) and "192.168" not in repr(r)


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ([], "expected a JSON object"),
        ({"Source": {}}, "'Data' list is missing"),
        ({"Data": [{"RuleType": "Counting"}]}, "CountingInfo list"),
        (
            {"Data": [{"RuleType": "Counting", "CountingInfo": [{"RuleName": "A", "In": 1}]}]},
            "'Out' is missing",
        ),
        (
            {
                "Data": [
                    {
                        "RuleType": "Counting",
                        "CountingInfo": [
                            {
                                "RuleName": "A",
                                "In": 1,
                                "Out": "x",
                                "StartTime": "2024-01-01T00:00:00Z",
                                "EndTime": "2024-01-01T00:05:00Z",
                            }
                        ],
                    }
                ]
            },
            "'Out'.*whole number",
        ),
        (
            {
                "Data": [
                    {
                        "RuleType": "Counting",
                        "CountingInfo": [
                            {
                                "RuleName": "A",
                                "In": 1,
                                "Out": 1,
                                "StartTime": "2024-01-01T00:05:00Z",
                                "EndTime": "2024-01-01T00:00:00Z",
                            }
                        ],
                    }
                ]
            },
            "before StartTime",
        ),
    ],
)
def test_vivotek_malformed(doc: object, match: str) -> None:
    with pytest.raises(MalformedInput, match=match):
        protocol.parse_vivotek(doc)


# -- interval bins ------------------------------------------------------------------


def test_bins_align_flush_and_revise() -> None:
    agg = BinAggregator(interval_s=60, grace_s=5)
    t0 = _t("2024-02-15T12:26:45+00:00")
    agg.add("gate", t0, 1, 0)
    agg.add("gate", t0 + timedelta(seconds=10), 0, 2, [QualityReason.COUNTER_RESET])
    assert agg.due(_t("2024-02-15T12:27:04+00:00")) == []
    (b,) = agg.due(_t("2024-02-15T12:27:05+00:00"))
    assert (b.start, b.end) == (_t("2024-02-15T12:26:00+00:00"), _t("2024-02-15T12:27:00+00:00"))
    assert (b.in_, b.out, b.messages, b.revision) == (1, 2, 2, 0)
    assert b.reasons == {QualityReason.COUNTER_RESET}
    late = agg.add("gate", t0, 1, 0)  # arrives after the bin was handed out
    assert late.revision == 1
    assert late.key != b.key
    assert agg.flush_all() == [late]
