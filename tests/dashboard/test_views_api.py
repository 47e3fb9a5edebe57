"""Coarsened and delayed views through the real dashboard app on a real aiohttp server.

The true counts are chosen not to be multiples of 5: every coarsened view here rounds
(besides its noise, suppression or delay), so any number about people in any answer
that is not a multiple of its ``round_to`` is an exact value leaking.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from hub import Event, Occupancy
from hub.dashboard import (
    DASHBOARD,
    DashboardView,
    MemoryAudit,
    StaticViewAuth,
    ZoneModelProvider,
    make_dashboard_app,
)
from hub.testing import FakeClock
from hub.zones import ZoneModel
from tests.dashboard.harness import FIXTURES, OPERATOR, PROV, demo_site, zones_config

T0 = datetime(2026, 8, 14, 18, 0, tzinfo=UTC)
KEY = b"n" * 32
DELAY = 120.0
VIEWS = {
    "operator": OPERATOR,
    "rounded": DashboardView(
        id="rounded", round_to=10, sensor_health=True, actions=frozenset({"acknowledge"})
    ),
    "noisy": DashboardView(
        id="noisy",
        noise=True,
        suppress_below=250,
        suppress_as="below",
        round_to=5,
        resolution_s=60,
        noise_key=KEY,
        actions=frozenset({"log_measure"}),
    ),
    "late": DashboardView(
        id="late", round_to=10, delay_s=DELAY, actions=frozenset({"acknowledge", "silence"})
    ),
}
TOKENS = {k: f"tok-{k}-0123456789" for k in VIEWS}
CALM = {"plein": 1803, "boulevard": 307, "strand": 903, "palace": 211}
SURGE = {"plein": 7503, "boulevard": 307, "strand": 903, "palace": 211}
ROUND = {"rounded": 10, "noisy": 5, "late": 10}
META = frozenset(
    {
        "area_m2",
        "capacity",
        "level_index",
        "weeks",
        "width_m",
        "window_s",
        "t",
        "step_s",
        "age_s",
        "forecast_weeks",
        "width_px",
        "height_px",
        "shape",
        "delay_s",
        "round_to",
        "suppress_below",
        "suppressed_below",
        "interval_s",
        "heartbeat_s",
        "seq",
    }
)


@dataclass
class Hub:
    client: TestClient
    model: ZoneModel
    provider: ZoneModelProvider
    clock: FakeClock

    async def step(self, seconds: float = 1.0, **counts: float) -> None:
        """Advance the clock, feed the counts, tick; let the recorder take the changes."""
        self.clock.advance(seconds)
        now = self.clock.now()
        for zone, count in (counts or self.counts).items():
            self.model.ingest(
                Event.create(
                    source=f"cam-{zone}",
                    kind="camera",
                    measurement=Occupancy(count=count),
                    provenance=PROV,
                    zone=zone,
                    observed_at=now,
                    received_at=now,
                )
            )
        if counts:
            self.counts = dict(counts)
        self.model.tick(now)
        self.provider.update(now)
        for _ in range(3):
            await asyncio.sleep(0)
        for pic in self.client.app[DASHBOARD].pictures.delayed.values():
            assert pic.delayed is not None
            pic.delayed.advance()  # what the dashboard's delay clock does, in fake time
        await asyncio.sleep(0)

    counts: dict[str, float]

    async def get(self, view: str, path: str) -> Any:
        r = await self.client.get(path, headers={"Authorization": f"Bearer {TOKENS[view]}"})
        assert r.status == 200, (path, r.status, await r.text())
        return await r.json()


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    clock = FakeClock(T0)
    model = ZoneModel(demo_site(), zones_config())
    provider = ZoneModelProvider(model, clock=clock)
    auth = StaticViewAuth((TOKENS[k], v) for k, v in VIEWS.items())
    app = make_dashboard_app(provider, auth, MemoryAudit(), plan_dir=FIXTURES, heartbeat_s=0.2)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    h = Hub(client, model, provider, clock, dict(CALM))
    await asyncio.sleep(0.05)  # the recorder subscribes
    await h.step(**CALM)
    try:
        yield h
    finally:
        await client.close()


def numbers(data: Any, path: str = "") -> Iterator[tuple[str, str, float]]:
    """Every number in a JSON answer: (path, key, value); geometry and booleans left out."""
    if isinstance(data, bool) or data is None:
        return
    if isinstance(data, int | float):
        yield path, path.rsplit(".", 1)[-1].split("[")[0], data
    elif isinstance(data, dict):
        for k, v in data.items():
            yield from numbers(v, f"{path}.{k}")
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from numbers(v, f"{path}[{i}]")


def assert_coarse(view: str, data: Any) -> int:
    """No number about people in ``data`` is finer than the view's rounding; returns how
    many numbers were checked."""
    checked = 0
    for path, key, value in numbers(data):
        if key in META or ".shape" in path or ".forecast.t" in path or path.startswith(".t["):
            continue
        assert value % ROUND[view] == 0, f"{view}: {path} = {value} is exact"
        checked += 1
    text = json.dumps(data)
    for true in (*CALM.values(), *SURGE.values()):
        found = re.search(rf"(?<![\d.]){true}(?![\d])", text)
        assert found is None, f"{view}: the true count {true} is in the answer"
    return checked


async def stream_events(r: ClientResponse, n: int) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    name = ""
    while len(out) < n:
        line = (await asyncio.wait_for(r.content.readline(), 5)).decode()
        if line == "":
            raise EOFError("the stream ended")
        if line.startswith("event: "):
            name = line[7:].strip()
        elif line.startswith("data: "):
            out.append((name, json.loads(line[6:])))
    return out


async def test_every_number_of_every_answer_of_a_coarsened_view_is_coarse(hub: Hub) -> None:
    for _ in range(130):  # past the delay and several 1-minute intervals; a surge and its alert
        await hub.step(**(SURGE if _ > 60 else CALM))
    op = await hub.get("operator", "/api/v1/zones")
    assert [z["occupancy"] for z in op["zones"]] == [7503, 307, 903, 211]  # the truth
    for view in ("rounded", "noisy", "late"):
        checked = 0
        for path in (
            "/api/v1/site",
            "/api/v1/zones",
            "/api/v1/lines",
            "/api/v1/sensors",
            "/api/v1/alerts",
            "/api/v1/log",
            "/api/v1/history?zone=plein&step=60",
            "/api/v1/history?zone=boulevard&step=300",
            "/api/v1/openapi.json",
        ):
            checked += assert_coarse(view, await hub.get(view, path))
        headers = {"Authorization": f"Bearer {TOKENS[view]}"}
        for path in ("/api/v1/history?zone=nowhere", "/api/v1/history?zone=plein&step=x"):
            r = await hub.client.get(path, headers=headers)
            assert r.status in (400, 404)
            assert_coarse(view, {"error": await r.text()})
        r = await hub.client.get("/api/v1/stream", headers=headers)
        await hub.step()
        await hub.step()
        events = await stream_events(r, 4)
        r.close()
        assert events[0][0] == "snapshot"
        for _, data in events:
            checked += assert_coarse(view, data)
        assert checked > 20, view  # the walk saw the counts, not nothing
    zones = (await hub.get("rounded", "/api/v1/zones"))["zones"]
    assert [z["occupancy"] for z in zones] == [7500, 310, 900, 210]
    noisy = (await hub.get("noisy", "/api/v1/zones"))["zones"]
    assert noisy[3]["occupancy"] == 0 and noisy[3]["suppressed"] == ["occupancy"]  # 211 < 250
    assert noisy[1]["occupancy"] in (305, 310) and noisy[1]["suppressed"] == []  # 307 ± 1
    assert noisy[0]["counts_interval"]["to"].endswith(":02:00+00:00")


async def test_noisy_counts_do_not_change_on_reload_within_an_interval(hub: Hub) -> None:
    for _ in range(61):
        await hub.step(**CALM)
    seen = set()
    for i in range(30):  # the count changes every second; the answer stays the interval's
        await hub.step(**{**CALM, "plein": 1803 + i % 3})
        zones = (await hub.get("noisy", "/api/v1/zones"))["zones"]
        seen.add(zones[0]["occupancy"])
    assert len(seen) == 1 and abs(seen.pop() - 1803) <= 3


async def test_actions_answer_coarsened_and_notes_do_not_come_back(hub: Hub) -> None:
    headers = {"Authorization": f"Bearer {TOKENS['noisy']}"}
    r = await hub.client.post(
        "/api/v1/measure", json={"subject": "plein", "text": "1803 people counted"}, headers=headers
    )
    assert r.status == 200
    body = await r.json()
    assert "note" not in body["record"] and "1803" not in json.dumps(body)
    log = await hub.get("noisy", "/api/v1/log")
    assert log["log"] and "1803" not in json.dumps(log)
    full = await hub.get("operator", "/api/v1/log")
    assert full["log"][-1]["note"] == "1803 people counted"  # the operator sees the note


async def test_a_delayed_view_sees_the_picture_as_it_was_delay_s_ago(hub: Hub) -> None:
    zones = (await hub.get("late", "/api/v1/zones"))["zones"]
    assert {z["level"] for z in zones} == {"unknown"}  # the hub has not run DELAY yet
    for _ in range(int(DELAY) + 5):
        await hub.step(**CALM)
    zones = (await hub.get("late", "/api/v1/zones"))["zones"]
    assert zones[0]["level"] == "green" and zones[0]["occupancy"] == 1800
    surge_at = hub.clock.now()
    for _ in range(5):
        await hub.step(**SURGE)
    assert (await hub.get("operator", "/api/v1/zones"))["zones"][0]["level"] == "red"
    assert (await hub.get("operator", "/api/v1/alerts"))["alerts"]
    for _ in range(int(DELAY) - 10):
        await hub.step(**SURGE)
        late = (await hub.get("late", "/api/v1/zones"))["zones"][0]
        assert late["level"] == "green", hub.clock.now() - surge_at  # not before delay_s
    assert (await hub.get("late", "/api/v1/alerts"))["alerts"] == []
    for _ in range(20):
        await hub.step(**SURGE)
    late = (await hub.get("late", "/api/v1/zones"))["zones"][0]
    assert late["level"] == "red" and late["occupancy"] == 7500
    assert (await hub.get("late", "/api/v1/alerts"))["alerts"]  # the alert, delay_s late
    h = await hub.get("late", "/api/v1/history?zone=plein&step=60")
    assert h["t"][-1] < (hub.clock.now() - timedelta(seconds=DELAY)).timestamp()
    assert h["forecast"]["values"] == []  # made from the present: not for a delayed view
    log = (await hub.get("late", "/api/v1/log"))["log"]
    cut = hub.clock.now() - timedelta(seconds=DELAY)
    assert all(datetime.fromisoformat(r["at"]) < cut for r in log)
    site = await hub.get("late", "/api/v1/site")
    assert site["view"]["delay_s"] == DELAY and site["view"]["actions"] == []


async def test_a_delayed_view_may_not_act(hub: Hub) -> None:
    headers = {"Authorization": f"Bearer {TOKENS['late']}"}
    for path, body in (
        ("/api/v1/acknowledge", {"alert_id": "x", "note": ""}),
        ("/api/v1/silence", {"subject": "plein", "minutes": 5, "reason": "r"}),
        ("/api/v1/measure", {"subject": "plein", "text": "t"}),
    ):
        r = await hub.client.post(path, json=body, headers=headers)
        assert r.status == 403
        message = (await r.json())["error"]
        assert message.startswith("view 'late' is delayed by 2 min: it shows the past")
        assert message.endswith("use a live view")
    audit = hub.client.app[DASHBOARD].audit
    assert isinstance(audit, MemoryAudit)
    refused = [a for a in audit.records if a["kind"] == "action"]
    assert len(refused) == 3 and not any(a["allowed"] for a in refused)


async def test_a_delayed_stream_sends_changes_delay_s_late(hub: Hub) -> None:
    for _ in range(int(DELAY) + 3):
        await hub.step(**CALM)
    r = await hub.client.get(
        "/api/v1/stream", headers={"Authorization": f"Bearer {TOKENS['late']}"}
    )
    [(name, snap)] = await stream_events(r, 1)
    picture_now = datetime.fromisoformat(snap["now"])
    assert name == "snapshot" and picture_now == hub.clock.now() - timedelta(seconds=DELAY)
    surge_at = hub.clock.now()
    for _ in range(int(DELAY) + 5):
        await hub.step(**SURGE)
    red = None
    for _ in range(2000):
        [(name, data)] = await stream_events(r, 1)
        if name == "zone" and data["id"] == "plein" and data["level"] == "red":
            red = data
            break
    r.close()
    assert red is not None
    live = hub.client.app[DASHBOARD].pictures.for_view(VIEWS["late"])
    assert live.delayed is not None and live.delayed.now() - surge_at >= timedelta(seconds=0)
    # memory: at most delay/step + 1 states per item, plus alert and log changes
    items = len(demo_site().zones) + len(demo_site().lines) + len(demo_site().sensors) + 2
    assert live.delayed.pending() <= items * (DELAY / live.delayed.step_s + 2) + 50
