"""The MQTT transport against a real Mosquitto on 127.0.0.1, plus its sans-io codec."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from hub.clock import SystemClock
from hub.core.transports.mqtt import MqttTransport, MqttTransportConfig, codec
from hub.errors import AuthenticationFailed, DeviceUnavailable, TransportError
from hub.plugin import TransportContext
from hub.testing.mosquitto import Mosquitto
from hub.transports import Message

WAIT_S = 10.0


def transport(broker: Mosquitto, name: str = "t", **kw: Any) -> MqttTransport:
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
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def wait_until(condition: Any, what: str) -> None:
    async with asyncio.timeout(WAIT_S):
        while not condition():
            await asyncio.sleep(0.01)


async def take(messages: AsyncIterator[Message], n: int) -> list[Message]:
    out: list[Message] = []
    async with asyncio.timeout(WAIT_S):
        async for msg in messages:
            out.append(msg)
            if len(out) == n:
                break
    return out


# -- sans-io codec -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        ("a/+/c", "a/b/c", True),
        ("a/+/c", "a/b/d", False),
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("#", "a/b", True),
        ("#", "$SYS/load", False),
        ("+/x", "$SYS/x", False),
        ("$SYS/#", "$SYS/x", True),
        ("$share/g/a/+", "a/b", True),
        ("$share/g/a/+", "a/b/c", False),
        ("a/b", "a/b/c", False),
        ("a/+", "a/", True),
    ],
)
def test_topic_matching(topic_filter: str, topic: str, expected: bool) -> None:
    assert codec.topic_matches(topic_filter, topic) is expected


@pytest.mark.parametrize("bad", ["", "a/#/b", "a/b#", "a+/b", "$share/g", "$share//a"])
def test_invalid_filters_are_named(bad: str) -> None:
    assert codec.check_filter(bad)


def test_decoder_reassembles_packets_split_anywhere() -> None:
    payload = b"x" * 300  # two-byte remaining length
    packets = [
        codec.encode_publish(b"a/b", payload, 1, False, 7, v5=False),
        codec.pid_packet(codec.PUBACK, 9),
        codec.encode_publish(b"c", b"{}", 0, True, 0, v5=False),
    ]
    stream = b"".join(packets)
    for cut in range(1, len(stream)):
        dec = codec.StreamDecoder()
        got = dec.feed(stream[:cut]) + dec.feed(stream[cut:])
        assert [first >> 4 for first, _ in got] == [codec.PUBLISH, codec.PUBACK, codec.PUBLISH]
    first, body = got[0]
    assert codec.decode_publish(first, body, False) == ("a/b", payload, 1, 7, ())
    assert codec.decode_publish(*got[2], False) == ("c", b"{}", 0, 0, ())
    assert got[2][0] & 1  # retain flag


def test_decoder_rejects_an_overlong_length() -> None:
    with pytest.raises(codec.ProtocolViolation):
        codec.StreamDecoder().feed(b"\x30\xff\xff\xff\xff\x7f")


def test_v5_publish_and_properties_round_trip() -> None:
    first, body = codec.StreamDecoder().feed(
        codec.encode_publish(b"t", b"p", 2, False, 513, v5=True)
    )[0]
    assert codec.decode_publish(first, body, True) == ("t", b"p", 2, 513, ())
    # a PUBLISH matching two subscriptions carries both identifiers
    props = b"\x0b\x05\x0b\x81\x01"
    body = b"\x00\x01t" + bytes((len(props),)) + props + b"p"
    assert codec.decode_publish(0x30, body, True) == ("t", b"p", 0, 0, (5, 129))
    # CONNACK with Receive Maximum 20 and a reason string
    props = b"\x21\x00\x14" + b"\x1f\x00\x02ok"
    connack = b"\x00\x00" + bytes((len(props),)) + props
    assert codec.decode_connack(connack, True) == (False, 0, {0x21: 20, 0x1F: "ok"})


def test_config_checks_tls_and_credentials(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="need tls = true"):
        MqttTransportConfig(ca_file=__file__)
    with pytest.raises(ValidationError, match="password needs username"):
        MqttTransportConfig(password="x")
    with pytest.raises(ValidationError, match="ca_file"):
        MqttTransportConfig(tls=True, ca_file=tmp_path / "missing.pem")
    cfg = MqttTransportConfig(username="hub", password="s3cret", tls=True)
    assert "s3cret" not in repr(cfg)
    assert cfg.effective_port == 8883
    assert cfg.client_id.startswith("crowdhub-")
    assert MqttTransportConfig().client_id != cfg.client_id


# -- against a real broker -----------------------------------------------------------------


@pytest.mark.mosquitto
@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
@pytest.mark.parametrize("qos", [0, 1, 2])
async def test_round_trip(mosquitto: Mosquitto, protocol: str, qos: int) -> None:
    sub, pub = transport(mosquitto, "sub", protocol=protocol), transport(mosquitto, "pub")
    async with running(sub, pub), sub.subscribe(["rt/#"], qos=qos) as messages:
        await wait_until(lambda: pub.connected, "publisher connected")
        batch = [(f"rt/{i % 3}", f'{{"n":{i}}}'.encode()) for i in range(200)]
        await pub.publish_many(batch, qos=qos)
        await pub.publish("rt/last", b"x" * 70_000, qos=qos)
        got = await take(messages, 201)
    assert [(m.topic, m.payload) for m in got[:200]] == batch
    assert got[200].payload == b"x" * 70_000
    assert {m.qos for m in got} == {qos}
    assert sub.health()["received"] == 201
    assert pub.health()["published"] == 201


@pytest.mark.mosquitto
@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_wildcards_route_to_the_right_subscriber(mosquitto: Mosquitto, protocol: str) -> None:
    t = transport(mosquitto, protocol=protocol)
    async with (
        running(t),
        t.subscribe(["site/+/in"], qos=1) as ins,
        t.subscribe(["site/#"], qos=1) as everything,
        t.subscribe(["other/+", "site/b/out"], qos=0) as others,
    ):
        for topic in ["site/a/in", "site/b/out", "other/x", "site/a/in/deep", "nobody/here"]:
            await t.publish(topic, topic.encode(), qos=1)
        assert [m.topic for m in await take(ins, 1)] == ["site/a/in"]
        assert [m.topic for m in await take(everything, 3)] == [
            "site/a/in",
            "site/b/out",
            "site/a/in/deep",
        ]
        assert [m.topic for m in await take(others, 2)] == ["site/b/out", "other/x"]
        assert t.health()["subscriptions"] == 3
    assert t.health()["subscriptions"] == 0


@pytest.mark.mosquitto
async def test_retained_message_reaches_a_late_subscriber(mosquitto: Mosquitto) -> None:
    t = transport(mosquitto)
    async with running(t):
        await wait_until(lambda: t.connected, "connected")
        await t.publish("state/door", b"open", qos=1, retain=True)
        async with t.subscribe(["state/#"], qos=1) as messages:
            (msg,) = await take(messages, 1)
    assert (msg.topic, msg.payload, msg.retain) == ("state/door", b"open", True)


@pytest.mark.mosquitto
@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_username_and_password(tmp_path: Path, protocol: str) -> None:
    with Mosquitto(tmp_path, users={"hub": "right horse"}) as broker:
        good = transport(broker, "good", protocol=protocol, username="hub", password="right horse")
        bad = transport(broker, "bad", protocol=protocol, username="hub", password="wrong")
        async with running(good, bad):
            async with good.subscribe(["auth/#"], qos=1) as messages:
                await good.publish("auth/ok", b"1", qos=1)
                assert (await take(messages, 1))[0].payload == b"1"
            with pytest.raises(AuthenticationFailed, match="credentials") as err:
                async with bad.subscribe(["auth/#"]):
                    pass
            assert "wrong" not in str(err.value)
            with pytest.raises(AuthenticationFailed):
                await bad.publish("auth/x", b"1")
            assert bad.health()["connected"] is False


@pytest.mark.mosquitto
async def test_publish_while_the_broker_is_down_raises_device_unavailable(
    mosquitto: Mosquitto,
) -> None:
    mosquitto.stop()
    t = transport(mosquitto, connect_timeout_s=0.5)
    async with running(t):
        with pytest.raises(DeviceUnavailable, match="not connected"):
            await t.publish("x", b"1")
        with pytest.raises(DeviceUnavailable, match="not connected"):
            async with t.subscribe(["x"]):
                pass
        await wait_until(lambda: t.health()["last_error"] is not None, "a failed attempt")
        assert "cannot connect" in t.health()["last_error"]


@pytest.mark.mosquitto
@pytest.mark.parametrize("client_cert", [False, True])
async def test_tls_with_a_generated_ca(tmp_path: Path, client_cert: bool) -> None:
    with Mosquitto(tmp_path, tls=True, require_client_cert=client_cert) as broker:
        files: dict[str, Any] = {"tls": True, "ca_file": broker.ca_file}
        if client_cert:
            files |= {"cert_file": broker.client_cert_file, "key_file": broker.client_key_file}
        t = transport(broker, **files)
        async with running(t), t.subscribe(["secure/+"], qos=1) as messages:
            await t.publish("secure/a", b"hello", qos=1)
            assert (await take(messages, 1))[0].payload == b"hello"
        # without our CA the broker's certificate is not trusted
        untrusted = transport(broker, "untrusted", tls=True, connect_timeout_s=0.5)
        async with running(untrusted):
            await wait_until(lambda: untrusted.health()["last_error"], "a failed handshake")
        assert "TLS handshake failed" in untrusted.health()["last_error"]


@pytest.mark.mosquitto
async def test_broker_restart_mid_stream(mosquitto: Mosquitto) -> None:
    sub, pub = transport(mosquitto, "sub"), transport(mosquitto, "pub")
    received: list[Message] = []

    async def publish_until_received(start: int) -> int:
        """Publish numbered messages until the subscriber has one published from ``start``."""
        n = start
        async with asyncio.timeout(WAIT_S):
            while not any(int(m.payload) >= start for m in received):
                with contextlib.suppress(DeviceUnavailable):
                    await pub.publish("stream/n", str(n).encode(), qos=1)
                    n += 1
                await asyncio.sleep(0.01)
        return n

    async def consume(messages: AsyncIterator[Message]) -> None:
        async for msg in messages:
            received.append(msg)

    async with running(sub, pub), sub.subscribe(["stream/#"], qos=1) as messages:
        async with asyncio.TaskGroup() as tg:
            consumer = tg.create_task(consume(messages))
            await wait_until(lambda: pub.connected, "publisher connected")
            n = await publish_until_received(0)
            await asyncio.to_thread(mosquitto.restart)
            await publish_until_received(n + 1_000_000)
            consumer.cancel()
        assert sub.health()["connected"]
    assert sub.health()["reconnects"] >= 1
    assert pub.health()["reconnects"] >= 1
    assert any(int(m.payload) >= 1_000_000 for m in received)


@pytest.mark.mosquitto
async def test_shared_subscription_splits_a_stream_exactly_once(mosquitto: Mosquitto) -> None:
    hubs = [transport(mosquitto, f"hub{i}", protocol="5") for i in range(2)]
    pub = transport(mosquitto, "pub")
    counts: list[list[int]] = [[], []]
    total = 400

    async def consume(i: int, messages: AsyncIterator[Message]) -> None:
        async for msg in messages:
            counts[i].append(int(msg.payload))

    async with (
        running(*hubs, pub),
        hubs[0].subscribe(["$share/g/jobs/#"], qos=1) as m0,
        hubs[1].subscribe(["$share/g/jobs/#"], qos=1) as m1,
        asyncio.TaskGroup() as tg,
    ):
        tasks = [tg.create_task(consume(0, m0)), tg.create_task(consume(1, m1))]
        await wait_until(lambda: pub.connected, "publisher connected")
        await pub.publish_many([(f"jobs/{i % 7}", str(i).encode()) for i in range(total)], qos=1)
        await wait_until(lambda: len(counts[0]) + len(counts[1]) >= total, "all messages")
        await asyncio.sleep(0.2)  # a duplicate would arrive now
        for task in tasks:
            task.cancel()
    assert sorted(counts[0] + counts[1]) == list(range(total))
    assert counts[0] and counts[1]


@pytest.mark.mosquitto
async def test_a_slow_subscriber_applies_backpressure_without_loss(tmp_path: Path) -> None:
    # Mosquitto drops QoS 1 messages beyond max_queued_messages (default 1000) per client
    with Mosquitto(tmp_path, extra_config=["max_queued_messages 0"]) as broker:
        await _backpressure(broker)


async def _backpressure(broker: Mosquitto) -> None:
    sub, pub = transport(broker, "sub"), transport(broker, "pub", max_queued=50)
    total = 3000
    async with running(sub, pub), sub.subscribe(["bulk/#"], qos=1, queue_size=10) as messages:
        await wait_until(lambda: pub.connected, "publisher connected")
        await pub.publish_many([("bulk/x", str(i).encode()) for i in range(total)], qos=1)
        await wait_until(lambda: sub.health()["backlogged"], "acknowledgements held back")
        got = await take(messages, total)
        assert not sub.health()["backlogged"]
    assert [int(m.payload) for m in got] == list(range(total))
    assert pub.health()["inflight"] == 0
    assert sub.health()["dropped"] == 0


@pytest.mark.mosquitto
@pytest.mark.parametrize("qos", [0, 1])
async def test_a_full_buffer_does_not_block_publishing_on_the_same_connection(
    tmp_path: Path, qos: int
) -> None:
    """A relay whose consumer is stuck must still get its PUBACKs (no deadlock)."""
    with Mosquitto(tmp_path, extra_config=["max_queued_messages 0"]) as broker:
        relay, feed = transport(broker, "relay"), transport(broker, "feed")
        async with (
            running(relay, feed),
            relay.subscribe(["loop/in"], qos=qos, queue_size=10) as incoming,
        ):
            await wait_until(lambda: feed.connected, "feed connected")
            await feed.publish_many([("loop/in", str(i).encode()) for i in range(300)], qos=qos)
            await wait_until(lambda: relay.health()["backlogged"], "buffer full")
            async with asyncio.timeout(WAIT_S):
                await relay.publish_many([("loop/out", b"x")] * 300, qos=1)
            got = await take(incoming, 40)
        assert [int(m.payload) for m in got] == list(range(40))


@pytest.mark.mosquitto
async def test_bad_topics_and_qos_are_refused(mosquitto: Mosquitto) -> None:
    t = transport(mosquitto)
    async with running(t):
        await wait_until(lambda: t.connected, "connected")
        with pytest.raises(TransportError, match="'#' must be"):
            async with t.subscribe(["a/#/b"]):
                pass
        with pytest.raises(TransportError, match="not a valid topic"):
            await t.publish("a/+", b"1")
        with pytest.raises(TransportError, match="QoS"):
            await t.publish("a", b"1", qos=3)


@pytest.fixture
def quiet_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.INFO, logger="test")
    yield caplog


@pytest.mark.mosquitto
async def test_loss_and_recovery_are_logged_once(
    mosquitto: Mosquitto, quiet_logs: pytest.LogCaptureFixture
) -> None:
    t = transport(mosquitto, "logged")
    async with running(t):
        await wait_until(lambda: t.connected, "connected")
        mosquitto.stop()
        await wait_until(lambda: not t.connected, "disconnected")
        await asyncio.sleep(0.3)  # several failed attempts
        mosquitto.start()
        await wait_until(lambda: t.connected, "connected again")
    text = [r.getMessage() for r in quiet_logs.records if r.name == "test.logged"]
    assert sum("connection lost" in m for m in text) == 1
    assert sum("connected again" in m for m in text) == 1
    assert sum("cannot connect" in m for m in text) <= 1
