"""A delayed view right after a restart: its delay line seeded from the embedded store.

The hub runs with its sqlite output, stores the zone states and an alert, stops, and starts
again on the same data dir later: the delayed views answer at once with the picture of
``delay_s`` ago (not ``unknown``), each view filtered and coarsened as for live changes.
"Later" is the system clock shifted forward for the second run (a real wait of ten
minutes has no place in a test); everything else is real: the hub, its HTTP server, the
sqlite file and the API. Then the seed itself on a store written with chosen times: the
state before the window, the changes inside it, released ``delay_s`` late."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hub import Event, Occupancy, ZoneState
from hub.clock import SystemClock
from hub.core.config import load_config
from hub.core.plugins import load_plugins
from hub.core.runtime import Hub
from hub.core.transports.http_server import HttpIngestServer
from hub.dashboard import ZoneModelProvider
from hub.dashboard.access import DashboardView
from hub.dashboard.pictures import Pictures
from hub.dashboard.seed import StoreSeed
from hub.dashboard.store import StoreHistory
from hub.outputs.sqlite import INSERT, SCHEMA, row
from hub.testing.clocks import FakeClock
from tests.dashboard.test_wiring import CONFIG, PROV, VIEWS, make_hub, until

DELAY = 600
STORE = """
[zones]
publish_interval_s = 0

[[sinks.sqlite]]
id = "store"
path = "events.sqlite"
"""
LATE = f"""
[[views]]
id = "late"
token = "${{SEED_LATE_TOKEN:-late-token-0123456789}}"
delay_s = {DELAY}

[[views]]
id = "square-late"
token = "${{SEED_SQUARE_TOKEN:-square-late-token-0123456789}}"
zones = ["square"]
delay_s = {DELAY}
round_to = 5
"""


class LaterClock(SystemClock):
    """The system clock, ``offset_s`` ahead: the hub started that much later."""

    def __init__(self, offset_s: float) -> None:
        self.offset = timedelta(seconds=offset_s)

    def now(self) -> datetime:
        return super().now() + self.offset


@asynccontextmanager
async def running(
    tmp_path: Path, extra: str, views: str, offset_s: float = 0.0
) -> AsyncIterator[tuple[Hub, str]]:
    (tmp_path / "hub.toml").write_text(CONFIG % (extra + views))
    registry = load_plugins()
    hub = Hub(load_config(tmp_path / "hub.toml", registry), registry, LaterClock(offset_s))
    stop = asyncio.Event()
    task = asyncio.create_task(hub.run(stop), name="hub-under-test")
    server = hub.transports[("http", "default")]
    assert isinstance(server, HttpIngestServer)
    await asyncio.wait_for(server.started.wait(), 10)
    try:
        yield hub, server.url
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def get(url: str, what: str, view: str) -> Any:
    """``/api/v1/<what>`` as ``view`` sees it (its list, and the whole body as text)."""
    headers = {"Authorization": f"Bearer {view}-token-0123456789"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{url}/api/v1/{what}", headers=headers) as r,
    ):
        assert r.status == 200, await r.text()
        return (await r.json())[what], await r.text()


def stored(path: Path, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(d["id"]): d for d in items}


async def surge(hub: Hub, db: Path) -> None:
    """300 people on the pier (red, an alert after 2 s), 12 on the square; until stored."""
    assert hub.zones is not None
    for _ in range(8):
        now = hub.clock.now()
        for zone, n in (("pier", 300), ("square", 12)):
            hub.zones.model.ingest(
                Event.create(
                    source=f"cam-{zone}",
                    kind="camera",
                    measurement=Occupancy(count=n),
                    provenance=PROV,
                    zone=zone,
                    observed_at=now,
                    received_at=now,
                )
            )
        await asyncio.sleep(0.4)
    alert = "SELECT count(*) FROM events WHERE measurement = 'alert' AND zone = 'pier'"
    await until(lambda: asyncio.sleep(0, stored(db, alert)[0][0] >= 1))
    red = (
        "SELECT count(*) FROM events WHERE measurement = 'zone_state'"
        " AND json_extract(event, '$.measurement.level') = 'red'"
    )
    await until(lambda: asyncio.sleep(0, stored(db, red)[0][0] >= 1))


async def test_a_delayed_view_shows_the_stored_picture_right_after_a_restart(
    tmp_path: Path,
) -> None:
    db = tmp_path / "data" / "events.sqlite"
    async with running(tmp_path, STORE, VIEWS + LATE) as (hub, url):
        await surge(hub, db)
        live = by_id((await get(url, "zones", "operator"))[0])
        assert live["pier"]["level"] == "red" and live["pier"]["occupancy"] == 300

    # started again 10.5 minutes later: the picture of 10 minutes ago is the last stored one
    async with running(tmp_path, STORE, VIEWS + LATE, offset_s=DELAY + 30) as (hub, url):
        late = by_id((await get(url, "zones", "late"))[0])
        assert late["pier"]["level"] == "red" and late["pier"]["occupancy"] == 300
        assert late["square"]["level"] == "green" and late["square"]["occupancy"] == 12
        assert late["pier"]["levels"][1]["name"] == "red"  # the legend of its level set
        alerts, _ = await get(url, "alerts", "late")
        assert [a["zone"] for a in alerts] == ["pier"] and alerts[0]["rule"] == "level-red"
        assert alerts[0]["acked_by"] is None

        # the restricted delayed view: its zone only, coarsened by its policy
        square, body = await get(url, "zones", "square-late")
        assert [z["id"] for z in square] == ["square"] and "pier" not in body
        assert square[0]["level"] == "green" and square[0]["occupancy"] == 10  # round_to 5
        alerts, body = await get(url, "alerts", "square-late")
        assert alerts == [] and "pier" not in body

        # the live picture knows nothing yet: the inputs are 10.5 minutes old
        live = by_id((await get(url, "zones", "operator"))[0])
        assert live["pier"]["level"] == "unknown"


async def test_without_a_store_a_delayed_view_starts_unknown_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="hub.dashboard")
    async with running(tmp_path, "", VIEWS + LATE) as (_, url):
        await asyncio.sleep(0.3)
        late = by_id((await get(url, "zones", "late"))[0])
        assert {z["level"] for z in late.values()} == {"unknown"}
    assert "delayed view(s) late, square-late read 'unknown'" in caplog.text


def write(path: Path, events: list[Event]) -> None:
    """Rows exactly as the sqlite output writes them (its schema and its row mapping)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    try:
        db.executescript(SCHEMA)
        db.executemany(INSERT, [row(e) for e in events])
        db.commit()
    finally:
        db.close()


def state(zone: str, at: datetime, occupancy: float, level: str) -> Event:
    index = {"green": 0, "red": 1}[level]
    return Event.create(
        source="zones",
        kind="zones",
        measurement=ZoneState(level=level, level_index=index, colour=level, occupancy=occupancy),
        provenance=PROV,
        zone=zone,
        observed_at=at,
        received_at=at,
    )


async def test_the_seed_holds_the_state_before_the_window_and_replays_the_window(
    tmp_path: Path,
) -> None:
    hub = make_hub(tmp_path, STORE, views=VIEWS)
    assert hub.zones is not None
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    ago = now - timedelta(seconds=DELAY)
    steps = [
        state("pier", ago - timedelta(seconds=900), 10, "green"),  # before the carry: gone
        state("pier", ago - timedelta(seconds=20), 300, "red"),  # holds at now - delay
        state("square", ago - timedelta(seconds=5), 12, "green"),
        *[state("pier", ago + timedelta(seconds=200 + i), 40 + i, "green") for i in range(30)],
        state("pier", now - timedelta(seconds=1), 250, "red"),
        state("pier", now + timedelta(seconds=5), 1, "green"),  # after now: not read
    ]
    write(tmp_path / "events.sqlite", steps)
    clock = FakeClock(now)
    provider = ZoneModelProvider(hub.zones.model, clock=clock)
    pictures = Pictures(provider, [DashboardView(id="late", delay_s=DELAY)], lambda v: {})
    store = StoreHistory(tmp_path / "events.sqlite", output_id="store", carry_s=150)
    pictures.seeder = StoreSeed(store, hub.zones.model)
    seeded = await pictures.seed()
    delayed = pictures.delayed[DELAY].delayed
    assert delayed is not None
    pier = by_id(delayed.zones())["pier"]
    assert (pier["level"], pier["occupancy"]) == ("red", 300)
    assert by_id(delayed.zones())["square"]["occupancy"] == 12
    # 30 pier states within 30 s: the newest of each step_s (2 s) leaves the database
    assert seeded == 2 + 16 + 1
    clock.advance(240)  # now - delay = ago + 240: the last of the 30 green ones
    delayed.advance()
    pier = by_id(delayed.zones())["pier"]
    assert (pier["level"], pier["occupancy"]) == ("green", 69)
    clock.advance(DELAY)
    delayed.advance()
    pier = by_id(delayed.zones())["pier"]
    assert (pier["level"], pier["occupancy"]) == ("red", 250)
