"""Shared helpers: a site, and running one camera_aggregate source in a task."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub import Crossing, Event, Line, Occupancy, Site, Zone
from hub.plugin import Transport
from hub.plugins.camera_aggregate.config import CameraAggregateConfig
from hub.plugins.camera_aggregate.source import CameraAggregateSource
from hub.testing import EventCollector, source_context
from hub.testing.conformance import ManualClock

FIX = Path(__file__).parent / "fixtures"
SERIAL = "B8A44F941234"

SITE = Site(
    id="test-site",
    timezone="Europe/Amsterdam",
    zones=(Zone(id="plaza", area_m2=500.0), Zone(id="hall", area_m2=200.0)),
    lines=(
        Line(id="gate-a", zone="plaza", width_m=4.0),
        Line(id="gate-b", zone="plaza", width_m=2.0),
        Line(id="door", zone="hall", width_m=1.5),
    ),
)


class SteppedClock(ManualClock):
    """A clock that moves only when the test says so, and then wakes the source's sleepers.

    The source's interval ticker sleeps on ``ctx.clock``; :class:`hub.testing.FakeClock`
    would move time on every such sleep, so these tests step time explicitly instead.
    """

    def advance(self, seconds: float) -> None:
        self.advance_to(self.monotonic() + seconds)


@pytest.fixture
def fake_clock() -> SteppedClock:
    """Overrides the hub's fixture: time moves only with ``advance`` (from 2026-06-01 12:00)."""
    return SteppedClock(datetime(2026, 6, 1, 12, 0, tzinfo=UTC))


def axis_sequence() -> list[tuple[str, bytes]]:
    """(MQTT topic, payload) of the derived crossline fixture."""
    lines = (FIX / "axis_aoa_crossline_sequence.jsonl").read_text().splitlines()
    return [(d["mqtt_topic"], json.dumps(d["payload"]).encode()) for d in map(json.loads, lines)]


@contextlib.asynccontextmanager
async def running(
    config: dict[str, Any],
    transports: Callable[[str, str | None], Transport[Any]],
    clock: Any = None,
    collector: EventCollector | None = None,
) -> AsyncIterator[tuple[CameraAggregateSource, EventCollector]]:
    """Run a source from a config dict until the block ends (then cancel and await it)."""
    collector = collector or EventCollector()
    cfg = CameraAggregateConfig.model_validate(config)
    ctx = source_context(
        "camera_aggregate", cfg.id, site=SITE, emit=collector, transports=transports, clock=clock
    )
    source = CameraAggregateSource(cfg, ctx)
    task = asyncio.create_task(source.run(), name=f"test-{cfg.id}")
    try:
        yield source, collector
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``cond`` (event-driven enough for in-process fakes) for up to ``timeout`` s."""
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.01)


def xing(event: Event) -> Crossing:
    """The event's crossing measurement (fails when it is another type)."""
    assert isinstance(event.measurement, Crossing)
    return event.measurement


def occ(event: Event) -> Occupancy:
    """The event's occupancy measurement (fails when it is another type)."""
    assert isinstance(event.measurement, Occupancy)
    return event.measurement
