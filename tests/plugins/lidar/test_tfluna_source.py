"""The ``tfluna`` source end to end: fake serial + FakeClock for the logic, real ptys.

The fakes (hub.testing.fakes) drive the source with a FakeClock so interval boundaries
are exact; the pair test uses the real serial transport on two pseudo-terminals.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

import hub
from hub.errors import DeviceUnavailable
from hub.plugins.lidar.simulator import tf_beam_stream
from hub.plugins.lidar.source import TfLunaSource
from hub.site import Site
from hub.testing import FakeClock
from hub.testing.fakes import FakeSerialTransport, fake_transports

from .helpers import T0, WAIT_S, feed, real_serial_transport, running, until


def test_required_transports() -> None:
    beam = TfLunaSource.config_model(id="b", serial={"port": "/dev/x"}, line="gate-a")
    assert TfLunaSource.required_transports(beam) == [("serial", None)]


# -- one beam (fake serial, fake clock) ----------------------------------------------------


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
    async with running(TfLunaSource, config, site, fake_transports(serial=serial), FakeClock()) as (
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
    beam = first.extras["tfluna"]
    # every 20th frame has amp < 100; every 100th of those is also corrupt (not a reading)
    assert beam["undirected"] is True and beam["unreliable_readings"] == 50 - 10
    assert beam["temperature_c"] == pytest.approx(24.5, abs=0.6)
    assert partial.extras["tfluna"]["partial"] is True
    assert src.ctx.counters.malformed >= 50  # every 50th frame had a bad checksum


async def test_mostly_unreliable_signal_marks_the_interval_suspect(site: Site) -> None:
    serial = FakeSerialTransport()
    config = {"id": "b", "serial": {"port": "/dev/x"}, "line": "gate-a", "interval_s": 1}
    async with running(TfLunaSource, config, site, fake_transports(serial=serial), FakeClock()) as (
        _,
        ev,
        _t,
    ):
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
    async with running(TfLunaSource, config, site, fake_transports(serial=serial), FakeClock()) as (
        _,
        ev,
        _t,
    ):
        feed(serial, tf_beam_stream([(1.0, 0.3), (2.0, 0.3)], duration_s=7.0))
        (e,) = (await ev.wait_for(1, WAIT_S))[:1]
    assert e.measurement == hub.Crossing(in_=0, out=2)
    assert (e.quality, e.quality_reasons) == (
        hub.Quality.SUSPECT,
        (hub.QualityReason.ABOVE_MAXIMUM,),
    )


# -- two beams on real pseudo-terminals --------------------------------------------------


@pytest.fixture
async def serial_transport() -> Any:
    return real_serial_transport()


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
        async with running(
            TfLunaSource, config, site, fake_transports(serial=serial_transport)
        ) as (
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
