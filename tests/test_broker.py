"""The embedded MQTT broker (``mqtt_broker``) against real clients: the hub's own MQTT
transport (3.1.1 and 5), paho-mqtt, and a real Mosquitto bridging to it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hub.clock import SystemClock
from hub.core.plugins import load_plugins
from hub.core.transports.mqtt import MqttTransport, MqttTransportConfig, codec
from hub.core.transports.mqtt.broker import MqttBroker, MqttBrokerConfig
from hub.errors import AuthenticationFailed
from hub.plugin import TransportContext
from hub.testing.mosquitto import Mosquitto
from hub.transports import Message


def _ctx(kind: str) -> TransportContext:
    return TransportContext(
        instance="test", kind=kind, clock=SystemClock(), log=logging.getLogger(f"test.{kind}")
    )


@contextlib.asynccontextmanager
async def running(obj: Any) -> AsyncIterator[Any]:
    task = asyncio.create_task(obj.run(), name=f"test:{type(obj).__name__}")
    try:
        yield obj
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def broker(**cfg: Any) -> AsyncIterator[MqttBroker]:
    b = MqttBroker(MqttBrokerConfig(port=0, **cfg), _ctx("mqtt_broker"))
    async with running(b):
        await asyncio.wait_for(b.started.wait(), 10)
        yield b


def client(port: int, protocol: str = "5", **cfg: Any) -> MqttTransport:
    return MqttTransport(
        MqttTransportConfig(port=port, protocol=protocol, reconnect_initial_s=0.1, **cfg),  # type: ignore[arg-type]
        _ctx("mqtt"),
    )


async def next_message(messages: AsyncIterator[Message]) -> Message:
    return await asyncio.wait_for(anext(messages), 10)


def test_registered_as_a_builtin_transport_kind() -> None:
    registry = load_plugins()
    assert registry.transports["mqtt_broker"][0] is MqttBroker


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_hub_transport_wildcards_qos_and_retained(protocol: str) -> None:
    async with broker() as b:
        assert b.port is not None
        async with (
            running(client(b.port, protocol)) as sub,
            running(client(b.port, protocol)) as pub,
        ):
            await pub.publish("site/gate-a/state", b"retained", qos=1, retain=True)
            async with sub.subscribe(["site/+/counts", "site/#"], qos=1) as messages:
                first = await next_message(messages)  # the retained message, flagged
                assert (first.topic, first.payload, first.retain) == (
                    "site/gate-a/state",
                    b"retained",
                    True,
                )
                await pub.publish("site/gate-a/counts", b"q1", qos=1)
                await pub.publish("other/topic", b"not for us")
                await pub.publish("site/gate-b/counts", b"q0", qos=0)
                got = [await next_message(messages), await next_message(messages)]
                assert [(m.topic, m.payload, m.qos) for m in got] == [
                    ("site/gate-a/counts", b"q1", 1),  # overlapping filters: delivered once
                    ("site/gate-b/counts", b"q0", 0),
                ]
            health = b.health()
            assert health["clients"] == 2 and health["retained"] == 1
            assert health["messages_in"] == 4 and health["messages_out"] >= 3


async def test_wrong_password_is_refused() -> None:
    async with broker(username="hub", password="s3cret") as b:
        assert b.port is not None
        async with running(client(b.port, username="hub", password="wrong")) as c:
            with pytest.raises(AuthenticationFailed):
                for _ in range(100):  # until the first CONNECT was answered
                    await c.publish("t", b"x")
                    await asyncio.sleep(0.05)
        async with running(client(b.port, username="hub", password="s3cret")) as c:
            await c.publish("t", b"x", qos=1)  # acknowledged: logged in
        assert b.refused >= 1


def _raw(port: int, packets: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(packets)
    return s


async def test_a_slow_subscriber_is_disconnected_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with broker(max_queued=5) as b:
        assert b.port is not None
        connect = codec.connect_packet(client_id="slow", v5=False, keepalive=0, clean_start=True)
        sub = codec.subscribe_packet(1, [("#", 1)], v5=False)
        slow = await asyncio.to_thread(_raw, b.port, connect + sub)  # never acknowledges
        try:
            async with running(client(b.port)) as pub:
                while not b.clients.get("slow") or not b.clients["slow"].subs:
                    await asyncio.sleep(0.02)
                with caplog.at_level(logging.WARNING):
                    for i in range(10):
                        await pub.publish(f"t/{i}", b"x", qos=1)
                        if b.slow_disconnects:
                            break
                assert b.slow_disconnects == 1
                assert "slow" not in b.clients
                assert "is too slow (more than 5 messages queued); disconnected" in caplog.text
                await pub.publish("t/after", b"still fine", qos=1)  # others carry on
        finally:
            slow.close()


@pytest.mark.parametrize(
    "garbage",
    [b"\x30\x03\x00\x01a", b"\x10\x07\x00\x03XYZ\x04\x02"],
    ids=["publish-before-connect", "not-mqtt"],
)
async def test_garbage_closes_only_that_connection(garbage: bytes) -> None:
    async with broker() as b:
        assert b.port is not None
        bad = await asyncio.to_thread(_raw, b.port, garbage)
        try:
            assert await asyncio.to_thread(bad.recv, 100) == b""  # closed by the broker
        finally:
            bad.close()
        async with running(client(b.port)) as c:
            await c.publish("t", b"x", qos=1)


async def test_paho_client_publishes_and_receives() -> None:
    """paho-mqtt: an independent client implementation (its own thread)."""
    import paho.mqtt.client as mqtt  # a dev dependency: an independent client implementation

    async with broker() as b:
        port = b.port
        got: list[tuple[str, bytes, int]] = []
        subscribed, received = threading.Event(), threading.Event()

        def on_message(c: Any, u: Any, msg: Any) -> None:
            got.append((msg.topic, msg.payload, msg.qos))
            if len(got) == 2:
                received.set()

        paho = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho-test")
        paho.on_message = on_message
        paho.on_subscribe = lambda *a: subscribed.set()
        paho.connect("127.0.0.1", port)
        paho.loop_start()
        try:
            paho.subscribe("devices/+/up", qos=1)
            assert await asyncio.to_thread(subscribed.wait, 10)
            async with running(client(port, "3.1.1")) as hub_client:
                await hub_client.publish("devices/pax/up", b"from the hub", qos=1)
                info = paho.publish("devices/paho/up", b"from paho", qos=1)
                await asyncio.to_thread(info.wait_for_publish, 10)
                assert await asyncio.to_thread(received.wait, 10)
        finally:
            paho.disconnect()
            paho.loop_stop()
        assert sorted(got) == sorted(
            [("devices/pax/up", b"from the hub", 1), ("devices/paho/up", b"from paho", 1)]
        )


@pytest.mark.mosquitto
async def test_mosquitto_bridges_to_the_embedded_broker(tmp_path: Path) -> None:
    """A real Mosquitto connects to the embedded broker as a bridge (an MQTT 3.1.1
    client written by others) and relays in both directions."""
    async with broker() as b:
        assert b.port is not None
        bridge = [
            "connection embedded",
            f"address 127.0.0.1:{b.port}",
            "bridge_protocol_version mqttv311",
            "cleansession true",
            "try_private false",
            "topic to-embedded/# out 1",
            "topic from-embedded/# in 1",
        ]
        with Mosquitto(tmp_path / "mosquitto", extra_config=bridge) as mosq:
            async with (
                running(client(b.port, "3.1.1")) as on_embedded,
                running(client(mosq.port)) as on_mosquitto,
                on_embedded.subscribe(["to-embedded/#"], qos=1) as here,
                on_mosquitto.subscribe(["from-embedded/#"], qos=1) as there,
            ):
                while not any("from-embedded/#" in c.subs for c in b.clients.values()):
                    await asyncio.sleep(0.05)  # the bridge is connected and subscribed
                await on_mosquitto.publish("to-embedded/x", b"via mosquitto", qos=1)
                m = await next_message(here)
                assert (m.topic, m.payload) == ("to-embedded/x", b"via mosquitto")
                await on_embedded.publish("from-embedded/y", b"via embedded", qos=1)
                m = await next_message(there)
                assert (m.topic, m.payload) == ("from-embedded/y", b"via embedded")
