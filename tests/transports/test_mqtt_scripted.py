"""The MQTT client against a scripted broker (``mqtt_script``): the session, limit and
acknowledgement cases Mosquitto cannot be made to produce on demand."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hub.clock import SystemClock
from hub.core.transports.mqtt import MqttTransport, MqttTransportConfig, codec
from hub.errors import DeviceUnavailable, TransportError
from hub.plugin import TransportContext
from hub.transports import Message

from .mqtt_script import WAIT_S, Peer, ScriptedBroker, publish, suback

PUBACK, PUBREC, PUBREL, PUBCOMP = codec.PUBACK, codec.PUBREC, codec.PUBREL, codec.PUBCOMP


def transport(port: int, name: str = "s", **kw: Any) -> MqttTransport:
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "client_id": f"hub-{name}",
        "reconnect_initial_s": 0.02,
        "reconnect_max_s": 0.2,
        "connect_timeout_s": WAIT_S,
        "protocol": "3.1.1",
    }
    settings.update(kw)
    ctx = TransportContext(
        instance=name, kind="mqtt", clock=SystemClock(), log=logging.getLogger(f"test.{name}")
    )
    return MqttTransport(MqttTransportConfig(**settings), ctx)


@contextlib.asynccontextmanager
async def running(t: MqttTransport) -> AsyncIterator[None]:
    task = asyncio.create_task(t.run(), name="mqtt")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def pid_of(body: bytes) -> int:
    return int(struct.unpack_from("!H", body)[0])


async def answer_subscribe(peer: Peer, v5: bool = False) -> int:
    _, body = await peer.expect(codec.SUBSCRIBE)
    pid = pid_of(body)
    peer.send(suback(pid, [1], v5))
    return pid


def connect_flags(body: bytes) -> int:
    return body[7]


async def test_connect_asks_for_a_persistent_session_and_honours_session_present() -> None:
    async with ScriptedBroker() as broker:
        t = transport(broker.port, protocol="5")
        async with running(t):
            sub = t.subscribe(["s/#"], qos=1)
            opening = asyncio.ensure_future(sub.__aenter__())
            peer, body = await broker.session(present=False, props=b"")
            assert not connect_flags(body) & 0x02  # clean start off
            props, _ = codec.decode_properties(body, 10)
            assert props[0x11] == 86_400  # session expiry: one day
            assert props[0x27] == 1 << 20  # the largest packet we take
            await answer_subscribe(peer, v5=True)
            messages = await opening
            peer.close()

            # the broker kept the session: no SUBSCRIBE, messages flow at once
            peer, _ = await broker.session(present=True, props=b"")
            peer.send(publish("s/a", b"kept", 1, 5, v5=True))
            assert (await anext(messages)).payload == b"kept"
            peer.send(publish("s/b", b"next", 1, 6, v5=True))
            assert (await anext(messages)).payload == b"next"
            _, ack = await peer.expect(PUBACK)  # the first, handled; nothing subscribed
            assert pid_of(ack) == 5
            peer.close()

            # the broker lost it: subscribe again
            peer, _ = await broker.session(present=False, props=b"")
            await answer_subscribe(peer, v5=True)
            await sub.__aexit__(None, None, None)


async def test_qos2_is_delivered_once_across_reconnects() -> None:
    async with ScriptedBroker() as broker:
        t = transport(broker.port)
        got: list[bytes] = []
        async with running(t):
            peer, _ = await broker.session()
            sub = t.subscribe(["q/#"], qos=2)
            opening = asyncio.ensure_future(sub.__aenter__())
            await answer_subscribe(peer)
            messages = await opening

            peer.send(publish("q/x", b"a", 2, 7, v5=False))
            got.append((await anext(messages)).payload)
            peer.send(publish("q/x", b"b", 2, 8, v5=False))
            got.append((await anext(messages)).payload)  # "a" handled: PUBREC 7
            _, rec = await peer.expect(PUBREC)
            assert pid_of(rec) == 7
            peer.close()  # PUBREL never sent; "b" taken but not handled yet

            peer, _ = await broker.session(present=True)
            peer.send(publish("q/x", b"a", 2, 7, v5=False, dup=True))  # PUBREC was lost
            peer.send(publish("q/x", b"b", 2, 8, v5=False, dup=True))
            _, rec = await peer.expect(PUBREC)  # answered, not delivered again
            assert pid_of(rec) == 7
            peer.send(codec.pid_packet(PUBREL, 7))
            _, comp = await peer.expect(PUBCOMP)
            assert pid_of(comp) == 7
            peer.send(publish("q/x", b"c", 2, 9, v5=False))
            got.append((await anext(messages)).payload)  # "b" handled now: PUBREC 8
            _, rec = await peer.expect(PUBREC)
            assert pid_of(rec) == 8
            await sub.__aexit__(None, None, None)
            _, rec = await peer.expect(PUBREC)  # left normally: "c" handled
            assert pid_of(rec) == 9
        assert got == [b"a", b"b", b"c"]


async def test_unacknowledged_publishes_are_resent_with_dup() -> None:
    async with ScriptedBroker() as broker:
        t = transport(broker.port)
        async with running(t):
            peer, _ = await broker.session()
            one = asyncio.ensure_future(t.publish("o/1", b"one", qos=1))
            first, body = await peer.expect(codec.PUBLISH)
            assert not first & 0x08
            two = asyncio.ensure_future(t.publish("o/2", b"two", qos=2))
            _, body2 = await peer.expect(codec.PUBLISH)
            peer.send(codec.pid_packet(PUBREC, pid_of(body2[5:])))
            _, rel = await peer.expect(PUBREL)
            peer.close()

            peer, _ = await broker.session(present=True)
            first, again = await peer.expect(codec.PUBLISH)
            assert first & 0x08 and again == body  # DUP, same packet id and message
            _, rel_again = await peer.expect(PUBREL)  # QoS 2 resumes where it was
            assert rel_again == rel
            assert not one.done() and not two.done()
            peer.send(codec.pid_packet(PUBACK, pid_of(body[5:])))
            peer.send(codec.pid_packet(PUBCOMP, pid_of(rel)))
            async with asyncio.timeout(WAIT_S):
                await one
                await two

            three = asyncio.ensure_future(t.publish("o/3", b"three", qos=1))
            await peer.expect(codec.PUBLISH)
            peer.close()
            await broker.session(present=False)  # session gone: the caller publishes again
            with pytest.raises(DeviceUnavailable, match="did not keep our session"):
                async with asyncio.timeout(WAIT_S):
                    await three


async def test_the_server_keep_alive_replaces_ours() -> None:
    async with ScriptedBroker() as broker:
        t = transport(broker.port, protocol="5", keepalive_s=600)
        async with running(t):
            peer, body = await broker.session(props=b"\x13" + struct.pack("!H", 1))
            assert struct.unpack_from("!H", body, 8)[0] == 600
            first, _ = await peer.packet(skip_pings=False)  # well before our own 300 s
            assert first >> 4 == codec.PINGREQ
            assert t.connected


async def test_maximum_qos_retain_and_packet_size_of_the_broker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="test")
    async with ScriptedBroker() as broker:
        t = transport(broker.port, protocol="5")
        props = b"\x24\x00" + b"\x25\x00" + b"\x27" + struct.pack("!I", 200)
        async with running(t):
            peer, _ = await broker.session(props=props)
            async with asyncio.timeout(WAIT_S):
                while not t.connected:
                    await asyncio.sleep(0.01)
            for _ in range(2):
                await t.publish("m/x", b"1", qos=1, retain=True)  # QoS 0: returns once sent
                first, _ = await peer.expect(codec.PUBLISH)
                assert (first >> 1) & 3 == 0 and not first & 1
            with pytest.raises(TransportError, match="maximum packet size"):
                await t.publish("m/x", b"x" * 300)
    text = [r.getMessage() for r in caplog.records if r.name == "test.s"]
    assert sum("QoS 0 at most" in m for m in text) == 1
    assert sum("retain is off" in m for m in text) == 1


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_an_oversized_packet_is_refused_and_the_client_reconnects(
    protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="test")
    async with ScriptedBroker() as broker:
        t = transport(broker.port, protocol=protocol, max_packet_bytes=4096)
        v5 = protocol == "5"
        async with running(t):
            for _ in range(2):
                peer, _ = await broker.session(props=b"" if v5 else None)
                head = b"\x32" + codec.encode_vbi(32 << 20) + b"\x00\x03big\x00\x01"
                peer.send(head + b"x" * 10_000)  # announces 32 MB; we never send the rest
                await peer.closed()  # refused at once, not read into memory
            await broker.session(props=b"" if v5 else None)
            async with asyncio.timeout(WAIT_S):
                while not t.connected:
                    await asyncio.sleep(0.01)
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "test.s" and r.levelno >= logging.WARNING
    ]
    assert sum("refused a packet of 33,554,4" in m for m in warnings) == 1, warnings
    assert t.health()["reconnects"] == 2


async def test_a_message_is_acknowledged_only_after_it_was_handled() -> None:
    async with ScriptedBroker() as broker:
        t = transport(broker.port)
        async with running(t):
            peer, _ = await broker.session()
            sub = t.subscribe(["h/#"], qos=1)
            opening = asyncio.ensure_future(sub.__aenter__())
            await answer_subscribe(peer)
            messages = await opening
            peer.send(publish("h/1", b"first", 1, 3, v5=False))
            msg: Message = await anext(messages)
            assert msg.payload == b"first"
            # while "first" is being handled (say, awaiting emit), the hub publishes
            await t.publish("marker", b"", qos=0)
            first, _ = await peer.packet()
            assert first >> 4 == codec.PUBLISH  # no PUBACK went out before it
            peer.send(publish("h/2", b"second", 1, 4, v5=False))
            assert (await anext(messages)).payload == b"second"
            _, ack = await peer.expect(PUBACK)
            assert pid_of(ack) == 3
            # leaving with an error: "second" is not handled, not acknowledged, held
            with contextlib.suppress(RuntimeError):
                await sub.__aexit__(RuntimeError, RuntimeError("boom"), None)
            assert t.health()["held"] == 1 and t.health()["unacknowledged"] == 1
            # the subscription stays with the broker: neither UNSUBSCRIBE nor SUBSCRIBE
            async with t.subscribe(["h/#"], qos=1) as again:  # a restarted source gets it
                assert (await anext(again)).payload == b"second"
            _, ack = await peer.expect(PUBACK)
            assert pid_of(ack) == 4


async def test_unsubscribe_keeps_its_packet_id_until_the_unsuback() -> None:
    async with ScriptedBroker() as broker:
        t = transport(broker.port)
        async with running(t):
            peer, _ = await broker.session()
            sub = t.subscribe(["u/#"], qos=1)
            opening = asyncio.ensure_future(sub.__aenter__())
            await answer_subscribe(peer)
            await opening
            await sub.__aexit__(None, None, None)
            _, body = await peer.expect(codec.UNSUBSCRIBE)
            pid = pid_of(body)
            session = t.session
            assert pid in session.requests
            session._next_pid = pid - 1  # the counter comes round to it: skipped
            assert session.next_pid() != pid
            peer.send(codec.encode_packet(0xB0, struct.pack("!H", pid)))
            async with asyncio.timeout(WAIT_S):
                while pid in session.requests:
                    await asyncio.sleep(0.01)


def test_a_large_packet_is_decoded_without_copying_its_prefix_again() -> None:
    payload = b"y" * (8 << 20)
    stream = codec.encode_publish(b"big", payload, 0, False, 0, v5=False) + b"\xd0\x00"
    dec = codec.StreamDecoder(16 << 20)
    out: list[tuple[int, bytes]] = []
    for i in range(0, len(stream), 65536):
        out += dec.feed(stream[i : i + 65536])
        assert len(dec._buf) < 65536  # the chunks of the big one are kept, not joined per feed
    assert [first >> 4 for first, _ in out] == [codec.PUBLISH, codec.PINGRESP]
    assert codec.decode_publish(*out[0], False)[1] == payload
