"""TTN uplinks through a real Mosquitto broker (the hub's MQTT transport on both sides):
late frames, duplicates, MAC-only frames and a frame refused then published again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import hub
from hub.clock import SystemClock
from hub.core.transports.mqtt import MqttTransport, MqttTransportConfig
from hub.plugin import TransportContext
from hub.plugins.wifi_counter.config import WifiCounterConfig
from hub.plugins.wifi_counter.simulator import pax_payload, ttn_uplink
from hub.plugins.wifi_counter.source import WifiCounterSource
from hub.site import Site
from hub.testing import EventCollector, source_context
from hub.testing.fakes import fake_transports
from hub.testing.mosquitto import Mosquitto

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


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


async def _until(check: Any) -> None:
    async with asyncio.timeout(10):
        while not check():
            await asyncio.sleep(0.01)


def _up(f_cnt: int, minute: int, *, f_port: int = 1, decoded: bool = True) -> tuple[str, bytes]:
    fields = {"wifi": 10 + f_cnt % 10, "ble": 2, "pax": 12 + f_cnt % 10} if decoded else None
    return ttn_uplink(
        pax_payload(10 + f_cnt % 10, 2) if f_port else b"",
        f_port=f_port,
        f_cnt=f_cnt,
        received_at=T0 + timedelta(minutes=minute),
        decoded=fields,
    )


@pytest.mark.mosquitto
async def test_ttn_late_duplicate_mac_only_and_refused_frames_over_mosquitto(
    mosquitto: Mosquitto, site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    cfg = WifiCounterConfig(
        id="pax-ttn",
        zone="boulevard",
        input="ttn",
        broker="local",
        ttn_application="crowd-demo",
        ttn_payload="decoded",
    )
    plan = [
        _up(100, 0),
        _up(103, 3),  # 101 and 102 are late
        _up(101, 1),  # late (older received_at): out of order, not a restart
        _up(101, 1),  # the same frame again: a duplicate
        _up(104, 4, f_port=0, decoded=False),  # MAC-only
        _up(105, 5, decoded=False),  # no payload formatter yet: refused (malformed)
        _up(105, 5),  # published again once the formatter is set: accepted
    ]
    out = EventCollector()
    async with _mqtt(mosquitto) as hub_side, _mqtt(mosquitto) as network_server:
        ctx = source_context(
            "wifi_counter",
            cfg.id,
            site=site,
            emit=out,
            transports=fake_transports(mqtt={"local": hub_side}),
        )
        src = WifiCounterSource(cfg, ctx)
        task = asyncio.create_task(src.run(), name="test-ttn")
        try:
            await _until(lambda: hub_side.connected and network_server.connected)
            topic, first = plan[0]
            async with asyncio.timeout(10):
                while src.stats["uplinks"] == 0:  # the source subscribes after connecting
                    await network_server.publish(topic, first, qos=1)
                    await asyncio.sleep(0.05)
            await network_server.publish_many(plan[1:], qos=1)
            await _until(lambda: src.stats["uplinks"] >= len(plan))
            await out.wait_for(4)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert [e.sequence for e in out.events] == [100, 103, 101, 105]
    assert all(isinstance(e.measurement, hub.Devices) for e in out.events)
    assert hub.QualityReason.SEQUENCE_GAP in out.events[1].quality_reasons
    assert src.ctx.counters.malformed == 1
    status = src.status()
    assert {k: status[k] for k in ("duplicate", "mac_only", "out_of_order", "restart")} == {
        "duplicate": 1,
        "mac_only": 1,
        "out_of_order": 1,
        "restart": 0,
    }
    assert "restarted" not in caplog.text
    assert "paxcounter-01" not in "".join(e.model_dump_json() for e in out.events)


async def test_ttn_counters_are_in_status_from_the_start(site: Site) -> None:
    cfg = WifiCounterConfig(id="t", input="ttn", ttn_application="crowd-demo")
    src = WifiCounterSource(cfg, source_context("wifi_counter", "t", site=site))
    assert src.status() == dict.fromkeys(
        ("uplinks", "duplicate", "mac_only", "out_of_order", "restart", "gap"), 0
    )
