"""The ``generic_json`` source through the transports: fakes, the real HTTP server, Mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
import json
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hub.events import Quality, QualityReason
from hub.plugins.generic_json.config import GenericJsonConfig
from hub.plugins.generic_json.source import GenericJsonSource
from hub.site import Site
from hub.testing import EventCollector, FakeClock, source_context
from hub.testing.fakes import FakeHttpIngest, FakeMessageTransport, fake_transports

FIX = Path(__file__).parent / "fixtures"
SAMPLE = tomllib.loads(
    (Path(__file__).parents[3] / "hub/plugins/generic_json/sample.toml").read_text("utf-8")
)
SITE = Site.model_validate(SAMPLE["site"])
TOPIC = "v3/crowd-counting@ttn/devices/vs133-entrance/up"
FIWARE: dict[str, Any] = {
    "id": "valladolid-bridge",
    "transport": "http",
    "auth": {"scheme": "bearer", "token": "s3cret-token"},
    "content_types": ["application/json", "application/ld+json"],
    "line": "main-door",
    "in": "peopleCountTowards",
    "out": "peopleCountAway",
    "time": "dateObserved",
    "time_format": "iso_interval",
    "timezone": "UTC",
    "key": "join('/', [id, dateObserved])",
}


@contextlib.asynccontextmanager
async def running(source: GenericJsonSource) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(source.run(), name="generic_json-under-test")
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def vs133_source(mqtt: Any, collector: EventCollector) -> GenericJsonSource:
    cfg = GenericJsonConfig.model_validate(SAMPLE["sources"]["generic_json"][0])
    ctx = source_context(
        "generic_json",
        cfg.id,
        site=SITE,
        emit=collector,
        transports=fake_transports(mqtt=mqtt),
        clock=FakeClock(),
    )
    return GenericJsonSource(cfg, ctx)


async def test_worked_example_over_fake_mqtt() -> None:
    mqtt, collector = FakeMessageTransport(), EventCollector()
    source = vs133_source(mqtt, collector)
    async with running(source):
        await asyncio.wait_for(mqtt.subscribed.wait(), 10)
        for name in (
            "vs133_ttn_uplink_1.json",
            "vs133_ttn_uplink_2.json",
            "vs133_ttn_uplink_3_reset.json",
        ):
            assert await mqtt.inject(TOPIC, (FIX / name).read_bytes()) == 1
        events = list(await collector.wait_for(4, 10))
        await mqtt.inject(TOPIC, (FIX / "vs133_ttn_uplink_2.json").read_bytes())  # replay
        await mqtt.inject(TOPIC, b"{not json")
        await mqtt.inject(TOPIC, (FIX / "vs133_ttn_uplink_period.json").read_bytes())
        await mqtt.inject(TOPIC, json.dumps({"uplink_message": {"f_cnt": 1300}}))
        await asyncio.wait_for(_until(lambda: source.ctx.counters.malformed == 2), 10)
    assert source.duplicates == 1
    assert [
        (
            e.line,
            e.measurement.model_dump(by_alias=True)["in"],
            e.measurement.model_dump()["out"],
            e.quality,
        )
        for e in events
    ] == [
        ("main-door", 9, 3, Quality.OK),
        ("side-door", 12, 4, Quality.OK),
        ("main-door", 2, 1, Quality.ESTIMATED),
        ("side-door", 0, 3, Quality.ESTIMATED),
    ]
    assert len(collector.events) == 4
    e = events[3]
    assert e.zone == "hall" and e.sequence == 1189 and e.kind == "generic_json"
    assert e.quality_reasons == (QualityReason.COUNTER_RESET,)
    assert e.extras == {"generic_json": {"f_port": 85}}
    assert e.provenance.transport == "mqtt"
    text = json.dumps([ev.model_dump(mode="json") for ev in events])
    for secret in ("24E124538B223213", "vs133-entrance", "gtw-stadhuis", "260B4A1C"):
        assert secret not in text


async def test_replayed_message_keeps_its_event_id() -> None:
    ids = []
    for _ in range(2):
        mqtt, collector = FakeMessageTransport(), EventCollector()
        async with running(vs133_source(mqtt, collector)):
            await asyncio.wait_for(mqtt.subscribed.wait(), 10)
            for name in ("vs133_ttn_uplink_1.json", "vs133_ttn_uplink_2.json"):
                await mqtt.inject(TOPIC, (FIX / name).read_bytes())
            ids.append([e.event_id for e in await collector.wait_for(2, 10)])
    assert ids[0] == ids[1] and len(set(ids[0])) == 2


async def test_broker_loss_surfaces_as_device_unavailable() -> None:
    from hub.errors import DeviceUnavailable

    mqtt, collector = FakeMessageTransport(), EventCollector()
    task = asyncio.create_task(vs133_source(mqtt, collector).run())
    await asyncio.wait_for(mqtt.subscribed.wait(), 10)
    await mqtt.disconnect()
    with pytest.raises(DeviceUnavailable):
        await asyncio.wait_for(task, 10)


async def _until(cond: Any) -> None:
    while not cond():
        await asyncio.sleep(0.01)


def fiware_source(http: Any, collector: EventCollector) -> GenericJsonSource:
    cfg = GenericJsonConfig.model_validate(FIWARE)
    ctx = source_context(
        "generic_json", cfg.id, site=SITE, emit=collector, transports=fake_transports(http=http)
    )
    return GenericJsonSource(cfg, ctx)


async def test_fiware_feed_over_fake_http() -> None:
    http, collector = FakeHttpIngest(), EventCollector()
    source = fiware_source(http, collector)
    body = (FIX / "crowdflowobserved_keyvalues.jsonld").read_bytes()
    async with running(source):
        await asyncio.wait_for(http.route_added.wait(), 10)
        assert http.routes["valladolid-bridge"][1]["auth"].scheme == "bearer"
        resp = await http.request("valladolid-bridge", body, content_type="application/ld+json")
        assert resp.status == 204
        (event,) = await collector.wait_for(1, 10)
        bad = await http.request("valladolid-bridge", b"[1, 2")
        assert bad.status == 400 and "not valid JSON" in str(bad.body)
        unmapped = await http.request("valladolid-bridge", b'{"id": "x"}')
        assert unmapped.status == 400 and "peopleCountTowards" in str(unmapped.body)
        get = await http.request("valladolid-bridge", method="GET")
        assert get.status == 405
        assert source.ctx.counters.malformed == 2
    assert "valladolid-bridge" not in http.routes  # removed on stop
    assert event.measurement.model_dump(by_alias=True)["in"] == 50
    assert event.line == "main-door" and event.provenance.transport == "http"
    assert event.observed_to is not None and event.observed_to.isoformat() == (
        "2018-08-07T11:15:00+00:00"
    )


async def test_fiware_feed_through_the_real_http_server(ingest_client: Any) -> None:
    collector = EventCollector()
    source = fiware_source(ingest_client.server, collector)
    body = (FIX / "crowdflowobserved_keyvalues.jsonld").read_bytes()
    async with running(source):

        async def route_up() -> None:
            while (await ingest_client.request("valladolid-bridge", body)).status == 404:
                await asyncio.sleep(0.02)

        await asyncio.wait_for(route_up(), 10)  # no credentials: 401 once the route is up
        no_auth = await ingest_client.request("valladolid-bridge", body)
        assert no_auth.status == 401
        auth = {"Authorization": "Bearer s3cret-token"}
        ok = await ingest_client.request(
            "valladolid-bridge", body, headers=auth, content_type="application/ld+json"
        )
        assert ok.status == 204
        (event,) = await collector.wait_for(1, 10)
        bad = await ingest_client.request("valladolid-bridge", b'{"id": 1}', headers=auth)
        assert bad.status == 400
    assert event.measurement.model_dump(by_alias=True)["out"] == 50
    assert source.ctx.counters.malformed == 1


@pytest.mark.mosquitto
async def test_worked_example_through_a_real_mosquitto(tmp_path: Path) -> None:
    import logging

    from hub.clock import SystemClock
    from hub.core.transports.mqtt import MqttTransport, MqttTransportConfig
    from hub.plugin import TransportContext
    from hub.testing.mosquitto import Mosquitto

    with Mosquitto(tmp_path) as broker:
        transport = MqttTransport(
            MqttTransportConfig(id="local", host=broker.host, port=broker.port),
            TransportContext(
                instance="local",
                kind="mqtt",
                clock=SystemClock(),
                log=logging.getLogger("hub.test.mqtt"),
            ),
        )
        conn = asyncio.create_task(transport.run(), name="mqtt-under-test")
        collector = EventCollector()
        source = vs133_source(transport, collector)
        try:
            async with running(source):
                # retained: delivered whenever the subscription is in place
                await _until_published(transport, "vs133_ttn_uplink_1.json", retain=True)
                await asyncio.wait_for(_until(lambda: transport.received >= 1), 10)
                await _until_published(transport, "vs133_ttn_uplink_2.json")
                await _until_published(transport, "vs133_ttn_uplink_3_reset.json")
                events = list(await collector.wait_for(4, 10))
        finally:
            conn.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await conn
    assert [(e.line, e.sequence, e.quality) for e in events] == [
        ("main-door", 1188, Quality.OK),
        ("side-door", 1188, Quality.OK),
        ("main-door", 1189, Quality.ESTIMATED),
        ("side-door", 1189, Quality.ESTIMATED),
    ]
    assert events[1].measurement.model_dump(by_alias=True)["in"] == 12
    assert events[0].provenance.transport == "mqtt"


async def _until_published(transport: Any, name: str, retain: bool = False) -> None:
    """Publish once the connection is up (publish raises DeviceUnavailable before)."""
    from hub.errors import DeviceUnavailable

    async def attempt() -> None:
        while True:
            try:
                await transport.publish(TOPIC, (FIX / name).read_bytes(), qos=1, retain=retain)
                return
            except DeviceUnavailable:
                await asyncio.sleep(0.05)

    await asyncio.wait_for(attempt(), 10)
