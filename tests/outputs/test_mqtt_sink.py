"""The ``mqtt`` sink publishing through the real MQTT transport to a real Mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from hub import Crossing, Event, Occupancy, SinkUnavailable
from hub.clock import SystemClock
from hub.core.transports.mqtt import MqttTransport, MqttTransportConfig
from hub.outputs.mqtt import MqttSink, MqttSinkConfig, register_sinks
from hub.plugin import Transport, TransportContext
from hub.testing import sink_context, source_context
from hub.testing.mosquitto import Mosquitto
from hub.transports import Message

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def events() -> list[Event]:
    ctx = source_context("wifi_counter", "gate-a")
    occupancy = ctx.event(Occupancy(count=42), observed_at=T0, zone="hall", key=1)
    crossing = ctx.event(
        Crossing(in_=3, out=1),
        observed_from=T0 - timedelta(minutes=1),
        observed_to=T0,
        zone="hall",
        line="door-1",
        key=2,
    )
    nowhere = ctx.event(Occupancy(count=1), observed_at=T0, key=3)
    nowhere = Event.model_validate(nowhere.model_dump() | {"site": None})  # no site, no zone
    return [occupancy, crossing, nowhere]


@contextlib.asynccontextmanager
async def broker_transport(broker: Mosquitto, **kw: Any) -> AsyncIterator[MqttTransport]:
    cfg = MqttTransportConfig(
        host=broker.host, port=broker.port, reconnect_initial_s=0.05, reconnect_max_s=0.5, **kw
    )
    t = MqttTransport(
        cfg, TransportContext("default", "mqtt", SystemClock(), logging.getLogger("test.mqtt"))
    )
    task = asyncio.create_task(t.run())
    try:
        yield t
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def make_sink(transport: MqttTransport, **kw: Any) -> MqttSink:
    def lookup(kind: str, instance: str | None) -> Transport[Any]:
        assert (kind, instance) == ("mqtt", kw.get("broker", "default"))
        return transport

    cfg = MqttSinkConfig(id="events", **kw)
    return MqttSink(cfg, sink_context("mqtt", "events", transports=lookup))


async def take(messages: AsyncIterator[Message], n: int) -> list[Message]:
    out: list[Message] = []
    async with asyncio.timeout(10):
        async for msg in messages:
            out.append(msg)
            if len(out) == n:
                break
    return out


@pytest.mark.mosquitto
@pytest.mark.parametrize("qos", [0, 1, 2])
async def test_events_are_published_as_json_to_the_templated_topic(
    mosquitto: Mosquitto, qos: int
) -> None:
    async with broker_transport(mosquitto) as mqtt:
        sink = make_sink(mqtt, qos=qos)
        await sink.open()
        async with mqtt.subscribe(["crowdhub/#"], qos=2) as messages:
            batch = events()
            await sink.write(batch)
            got = await take(messages, 3)
        await sink.close()
    assert [m.topic for m in got] == [
        "crowdhub/site/hall/occupancy",
        "crowdhub/site/hall/crossing",
        "crowdhub/-/-/occupancy",
    ]
    assert [Event.model_validate_json(m.payload) for m in got] == batch
    assert json.loads(got[1].payload)["measurement"]["in"] == 3
    assert {m.qos for m in got} == {qos}


@pytest.mark.mosquitto
async def test_every_template_field_and_retain(mosquitto: Mosquitto) -> None:
    async with broker_transport(mosquitto) as mqtt:
        sink = make_sink(mqtt, topic="x/{kind}/{source}/{line}/{zone}/{measurement}", retain=True)
        await sink.write(events()[1:2])
        async with mqtt.subscribe(["x/#"], qos=1) as messages:  # subscribed after: retained
            (msg,) = await take(messages, 1)
    assert msg.topic == "x/wifi_counter/gate-a/door-1/hall/crossing"
    assert msg.retain


@pytest.mark.mosquitto
async def test_broker_down_means_retry_later(mosquitto: Mosquitto) -> None:
    mosquitto.stop()
    async with broker_transport(mosquitto) as mqtt:
        sink = make_sink(mqtt)
        with pytest.raises(SinkUnavailable, match="not connected"):
            await sink.write(events())


@pytest.mark.parametrize(
    ("topic", "problem"),
    [
        ("crowdhub/{room}", "unknown field {room} in topic template; available: {site}"),
        ("crowdhub/{zone", "topic template is not valid"),
        ("crowdhub/{zone!r}", "conversions are not supported"),
        ("crowdhub/+/{zone}", "wildcards"),
    ],
)
def test_bad_templates_are_config_errors(topic: str, problem: str) -> None:
    with pytest.raises(ValidationError) as err:
        MqttSinkConfig(id="events", topic=topic)
    assert problem in str(err.value)


def test_required_transport_and_registration() -> None:
    cfg = MqttSinkConfig(id="events", broker="site-broker")
    assert MqttSink.required_transports(cfg) == [("mqtt", "site-broker")]
    registered: list[type] = []
    register_sinks(registered.append)
    assert registered == [MqttSink]
    assert MqttSinkConfig(id="e").qos == 1
