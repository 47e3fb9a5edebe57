"""The wifi_counter source end to end on fake transports (logic) and real ones (wire).

Fakes (hub.testing.fakes) drive the MQTT/TTN/serial/HTTP paths deterministically; the
``real`` tests at the end use the real serial transport on a pseudo-terminal and the real
HTTP ingest server with a real client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

import hub
from hub.errors import DeviceUnavailable
from hub.plugins.wifi_counter.config import WifiCounterConfig
from hub.plugins.wifi_counter.simulator import (
    meraki_v2_body,
    meraki_v3_body,
    mqtt_connect_message,
    pax_payload,
    spi_frame,
    status_payload,
    ttn_uplink,
)
from hub.plugins.wifi_counter.source import WifiCounterSource
from hub.site import Site
from hub.testing import EventCollector, FakeClock, source_context
from hub.testing.fakes import (
    FakeHttpIngest,
    FakeMessageTransport,
    FakeSerialTransport,
    fake_transports,
)

from .helpers import MERAKI_IDENTIFIERS, hex_lines, raw, retimed

WAIT_S = 10.0
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TTN_TOPIC = "v3/crowd-demo@ttn/devices/paxcounter-01/up"


@contextlib.asynccontextmanager
async def running(
    config: dict[str, Any], site: Site, transports: Any, clock: Any = None
) -> AsyncIterator[tuple[WifiCounterSource, EventCollector]]:
    collector = EventCollector()
    cfg = WifiCounterConfig(**config)
    ctx = source_context(
        "wifi_counter",
        cfg.id,
        site=site,
        emit=collector,
        transports=transports,
        clock=clock or FakeClock(),
    )
    src = WifiCounterSource(cfg, ctx)
    task = asyncio.create_task(src.run(), name=f"test-{cfg.id}")
    try:
        yield src, collector
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, DeviceUnavailable):
            await task


async def until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_S):
        while not check():
            await asyncio.sleep(0.01)


# -- config ------------------------------------------------------------------------------------


def test_config_defaults_and_required_fields() -> None:
    cfg = WifiCounterConfig(id="pax", zone="boulevard")
    assert (cfg.device, cfg.input, cfg.encoding, cfg.cycle_s) == (
        "paxcounter",
        "mqtt",
        "packed",
        60,
    )
    assert WifiCounterSource.required_transports(cfg) == [("mqtt", None)]
    with pytest.raises(ValidationError, match="serial"):
        WifiCounterConfig(id="x", input="serial")
    with pytest.raises(ValidationError, match="ttn_application"):
        WifiCounterConfig(id="x", input="ttn")
    with pytest.raises(ValidationError, match="validator"):
        WifiCounterConfig(id="x", device="meraki", secret="s", zone="z")
    with pytest.raises(ValidationError, match="zone"):
        WifiCounterConfig(id="x", device="meraki", secret="s", validator="v")
    with pytest.raises(ValidationError, match="slug"):
        WifiCounterConfig(
            id="x",
            device="meraki",
            secret="s",
            validator="v",
            ap_zones={"00:18:0a:13:dd:b0": "bad zone!"},
        )
    with pytest.raises(ValidationError, match="extra"):
        WifiCounterConfig(id="x", devise="meraki")  # type: ignore[call-arg]
    meraki = WifiCounterConfig(id="m", device="meraki", secret="s", validator="v", zone="z")
    assert meraki.auth.scheme == "none"
    assert WifiCounterSource.required_transports(meraki) == [("http", None)]
    serial = WifiCounterConfig(id="s", input="serial", serial={"port": "/dev/ttyUSB0"})
    assert WifiCounterSource.required_transports(serial) == [("serial", None)]


# -- paxcounter over its own MQTT client -----------------------------------------------------------


async def test_mqtt_counts_status_and_client_name(site: Site) -> None:
    mqtt = FakeMessageTransport()
    clock = FakeClock()
    config = {"id": "pax-mqtt", "zone": "boulevard", "broker": "local"}
    async with running(config, site, fake_transports(mqtt=mqtt), clock) as (src, events):
        await asyncio.wait_for(mqtt.subscribed.wait(), WAIT_S)
        topic, name = mqtt_connect_message("paxcounter-3c71bf24d8a0")
        assert await mqtt.inject(topic, name) == 0  # bare 'paxout' is not subscribed
        await mqtt.inject("paxout/1", b"BwADAA==")
        await mqtt.inject("paxout/2", json.dumps("x").encode())  # not base64 of 20 bytes
        await mqtt.inject("paxout/2", __import__("base64").b64encode(status_payload()))
        await mqtt.inject("paxout/1", b"AQID")  # 3 bytes: undocumented length
        await events.wait_for(2, WAIT_S)
        await until(lambda: src.ctx.counters.malformed == 2)
    devices, status = events.events
    assert devices.measurement == hub.Devices(count=10, wifi=7, ble=3)
    assert devices.zone == "boulevard" and devices.quality == hub.Quality.OK
    assert devices.observed_to == T0 and devices.observed_from == T0 - timedelta(seconds=60)
    assert devices.provenance.transport == "mqtt"
    assert isinstance(status.measurement, hub.Status)
    assert status.measurement.battery_mv == 4120 and status.measurement.uptime_s == 3600
    assert status.observed_at == T0
    assert all("3c71bf" not in e.model_dump_json() for e in events.events)


async def test_mqtt_plain_encoder_and_cumulative_mode(site: Site) -> None:
    mqtt = FakeMessageTransport()
    config = {
        "id": "pax",
        "zone": "beach",
        "encoding": "plain",
        "counter_mode": "cumulative",
        "cycle_s": 120,
    }
    async with running(config, site, fake_transports(mqtt=mqtt)) as (_, events):
        await asyncio.wait_for(mqtt.subscribed.wait(), WAIT_S)
        b64 = __import__("base64").b64encode
        for wifi, ble in ((100, 50), (130, 60), (20, 5)):
            await mqtt.inject("paxout/1", b64(pax_payload(wifi, ble, encoding="plain")))
        await events.wait_for(2, WAIT_S)
    first, reset = events.events
    assert first.measurement == hub.Devices(count=40, wifi=30, ble=10)
    assert first.observed_to and first.observed_from
    assert first.observed_to - first.observed_from == timedelta(seconds=120)
    assert reset.measurement == hub.Devices(count=25, wifi=20, ble=5)
    assert reset.quality == hub.Quality.ESTIMATED
    assert hub.QualityReason.COUNTER_RESET in reset.quality_reasons


async def test_implausible_uplink_is_suspect(site: Site) -> None:
    mqtt = FakeMessageTransport()
    async with running({"id": "pax", "zone": "beach"}, site, fake_transports(mqtt=mqtt)) as (
        _,
        events,
    ):
        await asyncio.wait_for(mqtt.subscribed.wait(), WAIT_S)
        b64 = __import__("base64").b64encode
        for wifi in (15, 31401, 16):
            await mqtt.inject("paxout/1", b64(pax_payload(wifi, 0)))
        await events.wait_for(3, WAIT_S)
    ok, spike, after = events.events
    assert ok.quality == hub.Quality.OK and after.quality == hub.Quality.OK
    assert spike.quality == hub.Quality.SUSPECT
    assert set(spike.quality_reasons) == {
        hub.QualityReason.ABOVE_MAXIMUM,
        hub.QualityReason.IMPLAUSIBLE_JUMP,
    }


async def test_device_location_only_when_configured(site: Site) -> None:
    gps = bytes.fromhex("0700030065ca0603 05196f00 05c600 4200".replace(" ", ""))
    b64 = __import__("base64").b64encode
    for flag in (False, True):
        mqtt = FakeMessageTransport()
        config = {"id": "pax", "zone": "beach", "include_device_location": flag}
        async with running(config, site, fake_transports(mqtt=mqtt)) as (_, events):
            await asyncio.wait_for(mqtt.subscribed.wait(), WAIT_S)
            await mqtt.inject("paxout/1", b64(gps))
            (event,) = await events.wait_for(1, WAIT_S)
        assert event.measurement == hub.Devices(count=10, wifi=7, ble=3)
        extras = event.extras.get("wifi_counter", {})
        assert ("device_latitude" in extras) is flag
        if flag:
            assert extras["device_latitude"] == 50.776677 and extras["gps_sats"] == 5


# -- paxcounter via The Things Stack v3 ------------------------------------------------------------


async def test_ttn_fixtures_sequence_duplicates_and_gaps(site: Site) -> None:
    mqtt = FakeMessageTransport()
    config = {"id": "pax-ttn", "zone": "boulevard", "input": "ttn", "ttn_application": "crowd-demo"}
    async with running(config, site, fake_transports(mqtt=mqtt)) as (src, events):
        await asyncio.wait_for(mqtt.subscribed.wait(), WAIT_S)
        for name in (
            "ttn_v3_uplink_paxcounter.json",
            "ttn_v3_uplink_paxcounter.json",
            "ttn_v3_uplink_no_decoded.json",
            "ttn_v3_uplink_no_fport.json",
            "ttn_v3_uplink_status.json",
        ):
            await mqtt.inject(TTN_TOPIC, raw(name))
        topic, body = ttn_uplink(
            pax_payload(20, 4), f_cnt=100, received_at=datetime(2021, 6, 15, 11, 0, tzinfo=UTC)
        )
        await mqtt.inject(topic, body)
        await mqtt.inject(topic, b'{"uplink_message": {"f_port": 1, "frm_payload": "%%"}}')
        await events.wait_for(4, WAIT_S)
        await until(lambda: src.ctx.counters.malformed == 1)
    first, second, status, after_gap = events.events
    assert first.measurement == hub.Devices(count=10, wifi=7, ble=3)
    assert first.sequence == 94
    assert first.observed_to == datetime(2021, 6, 15, 10, 53, 4, 789585, tzinfo=UTC)
    assert second.measurement == hub.Devices(count=17, wifi=12, ble=5) and second.sequence == 95
    assert src.duplicates == 1
    assert isinstance(status.measurement, hub.Status) and status.sequence == 99
    assert hub.QualityReason.SEQUENCE_GAP not in second.quality_reasons
    assert after_gap.sequence == 100
    assert hub.QualityReason.SEQUENCE_GAP in after_gap.quality_reasons
    assert after_gap.extras["wifi_counter"]["missed_frames"] == 2
    # replaying an uplink gives the same event id
    assert first.event_id != second.event_id
    dumped = " ".join(e.model_dump_json() for e in events.events)
    for ident in ("70B3D57ED0000001", "260B1234", "paxcounter-01", "gtw1"):
        assert ident not in dumped


async def test_ttn_replay_in_a_new_run_gives_the_same_event_id(site: Site) -> None:
    ids = []
    for _ in range(2):
        mqtt = FakeMessageTransport()
        config = {"id": "pax-ttn", "input": "ttn", "ttn_application": "crowd-demo"}
        async with running(config, site, fake_transports(mqtt=mqtt)) as (_, events):
            await asyncio.wait_for(mqtt.subscribed.wait(), WAIT_S)
            await mqtt.inject(TTN_TOPIC, raw("ttn_v3_uplink_paxcounter.json"))
            (event,) = await events.wait_for(1, WAIT_S)
            ids.append(event.event_id)
    assert ids[0] == ids[1]


async def test_ttn_payload_modes(site: Site) -> None:
    body = json.loads(raw("ttn_v3_uplink_paxcounter.json"))
    body["uplink_message"]["decoded_payload"] = {"wifi": 70, "ble": 30, "pax": 100}
    for mode, expected in (("auto", 100), ("frm_payload", 10), ("decoded", 100)):
        mqtt = FakeMessageTransport()
        config = {"id": "t", "input": "ttn", "ttn_application": "crowd-demo", "ttn_payload": mode}
        async with running(config, site, fake_transports(mqtt=mqtt)) as (_, events):
            await asyncio.wait_for(mqtt.subscribed.wait(), WAIT_S)
            await mqtt.inject(TTN_TOPIC, json.dumps(body))
            (event,) = await events.wait_for(1, WAIT_S)
        assert event.measurement.count == expected, mode  # type: ignore[union-attr]


# -- paxcounter SPI frames over serial ----------------------------------------------------


async def test_serial_spi_stream_fixture(site: Site) -> None:
    serial = FakeSerialTransport()
    config = {
        "id": "pax-spi",
        "zone": "beach",
        "input": "serial",
        "serial": {"port": "/dev/ttyUSB0"},
    }
    async with running(config, site, fake_transports(serial=serial)) as (src, events):
        await asyncio.wait_for(serial.opened.wait(), WAIT_S)
        data = b"".join(hex_lines("paxcounter_spi_stream.hex"))
        for i in range(0, len(data), 5):
            serial.feed(data[i : i + 5])
        await events.wait_for(4, WAIT_S)
        await until(lambda: src.ctx.counters.malformed == 1)
    counts = [e.measurement for e in events.events]
    assert counts[0] == hub.Devices(count=10, wifi=7, ble=3)
    assert isinstance(counts[1], hub.Status) and counts[1].battery_mv == 303
    assert counts[1].uptime_s == 216000 and counts[1].detail is not None
    assert counts[2] == hub.Devices(count=8, wifi=8)
    assert counts[3] == hub.Devices(count=15, wifi=10, ble=5)
    assert all(e.provenance.transport == "serial" for e in events.events)


async def test_serial_unplug_raises_device_unavailable(site: Site) -> None:
    serial = FakeSerialTransport()
    cfg = WifiCounterConfig(id="s", input="serial", serial={"port": "/dev/ttyUSB0"})
    src = WifiCounterSource(
        cfg,
        source_context("wifi_counter", "s", site=site, transports=fake_transports(serial=serial)),
    )
    task = asyncio.create_task(src.run())
    await asyncio.wait_for(serial.opened.wait(), WAIT_S)
    serial.unplug()
    with pytest.raises(DeviceUnavailable):
        await asyncio.wait_for(task, WAIT_S)


# -- Meraki over HTTP push -------------------------------------------------------------------------


class StepClock(FakeClock):
    """A clock whose ``sleep`` waits until the test releases it, then jumps ahead."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self.sleeping = asyncio.Event()
        self._release = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.sleeping.set()
        await self._release.wait()
        self._release.clear()
        self.sleeping.clear()
        self.advance(seconds)

    async def boundary(self) -> None:
        await asyncio.wait_for(self.sleeping.wait(), WAIT_S)
        self._release.set()
        await asyncio.sleep(0)


MERAKI = {
    "id": "meraki-boulevard",
    "device": "meraki",
    "validator": "da6a17c407bb11dfeec7392a5042be0a4cc034b6",
    "secret": "supersecret",
    "interval_s": 60,
    "late_grace_s": 0,  # an interval goes out at its end (test_meraki_push.py: with a grace)
    "ap_zones": {"00:18:0a:13:dd:b0": "boulevard", "0c:8d:db:6e:40:12": "beach"},
}


def timed(name: str, seconds: float) -> bytes:
    """A recorded Meraki body whose observations were made ``seconds`` after T0."""
    return json.dumps(retimed(name, T0 + timedelta(seconds=seconds))).encode()


async def test_meraki_validator_secret_counts_and_privacy(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    http = FakeHttpIngest()
    clock = StepClock(T0 + timedelta(seconds=5))
    async with running(MERAKI, site, fake_transports(http=http), clock) as (src, events):
        await asyncio.wait_for(http.route_added.wait(), WAIT_S)
        get = await http.request("meraki-boulevard", method="GET")
        assert (get.status, get.body) == (200, MERAKI["validator"])
        wrong = timed("meraki_v2_devicesseen.json", 4).replace(b"supersecret", b"supersecreT")
        assert (await http.request("meraki-boulevard", wrong)).status == 403
        ok = await http.request("meraki-boulevard", timed("meraki_v2_devicesseen.json", 4))
        assert ok.status == 200
        await http.request("meraki-boulevard", timed("meraki_v2_devicesseen.json", 5))  # repeat
        await http.request("meraki-boulevard", raw("meraki_v3_wifi.json"))  # 12:00:11..25
        ble = timed("meraki_v2_ble.json", 5)
        await http.request("meraki-boulevard", ble)
        bad = await http.request("meraki-boulevard", b'{"secret": "supersecret", "version": "9"}')
        assert bad.status == 400
        await clock.boundary()
        await events.wait_for(2, WAIT_S)
        # next interval: a new key, so the same devices count again, not "still there"
        await http.request("meraki-boulevard", timed("meraki_v2_devicesseen.json", 62))
        await clock.boundary()
        await events.wait_for(4, WAIT_S)
        # an interval without any POST emits nothing (no data is not zero people)
        await clock.boundary()
        await clock.boundary()
        await asyncio.sleep(0.05)
    beach, boulevard, beach2, boulevard2 = events.events[:4]
    assert len(events.events) == 4
    assert boulevard.zone == "boulevard" and beach.zone == "beach"
    assert boulevard.measurement == hub.Devices(count=4, wifi=2, ble=2)
    assert beach.measurement == hub.Devices(count=2, wifi=2, ble=0)
    assert boulevard.observed_from == T0 and boulevard.observed_to == T0 + timedelta(seconds=60)
    assert boulevard2.measurement == hub.Devices(count=2, wifi=2, ble=0)
    assert beach2.measurement == hub.Devices(count=0, wifi=0, ble=0)
    assert boulevard2.observed_from == T0 + timedelta(seconds=60)
    assert src.ctx.counters.malformed == 2  # the wrong secret and the bad body
    # nothing identifying anywhere: events, log records, responses
    text = " ".join(e.model_dump_json() for e in events.events)
    text += " ".join(r.getMessage() for r in caplog.records)
    for ident in MERAKI_IDENTIFIERS:
        assert ident.lower() not in text.lower(), ident
    assert "0c8ddb6e40" not in text and "00180a13ddb0" not in text


async def test_meraki_simulated_bodies_and_unmapped_warning(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    import random

    from hub.plugins.wifi_counter.simulator import fake_mac

    rng = random.Random(3)
    macs = [fake_mac(rng) for _ in range(30)]
    http = FakeHttpIngest()
    clock = StepClock(T0)
    config = MERAKI | {"tag_zones": {"entrance": "boulevard"}}
    async with running(config, site, fake_transports(http=http), clock) as (_, events):
        await asyncio.wait_for(http.route_added.wait(), WAIT_S)
        v2 = meraki_v2_body("supersecret", "00:18:0a:13:dd:b0", macs[:20])
        v3 = meraki_v3_body(
            "supersecret", [(m, "0c:8d:db:6e:40:12") for m in macs[10:30]], radio="ble"
        )
        unmapped = meraki_v2_body("supersecret", "aa:aa:aa:00:00:01", macs[:5])
        for body in (v2, v3, unmapped):
            assert (await http.request("meraki-boulevard", body)).status == 200
        await clock.boundary()
        await events.wait_for(2, WAIT_S)
    by_zone = {e.zone: e.measurement for e in events.events}
    assert by_zone["boulevard"] == hub.Devices(count=20, wifi=20, ble=0)
    assert by_zone["beach"] == hub.Devices(count=20, wifi=0, ble=20)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("without a zone mapping" in w for w in warnings)
    logged = " ".join(r.getMessage() for r in caplog.records).lower()
    assert not any(m in logged for m in macs) and "aa:aa:aa" not in logged


# -- real transports ---------------------------------------------------------------------


@pytest.fixture
async def serial_transport() -> Any:
    from hub.clock import SystemClock
    from hub.core.transports.serial import SerialPortTransport, SerialTransportConfig
    from hub.plugin import TransportContext

    ctx = TransportContext(
        instance="default", kind="serial", clock=SystemClock(), log=logging.getLogger("t.serial")
    )
    return SerialPortTransport(SerialTransportConfig(), ctx)


async def test_spi_frames_on_a_real_pty(site: Site, serial_transport: Any, serial_pty: Any) -> None:
    config = {
        "id": "pax-spi",
        "zone": "beach",
        "input": "serial",
        "serial": {"port": str(serial_pty.path), "read_timeout_s": 30},
    }
    async with running(config, site, fake_transports(serial=serial_transport)) as (src, events):
        await until(lambda: serial_transport.health()["open_ports"] == 1)
        frames = spi_frame(1, pax_payload(7, 3)) + spi_frame(1, pax_payload(9, 1), corrupt=True)
        frames += spi_frame(2, status_payload()) + spi_frame(1, pax_payload(11, 2))
        await serial_pty.send(frames)
        await events.wait_for(3, WAIT_S)
        await until(lambda: src.ctx.counters.malformed == 1)
    measurements = [e.measurement for e in events.events]
    assert measurements[0] == hub.Devices(count=10, wifi=7, ble=3)
    assert isinstance(measurements[1], hub.Status)
    assert measurements[2] == hub.Devices(count=13, wifi=11, ble=2)


async def test_meraki_over_real_http(site: Site, ingest_client: Any) -> None:
    server = ingest_client.server
    clock = StepClock(T0)
    async with running(MERAKI, site, fake_transports(http=server), clock) as (_, events):
        await until(lambda: "meraki-boulevard" in server._routes)
        get = await ingest_client.request("meraki-boulevard", method="GET", content_type=None)
        wrong = await ingest_client.request(
            "meraki-boulevard", timed("meraki_v2_devicesseen.json", 1).replace(b"supersecret", b"x")
        )
        ok = await ingest_client.request("meraki-boulevard", timed("meraki_v2_devicesseen.json", 1))
        await clock.boundary()
        await events.wait_for(1, WAIT_S)
    assert get.status == 200 and get.body.decode() == MERAKI["validator"]
    assert wrong.status == 403
    assert ok.status == 200
    by_zone = {e.zone: e.measurement for e in events.events}
    assert by_zone["boulevard"] == hub.Devices(count=2, wifi=2, ble=0)


async def test_meraki_with_an_empty_secret_refuses_to_start(site: Site) -> None:
    http = FakeHttpIngest()
    cfg = WifiCounterConfig(**(MERAKI | {"secret": ""}))
    src = WifiCounterSource(
        cfg,
        source_context("wifi_counter", cfg.id, site=site, transports=fake_transports(http=http)),
    )
    with pytest.raises(hub.AuthenticationFailed, match="MERAKI_SECRET"):
        await src.run()
    assert not http.routes


def test_mapped_zones_are_checked_against_the_site(tmp_path: Any) -> None:
    from hub.core.config import load_config
    from hub.core.plugins import load_plugins
    from hub.errors import ConfigError

    toml = """
[site]
id = "s"
[[site.zones]]
id = "boulevard"
area_m2 = 100.0
[[transports.http]]
port = 0
[[sources.wifi_counter]]
id = "meraki"
device = "meraki"
validator = "v"
secret = "${MERAKI_TEST_SECRET:-not-a-real-secret}"
zone = "boulevard"
ap_zones = { "00:18:0a:13:dd:b0" = "beahc" }
"""
    path = tmp_path / "hub.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as err:
        load_config(path, load_plugins(entrypoints=False))
    assert "beahc" in str(err.value) and "00:18:0a" not in str(err.value)
    path.write_text(toml.replace("beahc", "boulevard"))
    cfg = load_config(path, load_plugins(entrypoints=False))
    assert cfg.sources["wifi_counter"][0].id == "meraki"


async def test_ttn_cumulative_delta_spans_lost_uplinks(site: Site) -> None:
    mqtt = FakeMessageTransport()
    config = {
        "id": "pax-ttn",
        "input": "ttn",
        "ttn_application": "crowd-demo",
        "counter_mode": "cumulative",
    }
    async with running(config, site, fake_transports(mqtt=mqtt)) as (_, events):
        await asyncio.wait_for(mqtt.subscribed.wait(), WAIT_S)
        for f_cnt, minute, total in ((1, 0, 50), (2, 1, 80), (5, 4, 200)):
            topic, body = ttn_uplink(
                pax_payload(total, 0), f_cnt=f_cnt, received_at=T0 + timedelta(minutes=minute)
            )
            await mqtt.inject(topic, body)
        await events.wait_for(2, WAIT_S)
    one, after_gap = events.events
    assert one.measurement.count == 30  # type: ignore[union-attr]
    assert (one.observed_from, one.observed_to) == (T0, T0 + timedelta(minutes=1))
    assert after_gap.measurement.count == 120  # type: ignore[union-attr]
    assert after_gap.observed_from == T0 + timedelta(minutes=1)
    assert after_gap.observed_to == T0 + timedelta(minutes=4)
    assert hub.QualityReason.SEQUENCE_GAP in after_gap.quality_reasons


async def test_ttn_formatter_with_total_only(site: Site) -> None:
    body = json.loads(raw("ttn_v3_uplink_paxcounter.json"))
    body["uplink_message"]["decoded_payload"] = {"pax": 42}
    del body["uplink_message"]["frm_payload"]
    mqtt = FakeMessageTransport()
    config = {"id": "t", "input": "ttn", "ttn_application": "crowd-demo"}
    async with running(config, site, fake_transports(mqtt=mqtt)) as (_, events):
        await asyncio.wait_for(mqtt.subscribed.wait(), WAIT_S)
        await mqtt.inject(TTN_TOPIC, json.dumps(body))
        (event,) = await events.wait_for(1, WAIT_S)
    assert event.measurement == hub.Devices(count=42)


@pytest.mark.mosquitto
async def test_paxcounter_and_ttn_over_a_real_mosquitto(site: Site, tmp_path: Any) -> None:
    import base64

    from hub.clock import SystemClock
    from hub.core.transports.mqtt import MqttTransport, MqttTransportConfig
    from hub.plugin import TransportContext
    from hub.testing.mosquitto import Mosquitto

    with Mosquitto(tmp_path) as broker:
        ctx = TransportContext(
            instance="local", kind="mqtt", clock=SystemClock(), log=logging.getLogger("t.mqtt")
        )
        mqtt = MqttTransport(
            MqttTransportConfig(
                host=broker.host, port=broker.port, protocol="3.1.1", connect_timeout_s=WAIT_S
            ),
            ctx,
        )
        runner = asyncio.create_task(mqtt.run(), name="test-mqtt")
        try:
            await until(lambda: mqtt.connected)
            lookup = fake_transports(mqtt={"local": mqtt})
            pax = {"id": "pax", "zone": "beach", "broker": "local"}
            ttn = {"id": "lora", "zone": "boulevard", "broker": "local", "input": "ttn"}
            ttn["ttn_application"] = "crowd-demo"
            async with (
                running(pax, site, lookup, SystemClock()) as (_, pax_events),
                running(ttn, site, lookup, SystemClock()) as (lora, ttn_events),
            ):
                await until(lambda: mqtt.health()["subscriptions"] == 2)
                # published on the same connection after the SUBSCRIBEs: the broker keeps order
                await mqtt.publish(*mqtt_connect_message("paxcounter-3c71bf"))
                await mqtt.publish("paxout/1", base64.b64encode(pax_payload(7, 3)))
                for name in (
                    "ttn_v3_uplink_paxcounter.json",
                    "ttn_v3_uplink_paxcounter.json",
                    "ttn_v3_uplink_no_decoded.json",
                ):
                    await mqtt.publish(TTN_TOPIC, raw(name))
                await pax_events.wait_for(1, WAIT_S)
                await ttn_events.wait_for(2, WAIT_S)
                await until(lambda: lora.duplicates == 1)
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
    assert [e.measurement for e in pax_events.events] == [hub.Devices(count=10, wifi=7, ble=3)]
    assert [e.sequence for e in ttn_events.events] == [94, 95]
    assert ttn_events.events[1].measurement == hub.Devices(count=17, wifi=12, ble=5)
