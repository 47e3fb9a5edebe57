"""The lidar source end to end: fake transports for logic, real pty / aiohttp for the wire.

Fakes (hub.testing.fakes) drive the sources with a FakeClock so interval boundaries are
exact; the ``real`` tests use the real serial transport on pseudo-terminals and the real
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
from hub.plugins.lidar.config import LidarConfig
from hub.plugins.lidar.protocol import RPLIDAR_GET_HEALTH, RPLIDAR_SCAN, RPLIDAR_STOP
from hub.plugins.lidar.simulator import (
    rplidar_health,
    rplidar_scan,
    tf_beam_stream,
    xovis_live_push,
    xovis_logics_push,
    xovis_logics_sequence,
)
from hub.plugins.lidar.source import LidarSource
from hub.site import Site
from hub.testing import EventCollector, FakeClock, source_context
from hub.testing.fakes import (
    FakeHttpIngest,
    FakeMessageTransport,
    FakeSerialTransport,
    fake_transports,
)

from .helpers import FIXTURES

WAIT_S = 10.0
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # FakeClock's start
POLYGON = [[0.5, -3.0], [5.0, -3.0], [5.0, 3.0], [0.5, 3.0]]


@contextlib.asynccontextmanager
async def running(
    config: dict[str, Any], site: Site, transports: Any, clock: Any = None
) -> AsyncIterator[tuple[LidarSource, EventCollector, asyncio.Task[None]]]:
    collector = EventCollector()
    cfg = LidarConfig(**config)
    ctx = source_context(
        "lidar", cfg.id, site=site, emit=collector, transports=transports, clock=clock
    )
    src = LidarSource(cfg, ctx)
    task = asyncio.create_task(src.run(), name=f"test-{cfg.id}")
    try:
        yield src, collector, task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, DeviceUnavailable):
            await task


async def until(check: Callable[[], bool], what: str) -> None:
    async with asyncio.timeout(WAIT_S):
        while not check():
            await asyncio.sleep(0.01)


def feed(fake: FakeSerialTransport, data: bytes, size: int = 4000) -> None:
    for i in range(0, len(data), size):
        fake.feed(data[i : i + size])


# -- config ----------------------------------------------------------------------------------


def test_required_transports() -> None:
    beam = LidarConfig(id="b", serial={"port": "/dev/x"}, line="gate-a")
    assert LidarSource.required_transports(beam) == [("serial", None)]
    mqtt = LidarConfig(id="x", device="xovis", transport="mqtt", broker="local", line="gate-a")
    assert LidarSource.required_transports(mqtt) == [("mqtt", "local")]
    http = LidarConfig(id="x", device="xovis", line="gate-a", auth={"scheme": "none"})
    assert LidarSource.required_transports(http) == [("http", None)]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"serial": {"port": "/dev/x"}}, "set 'line'"),
        ({"line": "gate-a"}, "'serial'"),
        ({"device": "rplidar", "serial": {"port": "/dev/x"}, "zone": "z"}, "polygon"),
        ({"device": "xovis", "line": "gate-a"}, "needs a token"),
        ({"device": "xovis", "auth": {"scheme": "none"}}, "'logics'"),
        ({"device": "xovis", "logics": [{"logic": 1, "line": "a", "zone": "b"}]}, "exactly one"),
        ({"serial": {"port": "/dev/x"}, "line": "a", "colour": "red"}, "Extra inputs"),
    ],
)
def test_config_errors_say_what_to_do(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        LidarConfig(id="bad", **config)


# -- TF-Luna, one beam (fake serial, fake clock) -----------------------------------------------


async def test_one_beam_counts_passages_per_interval(site: Site) -> None:
    serial = FakeSerialTransport()
    config = {
        "id": "gate-a-beam",
        "serial": {"port": "/dev/ttyUSB0"},
        "line": "gate-a",
        "interval_s": 10,
    }
    data = tf_beam_stream(
        [(2.0, 0.3), (5.0, 0.25), (13.0, 0.4)],
        duration_s=25.0,
        noise_cm=4.0,
        corrupt_every=50,
        unreliable_every=20,
    )
    async with running(config, site, fake_transports(serial=serial), FakeClock()) as (
        src,
        events,
        task,
    ):
        feed(serial, data)
        await events.wait_for(2, WAIT_S)
        serial.unplug()
        with pytest.raises(DeviceUnavailable):
            await asyncio.wait_for(task, WAIT_S)
    first, second, partial = events.events
    assert [e.measurement for e in (first, second, partial)] == [
        hub.Crossing(in_=2, out=0),
        hub.Crossing(in_=1, out=0),
        hub.Crossing(in_=0, out=0),  # zero-count intervals are emitted too
    ]
    assert (first.observed_from, first.observed_to) == (T0, T0 + timedelta(seconds=10))
    assert partial.observed_from == T0 + timedelta(seconds=20)
    assert partial.observed_to is not None
    assert abs((partial.observed_to - T0).total_seconds() - 24.99) < 0.1  # the last frame
    assert first.line == "gate-a" and first.zone == "boulevard"
    assert first.quality == hub.Quality.OK
    lidar = first.extras["lidar"]
    # every 20th frame has amp < 100; every 100th of those is also corrupt (not a reading)
    assert lidar["undirected"] is True and lidar["unreliable_readings"] == 50 - 10
    assert lidar["temperature_c"] == pytest.approx(24.5, abs=0.6)
    assert partial.extras["lidar"]["partial"] is True
    assert src.ctx.counters.malformed >= 50  # every 50th frame had a bad checksum


async def test_mostly_unreliable_signal_marks_the_interval_suspect(site: Site) -> None:
    serial = FakeSerialTransport()
    config = {"id": "b", "serial": {"port": "/dev/x"}, "line": "gate-a", "interval_s": 1}
    async with running(config, site, fake_transports(serial=serial), FakeClock()) as (_, ev, _t):
        feed(serial, tf_beam_stream([], duration_s=2.5, unreliable_every=1))
        (e,) = (await ev.wait_for(1, WAIT_S))[:1]
    assert e.quality == hub.Quality.SUSPECT
    assert hub.QualityReason.UNRELIABLE_SIGNAL in e.quality_reasons


async def test_single_beam_as_out_and_max_count(site: Site) -> None:
    serial = FakeSerialTransport()
    config = {
        "id": "b",
        "serial": {"port": "/dev/x"},
        "line": "gate-a",
        "interval_s": 5,
        "single_beam_as": "out",
        "max_count": 1,
    }
    async with running(config, site, fake_transports(serial=serial), FakeClock()) as (_, ev, _t):
        feed(serial, tf_beam_stream([(1.0, 0.3), (2.0, 0.3)], duration_s=7.0))
        (e,) = (await ev.wait_for(1, WAIT_S))[:1]
    assert e.measurement == hub.Crossing(in_=0, out=2)
    assert (e.quality, e.quality_reasons) == (
        hub.Quality.SUSPECT,
        (hub.QualityReason.ABOVE_MAXIMUM,),
    )


# -- TF-Luna, two beams on real pseudo-terminals --------------------------------------------


@pytest.fixture
async def serial_transport() -> Any:
    from hub.clock import SystemClock
    from hub.core.transports.serial import SerialPortTransport, SerialTransportConfig
    from hub.plugin import TransportContext

    ctx = TransportContext(
        instance="default", kind="serial", clock=SystemClock(), log=logging.getLogger("t.serial")
    )
    return SerialPortTransport(SerialTransportConfig(), ctx)


async def test_beam_pair_on_real_ptys_counts_directions(
    site: Site, serial_transport: Any, tmp_path: Any
) -> None:
    from hub.plugins.lidar.simulator import tf_pair_streams
    from hub.testing.pty import PtyDevice

    passages: list[tuple[float, Any]] = [(0.5, "a_to_b"), (1.5, "a_to_b"), (2.5, "b_to_a")]
    a, b = tf_pair_streams(passages, duration_s=5.0, noise_cm=3.0, corrupt_every=40)
    with PtyDevice(tmp_path, "ttyA") as dev_a, PtyDevice(tmp_path, "ttyB") as dev_b:
        config = {
            "id": "gate-a-pair",
            "beams": [{"serial": {"port": str(dev_a.path)}}, {"serial": {"port": str(dev_b.path)}}],
            "line": "gate-a",
            "interval_s": 3600,
            "a_to_b": "out",  # beam A is on the boulevard side here
        }
        async with running(config, site, fake_transports(serial=serial_transport)) as (
            src,
            events,
            task,
        ):
            await until(lambda: serial_transport.health()["open_ports"] == 2, "ports open")
            await asyncio.gather(dev_a.send(a), dev_b.send(b))
            frames = 500

            def consumed() -> bool:
                beams = src._beams
                return beams is not None and all(d.frames >= frames - 13 for d in beams.decoders)

            await until(consumed, "frames read")
            dev_a.unplug()
            with pytest.raises(DeviceUnavailable):
                await asyncio.wait_for(task, WAIT_S)
    crossings = [e.measurement for e in events.events]
    assert crossings, "the partial interval is emitted when the beams go away"
    assert sum(c.in_ for c in crossings if isinstance(c, hub.Crossing)) == 1
    assert sum(c.out for c in crossings if isinstance(c, hub.Crossing)) == 2
    assert all(e.provenance.transport == "serial" for e in events.events)
    assert src.ctx.counters.malformed >= 2 * (500 // 40)


# -- RPLIDAR ------------------------------------------------------------------------------------


def _rplidar_config(**extra: Any) -> dict[str, Any]:
    return {
        "id": "square-scan",
        "device": "rplidar",
        "serial": {"port": "/dev/ttyUSB1"},
        "zone": "boulevard",
        "polygon": POLYGON,
        "emit_interval_s": 5,
    } | extra


async def test_rplidar_health_scan_and_occupancy(site: Site) -> None:
    serial = FakeSerialTransport()
    clock = FakeClock()
    async with running(_rplidar_config(), site, fake_transports(serial=serial), clock) as (
        _,
        events,
        task,
    ):
        await until(lambda: RPLIDAR_GET_HEALTH in serial.written, "health request")
        assert serial.written[0] == RPLIDAR_STOP
        serial.feed(rplidar_health(0))
        await until(lambda: RPLIDAR_SCAN in serial.written, "scan request")
        feed(serial, rplidar_scan([(2.0, 1.0), (3.0, -1.5)], revolutions=3, corrupt_every=101))
        await asyncio.sleep(0.05)
        clock.advance(5.0)
        feed(serial, rplidar_scan([(2.0, 0.0)], revolutions=3, descriptor=False))
        (first,) = await events.wait_for(1, WAIT_S)
        serial.unplug()
        with pytest.raises(DeviceUnavailable):
            await asyncio.wait_for(task, WAIT_S)
    assert serial.written[-1] == RPLIDAR_STOP  # the motor is stopped on the way out
    assert first.measurement == hub.Occupancy(count=2)
    assert first.observed_at == T0 + timedelta(seconds=5)
    assert first.zone == "boulevard"
    assert first.quality == hub.Quality.ESTIMATED
    assert first.quality_reasons == (hub.QualityReason.DERIVED,)
    assert first.extras["lidar"]["revolutions"] == 3
    second = events.events[1]
    assert second.measurement == hub.Occupancy(count=1)
    assert second.observed_at == T0 + timedelta(seconds=5)  # partial window, last revolution
    assert second.event_id != first.event_id or second.observed_at != first.observed_at


async def test_rplidar_in_error_state_is_unavailable(site: Site) -> None:
    serial = FakeSerialTransport()
    async with running(_rplidar_config(), site, fake_transports(serial=serial)) as (_, ev, task):
        await until(lambda: RPLIDAR_GET_HEALTH in serial.written, "health request")
        serial.feed(rplidar_health(2, 0x8001))
        with pytest.raises(DeviceUnavailable, match="hardware error"):
            await asyncio.wait_for(task, WAIT_S)
    assert RPLIDAR_SCAN not in serial.written
    assert ev.events == []


async def test_rplidar_on_a_real_pty(site: Site, serial_transport: Any, serial_pty: Any) -> None:
    config = _rplidar_config(serial={"port": str(serial_pty.path)}, emit_interval_s=0.1)
    people = [(1.5, 0.5), (2.5, -1.0), (4.0, 2.0)]
    async with running(config, site, fake_transports(serial=serial_transport)) as (_, events, _t):
        await serial_pty.expect_written(RPLIDAR_GET_HEALTH)
        serial_pty.write(rplidar_health(0))
        await serial_pty.expect_written(RPLIDAR_SCAN)
        await serial_pty.send(rplidar_scan(people, revolutions=2))
        async with asyncio.timeout(WAIT_S):
            while not events.events:
                await asyncio.sleep(0.15)
                await serial_pty.send(rplidar_scan(people, revolutions=2, descriptor=False))
    assert events.events[0].measurement == hub.Occupancy(count=3)


# -- Xovis ----------------------------------------------------------------------------------------

XOVIS = {
    "id": "xovis-north",
    "device": "xovis",
    "auth": {"scheme": "none"},
    "logics": [
        {"logic": 1008, "line": "gate-a"},
        {"logic": "Square zone", "zone": "boulevard"},
    ],
}


def _sample(name: str = "xovis_push_logics.json") -> bytes:
    return (FIXTURES / name).read_bytes()


async def test_xovis_http_logics_push(site: Site) -> None:
    http = FakeHttpIngest()
    async with running(XOVIS, site, fake_transports(http=http)) as (src, events, _):
        await asyncio.wait_for(http.route_added.wait(), WAIT_S)
        assert (await http.request("xovis-north", _sample())).status == 204
        assert (await http.request("xovis-north", _sample())).status == 204  # resent
        await events.wait_for(2, WAIT_S)
        assert (await http.request("xovis-north", method="GET")).status == 405
    crossing, occupancy = events.events
    assert len(events.events) == 2  # the repeat was deduplicated
    assert crossing.measurement == hub.Crossing(in_=37, out=12)
    assert crossing.line == "gate-a" and crossing.sequence == 1090
    assert crossing.observed_from == datetime(2024, 4, 27, 10, 14, tzinfo=UTC)
    assert crossing.observed_to == datetime(2024, 4, 27, 10, 15, tzinfo=UTC)
    assert occupancy.measurement == hub.Occupancy(count=143)
    assert occupancy.zone == "boulevard"
    assert occupancy.observed_at == datetime(2024, 4, 27, 10, 15, tzinfo=UTC)
    assert occupancy.provenance.transport == "http"
    for e in events.events:
        text = e.model_dump_json()
        assert "00:6E" not in text and "Entrance-North" not in text
    assert src._xovis.duplicates == 2


async def test_xovis_gaps_repeats_and_default_mapping(site: Site) -> None:
    http = FakeHttpIngest()
    config = {
        "id": "x",
        "device": "xovis",
        "auth": {"scheme": "none"},
        "line": "gate-a",
        "zone": "boulevard",
    }
    docs = xovis_logics_sequence(4, start=T0, gaps_after=[1], repeat_after=[2])
    async with running(config, site, fake_transports(http=http)) as (_, events, _t):
        await asyncio.wait_for(http.route_added.wait(), WAIT_S)
        for doc in docs:
            assert (await http.request("x", json.dumps(doc))).status == 204
        await events.wait_for(8, WAIT_S)
    assert len(events.events) == 8
    gap = [e.sequence for e in events.events if hub.QualityReason.SEQUENCE_GAP in e.quality_reasons]
    assert gap == [1003, 1003]  # package 1002 was lost
    crossings = [e for e in events.events if e.type == "crossing"]
    for doc, e in zip([docs[i] for i in (0, 1, 2, 4)], crossings, strict=True):
        counts = doc["logics_data"]["logics"][0]["records"][0]["counts"]
        assert e.measurement == hub.Crossing(in_=counts[0]["value"], out=counts[1]["value"])


async def test_xovis_incomplete_bin_is_estimated_and_direction_configurable(site: Site) -> None:
    http = FakeHttpIngest()
    config = XOVIS | {
        "logics": [
            {"logic": 1008, "line": "gate-a", "in_counter": "bw", "out_counter": "fw"},
            {"logic": 1009, "zone": "boulevard"},
        ]
    }
    async with running(config, site, fake_transports(http=http)) as (_, events, _t):
        await asyncio.wait_for(http.route_added.wait(), WAIT_S)
        assert (
            await http.request("xovis-north", _sample("xovis_push_logics_ms.json"))
        ).status == 204
        crossing, occupancy = await events.wait_for(2, WAIT_S)
    assert crossing.measurement == hub.Crossing(in_=12, out=37)
    assert crossing.quality == hub.Quality.ESTIMATED
    assert crossing.extras["lidar"]["incomplete"] is True
    assert occupancy.quality == hub.Quality.OK


async def test_xovis_live_push_is_refused_without_ids_in_logs(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    http = FakeHttpIngest()
    caplog.set_level(logging.INFO)
    async with running(XOVIS, site, fake_transports(http=http)) as (_, events, _t):
        await asyncio.wait_for(http.route_added.wait(), WAIT_S)
        resp = await http.request("xovis-north", _sample("xovis_push_live.json"))
    assert resp.status == 422
    assert "live_counts_only" in str(resp.body)
    assert "live push" in caplog.text
    assert "48211" not in caplog.text and "00:6E" not in caplog.text
    assert events.events == []


async def test_xovis_live_counts_only(site: Site) -> None:
    http = FakeHttpIngest()
    config = XOVIS | {
        "live_counts_only": True,
        "zone": "boulevard",
        "live_polygon": [[-100, 0], [100, 0], [100, 200], [-100, 200]],
    }
    async with running(config, site, fake_transports(http=http)) as (_, events, _t):
        await asyncio.wait_for(http.route_added.wait(), WAIT_S)
        assert (await http.request("xovis-north", _sample("xovis_push_live.json"))).status == 204
        # a second frame within live_min_interval_s is not emitted
        doc = xovis_live_push(
            [(9, "PERSON", 0, 50)], time=datetime(2024, 4, 27, 10, 15, tzinfo=UTC)
        )
        assert (await http.request("xovis-north", json.dumps(doc))).status == 204
        (e,) = await events.wait_for(1, WAIT_S)
    assert len(events.events) == 1
    assert e.measurement == hub.Occupancy(count=2)
    assert e.quality == hub.Quality.ESTIMATED
    assert "48211" not in e.model_dump_json()


async def test_xovis_malformed_push_is_counted_and_answered_400(site: Site) -> None:
    http = FakeHttpIngest()
    async with running(XOVIS, site, fake_transports(http=http)) as (src, events, _t):
        await asyncio.wait_for(http.route_added.wait(), WAIT_S)
        bad = await http.request("xovis-north", b'{"logics_data": {"logics": [{"id": "x"}]}}')
        not_json = await http.request("xovis-north", b"{nope")
    assert bad.status == 400 and "logics_data.logics[0].id" in str(bad.body)
    assert not_json.status == 400
    assert src.ctx.counters.malformed == 2
    assert events.events == []


async def test_xovis_over_mqtt(site: Site) -> None:
    mqtt = FakeMessageTransport()
    config = XOVIS | {"transport": "mqtt", "broker": "local", "topic": "xovis/+/logics"}
    async with running(config, site, fake_transports(mqtt={"local": mqtt})) as (src, events, _t):
        await asyncio.wait_for(mqtt.subscribed.wait(), WAIT_S)
        assert await mqtt.inject("xovis/s1/logics", _sample()) == 1
        await mqtt.inject("xovis/s1/logics", b"not json")
        await mqtt.inject("xovis/s1/logics", _sample("xovis_push_live.json"))
        await mqtt.inject(
            "xovis/s1/logics",
            json.dumps(
                xovis_logics_push(
                    1091, start=datetime(2024, 4, 27, 10, 15, tzinfo=UTC), lines={1008: (1, 2)}
                )
            ),
        )
        await events.wait_for(3, WAIT_S)
    assert [e.type for e in events.events] == ["crossing", "occupancy", "crossing"]
    assert events.events[2].measurement == hub.Crossing(in_=1, out=2)
    assert all(e.provenance.transport == "mqtt" for e in events.events)
    assert src.ctx.counters.malformed == 1
    assert src._xovis.live_rejected == 1


async def test_xovis_over_real_http(site: Site, ingest_client: Any) -> None:
    config = XOVIS | {"auth": {"scheme": "bearer", "token": "s3cret-token"}}
    server = ingest_client.server
    async with running(config, site, fake_transports(http=server)) as (_, events, _t):
        await until(lambda: "xovis-north" in server._routes, "route")
        denied = await ingest_client.request("xovis-north", _sample())
        ok = await ingest_client.request(
            "xovis-north", _sample(), headers={"Authorization": "Bearer s3cret-token"}
        )
        live = await ingest_client.request(
            "xovis-north",
            _sample("xovis_push_live.json"),
            headers={"Authorization": "Bearer s3cret-token"},
        )
        await events.wait_for(2, WAIT_S)
    assert denied.status == 401
    assert ok.status == 204
    assert live.status == 422 and b"live_counts_only" in live.body
    assert events.events[0].measurement == hub.Crossing(in_=37, out=12)
