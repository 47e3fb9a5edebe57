"""The ``rplidar`` source: health, scan and occupancy on a fake serial port and a real pty."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

import hub
from hub.errors import DeviceUnavailable
from hub.plugins.lidar.protocol import RPLIDAR_GET_HEALTH, RPLIDAR_SCAN, RPLIDAR_STOP
from hub.plugins.lidar.rplidar_source import RplidarSource
from hub.plugins.lidar.simulator import rplidar_health, rplidar_scan
from hub.site import Site
from hub.testing import FakeClock
from hub.testing.fakes import FakeSerialTransport, fake_transports

from .helpers import T0, WAIT_S, feed, real_serial_transport, running, until

POLYGON = [[0.5, -3.0], [5.0, -3.0], [5.0, 3.0], [0.5, 3.0]]


@pytest.fixture
async def serial_transport() -> Any:
    return real_serial_transport()


def _rplidar_config(**extra: Any) -> dict[str, Any]:
    return {
        "id": "square-scan",
        "serial": {"port": "/dev/ttyUSB1"},
        "zone": "boulevard",
        "polygon": POLYGON,
        "emit_interval_s": 5,
    } | extra


async def test_rplidar_health_scan_and_occupancy(site: Site) -> None:
    serial = FakeSerialTransport()
    clock = FakeClock()
    async with running(
        RplidarSource, _rplidar_config(), site, fake_transports(serial=serial), clock
    ) as (
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
    assert first.extras["rplidar"]["revolutions"] == 3
    second = events.events[1]
    assert second.measurement == hub.Occupancy(count=1)
    assert second.observed_at == T0 + timedelta(seconds=5)  # partial window, last revolution
    assert second.event_id != first.event_id or second.observed_at != first.observed_at


async def test_rplidar_in_error_state_is_unavailable(site: Site) -> None:
    serial = FakeSerialTransport()
    async with running(RplidarSource, _rplidar_config(), site, fake_transports(serial=serial)) as (
        _,
        ev,
        task,
    ):
        await until(lambda: RPLIDAR_GET_HEALTH in serial.written, "health request")
        serial.feed(rplidar_health(2, 0x8001))
        with pytest.raises(DeviceUnavailable, match="hardware error"):
            await asyncio.wait_for(task, WAIT_S)
    assert RPLIDAR_SCAN not in serial.written
    assert ev.events == []


async def test_rplidar_on_a_real_pty(site: Site, serial_transport: Any, serial_pty: Any) -> None:
    config = _rplidar_config(serial={"port": str(serial_pty.path)}, emit_interval_s=0.1)
    people = [(1.5, 0.5), (2.5, -1.0), (4.0, 2.0)]
    async with running(RplidarSource, config, site, fake_transports(serial=serial_transport)) as (
        _,
        events,
        _t,
    ):
        await serial_pty.expect_written(RPLIDAR_GET_HEALTH)
        serial_pty.write(rplidar_health(0))
        await serial_pty.expect_written(RPLIDAR_SCAN)
        await serial_pty.send(rplidar_scan(people, revolutions=2))
        async with asyncio.timeout(WAIT_S):
            while not events.events:
                await asyncio.sleep(0.15)
                await serial_pty.send(rplidar_scan(people, revolutions=2, descriptor=False))
    assert events.events[0].measurement == hub.Occupancy(count=3)
