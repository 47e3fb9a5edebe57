"""Lidar sources under real conditions: a TF-Luna pair whose ports vanish and come back
(real pseudo-terminals, the real serial transport, the hub's supervisor), open intervals
at a clean stop, and Xovis refusals and retries over the real HTTP server."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

import hub
from hub.core.supervisor import SourceSupervisor
from hub.errors import DeviceUnavailable
from hub.plugins.lidar.simulator import tf_beam_stream, tf_pair_streams
from hub.plugins.lidar.source import TfLunaSource
from hub.plugins.lidar.xovis_source import XovisSource
from hub.site import Site
from hub.testing import EventCollector, source_context
from hub.testing.fakes import fake_transports
from hub.testing.pty import PtyDevice

from .helpers import FIXTURES, until

PAIR = {
    "id": "gate-a-pair",
    "line": "gate-a",
    "interval_s": 3600,
    "retry_initial_s": 0.1,
    "retry_max_s": 0.3,
}


def _pair(a: PtyDevice, b: PtyDevice) -> dict[str, Any]:
    return PAIR | {"beams": [{"serial": {"port": str(a.path)}}, {"serial": {"port": str(b.path)}}]}


async def test_beam_pair_recovers_after_both_ports_vanish(
    site: Site, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from .helpers import real_serial_transport

    caplog.set_level(logging.INFO, logger="hub.supervisor")
    serial = real_serial_transport()
    events = EventCollector()
    with PtyDevice(tmp_path, "ttyA") as dev_a, PtyDevice(tmp_path, "ttyB") as dev_b:
        cfg = TfLunaSource.config_model(**_pair(dev_a, dev_b))
        ctx = source_context(
            "tfluna", cfg.id, site=site, emit=events, transports=fake_transports(serial=serial)
        )
        src = TfLunaSource(cfg, ctx)
        sup = SourceSupervisor(src, cfg, ctx, "tfluna[gate-a-pair]")
        task = asyncio.create_task(sup.run(), name="test-supervisor")
        try:
            await until(lambda: serial.health()["open_ports"] == 2, "ports open")
            a, b = tf_pair_streams([(0.5, "a_to_b")], duration_s=2.0)
            await asyncio.gather(dev_a.send(a), dev_b.send(b))
            await until(lambda: sup.stats.state == "running", "running")

            def read(n: int) -> bool:
                return src._beams is not None and all(d.frames >= n for d in src._beams.decoders)

            await until(lambda: read(190), "frames read")
            dev_a.unplug()
            dev_b.unplug()
            await until(lambda: sup.stats.state == "retrying", "retrying")
            await asyncio.sleep(1.0)  # several retries while both ports are gone
            assert sup.stats.state == "retrying" and not task.done()
            assert sup.stats.restarts >= 2
            lost = len(events.events)
            dev_a.plug()
            dev_b.plug()
            await until(lambda: serial.health()["open_ports"] == 2, "ports open again")
            frames = [d.frames for d in src._beams.decoders] if src._beams else []
            a, b = tf_pair_streams([(0.5, "b_to_a")], duration_s=2.0)
            await asyncio.gather(dev_a.send(a), dev_b.send(b))
            await until(lambda: sup.stats.state == "running", "running again")

            def consumed() -> bool:
                beams = src._beams
                assert beams is not None
                return all(d.frames >= f + 190 for d, f in zip(beams.decoders, frames, strict=True))

            await until(consumed, "frames after the replug read")
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    assert sup.stats.state == "stopped"
    down = [r for r in caplog.records if "unavailable" in r.getMessage()]
    back = [r for r in caplog.records if ": back (after" in r.getMessage()]
    assert len(down) == 1 and "disappeared" in down[0].getMessage()  # logged once down
    assert len(back) == 1  # and once back
    # the interval cut by the unplug went out (incomplete); after the stop, the one
    # opened after the replug (incomplete too) holds the second passage
    assert lost >= 1
    crossings = [e.measurement for e in events.events if isinstance(e.measurement, hub.Crossing)]
    assert sum(c.in_ + c.out for c in crossings) == 2
    assert all(hub.QualityReason.INCOMPLETE in e.quality_reasons for e in events.events)


async def test_open_interval_goes_out_incomplete_on_a_clean_stop(
    site: Site, tmp_path: Path
) -> None:
    from .helpers import real_serial_transport

    serial = real_serial_transport()
    events = EventCollector()
    with PtyDevice(tmp_path, "ttyUSB0") as dev:
        cfg = TfLunaSource.config_model(
            id="beam", serial={"port": str(dev.path)}, line="gate-a", interval_s=3600
        )
        ctx = source_context(
            "tfluna", cfg.id, site=site, emit=events, transports=fake_transports(serial=serial)
        )
        src = TfLunaSource(cfg, ctx)
        task = asyncio.create_task(src.run(), name="test-beam")
        await until(lambda: serial.health()["open_ports"] == 1, "port open")
        await dev.send(tf_beam_stream([(0.5, 0.3), (1.5, 0.3)], duration_s=3.0))
        await until(
            lambda: src._beams is not None and src._beams.decoders[0].frames >= 290, "frames"
        )
        assert events.events == []  # the hour is still open
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    (event,) = events.events
    assert event.measurement == hub.Crossing(in_=2, out=0)
    assert event.quality == hub.Quality.ESTIMATED
    assert event.quality_reasons == (hub.QualityReason.INCOMPLETE,)
    assert event.extras["tfluna"]["partial"] is True


# -- Xovis over the real HTTP server ------------------------------------------------------

XOVIS = {
    "id": "xovis-north",
    "auth": {"scheme": "none"},
    "logics": [
        {"logic": 1008, "line": "gate-a"},
        {"logic": "Square zone", "zone": "boulevard"},
    ],
}


class RefusingOutput(EventCollector):
    """Refuses the ``refuse``-th emit once, as the bus does when the outputs are behind."""

    def __init__(self, refuse: int) -> None:
        super().__init__()
        self.refuse, self.calls = refuse, 0

    async def __call__(self, event: hub.Event) -> None:
        self.calls += 1
        if self.calls == self.refuse:
            raise DeviceUnavailable("outputs are behind (test)")
        await super().__call__(event)


async def test_xovis_refused_pushes_are_not_counted_as_accepted(
    site: Site, ingest_client: Any
) -> None:
    server = ingest_client.server
    out = RefusingOutput(2)  # the second record of the first push is refused: 503
    logics = (FIXTURES / "xovis_push_logics.json").read_bytes()
    live = (FIXTURES / "xovis_push_live.json").read_bytes()
    cfg = XovisSource.config_model(**XOVIS)
    ctx = source_context(
        "xovis", cfg.id, site=site, emit=out, transports=fake_transports(http=server)
    )
    src = XovisSource(cfg, ctx)
    task = asyncio.create_task(src.run(), name="test-xovis")
    try:
        await until(lambda: "xovis-north" in server.health()["routes"], "route")
        refused = await ingest_client.request("xovis-north", logics)
        retried = await ingest_client.request("xovis-north", logics)
        again = await ingest_client.request("xovis-north", logics)
        rejected = await ingest_client.request("xovis-north", live)
        route = server.health()["routes"]["xovis-north"]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert (refused.status, retried.status, again.status) == (503, 204, 204)
    assert rejected.status == 422
    assert route == {"accepted": 2, "rejected": {"422": 1, "503": 1}}
    assert src.status() == {"packages": 2, "live_rejected": 1, "duplicates": 1 + 2}
    keys = [e.event_id for e in out.events]
    assert len(keys) == len(set(keys)) == 2  # each record reached the output exactly once
