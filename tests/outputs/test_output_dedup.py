"""At-least-once delivery: what the network outputs carry so receivers can deduplicate.

A batch delivered twice (the hub retries after a lost acknowledgement, or sends
again from its durable queue after a restart) reaches the receiver with the
same ``event_id`` in every event, and the webhook with the same
``Idempotency-Key``. Real peers: Mosquitto and an aiohttp receiver.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import UTC, datetime

import pytest
from aiohttp import web

from hub import Event, Occupancy
from hub.clock import SystemClock
from hub.core.transports.http_client import HttpClientConfig, HttpClientTransport
from hub.core.transports.mqtt import MqttTransport, MqttTransportConfig
from hub.outputs.http import WebhookConfig, WebhookSink
from hub.outputs.mqtt import MqttSink, MqttSinkConfig
from hub.plugin import TransportContext
from hub.testing import sink_context, source_context
from hub.testing.fakes import fake_transports
from hub.testing.mosquitto import Mosquitto

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def batch() -> list[Event]:
    """The same events every call: ``event_id`` depends on source and key only."""
    ctx = source_context("generic_json", "door")
    return [
        ctx.event(Occupancy(count=n), observed_at=T0, zone="hall", key=f"seq-{n}") for n in range(3)
    ]


def ids_of(events: list[dict[str, object]]) -> list[object]:
    return [e["event_id"] for e in events]


def test_event_id_is_stable_across_rebuilds() -> None:
    first, second = batch(), batch()
    assert [e.event_id for e in first] == [e.event_id for e in second]
    assert len({e.event_id for e in first}) == 3


@pytest.mark.mosquitto
async def test_mqtt_output_redelivery_carries_the_same_event_ids(mosquitto: Mosquitto) -> None:
    cfg = MqttTransportConfig(host=mosquitto.host, port=mosquitto.port, reconnect_initial_s=0.05)
    ctx = TransportContext("default", "mqtt", SystemClock(), logging.getLogger("test.mqtt"))
    mqtt = MqttTransport(cfg, ctx)
    task = asyncio.create_task(mqtt.run())
    try:
        sink = MqttSink(
            MqttSinkConfig(id="events", topic="dedup/{zone}", qos=1),
            sink_context("mqtt", "events", transports=fake_transports(mqtt=mqtt)),
        )
        await sink.open()
        async with mqtt.subscribe(["dedup/#"], qos=1) as messages:
            await sink.write(batch())
            await sink.write(batch())  # delivered again
            got = []
            async with asyncio.timeout(10):
                async for msg in messages:
                    got.append(json.loads(msg.payload))
                    if len(got) == 6:
                        break
        await sink.close()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert ids_of(got[:3]) == ids_of(got[3:]) == [e.event_id for e in batch()]
    assert len(set(ids_of(got))) == 3  # a receiver keeping event_ids stores three


async def test_webhook_redelivery_carries_the_same_key_and_event_ids() -> None:
    seen: list[tuple[str, list[dict[str, object]]]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append((request.headers["Idempotency-Key"], (await request.json())["events"]))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    tctx = TransportContext("default", "http_client", SystemClock(), logging.getLogger("t"))
    try:
        async with HttpClientTransport(HttpClientConfig(), tctx) as http:
            sink = WebhookSink(
                WebhookConfig(id="hook", url=url),
                sink_context("http", "hook", transports=fake_transports(http_client=http)),
            )
            await sink.write(batch())
            await sink.write(batch())  # delivered again
            await sink.write(batch()[:2])  # another batch: another key
    finally:
        await runner.cleanup()
    (key1, events1), (key2, events2), (key3, events3) = seen
    assert key1 == key2 != key3
    assert ids_of(events1) == ids_of(events2) == [e.event_id for e in batch()]
    assert ids_of(events3) == ids_of(events1)[:2]
