"""Meraki pushes through the hub's real aiohttp ingest server and a real HTTP client: each
device counts in the interval of its observation, stale and late observations are counted
in status and never change an interval that went out, and a push refused with 503 counts
once when the cloud retries it.

Refusals are forced with an output that does not take some events (``emit`` raises
:class:`hub.DeviceUnavailable`, what the bus does when the outputs are behind). Time is a
:class:`hub.testing.ManualClock` moved by the test.
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

import hub
from hub.plugins.wifi_counter.config import WifiCounterConfig
from hub.plugins.wifi_counter.source import WifiCounterSource
from hub.site import Site
from hub.testing import EventCollector, ManualClock, source_context
from hub.testing.pytest_plugin import IngestClient

from .helpers import MERAKI_IDENTIFIERS, retimed

WAIT_S = 10.0
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SID = "meraki-boulevard"
CONFIG: dict[str, Any] = {
    "id": SID,
    "device": "meraki",
    "validator": "da6a17c407bb11dfeec7392a5042be0a4cc034b6",
    "secret": "supersecret",
    "interval_s": 60,  # late_grace_s = 60 and max_observation_age_s = 180: the defaults
    "ap_zones": {
        "00:18:0a:13:dd:b0": "boulevard",
        "0c:8d:db:6e:40:2a": "boulevard",
        "0c:8d:db:6e:40:12": "beach",
    },
}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def body(name: str, *seconds: float) -> bytes:
    """A recorded body; observation ``i`` made ``seconds[i]`` after 12:00 (last repeats)."""
    return json.dumps(retimed(name, *(at(x) for x in seconds))).encode()


class Output(EventCollector):
    """Collects events; refuses the listed (1-based) emit calls, as the bus does when the
    outputs are behind."""

    def __init__(self, *refuse: int) -> None:
        super().__init__()
        self.refuse = set(refuse)
        self.calls = 0

    async def __call__(self, event: hub.Event) -> None:
        self.calls += 1
        if self.calls in self.refuse:
            raise hub.DeviceUnavailable("outputs are behind (test)")
        await super().__call__(event)


async def until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_S):
        while not check():
            await asyncio.sleep(0.005)


async def move_to(clock: ManualClock, when: datetime) -> None:
    """Move the hub clock to ``when`` and let the source's closing loop run."""
    clock.advance_to(clock.monotonic() + (when - clock.now()).total_seconds())
    for _ in range(20):
        await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def receiver(
    client: IngestClient, site: Site, clock: ManualClock, output: EventCollector
) -> AsyncIterator[WifiCounterSource]:
    cfg = WifiCounterConfig(**CONFIG)

    def transports(kind: str, instance: str | None) -> Any:
        assert kind == "http"
        return client.server

    ctx = source_context(
        "wifi_counter", SID, site=site, emit=output, transports=transports, clock=clock
    )
    src = WifiCounterSource(cfg, ctx)
    task = asyncio.create_task(src.run(), name=f"test-{SID}")
    try:
        await until(lambda: SID in client.server.health()["routes"])
        await until(lambda: clock.next_deadline() is not None)  # the loop waits to close
        yield src
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def counts(events: list[hub.Event]) -> list[tuple[str, str | None, int, int]]:
    out = []
    for e in events:
        m = e.measurement
        assert isinstance(m, hub.Devices) and e.observed_from is not None
        out.append((e.observed_from.strftime("%H:%M"), e.zone, m.wifi or 0, m.ble or 0))
    return out


async def test_v2_and_v3_count_by_observation_time_stale_and_late_in_status(
    ingest_client: IngestClient, site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = ManualClock(at(70))  # 12:01:10
    out = Output()
    async with receiver(ingest_client, site, clock, out) as src:
        # v2: one client seen 12:00:50 (fresh), one at 11:57:00 (stale: 250 s old)
        v2 = await ingest_client.request(SID, body("meraki_v2_devicesseen.json", 50, -180))
        # v3: clients seen 12:01:05 (boulevard), 12:00:30 (beach), 11:55:00 (stale)
        v3 = await ingest_client.request(SID, body("meraki_v3_wifi.json", 65, 30, -300))
        assert (v2.status, v3.status) == (200, 200)
        assert src.status()["stale_observations"] == 2
        await move_to(clock, at(119))
        assert out.events == []  # 12:00 waits for late observations until 12:02:00
        await move_to(clock, at(120))
        await out.wait_for(2, WAIT_S)
        # 12:02:00: a client seen 12:00:55 arrives after 12:00 went out (late, not counted);
        # BLE clients seen 12:01:30 still count in 12:01 (open until 12:03:00)
        late = await ingest_client.request(SID, body("meraki_v2_devicesseen.json", 55))
        ble = await ingest_client.request(SID, body("meraki_v2_ble.json", 90))
        assert (late.status, ble.status) == (200, 200)
        await move_to(clock, at(180))
        await out.wait_for(4, WAIT_S)
        await move_to(clock, at(240))  # 12:02 (opened by the BLE post's arrival) goes out
        await out.wait_for(6, WAIT_S)
        status = dict(src.status())
    assert counts(out.events) == [
        ("12:00", "beach", 1, 0),
        ("12:00", "boulevard", 1, 0),
        ("12:01", "beach", 0, 0),
        ("12:01", "boulevard", 1, 2),
        ("12:02", "beach", 0, 0),
        ("12:02", "boulevard", 0, 0),
    ]
    assert len({e.event_id for e in out.events}) == 6  # no interval went out twice
    assert all(e.observed_to - e.observed_from == timedelta(seconds=60) for e in out.events)  # type: ignore[operator]
    assert status["stale_observations"] == 2 and status["late_observations"] == 2
    assert status["future_observations"] == 0 and status["untimed_observations"] == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("max_observation_age_s (180 s)" in w for w in warnings) == 1  # once per burst
    assert sum("raise late_grace_s (60 s)" in w for w in warnings) == 1
    # nothing identifying in the events, the status or any log line
    text = " ".join(e.model_dump_json() for e in out.events) + json.dumps(status)
    text += " ".join(r.getMessage() for r in caplog.records)
    for ident in MERAKI_IDENTIFIERS:
        assert ident.lower() not in text.lower(), ident


async def test_a_push_refused_with_503_counts_once_when_retried(
    ingest_client: IngestClient, site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    clock = ManualClock(at(30))
    out = Output(1, 2)  # the first interval's first event is refused at closing, then once more
    async with receiver(ingest_client, site, clock, out) as src:
        first = await ingest_client.request(SID, body("meraki_v2_devicesseen.json", 20))
        await move_to(clock, at(120))  # 12:00 closes; the hub refuses its events: kept
        await until(lambda: out.calls == 1)
        assert src.status()["pending_intervals"] == 1 and out.events == []
        ble = body("meraki_v2_ble.json", 110)  # seen 12:01:50
        refused = await ingest_client.request(SID, ble)  # hands 12:00 over first: refused
        assert src.status()["open_intervals"] == 0  # nothing of the refused push counted
        retried = await ingest_client.request(SID, ble)  # 12:00 taken, then this counts
        assert src.status()["pending_intervals"] == 0
        again = await ingest_client.request(SID, ble)  # a retry whose 200 got lost
        await move_to(clock, at(180))
        await out.wait_for(4, WAIT_S)
        replay = await ingest_client.request(SID, ble)  # after 12:01 went out: late
        status = dict(src.status())
        events = list(out.events)
        route = ingest_client.server.health()["routes"][SID]
    assert first.status == 200 and refused.status == 503
    assert "retry later" in refused.body.decode()
    assert (retried.status, again.status, replay.status) == (200, 200, 200)
    assert route == {"accepted": 4, "rejected": {"503": 1}}
    # every interval reaches the output exactly once, the retried push counted once
    assert counts(events) == [
        ("12:00", "beach", 0, 0),
        ("12:00", "boulevard", 2, 0),
        ("12:01", "beach", 0, 0),
        ("12:01", "boulevard", 0, 2),
    ]
    assert len({e.event_id for e in events}) == 4
    assert status["late_observations"] == 3 and status["pending_intervals"] == 0
    refusals = [r.getMessage() for r in caplog.records if "did not take" in r.getMessage()]
    assert len(refusals) == 1 and "kept" in refusals[0]
