"""The source through the real transports: the hub's aiohttp ingest server on 127.0.0.1
with a real HTTP client (``ingest_client`` fixture from hub.testing), and a real
Mosquitto broker with the hub's MQTT transport on both sides (hub and "camera")."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from hub import Quality, QualityReason
from hub.clock import SystemClock
from hub.core.transports.mqtt import MqttTransport, MqttTransportConfig
from hub.plugin import Transport, TransportContext
from hub.plugins.camera_aggregate import simulator
from hub.testing.fakes import fake_transports
from hub.testing.mosquitto import Mosquitto
from hub.testing.pytest_plugin import IngestClient

from .conftest import FIX, SERIAL, SteppedClock, occ, running, wait_until, xing

USER, PASSWORD = "hik", "pa55-word"
BASIC = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}


def _http(client: IngestClient) -> Any:
    def lookup(kind: str, instance: str | None) -> Transport[Any]:
        assert kind == "http"
        return client.server  # type: ignore[no-any-return]

    return lookup


def _routed(client: IngestClient, sid: str) -> bool:
    return sid in client.server.health()["routes"]


async def test_hikvision_multipart_push_over_real_http(
    ingest_client: IngestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cfg = {
        "id": "hik-gate",
        "device": "hikvision",
        "auth": {"scheme": "basic", "username": USER, "password": PASSWORD},
        "channels": [{"channel": 1, "line": "gate-b"}],
    }
    mp_ct = "multipart/form-data; boundary=" + "-" * 28 + "7e13971310878"
    multipart = (FIX / "hikvision_multipart_timerange.bin").read_bytes()
    v2 = list(simulator.hikvision_timerange(bins=3, namespace="2.0", gaps_after=[0]))
    async with running(cfg, _http(ingest_client)) as (src, out):
        await wait_until(lambda: _routed(ingest_client, "hik-gate"))
        denied = await ingest_client.request("hik-gate", multipart, content_type=mp_ct)
        ok = await ingest_client.request("hik-gate", multipart, content_type=mp_ct, headers=BASIC)
        replay = await ingest_client.request(
            "hik-gate", multipart, content_type=mp_ct, headers=BASIC
        )
        answers = [
            await ingest_client.request("hik-gate", w.body, content_type="text/xml", headers=BASIC)
            for w in v2
        ]
        heartbeat = await ingest_client.request(
            "hik-gate",
            (FIX / "hikvision_heartbeat_videoloss.xml").read_bytes(),
            content_type="application/xml",
            headers=BASIC,
        )
        bad = await ingest_client.request(
            "hik-gate",
            (FIX / "hikvision_doctype_entities.xml").read_bytes(),
            content_type="application/xml",
            headers=BASIC,
        )
        events = list(out.events)
    assert denied.status == 401
    assert (ok.status, replay.status, heartbeat.status) == (200, 200, 200)
    assert [a.status for a in answers] == [200, 200, 200]
    assert bad.status == 400 and b"DOCTYPE" in bad.body
    assert len(events) == 4  # the replayed bin is dropped
    first = events[0]
    assert first.source == "hik-gate" and first.line == "gate-b"
    assert first.observed_from == datetime(2020, 4, 19, 17, 33, tzinfo=UTC)
    assert first.sequence == 1560
    assert events[2].quality_reasons == (QualityReason.SEQUENCE_GAP,)
    assert src.ctx.counters.malformed == 1
    assert not _routed(ingest_client, "hik-gate")  # route removed when the source stops
    for ident in ("44:47:cc:50:00:c1", "10.60.108.22", "44:47:cc:00:00:01", "10.0.0.64"):
        assert ident not in "".join(e.model_dump_json() for e in events) + caplog.text


async def test_vivotek_push_over_real_http(ingest_client: IngestClient) -> None:
    cfg = {
        "id": "viv-hall",
        "device": "vivotek",
        "auth": {"scheme": "bearer", "token": "t0ken"},
        "max_count": 20,
        "rules": [{"rule": "Entrance", "line": "gate-a"}, {"rule": "Side door", "line": "door"}],
    }
    body = (FIX / "vivotek_counting.json").read_bytes()
    async with running(cfg, _http(ingest_client)) as (_, out):
        await wait_until(lambda: _routed(ingest_client, "viv-hall"))
        resp = await ingest_client.request(
            "viv-hall", body, headers={"Authorization": "Bearer t0ken"}
        )
        events = list(out.events)
    assert resp.status == 200
    assert [(e.line, xing(e).in_, xing(e).out) for e in events] == [
        ("gate-a", 17, 9),
        ("door", 3, 0),
    ]
    # 17 + 9 > max_count 20: suspect
    assert events[0].quality == Quality.SUSPECT
    assert events[0].quality_reasons == (QualityReason.ABOVE_MAXIMUM,)
    assert events[1].quality == Quality.OK


# -- AXIS through a real Mosquitto broker and the hub's MQTT transport -----------------


@contextlib.asynccontextmanager
async def _mqtt(broker: Mosquitto) -> AsyncIterator[MqttTransport]:
    ctx = TransportContext(
        instance="local", kind="mqtt", clock=SystemClock(), log=logging.getLogger("t.mqtt")
    )
    transport = MqttTransport(
        MqttTransportConfig(id="local", host=broker.host, port=broker.port), ctx
    )
    task = asyncio.create_task(transport.run(), name="test-mqtt")
    try:
        yield transport
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.mosquitto
async def test_axis_over_real_mosquitto(
    mosquitto: Mosquitto, fake_clock: SteppedClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cfg = {
        "id": "axis-gate",
        "device": "axis",
        "broker": "local",
        "grace_s": 0,
        "scenarios": [
            {"scenario": 1, "line": "gate-a", "direction": "in"},
            {"scenario": 2, "type": "occupancy", "zone": "plaza"},
        ],
    }
    crossings = list(
        simulator.axis_crossline(
            crossings=25, reset_at=[10], drop=[3], serial=SERIAL, seed=5, classes=["human"]
        )
    )
    occupancy = list(simulator.axis_occupancy(messages=3, scenario=2, serial=SERIAL))
    async with _mqtt(mosquitto) as hub_side, _mqtt(mosquitto) as camera:
        lookup = fake_transports(mqtt={"local": hub_side})
        async with running(cfg, lookup, fake_clock) as (src, out):
            await wait_until(lambda: hub_side.connected and camera.connected)
            # the source subscribes after connecting: retry the first publish until it lands
            first = crossings[0]
            assert first.topic is not None
            async with asyncio.timeout(10):
                while src.stats["messages"] == 0:
                    await camera.publish(first.topic, first.body, qos=1)
                    await asyncio.sleep(0.05)
            sent = src.stats["messages"]
            rest = [(w.topic or "", w.body) for w in [*crossings[1:], *occupancy]]
            await camera.publish_many(rest, qos=1)
            await wait_until(lambda: src.stats["messages"] == sent + len(rest))
            fake_clock.advance(3600)  # the camera's clock moves on: every minute closes
            minutes = {int(w.at.timestamp()) // 60 for w in crossings}
            await wait_until(lambda: sum(e.type == "crossing" for e in out.events) == len(minutes))
            events = list(out.events)
    crossing_events = [e for e in events if e.type == "crossing"]
    assert sum(xing(e).in_ for e in crossing_events) == 25  # the dropped one too
    assert all(xing(e).out == 0 for e in crossing_events)
    assert any(QualityReason.COUNTER_RESET in e.quality_reasons for e in crossing_events)
    assert [occ(e).count for e in events if e.type == "occupancy"] == [
        float(json.loads(w.body)["message"]["data"]["human"]) for w in occupancy
    ]
    assert src.ctx.counters.malformed == 0
    text = "".join(e.model_dump_json() for e in events) + caplog.text
    assert SERIAL not in text
