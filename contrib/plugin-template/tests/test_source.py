"""The source on hub.testing's fake MQTT transport."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from crowdhub_milesight.config import MilesightConfig
from crowdhub_milesight.simulator import encode_payload, ttn_uplink_json
from crowdhub_milesight.source import MilesightSource

import hub
from hub.site import Line, Site, Zone
from hub.testing import EventCollector, FakeClock, source_context
from hub.testing.fakes import FakeMessageTransport, fake_transports

TOPIC = "v3/crowd-counters@ttn/devices/vs133-gate-a/up"
SITE = Site(
    id="station",
    zones=(Zone(id="hall", area_m2=800),),
    lines=(Line(id="gate-a", zone="hall", width_m=3),),
)


async def test_totals_become_crossings_and_regions_occupancy() -> None:
    mqtt = FakeMessageTransport()
    events = EventCollector()
    clock = FakeClock(datetime(2026, 6, 1, 12, 10, tzinfo=UTC))
    ctx = source_context(
        "milesight", "vs133", site=SITE, emit=events, clock=clock,
        transports=fake_transports(mqtt=mqtt),
    )  # fmt: skip
    cfg = MilesightConfig(id="vs133", line="gate-a", zone="hall")
    source = MilesightSource(cfg, ctx)
    task = asyncio.create_task(source.run())
    try:
        await asyncio.wait_for(mqtt.subscribed.wait(), 10)
        for f_cnt, minute, totals in ((1, 0, (10, 4)), (2, 10, (25, 6))):
            payload = encode_payload(totals={1: totals}, regions=[7, 0, 0, 0])
            when = f"2026-06-01T12:{minute:02d}:00Z"
            await mqtt.inject(TOPIC, ttn_uplink_json(payload, f_cnt=f_cnt, received_at=when))
        await mqtt.inject(TOPIC, b"{not json")
        got = await events.wait_for(3, within_s=10)
        crossing = next(e for e in got if e.type == "crossing")
        assert crossing.measurement == hub.Crossing(in_=15, out=2)
        assert crossing.line == "gate-a" and crossing.zone == "hall" and crossing.sequence == 2
        assert [e.measurement.count for e in got if isinstance(e.measurement, hub.Occupancy)] == [
            7,
            7,
        ]
        await mqtt.inject(TOPIC, ttn_uplink_json(b"\x0f\xe3\x01\x00\x00\x00", f_cnt=3,
                                                 received_at="2026-06-01T12:20:00Z"))  # fmt: skip
        await events.wait_for(4, within_s=10)  # processed in order: the bad one came first
        assert ctx.counters.malformed == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_required_transport_names_the_broker() -> None:
    cfg = MilesightConfig(id="x", line="gate-a", broker="tts")
    assert list(MilesightSource.required_transports(cfg)) == [("mqtt", "tts")]
