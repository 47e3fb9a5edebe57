"""The simulator speaks the real wire formats: everything it makes parses back with protocol.py."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from hub.errors import MalformedInput
from hub.plugins.wifi_counter.meraki import IntervalCounts, MerakiCounter, ZoneMapper
from hub.plugins.wifi_counter.protocol import (
    Encoding,
    GpsFix,
    PaxCount,
    PaxStatus,
    SpiFrame,
    SpiFrameDecoder,
    decode_base64_body,
    decode_payload,
    parse_mqtt_topic,
)
from hub.plugins.wifi_counter.sdcard import parse_sdcard_csv
from hub.plugins.wifi_counter.simulator import (
    PaxcounterSimulator,
    fake_mac,
    gps_payload,
    meraki_v2_body,
    meraki_v3_body,
    mqtt_connect_message,
    mqtt_message,
    pax_payload,
    sdcard_csv,
    spi_frame,
    status_payload,
    ttn_uplink,
)
from hub.plugins.wifi_counter.ttn import parse_ttn_uplink
from hub.privacy import classify_text
from hub.quality import SequenceTracker

from .helpers import hex_lines

FIX = GpsFix(52.104712, 4.273401, 7, 1.25, -3)


@pytest.mark.parametrize("encoding", ["packed", "plain"])
def test_every_counter_variant_round_trips(encoding: Encoding) -> None:
    cases = [
        (pax_payload(12, encoding=encoding), PaxCount(12)),
        (pax_payload(12, 8, encoding=encoding), PaxCount(12, 8)),
        (
            pax_payload(12, 8, encoding=encoding, pm=(12.3, 4.5)),
            PaxCount(12, 8, pm10=12.3, pm25=4.5),
        ),
        (pax_payload(12, gps=FIX, encoding=encoding), PaxCount(12, gps=FIX)),
        (pax_payload(12, 8, gps=FIX, encoding=encoding), PaxCount(12, 8, gps=FIX)),
    ]
    latlon = GpsFix(FIX.latitude, FIX.longitude)
    cases += [
        (pax_payload(12, gps=FIX, gps_first=True, encoding=encoding), PaxCount(12, gps=latlon)),
        (
            pax_payload(12, 8, gps=FIX, gps_first=True, encoding=encoding),
            PaxCount(12, 8, gps=latlon),
        ),
    ]
    assert sorted(len(p) for p, _ in cases) == [2, 4, 8, 10, 12, 15, 17]
    for payload, expected in cases:
        assert decode_payload(1, payload, encoding) == expected
    status = decode_payload(
        2, status_payload(uptime_s=86_400, restarts=3, encoding=encoding), encoding
    )
    assert isinstance(status, PaxStatus)
    assert (status.uptime_s, status.restarts, status.uptime_quirk) == (86_400, 3, False)
    assert decode_payload(4, gps_payload(FIX, encoding), encoding) == FIX


def test_simulator_matches_the_verbatim_codec_example() -> None:
    (sample,) = hex_lines("paxcounter_packed_port1.hex")
    assert pax_payload(7, 3) == sample
    assert mqtt_message(1, sample) == ("paxout/1", b"BwADAA==")


def test_mqtt_messages_parse_back() -> None:
    topic, body = mqtt_message(2, status_payload())
    port = parse_mqtt_topic(topic)
    assert port == 2
    assert isinstance(decode_payload(port, decode_base64_body(body)), PaxStatus)
    topic, name = mqtt_connect_message()
    assert parse_mqtt_topic(topic) is None and name


def test_ttn_uplinks_omit_zero_fields_like_ttn() -> None:
    when = datetime(2026, 6, 1, 12, 1, 2, 345678, tzinfo=UTC)
    topic, body = ttn_uplink(pax_payload(5, 1), f_cnt=0, received_at=when)
    doc = json.loads(body)
    assert "f_cnt" not in doc["uplink_message"]
    up = parse_ttn_uplink(body, topic)
    assert (up.f_port, up.f_cnt, up.received_at) == (1, 0, when)
    assert decode_payload(up.f_port, up.payload) == PaxCount(5, 1)
    topic, body = ttn_uplink(b"", f_port=0, f_cnt=7)
    assert "f_port" not in json.loads(body)["uplink_message"]
    assert parse_ttn_uplink(body, topic).f_port == 0


def test_spi_frames_correct_and_corrupt() -> None:
    good = spi_frame(1, pax_payload(7, 3))
    assert good == b"".join(hex_lines("paxcounter_spi_stream.hex")[:1])  # firmware padding
    bad = spi_frame(1, pax_payload(9, 9), corrupt=True)
    aligned = spi_frame(1, pax_payload(4, 4), firmware_padding=False)
    assert len(aligned) == 8
    items = list(SpiFrameDecoder("genibus").feed(good + bad + aligned))
    assert [type(i) for i in items] == [SpiFrame, MalformedInput, SpiFrame]


def test_sdcard_round_trip() -> None:
    t = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    text = sdcard_csv([(t, 7, 3), (t + timedelta(minutes=1), 9, 4)], voltage=True)
    records, errors = parse_sdcard_csv(text)
    assert not errors
    assert [(r.time, r.wifi, r.ble, r.voltage_mv) for r in records] == [
        (t, 7, 3, 4100),
        (t + timedelta(minutes=1), 9, 4, 4100),
    ]


def test_paxcounter_simulator_faults_show_in_the_sequence() -> None:
    sim = PaxcounterSimulator(seed=5, loss=0.2, repeat=0.2, spike_every=7, status_every=5)
    frames = sim.frames(60)
    tracker = SequenceTracker()
    verdicts = []
    for frame in frames:
        topic, body = sim.as_ttn(frame)
        up = parse_ttn_uplink(body, topic)
        verdicts.append(tracker.observe(up.f_cnt, up.received_at).verdict)
        reading = decode_payload(up.f_port, up.payload)
        if frame.port == 1:
            assert reading == PaxCount(frame.wifi or 0, frame.ble)
    repeats = sum(f.repeat for f in frames)
    assert repeats and verdicts.count("duplicate") == repeats
    assert "gap" in verdicts
    assert any(f.wifi == 31_401 for f in frames)
    assert any(f.port == 2 for f in frames)


def test_cumulative_simulator_resets() -> None:
    sim = PaxcounterSimulator(seed=2, cumulative=True, reset_every=4)
    totals = [f.wifi or 0 for f in sim.frames(8)]
    assert totals[1] > totals[0] and totals[3] < totals[2]


def test_fake_macs_look_real_and_are_what_the_hub_must_catch() -> None:
    rng = random.Random(9)
    randomised = fake_mac(rng)
    vendor = fake_mac(rng, randomised=False)
    assert int(randomised[:2], 16) & 0x02  # locally administered, like a phone's
    assert classify_text(randomised) == "MAC address" == classify_text(vendor)


def test_meraki_bodies_parse_and_count_distinct() -> None:
    rng = random.Random(4)
    macs = [fake_mac(rng) for _ in range(12)]
    now = datetime(2026, 6, 1, 12, 0, 40, tzinfo=UTC)  # the bodies are timed 12:00:30
    counter = MerakiCounter(
        ZoneMapper(ap_zones={"00:18:0a:13:dd:b0": "a", "0c:8d:db:6e:40:12": "b"})
    )
    counter.add(json.loads(meraki_v2_body("s", "00:18:0a:13:dd:b0", macs[:8])), now)
    counter.add(json.loads(meraki_v2_body("s", "00:18:0a:13:dd:b0", macs[4:10], radio="ble")), now)
    counter.add(json.loads(meraki_v3_body("s", [(m, "0c:8d:db:6e:40:12") for m in macs])), now)
    counter.add(
        json.loads(
            meraki_v3_body(
                "s", [(m, "0c:8d:db:6e:40:12") for m in macs[:3]], radio="ble", with_locations=False
            )
        ),
        now,
    )
    (closed,) = counter.close_due(now + timedelta(hours=1))
    assert closed.counts == (IntervalCounts("a", 8, 6), IntervalCounts("b", 12, 3))
    body = json.loads(meraki_v2_body("s", "00:18:0a:13:dd:b0", macs[:1]))
    obs = body["data"]["observations"][0]
    assert classify_text(obs["ipv4"]) == "IPv4 address" and obs["manufacturer"]
