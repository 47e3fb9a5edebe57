"""Persistent sessions, acknowledgement after handling and the broker's limits, against a
real Mosquitto on 127.0.0.1 (``hub.testing.mosquitto``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hub.clock import SystemClock
from hub.core.transports.mqtt import MqttTransport, MqttTransportConfig
from hub.errors import DeviceUnavailable, TransportError
from hub.plugin import TransportContext
from hub.testing.mosquitto import Mosquitto
from hub.transports import Message

WAIT_S = 10.0
pytestmark = pytest.mark.mosquitto


def transport(broker: Mosquitto, name: str, **kw: Any) -> MqttTransport:
    settings: dict[str, Any] = {
        "host": broker.host,
        "port": broker.port,
        "reconnect_initial_s": 0.05,
        "reconnect_max_s": 0.5,
        "connect_timeout_s": WAIT_S,
    }
    settings.update(kw)
    ctx = TransportContext(
        instance=name, kind="mqtt", clock=SystemClock(), log=logging.getLogger(f"test.{name}")
    )
    return MqttTransport(MqttTransportConfig(**settings), ctx)


@contextlib.asynccontextmanager
async def running(*transports: MqttTransport) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(t.run(), name=f"mqtt-{i}") for i, t in enumerate(transports)]
    try:
        async with asyncio.timeout(WAIT_S):
            while not all(t.connected for t in transports):
                await asyncio.sleep(0.01)
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def take(messages: AsyncIterator[Message], n: int) -> list[bytes]:
    out: list[bytes] = []
    async with asyncio.timeout(WAIT_S):
        async for msg in messages:
            out.append(msg.payload)
            if len(out) == n:
                break
    return out


def persistent_broker(directory: Path, *extra: str) -> Mosquitto:
    """Mosquitto that keeps sessions on disk across its own restarts."""
    store = directory / "store"
    store.mkdir(exist_ok=True)
    config = ["persistence true", f"persistence_location {store}/", "max_queued_messages 0"]
    return Mosquitto(directory, extra_config=[*config, *extra])


class Source:
    """A source as the hub runs one: a task iterating a subscription, cancelled at stop."""

    def __init__(self, t: MqttTransport, filters: list[str]) -> None:
        self.got: list[bytes] = []
        self.subscribed = asyncio.Event()
        self.stuck = asyncio.Event()
        """Set: handling the next message never ends (say, emit() waits for an output)."""
        self.task = asyncio.create_task(self._run(t, filters))

    async def _run(self, t: MqttTransport, filters: list[str]) -> None:
        async with t.subscribe(filters, qos=1) as messages:
            self.subscribed.set()
            async for msg in messages:
                self.got.append(msg.payload)
                if self.stuck.is_set():
                    await asyncio.Event().wait()

    async def wait_for(self, n: int) -> list[bytes]:
        async with asyncio.timeout(WAIT_S):
            while len(self.got) < n:
                await asyncio.sleep(0.01)
        return self.got

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_messages_published_while_the_hub_is_stopped_arrive_after_it_restarts(
    mosquitto: Mosquitto, protocol: str
) -> None:
    pub = transport(mosquitto, "pub")
    hub1 = transport(mosquitto, "hub", client_id=f"hub-{protocol}", protocol=protocol)
    async with running(pub):
        async with running(hub1):
            source = Source(hub1, ["site/#"])
            async with asyncio.timeout(WAIT_S):
                await source.subscribed.wait()
            await pub.publish("site/a", b"0", qos=1)
            assert await source.wait_for(1) == [b"0"]
            await source.stop()  # the hub stops: sources first, then the transport
        # the hub is stopped (not killed): the broker queues for its session
        await pub.publish_many([("site/a", str(i).encode()) for i in range(1, 101)], qos=1)
        hub2 = transport(mosquitto, "hub", client_id=f"hub-{protocol}", protocol=protocol)
        async with running(hub2):
            # the session resumed before any source subscribed: held, not dropped
            async with asyncio.timeout(WAIT_S):
                while hub2.health()["held"] == 0:
                    await asyncio.sleep(0.01)
            source = Source(hub2, ["site/#"])
            got = await source.wait_for(100)
            await source.stop()
            assert hub2.health()["unrouted"] == 0
    assert got == [str(i).encode() for i in range(1, 101)]


async def test_a_message_not_handled_before_a_stop_comes_again(mosquitto: Mosquitto) -> None:
    """Acknowledged only after the consumer handled it: a source that was still
    awaiting emit() when the hub stopped gets the message again on the next start."""
    pub = transport(mosquitto, "pub")
    async with running(pub):
        hub1 = transport(mosquitto, "hub", client_id="hub-ack")
        async with running(hub1):
            source = Source(hub1, ["ack/#"])
            async with asyncio.timeout(WAIT_S):
                await source.subscribed.wait()
            await pub.publish("ack/x", b"handled", qos=1)
            await source.wait_for(1)
            source.stuck.set()
            await pub.publish("ack/x", b"in hand", qos=1)
            await source.wait_for(2)
            async with asyncio.timeout(WAIT_S):
                while hub1.health()["unacknowledged"] != 1:  # "handled" is acknowledged
                    await asyncio.sleep(0.01)
            await source.stop()
        hub2 = transport(mosquitto, "hub", client_id="hub-ack")
        async with running(hub2):
            source = Source(hub2, ["ack/#"])
            await pub.publish("ack/x", b"new", qos=1)
            assert await source.wait_for(2) == [b"in hand", b"new"]
            await source.stop()


async def test_a_broker_restart_loses_nothing_at_qos1(tmp_path: Path) -> None:
    with persistent_broker(tmp_path) as broker:
        pub = transport(broker, "pub", client_id="pub-restart")
        sub = transport(broker, "sub", client_id="sub-restart")
        total, got = 400, set[int]()

        async def consume(messages: AsyncIterator[Message]) -> None:
            async for msg in messages:
                got.add(int(msg.payload))

        async with running(pub, sub), sub.subscribe(["r/#"], qos=1) as messages:
            async with asyncio.TaskGroup() as tg:
                consumer = tg.create_task(consume(messages))
                for i in range(total):
                    if i == total // 2:
                        await asyncio.to_thread(broker.restart)
                    async with asyncio.timeout(WAIT_S):
                        while True:  # the application retries what was refused
                            try:
                                await pub.publish("r/n", str(i).encode(), qos=1)
                                break
                            except DeviceUnavailable:
                                await asyncio.sleep(0.02)
                async with asyncio.timeout(WAIT_S):
                    while len(got) < total:
                        await asyncio.sleep(0.01)
                consumer.cancel()
            assert sub.health()["reconnects"] >= 1
    assert got == set(range(total))


async def test_limits_of_mosquitto_are_honoured(tmp_path: Path) -> None:
    """max_keepalive 10 (MQTT 5 tells us; 3.1.1 with keepalive_s = 10), max_packet_size,
    persistent_client_expiration: nobody is dropped; a too large publish is refused by
    us, with a clear error, instead of by the broker closing the connection."""
    extra = ["max_keepalive 10", "max_packet_size 2000", "persistent_client_expiration 1h"]
    with Mosquitto(tmp_path, extra_config=extra) as broker:
        v5 = transport(broker, "v5", client_id="hub-v5", protocol="5", keepalive_s=60)
        v3 = transport(broker, "v3", client_id="hub-v3", protocol="3.1.1", keepalive_s=10)
        small = transport(broker, "small", protocol="5", max_packet_bytes=1500)
        async with running(v5, v3, small), small.subscribe(["lim/#"], qos=1) as messages:
            with pytest.raises(TransportError, match="maximum packet size"):
                await v5.publish("lim/big", b"x" * 3000, qos=1)
            await v3.publish("lim/mid", b"z" * 1800, qos=1)  # more than small takes
            await v5.publish("lim/ok", b"y" * 1000, qos=1)
            assert await take(messages, 1) == [b"y" * 1000]
            async with asyncio.timeout(1.0):
                await v3.publish_many([], qos=1)  # returns at once
            await asyncio.sleep(17)  # longer than 1.5 x the broker's keep-alive
            assert [t.health()["reconnects"] for t in (v5, v3, small)] == [0, 0, 0]
            assert "exceeded timeout" not in broker.log_text()
