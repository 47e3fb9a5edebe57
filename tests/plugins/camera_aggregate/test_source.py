"""The source with the public fake transports (hub.testing.fakes): AXIS over a fake MQTT
transport, Hikvision and VIVOTEK through the fake ingest (same handler path as the
real server; the real transports are exercised in test_source_real.py)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from hub import Quality, QualityReason
from hub.plugins.camera_aggregate import simulator
from hub.plugins.camera_aggregate.config import CameraAggregateConfig
from hub.plugins.camera_aggregate.source import CameraAggregateSource
from hub.testing.fakes import FakeHttpIngest, FakeMessageTransport, fake_transports

from .conftest import FIX, SERIAL, SteppedClock, axis_sequence, occ, running, wait_until, xing

AXIS = {
    "id": "cam-axis",
    "device": "axis",
    "broker": "local",
    "grace_s": 0,
    "scenarios": [
        {"scenario": 3, "line": "gate-a", "direction": "in"},
        {"scenario": 7, "line": "gate-a", "direction": "out", "classes": ["all"]},
        {"scenario": 5, "line": "gate-b"},  # a simple (trigger) scenario by mistake
        {"scenario": 1, "type": "occupancy", "zone": "plaza"},
        {
            "scenario": 4,
            "channel": 2,
            "type": "occupancy",
            "zone": "hall",
            "classes": ["human", "car"],
        },
    ],
}
HIK = {
    "id": "cam-hik",
    "device": "hikvision",
    "auth": {"scheme": "none"},
    "grace_s": 0,
    "channels": [
        {"channel": 1, "line": "gate-b", "occupancy_zone": "plaza"},
        {"channel": 2, "line": "door", "enter": "out"},
    ],
}
VIV = {
    "id": "cam-viv",
    "device": "vivotek",
    "auth": {"scheme": "none"},
    "rules": [
        {"rule": "Entrance", "line": "gate-a"},
        {"rule": "Side door", "line": "door", "enter": "out"},
    ],
}


def _no_identifiers(events: list[Any], caplog: pytest.LogCaptureFixture, *ids: str) -> None:
    text = "".join(e.model_dump_json() for e in events) + caplog.text
    for ident in ids:
        assert ident.lower() not in text.lower()


# -- AXIS ------------------------------------------------------------------------------


async def test_axis_crossline_intervals_resets_and_privacy(
    fake_clock: SteppedClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    mqtt = FakeMessageTransport()
    async with running(AXIS, fake_transports(mqtt={"local": mqtt}), fake_clock) as (src, out):
        await wait_until(lambda: mqtt.subscribed.is_set())
        for topic, payload in axis_sequence():
            assert await mqtt.inject(topic, payload) == 1
        # the 12:26 interval closes as soon as a message from 12:27 arrives (grace 0)
        first, spread = await out.wait_for(2)
        fake_clock.advance(60)  # device clock moves past 12:28: the ticker closes 12:27
        events = await out.wait_for(3)
    assert first.line == "gate-a" and first.zone == "plaza"
    assert first.observed_from == datetime(2024, 2, 15, 12, 26, tzinfo=UTC)
    assert first.observed_to == datetime(2024, 2, 15, 12, 27, tzinfo=UTC)
    # first message seen: its own crossing (reason human); the car does not count
    assert (xing(first).in_, xing(first).out) == (1, 0)
    assert first.quality == Quality.OK
    # 12:27:10 reports +3: its own crossing is at 12:27:10, two lost messages lie somewhere
    # after 12:26:52 (the previous message), across the 12:27 boundary: not binned, flagged
    assert (xing(spread).in_, spread.observed_from, spread.observed_to) == (
        2,
        datetime(2024, 2, 15, 12, 26, 52, tzinfo=UTC),
        datetime(2024, 2, 15, 12, 27, 10, tzinfo=UTC),
    )
    assert spread.quality == Quality.ESTIMATED
    assert spread.quality_reasons == (QualityReason.SEQUENCE_GAP,)
    assert spread.extras["camera_aggregate"]["unbinned"] is True
    assert src.stats["crossline_unbinned"] == 2
    second = events[2]
    # 1 (own) + 2 since the new startTime (after 12:27:10: this interval) + 1 + 1 since
    # the total went down
    assert (xing(second).in_, xing(second).out) == (5, 0)
    assert second.quality == Quality.ESTIMATED
    assert second.quality_reasons == (QualityReason.COUNTER_RESET, QualityReason.SEQUENCE_GAP)
    assert second.extras["camera_aggregate"]["messages"] == 4
    assert src.ctx.counters.malformed == 0
    _no_identifiers(events, caplog, SERIAL)


async def test_axis_direction_unknown_and_trigger_scenarios(
    fake_clock: SteppedClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    mqtt = FakeMessageTransport()
    msgs = list(
        simulator.axis_crossline(
            crossings=6, scenario=7, serial=SERIAL, classes=["car", "human"], seed=3
        )
    )
    unknown = list(simulator.axis_crossline(crossings=3, scenario=9, serial=SERIAL))
    trigger = (FIX / "axis_aoa_object_in_area.json").read_bytes()
    async with running(AXIS, fake_transports(mqtt=mqtt), fake_clock) as (src, out):
        await wait_until(lambda: mqtt.subscribed.is_set())
        for m in [*unknown, *msgs]:
            assert m.topic is not None
            await mqtt.inject(m.topic, m.body)
        t5 = f"axis/{SERIAL}/event/CameraApplicationPlatform/ObjectAnalytics/Device1Scenario5"
        await mqtt.inject(t5, trigger)
        await mqtt.inject(f"axis/{SERIAL}/event/Device/IO/Port", b"{}")  # not AOA
        await wait_until(lambda: src.stats["messages"] == len(msgs) + len(unknown) + 2)
        assert src.stats["trigger_scenario"] == 1
        fake_clock.advance(3600)
        events = await out.wait_for(1)
    assert sum(xing(e).out for e in events) == 6  # classes=all, direction out
    assert sum(xing(e).in_ for e in events) == 0
    assert src.stats["unknown_scenario"] == 3
    assert src.stats["other_topic"] == 1
    assert caplog.text.count("scenario 9 (channel 1) is not configured") == 1
    assert src.ctx.counters.malformed == 0
    _no_identifiers(events, caplog, SERIAL)


async def test_axis_occupancy_both_key_styles(fake_clock: SteppedClock) -> None:
    mqtt = FakeMessageTransport()
    topic = f"axis/{SERIAL}/event/CameraApplicationPlatform/ObjectAnalytics/Device1Scenario1"
    async with running(AXIS, fake_transports(mqtt=mqtt), fake_clock) as (_, out):
        await wait_until(lambda: mqtt.subscribed.is_set())
        await mqtt.inject(topic, (FIX / "axis_aoa_occupancy.json").read_bytes())
        await mqtt.inject(
            # topic with namespaces ("include topic namespaces" on the camera)
            f"axis/{SERIAL}/event/tnsaxis:CameraApplicationPlatform/ObjectAnalytics/"
            "Device2Scenario4",
            (FIX / "axis_aoa_occupancy_total_keys.json").read_bytes(),
        )
        a, b = await out.wait_for(2)
    assert (a.zone, occ(a).count) == ("plaza", 7)
    assert a.observed_at == datetime(2024, 2, 15, 12, 26, 40, tzinfo=UTC)
    assert (b.zone, occ(b).count) == ("hall", 9)  # human 8 + car 1 (totalHuman keys)
    assert a.line is None and a.quality == Quality.OK


async def test_axis_bad_messages_are_counted_not_fatal(fake_clock: SteppedClock) -> None:
    mqtt = FakeMessageTransport()
    base = f"axis/{SERIAL}/event/CameraApplicationPlatform/ObjectAnalytics/"
    crossline_on_occupancy = json.loads(axis_sequence()[0][1])
    crossline_on_occupancy["topic"] = (
        "axis:CameraApplicationPlatform/ObjectAnalytics/Device1Scenario1"
    )
    async with running(AXIS, fake_transports(mqtt=mqtt), fake_clock) as (src, out):
        await wait_until(lambda: mqtt.subscribed.is_set())
        await mqtt.inject(base + "Device1Scenario3", b"{not json")
        await mqtt.inject(base + "Device1Scenario1", json.dumps(crossline_on_occupancy))
        await mqtt.inject(base + "Device1Scenario1", (FIX / "axis_aoa_occupancy.json").read_bytes())
        (ev,) = await out.wait_for(1)
    assert occ(ev).count == 7
    assert src.ctx.counters.malformed == 2


async def test_axis_retained_message_is_only_a_baseline(fake_clock: SteppedClock) -> None:
    mqtt = FakeMessageTransport()
    topic, first = axis_sequence()[0]
    third = axis_sequence()[2]
    async with running(AXIS, fake_transports(mqtt=mqtt), fake_clock) as (src, out):
        await wait_until(lambda: mqtt.subscribed.is_set())
        await mqtt.inject(topic, first, retain=True)
        await mqtt.inject(topic, third[1])
        await wait_until(lambda: src.stats["messages"] == 2)
        fake_clock.advance(3600)
        events = await out.wait_for(2)
    # +3 since the retained baseline: the message's own crossing in its interval, the two
    # others somewhere after the baseline's time (12:26:45): not binned
    assert [(xing(e).in_, e.observed_from) for e in events] == [
        (2, datetime(2024, 2, 15, 12, 26, 45, tzinfo=UTC)),
        (1, datetime(2024, 2, 15, 12, 27, tzinfo=UTC)),
    ]


async def test_axis_older_message_after_a_newer_one_changes_no_totals(
    fake_clock: SteppedClock,
) -> None:
    """MQTT redelivery of an older crossline message: out of order, never a reset."""
    mqtt = FakeMessageTransport()
    seq = axis_sequence()
    async with running(AXIS, fake_transports(mqtt=mqtt), fake_clock) as (src, out):
        await wait_until(lambda: mqtt.subscribed.is_set())
        for topic, payload in seq[:3]:
            await mqtt.inject(topic, payload)
        for topic, payload in (seq[1], seq[0], seq[2]):  # replayed: older, then the same
            await mqtt.inject(topic, payload)
        await wait_until(lambda: src.stats["messages"] == 6)
        fake_clock.advance(3600)
        events = await out.wait_for(2)
    assert sum(xing(e).in_ + xing(e).out for e in events) == 4  # 1 + the +3 of seq[2]
    assert all(QualityReason.COUNTER_RESET not in e.quality_reasons for e in events)
    assert src.stats["crossline_out_of_order"] == 2
    assert src.stats["crossline_repeat"] == 1


async def test_axis_plausibility_limits(fake_clock: SteppedClock) -> None:
    mqtt = FakeMessageTransport()
    cfg = {**AXIS, "max_count": 2}
    async with running(cfg, fake_transports(mqtt=mqtt), fake_clock) as (src, out):
        await wait_until(lambda: mqtt.subscribed.is_set())
        for topic, payload in axis_sequence():
            await mqtt.inject(topic, payload)
        await wait_until(lambda: src.stats["messages"] == 6)
        fake_clock.advance(600)
        events = await out.wait_for(3)
    assert events[0].quality == Quality.OK
    assert events[2].quality == Quality.SUSPECT  # 5 crossings in 12:27
    assert QualityReason.ABOVE_MAXIMUM in events[2].quality_reasons


async def test_axis_broker_loss_raises_device_unavailable(fake_clock: SteppedClock) -> None:
    from hub import DeviceUnavailable
    from hub.testing import source_context

    mqtt = FakeMessageTransport()
    cfg = CameraAggregateConfig.model_validate(AXIS)
    ctx = source_context(
        "camera_aggregate", "cam-axis", transports=fake_transports(mqtt=mqtt), clock=fake_clock
    )
    source = CameraAggregateSource(cfg, ctx)
    import asyncio

    task = asyncio.create_task(source.run())
    await wait_until(lambda: mqtt.subscribed.is_set())
    await mqtt.disconnect()
    with pytest.raises(DeviceUnavailable):
        await asyncio.wait_for(task, 10)


# -- Hikvision -------------------------------------------------------------------------


async def test_hikvision_timerange_dedupe_retransmission_and_heartbeat(
    fake_clock: SteppedClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    http = FakeHttpIngest()
    async with running(HIK, fake_transports(http=http), fake_clock) as (src, out):
        await wait_until(lambda: "cam-hik" in http.routes)
        assert http.routes["cam-hik"][1]["content_types"] == (
            "application/xml",
            "text/xml",
            "multipart/form-data",
            "multipart/mixed",
        )
        sample = (FIX / "hikvision_isapi_peoplecounting_timerange.xml").read_bytes()
        r1 = await http.request("cam-hik", sample, content_type="application/xml")
        r2 = await http.request("cam-hik", sample, content_type="text/xml")  # replay
        r3 = await http.request(
            "cam-hik",
            (FIX / "hikvision_v2_timerange_retransmission.xml").read_bytes(),
            content_type="application/xml",
        )
        r4 = await http.request(
            "cam-hik",
            (FIX / "hikvision_heartbeat_videoloss.xml").read_bytes(),
            content_type="application/xml",
        )
        mp_ct = "multipart/form-data; boundary=" + "-" * 28 + "7e13971310878"
        r5 = await http.request(
            "cam-hik",
            (FIX / "hikvision_multipart_timerange.bin").read_bytes(),
            content_type=mp_ct,
            headers={"Content-Type": mp_ct},
        )
        events = list(out.events)
    assert [r.status for r in (r1, r2, r3, r4, r5)] == [200] * 5
    assert len(events) == 2  # the replay and the multipart copy of the same bin: dropped
    a, b = events
    assert (a.line, xing(a).in_, xing(a).out, a.sequence) == ("gate-b", 0, 0, 1560)
    assert a.observed_from == datetime(2020, 4, 19, 17, 33, tzinfo=UTC)
    assert a.extras["camera_aggregate"]["pass"] == 0
    assert a.extras["camera_aggregate"]["isapi"] == "1.0"
    # channel 2: enter = out on the door line; retransmitted -> stale, flagged
    assert (b.line, xing(b).in_, xing(b).out) == ("door", 12, 31)
    assert b.quality == Quality.STALE and b.quality_reasons == (QualityReason.RETRANSMISSION,)
    assert src.stats["duplicate_bin"] == 2
    assert src.stats["other_event_type"] == 1
    _no_identifiers(events, caplog, "44:47:cc:50:00:c1", "10.60.108.22", "192.168.1.64")


async def test_hikvision_sequence_gap_flags_next_event(fake_clock: SteppedClock) -> None:
    http = FakeHttpIngest()
    msgs = list(simulator.hikvision_timerange(bins=5, namespace="2.0", gaps_after=[1]))
    async with running(HIK, fake_transports(http=http), fake_clock) as (_, out):
        await wait_until(lambda: "cam-hik" in http.routes)
        for m in msgs:
            assert (
                await http.request("cam-hik", m.body, content_type=m.content_type)
            ).status == 200
        events = await out.wait_for(5)
    assert [e.quality_reasons for e in events] == [(), (), (QualityReason.SEQUENCE_GAP,), (), ()]
    assert [e.sequence for e in events] == [1, 2, 4, 5, 6]
    assert all(e.time - e.observed_from == timedelta(minutes=1) for e in events if e.observed_from)


async def test_hikvision_realtime_deltas_reset_and_derived_occupancy(
    fake_clock: SteppedClock,
) -> None:
    http = FakeHttpIngest()
    cfg = {**HIK, "interval_s": 60}
    msgs = list(
        simulator.hikvision_realtime(
            pushes=12, every_s=15, initial=(100, 90), reset_at=[6], namespace="2.0"
        )
    )
    expected_after_reset = None
    async with running(cfg, fake_transports(http=http), fake_clock) as (_, out):
        await wait_until(lambda: "cam-hik" in http.routes)
        from hub.plugins.camera_aggregate.hikvision import HikRealTime, parse_alert

        totals = []
        for m in msgs:
            a = parse_alert(m.body)
            assert isinstance(a.counting, HikRealTime)
            totals.append((a.counting.enter, a.counting.exit))
            assert (await http.request("cam-hik", m.body, content_type="text/xml")).status == 200
        fake_clock.advance(600)
        await wait_until(lambda: len([e for e in out.events if e.type == "crossing"]) == 3)
        expected_after_reset = totals
    crossings = [e for e in out.events if e.type == "crossing"]
    occupancy = [e for e in out.events if e.type == "occupancy"]
    assert len(occupancy) == 12
    assert all(QualityReason.DERIVED in e.quality_reasons for e in occupancy)
    assert occ(occupancy[0]).count == max(0, totals[0][0] - totals[0][1])
    ins = sum(xing(e).in_ for e in crossings)
    outs = sum(xing(e).out for e in crossings)
    assert expected_after_reset is not None
    # before the reset: deltas from the first (baseline) push; after: counts since reset
    t = expected_after_reset
    assert ins == (t[5][0] - t[0][0]) + t[11][0]
    assert outs == (t[5][1] - t[0][1]) + t[11][1]
    reset_bins = [e for e in crossings if QualityReason.COUNTER_RESET in e.quality_reasons]
    assert len(reset_bins) == 1 and reset_bins[0].quality == Quality.ESTIMATED


async def test_hikvision_sample_realtime_clamped_occupancy(fake_clock: SteppedClock) -> None:
    http = FakeHttpIngest()
    async with running(HIK, fake_transports(http=http), fake_clock) as (_, out):
        await wait_until(lambda: "cam-hik" in http.routes)
        body = (FIX / "hikvision_isapi_peoplecounting_realtime.xml").read_bytes()
        await http.request("cam-hik", body, content_type="application/xml")
        (ev,) = await out.wait_for(1)
    assert ev.type == "occupancy" and ev.zone == "plaza"
    assert occ(ev).count == 0  # 70 enter - 75 exit: clamped
    assert set(ev.quality_reasons) == {QualityReason.DERIVED, QualityReason.CLAMPED}
    assert ev.observed_at == datetime(2020, 7, 9, 4, 7, 7, tzinfo=UTC)


async def test_hikvision_realtime_repeated_push_observes_nothing(
    fake_clock: SteppedClock,
) -> None:
    """The same realTime push twice (same time, same totals) is no zero-count interval."""
    http = FakeHttpIngest()
    async with running(HIK, fake_transports(http=http), fake_clock) as (src, out):
        await wait_until(lambda: "cam-hik" in http.routes)
        body = (FIX / "hikvision_isapi_peoplecounting_realtime.xml").read_bytes()
        for _ in range(2):
            assert (await http.request("cam-hik", body, content_type="text/xml")).status == 200
        assert src.stats["realtime_repeat"] == 1
        fake_clock.advance(600)  # any interval the pushes opened would be due now
        now = fake_clock.monotonic()
        # the ticker woke, emitted what was due and went back to sleep
        await wait_until(lambda: (fake_clock.next_deadline() or 0) > now)
        events = list(out.events)
    assert [e.type for e in events] == ["occupancy"]  # the baseline's; no 0/0 crossing


async def test_hikvision_malformed_and_doctype_answer_400(fake_clock: SteppedClock) -> None:
    http = FakeHttpIngest()
    async with running(HIK, fake_transports(http=http), fake_clock) as (src, out):
        await wait_until(lambda: "cam-hik" in http.routes)
        bad = await http.request(
            "cam-hik",
            (FIX / "hikvision_doctype_entities.xml").read_bytes(),
            content_type="application/xml",
        )
        junk = await http.request("cam-hik", b"<oops", content_type="application/xml")
        wrong = await http.request("cam-hik", b"{}", content_type="application/json")
    assert (bad.status, junk.status, wrong.status) == (400, 400, 415)
    assert "DOCTYPE" in str(bad.body)
    assert src.ctx.counters.malformed == 2
    assert out.events == []


async def test_hikvision_unknown_channel_ignored(fake_clock: SteppedClock) -> None:
    http = FakeHttpIngest()
    msgs = list(simulator.hikvision_timerange(bins=2, channel=5))
    async with running(HIK, fake_transports(http=http), fake_clock) as (src, out):
        await wait_until(lambda: "cam-hik" in http.routes)
        for m in msgs:
            assert (await http.request("cam-hik", m.body, content_type="text/xml")).status == 200
    assert out.events == [] and src.stats["unknown_channel"] == 2


# -- VIVOTEK ---------------------------------------------------------------------------


async def test_vivotek_rules_dedupe_and_privacy(
    fake_clock: SteppedClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    http = FakeHttpIngest()
    body = (FIX / "vivotek_counting.json").read_bytes()
    async with running(VIV, fake_transports(http=http), fake_clock) as (src, out):
        await wait_until(lambda: "cam-viv" in http.routes)
        assert (await http.request("cam-viv", body)).status == 200
        assert (await http.request("cam-viv", body)).status == 200  # replay
        extra = list(simulator.vivotek_reports(reports=2, rules=["Entrance", "Lobby"]))
        for m in extra:
            await http.request("cam-viv", m.body)
        assert (await http.request("cam-viv", b"nope")).status == 400
    events = out.events
    assert [(e.line, xing(e).in_, xing(e).out) for e in events[:2]] == [
        ("gate-a", 17, 9),
        ("door", 0, 3),
    ]
    assert events[0].observed_from == datetime(2024, 5, 2, 6, 0, tzinfo=UTC)
    assert len(events) == 4 and all(e.line == "gate-a" for e in events[2:])
    assert src.stats["duplicate_bin"] == 2
    assert src.stats["unknown_rule"] == 2 and caplog.text.count("'Lobby'") == 1
    assert src.stats["other_rule_type"] == 2
    assert src.ctx.counters.malformed == 1
    _no_identifiers(events, caplog, "00:02:D1:7A:12:34", "192.168.0.90", "SC8131-HALL")


# -- configuration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"id": "x", "device": "axis"}, "at least one"),
        ({"id": "x", "device": "hikvision", "channels": [{"channel": 1, "line": "a"}]}, "set auth"),
        ({"id": "x", "device": "vivotek", "auth": {"scheme": "none"}}, "at least one"),
        ({**AXIS, "channels": [{"channel": 1, "line": "a"}]}, "'channels' does not apply"),
        ({**AXIS, "topic_prefix": "axis/#"}, "'#' is not allowed"),
        ({"id": "x", "scenarios": [{"scenario": 1}]}, "needs a line"),
        ({"id": "x", "scenarios": [{"scenario": 1, "type": "occupancy"}]}, "needs a zone"),
        (
            {"id": "x", "scenarios": [{"scenario": 1, "line": "a", "classes": ["all", "car"]}]},
            "already counts",
        ),
        (
            {"id": "x", "scenarios": [{"scenario": 1, "line": "a"}, {"scenario": 1, "line": "b"}]},
            "given twice",
        ),
        ({"id": "x", "scenarios": [{"scenario": 1, "line": "a", "colour": "red"}]}, "Extra inputs"),
    ],
)
def test_config_errors(config: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        CameraAggregateConfig.model_validate(config)


def test_required_transports_and_source_line_default() -> None:
    axis = CameraAggregateConfig.model_validate(AXIS)
    hik = CameraAggregateConfig.model_validate({**HIK, "http": "edge"})
    assert CameraAggregateSource.required_transports(axis) == [("mqtt", "local")]
    assert CameraAggregateSource.required_transports(hik) == [("http", "edge")]
    cfg = CameraAggregateConfig.model_validate(
        {
            "id": "v",
            "device": "vivotek",
            "line": "gate-a",
            "auth": {"scheme": "none"},
            "rules": [{"rule": "R"}],
        }
    )
    assert cfg.rules[0].line is None and cfg.line == "gate-a"
