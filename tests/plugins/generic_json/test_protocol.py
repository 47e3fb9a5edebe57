"""The sans-io mapping engine on recorded and derived payloads (see fixtures/SOURCES.md)."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jmespath
import pytest

from hub.errors import MalformedInput
from hub.events import Quality, QualityReason
from hub.plugins.generic_json.config import GenericJsonConfig
from hub.plugins.generic_json.expressions import compile_expression, parse_interval, to_number
from hub.plugins.generic_json.protocol import Mapper, MapResult

FIX = Path(__file__).parent / "fixtures"
SAMPLE = Path(__file__).parents[3] / "hub" / "plugins" / "generic_json" / "sample.toml"
NOW = datetime(2026, 6, 13, 15, 0, tzinfo=UTC)
LINES = ("gate-a", "gate-b", "main-door", "side-door", "bridge")
ZONES = ("hall", "square")
LINE_ZONES = {"gate-a": "hall", "gate-b": "hall", "main-door": "hall", "side-door": "hall"}


def fixture(name: str) -> bytes:
    return (FIX / name).read_bytes()


def mapper(tz: Any = UTC, **raw: Any) -> Mapper:
    base: dict[str, Any] = {"id": "dev", "topics": ["t/#"]}
    base.update(raw)
    return Mapper(
        GenericJsonConfig.model_validate(base),
        tz=tz,
        lines=LINES,
        zones=ZONES,
        line_zones={**LINE_ZONES, "bridge": None},
    )


def run(m: Mapper, doc: Any, stream: str = "t/1", at: datetime = NOW) -> MapResult:
    if isinstance(doc, dict | list):
        doc = json.dumps(doc)
    return m.map_payload(doc, received_at=at, stream=stream)


def crossing(**raw: Any) -> Mapper:
    return mapper(line="gate-a", **{"in": "in", "out": "out", **raw})


# -- expressions, numbers and times ---------------------------------------------------------

DOC = {
    "a": {"b": {"c": 3}, "list": [1, 2]},
    "in": "7",
    "x": None,
    "@v": {"@value": "t"},
    "s": "str",
}


@pytest.mark.parametrize(
    "expr",
    [
        "a",
        "a.b",
        "a.b.c",
        "a.b.c.d",
        "in",
        "x.y",
        "s.len",
        "a.list.b",
        "missing.b",
        '"@v"."@value"',
        "a.list[0]",
        "a.list[*]",
        "x || `0`",
    ],
)
def test_fast_path_agrees_with_jmespath(expr: str) -> None:
    compiled = compile_expression(expr)
    assert compiled.search(DOC) == jmespath.search(expr, DOC)
    assert compiled.search([1, 2]) == jmespath.search(expr, [1, 2])
    assert compiled.search("text") == jmespath.search(expr, "text")


def test_plain_paths_use_the_fast_path() -> None:
    assert compile_expression("uplink_message.f_cnt").fast
    assert compile_expression('"@v"."@value"').fast
    assert not compile_expression("a || `0`").fast


@pytest.mark.parametrize(
    ("raw", "want"), [(3, 3), ("3", 3), (" 4 ", 4), ("2.5", 2.5), (1.5, 1.5), ("1e3", 1000.0)]
)
def test_numbers_and_numeric_strings(raw: Any, want: float) -> None:
    assert to_number(raw) == want


@pytest.mark.parametrize("raw", [True, None, "1,2", "nan", float("inf"), [1], {"v": 1}, ""])
def test_not_numbers(raw: Any) -> None:
    with pytest.raises(ValueError):
        to_number(raw)


T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_iso_intervals() -> None:
    end = T0 + timedelta(minutes=15)
    assert parse_interval("2026-06-01T12:00:00Z/2026-06-01T12:15:00Z") == (T0, end)
    assert parse_interval("2026-06-01T12:00:00Z/PT15M") == (T0, end)
    assert parse_interval("PT15M/2026-06-01T14:15:00+02:00") == (T0, end)
    assert parse_interval("2026-06-01T12:00:00Z/P1DT1H")[1] == T0 + timedelta(days=1, hours=1)
    for bad in (
        "2026-06-01T12:15:00Z/2026-06-01T12:00:00Z",
        "2026-06-01T12:00Z",
        "a/b",
        5,
        "2026-06-01T12:00:00Z/P",
    ):
        with pytest.raises(ValueError):
            parse_interval(bad)


# -- values ---------------------------------------------------------------------------------


def test_benchmark_reading() -> None:
    m = mapper(
        line_expr="zone",
        map={"z3": "gate-a"},
        **{"in": "in", "out": "out"},
        time="ts",
        interval_s=1.0,
    )
    (r,) = run(m, fixture("people_counter.json")).readings
    end = datetime(2026, 5, 28, 20, 26, 40, 123000, tzinfo=UTC)
    assert (r.measurement, r.in_, r.out, r.line) == ("crossing", 3, 1, "gate-a")
    assert (r.observed_from, r.observed_to) == (end - timedelta(seconds=1), end)
    assert r.quality is Quality.OK and r.reasons == ()
    assert r.key == run(m, fixture("people_counter.json")).readings[0].key  # replay: same id


def test_strings_scale_and_rounding() -> None:
    m = crossing(scale=0.5)
    (r,) = run(m, {"in": "7", "out": 4.2}).readings
    assert (r.in_, r.out) == (4, 2)  # 3.5 -> 4 (round half to even), 2.1 -> 2


def test_only_one_direction() -> None:
    (r,) = run(mapper(line="gate-a", **{"in": "n"}), {"n": 5}).readings
    assert (r.in_, r.out) == (5, 0)


def test_occupancy_density_devices() -> None:
    occ = mapper(measurement="occupancy", zone="hall", count="people", time="t")
    (r,) = run(occ, {"people": "12.5", "t": "2026-06-01T12:00:00Z"}).readings
    assert (r.count, r.zone, r.observed_at, r.observed_from) == (12.5, "hall", T0, None)
    den = mapper(measurement="density", zone="hall", value="d", scale=0.01)
    (r,) = run(den, {"d": 150}).readings
    assert r.value == pytest.approx(1.5) and r.observed_at == NOW
    dev = mapper(measurement="devices", zone="square", count="pax")
    (r,) = run(dev, {"pax": 10}).readings
    assert r.count == 10 and (r.observed_from, r.observed_to) == (NOW - timedelta(minutes=1), NOW)
    assert r.to_measurement().model_dump()["count"] == 10


def test_measurement_from_the_payload() -> None:
    m = mapper(
        measurement_expr="type == 'line' && 'crossing' || 'occupancy'",
        line_expr="place",
        map={"l1": "gate-a"},
        unmapped="malformed",
        **{"in": "in", "out": "out"},
    )
    # occupancy needs `count`: not configured -> a clear per-message problem
    with pytest.raises(MalformedInput, match="needs `count`"):
        run(m, {"type": "zone", "place": "l1", "in": 1, "out": 1})
    (r,) = run(m, {"type": "line", "place": "l1", "in": 1, "out": 2}).readings
    assert r.measurement == "crossing"
    bad = mapper(measurement_expr="kind", zone="hall", count="n")
    with pytest.raises(MalformedInput, match="measurement_expr: yielded 'queue'"):
        run(bad, {"kind": "queue", "n": 1})


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ({"out": 1}, "in: missing"),
        ({"in": "many", "out": 1}, "in: not a number"),
        ({"in": -2, "out": 1}, "in: negative value"),
        ({"in": True, "out": 1}, "in: a boolean"),
        ({"in": [1], "out": 1}, "in: a list"),
    ],
)
def test_bad_values_name_the_field(doc: dict[str, Any], needle: str) -> None:
    with pytest.raises(MalformedInput, match=needle) as info:
        run(crossing(), doc)
    assert "(expression " in str(info.value) or "negative" in str(info.value)


def test_not_json_and_not_utf8() -> None:
    m = crossing()
    with pytest.raises(MalformedInput, match="not valid JSON") as info:
        m.map_payload(b'{"in": 1, "mac": "aa:bb:cc:dd:ee:ff"', received_at=NOW)
    assert "aa:bb" not in str(info.value)
    with pytest.raises(MalformedInput, match="not UTF-8"):
        m.map_payload(b"\xff\xfe{}", received_at=NOW)


def test_runtime_expression_error_is_malformed_without_the_value() -> None:
    m = mapper(line="gate-a", **{"in": "sum(counts)"})
    with pytest.raises(MalformedInput, match=r"sum\(counts\).*JMESPathTypeError") as info:
        run(m, {"counts": ["10.0.0.1", 2]})
    assert "10.0.0.1" not in str(info.value)


# -- places ---------------------------------------------------------------------------------


def test_line_from_payload_through_map() -> None:
    m = mapper(line_expr="line", map={"1": "gate-a", "2": "gate-b"}, **{"in": "i"})
    assert run(m, {"line": 2, "i": 1}).readings[0].line == "gate-b"
    assert run(m, {"line": "1", "i": 1}).readings[0].line == "gate-a"
    assert run(m, {"line": 1.0, "i": 1}).readings[0].line == "gate-a"
    with pytest.raises(MalformedInput, match=r"device value .3. is not in `map`"):
        run(m, {"line": 3, "i": 1})
    drop = mapper(line_expr="line", map={"1": "gate-a"}, unmapped="drop", **{"in": "i"})
    res = run(drop, {"line": 3, "i": 1})
    assert res.readings == [] and res.problems == []


def test_line_without_map_must_be_a_site_id() -> None:
    m = mapper(line_expr="line", **{"in": "i"})
    assert run(m, {"line": "gate-b", "i": 1}).readings[0].line == "gate-b"
    with pytest.raises(MalformedInput, match="not a site line id") as info:
        run(m, {"line": "00:11:22:33:44:55", "i": 1})
    assert "00:11" not in str(info.value) and "<value withheld>" in str(info.value)
    z = Mapper(
        GenericJsonConfig.model_validate(
            {"id": "d", "topics": ["t"], "measurement": "occupancy", "zone_expr": "z", "count": "n"}
        )
    )
    with pytest.raises(MalformedInput, match="not a valid id"):
        run(z, {"z": "zone with spaces", "n": 1})


# -- time -----------------------------------------------------------------------------------


def test_fiware_keyvalues_iso_interval() -> None:
    m = mapper(
        line="bridge",
        **{"in": "peopleCountTowards", "out": "peopleCountAway"},
        time="dateObserved",
        time_format="iso_interval",
        timezone="UTC",
    )
    (r,) = run(m, fixture("crowdflowobserved_keyvalues.jsonld")).readings
    assert (r.in_, r.out) == (50, 50)
    assert r.observed_from == datetime(2018, 8, 7, 11, 10, tzinfo=UTC)
    assert r.observed_to == datetime(2018, 8, 7, 11, 15, tzinfo=UTC)


def test_fiware_normalized_quoted_keys_and_from_to() -> None:
    m = mapper(
        line="bridge",
        **{"in": "peopleCountTowards.value", "out": "peopleCountAway.value"},
        time_from='dateObservedFrom.value."@value"',
        time_to='dateObservedTo.value."@value"',
    )
    (r,) = run(m, fixture("crowdflowobserved_ngsi_ld.json")).readings
    assert (r.in_, r.out) == (50, 50)
    assert r.observed_from == datetime(2018, 8, 7, 11, 10, tzinfo=UTC)
    assert r.observed_to == datetime(2018, 8, 7, 11, 15, tzinfo=UTC)


def test_naive_times_use_the_configured_zone() -> None:
    m = mapper(
        tz=ZoneInfo("Europe/Amsterdam"),
        line="bridge",
        **{"in": "peopleCountTowards"},
        time="dateObserved",
        time_format="iso_interval",
    )
    (r,) = run(m, fixture("crowdflowobserved_keyvalues.jsonld")).readings
    assert r.observed_from == datetime(2018, 8, 7, 9, 10, tzinfo=UTC)  # 11:10 CEST


def test_one_end_of_the_interval() -> None:
    m = crossing(time_from="start", interval_s=300)
    (r,) = run(m, {"start": "2026-06-01T12:00:00Z", "in": 1, "out": 0}).readings
    assert (r.observed_from, r.observed_to) == (T0, T0 + timedelta(minutes=5))
    m = crossing(time_to="end", interval_s=300)
    (r,) = run(m, {"end": "2026-06-01T12:00:00Z", "in": 1, "out": 0}).readings
    assert (r.observed_from, r.observed_to) == (T0 - timedelta(minutes=5), T0)
    m = crossing(time_from="a", time_to="b")
    with pytest.raises(MalformedInput, match="time_to: before time_from"):
        run(m, {"a": 1780315200, "b": 1780315100, "in": 1, "out": 1})


def test_time_marks_start_or_end() -> None:
    doc = {"t": 1780315200, "in": 1, "out": 1}
    (r,) = run(crossing(time="t", interval_s=900, time_is="start"), doc).readings
    assert (r.observed_from, r.observed_to) == (T0, T0 + timedelta(minutes=15))
    (r,) = run(crossing(time="t", interval_s=900), doc).readings
    assert (r.observed_from, r.observed_to) == (T0 - timedelta(minutes=15), T0)


def test_missing_time() -> None:
    (r,) = run(crossing(interval_s=10), {"in": 1, "out": 1}).readings  # no time configured
    assert (r.observed_from, r.observed_to, r.key) == (NOW - timedelta(seconds=10), NOW, None)
    with pytest.raises(MalformedInput, match="time: expression 'ts' yielded nothing"):
        run(crossing(time="ts"), {"in": 1, "out": 1})
    (r,) = run(crossing(time="ts", time_fallback=True), {"in": 1, "out": 1}).readings
    assert r.observed_to == NOW
    with pytest.raises(MalformedInput, match=r"time: time outside 2000\.\.2100"):
        run(crossing(time="ts"), {"in": 1, "out": 1, "ts": 5})


def test_offsets_keep_the_instant() -> None:
    m = mapper(measurement="occupancy", zone="hall", count="n", time="t")
    (r,) = run(m, {"n": 1, "t": "2026-06-01T14:00:00+02:00"}).readings
    assert r.observed_at == T0
    assert r.observed_at is not None and r.observed_at.utcoffset() == timedelta(0)


# -- cumulative totals ---------------------------------------------------------------------


def test_cumulative_baseline_delta_and_decrease_reset() -> None:
    m = crossing(cumulative=True, time="t")
    first = run(m, {"t": 1780315200, "in": "100", "out": 40})
    assert first.readings == [] and first.baseline == 1
    (r,) = run(m, {"t": 1780315260, "in": "107", "out": 41}).readings
    assert (r.in_, r.out, r.quality) == (7, 1, Quality.OK)
    assert (r.observed_from, r.observed_to) == (T0, T0 + timedelta(minutes=1))
    (r,) = run(m, {"t": 1780315320, "in": 3, "out": 45}).readings  # in went down: a reset
    assert (r.in_, r.out) == (3, 45)
    assert r.quality is Quality.ESTIMATED and r.reasons == (QualityReason.COUNTER_RESET,)
    (r,) = run(m, {"t": 1780315380, "in": 5, "out": 45}).readings
    assert (r.in_, r.out, r.reasons) == (2, 0, ())
    replay = run(m, {"t": 1780315380, "in": 5, "out": 45})  # no sequence number to tell
    assert replay.readings == [] and replay.repeats == 1
    (r,) = run(m, {"t": 1780315440, "in": 5, "out": 45}).readings  # a quiet minute: 0, 0
    assert (r.in_, r.out) == (0, 0)


def test_reset_marker() -> None:
    m = crossing(cumulative=True, reset_marker="startTime", time="t")
    run(m, {"startTime": "2026-06-01T00:00:00Z", "t": 1780315200, "in": 10, "out": 10})
    (r,) = run(
        m, {"startTime": "2026-06-01T12:00:30Z", "t": 1780315260, "in": 12, "out": 11}
    ).readings
    # totals went up, but the device says it restarted counting: the totals are the counts
    assert (r.in_, r.out, r.reasons) == (12, 11, (QualityReason.COUNTER_RESET,))


def test_cumulative_state_per_line_and_per_device() -> None:
    m = mapper(line_expr="l", **{"in": "in"}, cumulative=True, device="dev")
    run(m, {"dev": "A", "l": "gate-a", "in": 10})
    run(m, {"dev": "A", "l": "gate-b", "in": 500})
    run(m, {"dev": "B", "l": "gate-a", "in": 70})
    (ra,) = run(m, {"dev": "A", "l": "gate-a", "in": 12}).readings
    (rb,) = run(m, {"dev": "B", "l": "gate-a", "in": 71}).readings
    (rc,) = run(m, {"dev": "A", "l": "gate-b", "in": 505}).readings
    assert (ra.in_, rb.in_, rc.in_) == (2, 1, 5)
    topic = crossing(cumulative=True)
    run(topic, {"in": 10, "out": 0}, stream="sensors/a")
    assert run(topic, {"in": 11, "out": 0}, stream="sensors/b").readings == []  # b: baseline
    assert run(topic, {"in": 11, "out": 0}, stream="sensors/a").readings[0].in_ == 1


def test_cumulative_devices_count() -> None:
    m = mapper(measurement="devices", zone="square", count="seen", cumulative=True)
    run(m, {"seen": 40})
    (r,) = run(m, {"seen": 55}).readings
    assert r.count == 15


# -- sequences, keys ----------------------------------------------------------------------


def test_sequence_gap_duplicate_and_string_numbers() -> None:
    m = crossing(sequence="seq")
    assert run(m, {"seq": "41", "in": 1, "out": 0}).readings[0].sequence == 41
    assert run(m, {"seq": 42, "in": 1, "out": 0}).readings[0].reasons == ()
    dup = run(m, {"seq": 42, "in": 1, "out": 0})
    assert dup.duplicate and dup.readings == []
    (r,) = run(m, {"seq": 45, "in": 1, "out": 0}).readings
    assert r.reasons == (QualityReason.SEQUENCE_GAP,) and r.quality is Quality.OK
    assert run(m, {"seq": 44, "in": 1, "out": 0}).readings[0].reasons == ()  # late, accepted
    assert run(m, {"seq": 45, "in": 1, "out": 0}).duplicate
    for bad, needle in (
        ({"in": 1}, "sequence: missing"),
        ({"seq": -1}, "non-negative"),
        ({"seq": 1.5}, "whole number"),
    ):
        with pytest.raises(MalformedInput, match=needle):
            run(m, {**bad, "in": 1, "out": 0})


def test_sequence_per_device() -> None:
    m = crossing(sequence="seq", device="sensor")
    run(m, {"sensor": "a", "seq": 1, "in": 1, "out": 0})
    assert not run(m, {"sensor": "b", "seq": 1, "in": 1, "out": 0}).duplicate
    assert run(m, {"sensor": "a", "seq": 1, "in": 1, "out": 0}).duplicate
    with pytest.raises(MalformedInput, match="device: expression 'sensor' yielded nothing"):
        run(m, {"seq": 9, "in": 1, "out": 0})


def test_keys() -> None:
    keyed = crossing(key="join('-', [site, to_string(bin)])")
    (r,) = run(keyed, {"site": "x", "bin": 7, "in": 1, "out": 0}).readings
    assert r.key == "x-7"
    with pytest.raises(MalformedInput, match="key: expression"):
        run(crossing(key="id"), {"in": 1, "out": 0})
    # default: sequence + device time; same payload, fresh mapper -> same key
    doc = {"seq": 5, "t": 1780315200, "in": 1, "out": 0}
    k1 = run(crossing(sequence="seq", time="t"), doc).readings[0].key
    k2 = run(crossing(sequence="seq", time="t"), doc).readings[0].key
    assert k1 == k2 == f"5/{T0.isoformat()}"
    # without a sequence the values join the time: two readings in the same second differ
    m = crossing(time="t")
    a = run(m, {"t": 1780315200, "in": 1, "out": 0}).readings[0].key
    b = run(m, {"t": 1780315200, "in": 2, "out": 0}).readings[0].key
    assert a != b


# -- items ----------------------------------------------------------------------------------


def test_items_sensorthings_observations() -> None:
    m = mapper(
        measurement="occupancy",
        zone="square",
        items="value",
        count="item.result",
        time="item.phenomenonTime",
        key='item."@iot.id"',
    )
    res = run(m, fixture("sensorthings_observations.json"))
    assert [(r.count, r.key) for r in res.readings] == [(7.0, "1595550"), (4.0, "1595551")]
    assert res.readings[0].observed_at == datetime(2017, 2, 16, 21, 55, 12, 841000, tzinfo=UTC)


def test_items_see_item_and_message_and_fail_alone() -> None:
    m = mapper(
        items="zones",
        measurement="occupancy",
        zone_expr="item.id",
        count="item.n",
        time="message.ts",
    )
    doc = {
        "ts": 1780315200,
        "zones": [{"id": "hall", "n": 3}, {"id": "hall", "n": "x"}, {"id": "square", "n": 9}],
    }
    res = run(m, doc)
    assert [(r.zone, r.count, r.observed_at) for r in res.readings] == [
        ("hall", 3.0, T0),
        ("square", 9.0, T0),
    ]
    assert res.problems == ["items[1] count: not a number (expression 'item.n')"]
    with pytest.raises(MalformedInput, match="items: expression 'zones' yielded a dict"):
        run(m, {"zones": {"id": "hall"}})
    assert run(m, {"zones": []}).readings == []


def test_vs133_worked_example() -> None:
    raw = tomllib.loads(SAMPLE.read_text(encoding="utf-8"))
    m = Mapper(
        GenericJsonConfig.model_validate(raw["sources"]["generic_json"][0]),
        tz=ZoneInfo("Europe/Amsterdam"),
        lines=LINES,
        zones=ZONES,
    )
    topic = "v3/crowd-counting@ttn/devices/vs133-entrance/up"
    first = m.map_payload(fixture("vs133_ttn_uplink_1.json"), received_at=NOW, stream=topic)
    assert first.readings == [] and first.baseline == 2 and first.problems == []
    second = m.map_payload(fixture("vs133_ttn_uplink_2.json"), received_at=NOW, stream=topic)
    got = [(r.line, r.in_, r.out, r.sequence, r.quality) for r in second.readings]
    assert got == [("main-door", 9, 3, 1188, Quality.OK), ("side-door", 12, 4, 1188, Quality.OK)]
    r = second.readings[0]
    assert r.observed_from == datetime(2026, 6, 13, 14, 0, 4, 336210, tzinfo=UTC)
    assert r.observed_to == datetime(2026, 6, 13, 14, 10, 4, 322871, tzinfo=UTC)
    assert r.extras == {"f_port": 85}
    third = m.map_payload(fixture("vs133_ttn_uplink_3_reset.json"), received_at=NOW, stream=topic)
    assert [(r.line, r.in_, r.out, r.reasons) for r in third.readings] == [
        ("main-door", 2, 1, (QualityReason.COUNTER_RESET,)),
        ("side-door", 0, 3, (QualityReason.COUNTER_RESET,)),
    ]
    assert m.map_payload(
        fixture("vs133_ttn_uplink_2.json"), received_at=NOW, stream=topic
    ).duplicate
    period = m.map_payload(fixture("vs133_ttn_uplink_period.json"), received_at=NOW, stream=topic)
    assert period.readings == [] and period.problems == [] and not period.duplicate


# -- allowlist, extras, privacy -----------------------------------------------------------


def test_only_what_the_config_names_is_used() -> None:
    m = crossing(extras={"fw": "meta.fw"})
    doc = {"serial": "00408C123456", "meta": {"mac": "00:40:8c:12:34:56", "fw": "1.2"}}
    res = run(m, {**doc, "in": 1, "out": 2})
    assert res.readings[0].extras == {"fw": "1.2"} and res.problems == []


def test_identifier_like_and_structured_extras_are_not_copied() -> None:
    m = crossing(
        extras={"ap": "ap", "battery": "bat", "who": "who", "people": "people", "txt": "txt"}
    )
    doc = {
        "ap": "00:18:0a:13:dd:b0",
        "bat": 97,
        "who": {"ip": "10.1.2.3"},
        "people": [{"t": 1718000000123, "speed": 1.2, "distance": 3.4}],
        "txt": '[{"t": 1718000000123}]',
        "in": 1,
        "out": 0,
    }
    res = run(m, doc)
    assert res.readings[0].extras == {"battery": 97}
    assert len(res.problems) == 4
    assert "extras.ap: a MAC address" in res.problems[0]
    assert "extras.who: an object" in res.problems[1]
    assert "extras.people: a list" in res.problems[2]
    assert "extras.txt: a list or an object written as text" in res.problems[3]
    assert all("00:18" not in p and "10.1.2.3" not in p and "1718" not in p for p in res.problems)


# -- plausibility --------------------------------------------------------------------------


def test_max_count_and_max_jump() -> None:
    m = mapper(measurement="devices", zone="square", count="pax", max_count=1000, max_jump=500)
    assert run(m, {"pax": 15}).readings[0].quality is Quality.OK
    (r,) = run(m, {"pax": 31401}).readings  # the real Paxcounter jump
    assert r.quality is Quality.SUSPECT
    assert set(r.reasons) == {QualityReason.ABOVE_MAXIMUM, QualityReason.IMPLAUSIBLE_JUMP}
    (r,) = run(m, {"pax": 31000}).readings  # still a jump from the last plausible level (15)
    assert set(r.reasons) == {QualityReason.ABOVE_MAXIMUM, QualityReason.IMPLAUSIBLE_JUMP}
    assert run(m, {"pax": 30}).readings[0].quality is Quality.OK
    c = crossing(max_jump=50)  # a crossing reading is a change: in + out per reading
    assert run(c, {"in": 30, "out": 30}).readings[0].reasons == (QualityReason.IMPLAUSIBLE_JUMP,)
    assert run(c, {"in": 30, "out": 20}).readings[0].reasons == ()
    c = crossing(max_count=100)
    assert run(c, {"in": 101, "out": 0}).readings[0].reasons == (QualityReason.ABOVE_MAXIMUM,)
    assert run(c, {"in": 60, "out": 60}).readings[0].reasons == ()


# -- issue 9: allowlist, places, time expressions, directions, state after acceptance -------


def test_every_item_of_a_multi_item_message_with_the_enclosing_message() -> None:
    m = mapper(
        items="lines",
        line_expr="item.name",
        **{"in": "item.counts.in", "out": "item.counts.out"},
        time="message.ts",
        interval_expr="message.interval",
        key="join('/', [message.id, item.name])",
    )
    doc = {
        "id": "msg-7",
        "ts": "2026-06-13T14:00:00Z",
        "interval": 300,
        "lines": [
            {"name": "gate-a", "counts": {"in": 4, "out": 1}},
            {"name": "gate-b", "counts": {"in": 0, "out": 6}},
            {"name": "main-door", "counts": {"in": 2, "out": 2}},
        ],
    }
    readings = run(m, doc).readings
    assert [(r.line, r.in_, r.out) for r in readings] == [
        ("gate-a", 4, 1),
        ("gate-b", 0, 6),
        ("main-door", 2, 2),
    ]
    end = datetime(2026, 6, 13, 14, 0, tzinfo=UTC)
    assert all(r.observed_to == end for r in readings)
    assert all(r.observed_from == end - timedelta(seconds=300) for r in readings)
    assert len({r.key for r in readings}) == 3


@pytest.mark.parametrize(
    ("interval", "seconds"), [(60, 60), ("900", 900), ("PT15M", 900), (0.5, 0.5)]
)
def test_interval_length_from_the_payload(interval: Any, seconds: float) -> None:
    m = crossing(time="ts", interval_expr="interval")
    (r,) = run(m, {"in": 1, "out": 0, "ts": NOW.timestamp(), "interval": interval}).readings
    assert r.observed_to == NOW and r.observed_from == NOW - timedelta(seconds=seconds)


@pytest.mark.parametrize("interval", [0, -5, "P", "soon", 1e300, 40 * 86400])
def test_bad_interval_length_is_malformed(interval: Any) -> None:
    m = crossing(time="ts", interval_expr="interval")
    with pytest.raises(MalformedInput, match="interval_expr: "):
        run(m, {"in": 1, "out": 0, "ts": NOW.timestamp(), "interval": interval})


def test_zone_readings_need_only_a_zone_and_crossings_only_a_line() -> None:
    m = mapper(
        measurement_expr="kind",
        line_expr="line",
        zone_expr="zone",
        **{"in": "in", "out": "out"},
        count="n",
    )
    (occ,) = run(m, {"kind": "occupancy", "zone": "square", "n": 12}).readings
    assert (occ.zone, occ.line, occ.count) == ("square", None, 12.0)
    (cr,) = run(m, {"kind": "crossing", "line": "gate-a", "in": 1, "out": 0}).readings
    assert (cr.line, cr.zone) == ("gate-a", "hall")  # the line's zone
    with pytest.raises(MalformedInput, match="belongs to zone 'hall', not to the reading's zone"):
        run(m, {"kind": "crossing", "line": "gate-a", "zone": "square", "in": 1, "out": 0})
    with pytest.raises(MalformedInput, match="belongs to zone 'hall'"):
        run(m, {"kind": "occupancy", "line": "gate-b", "zone": "square", "n": 3})
    with pytest.raises(MalformedInput, match="line_expr: expression 'line' yielded nothing"):
        run(m, {"kind": "crossing", "zone": "hall", "in": 1, "out": 0})
    with pytest.raises(MalformedInput, match="zone_expr: expression 'zone' yielded nothing"):
        run(m, {"kind": "occupancy", "n": 3})


def test_azimuth_maps_to_in_and_out_per_line() -> None:
    m = mapper(
        items="passages",
        line_expr="item.line",
        direction_expr="item.heading",
        count="item.n",
        directions={
            "gate-a": {"in": 90, "tolerance": 45},
            "gate-b": {"in": 350, "tolerance": 30},
        },
    )
    doc = {
        "passages": [
            {"line": "gate-a", "heading": 120, "n": 3},  # in (30° off 90)
            {"line": "gate-a", "heading": 265, "n": 2},  # out (5° off 270)
            {"line": "gate-a", "heading": 0, "n": 7},  # sideways: neither
            {"line": "gate-b", "heading": 10, "n": 1},  # in (20° off 350, across north)
            {"line": "gate-b", "heading": 185.5, "n": 4},  # out (15.5° off 170)
            {"line": "main-door", "heading": 90, "n": 1},  # no directions entry
        ]
    }
    res = run(m, doc)
    assert [(r.line, r.in_, r.out) for r in res.readings] == [
        ("gate-a", 3, 0),
        ("gate-a", 0, 2),
        ("gate-b", 1, 0),
        ("gate-b", 0, 4),
    ]
    assert res.undirected == 1
    assert (
        len(res.problems) == 1 and "directions: no entry for line 'main-door'" in (res.problems[0])
    )


def test_state_advances_only_on_commit() -> None:
    m = crossing(sequence="seq")
    first = m.map_payload(
        '{"seq": 5, "in": 1, "out": 0}', received_at=NOW, stream="t/1", commit=False
    )
    assert len(first.readings) == 1 and first.pending
    again = m.map_payload(
        '{"seq": 5, "in": 1, "out": 0}', received_at=NOW, stream="t/1", commit=False
    )
    assert not again.duplicate and len(again.readings) == 1  # the first was never accepted
    m.commit(again)
    assert run(m, {"seq": 5, "in": 1, "out": 0}).duplicate
    c = crossing(cumulative=True, time="ts")
    run(c, {"in": 10, "out": 0, "ts": NOW.timestamp()})  # baseline, committed
    later = {"in": 14, "out": 1, "ts": NOW.timestamp() + 60}
    refused = c.map_payload(json.dumps(later), received_at=NOW, stream="t/1", commit=False)
    assert (refused.readings[0].in_, refused.readings[0].out) == (4, 1)
    (r,) = run(c, later).readings  # the retry: the same delta, not a repeat
    assert (r.in_, r.out) == (4, 1)
    assert run(c, later).repeats == 1


def test_one_stream_twice_in_one_message_builds_on_the_first() -> None:
    m = mapper(
        items="readings",
        line="gate-a",
        cumulative=True,
        **{"in": "item.in", "out": "item.out"},
        time="item.ts",
    )
    t = NOW.timestamp()
    run(m, {"readings": [{"in": 1, "out": 1, "ts": t}]})
    res = run(
        m, {"readings": [{"in": 3, "out": 1, "ts": t + 60}, {"in": 6, "out": 2, "ts": t + 120}]}
    )
    assert [(r.in_, r.out) for r in res.readings] == [(2, 0), (3, 1)]
