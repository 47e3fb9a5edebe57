"""Issue 9, privacy: a Meraki client's SSID, manufacturer, OS, location and addresses never
leave the plugin. A real hub, the real aiohttp push path, the jsonl and sqlite outputs, the
dead-letter file and the status file are searched for every such value."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from hub.core.config import load_config
from hub.core.plugins import load_plugins
from hub.core.runtime import Hub
from hub.testing import ManualClock

FIXTURE = Path(__file__).parent / "plugins" / "wifi_counter" / "fixtures" / "meraki_v3_wifi.json"

CONFIG = """
[hub]
data_dir = "data"
status_interval_s = 0.1

[site]
id = "pier"
timezone = "UTC"
[[site.zones]]
id = "boulevard"
area_m2 = 800.0
[[site.zones]]
id = "beach"
area_m2 = 5000.0

[zones]
enabled = false             # the devices' events only (the crowd picture: test_e2e_zones)

[[transports.http]]
host = "127.0.0.1"
port = 0

[[sources.wifi_counter]]
id = "meraki"
device = "meraki"
validator = "da6a17c407bb11dfeec7392a5042be0a4cc034b6"
secret = "supersecret"
interval_s = 60
zone = "boulevard"
tag_zones = { beach = "beach" }

[[sinks.jsonl]]
id = "archive"
path = "events.jsonl"

[[sinks.sqlite]]
id = "db"
path = "events.db"
"""


def client_values(doc: Any) -> set[str]:
    """Every value of every observation except the counted structure itself."""
    out: set[str] = set()
    for obs in doc["data"]["observations"]:
        for key in ("ssid", "manufacturer", "os", "clientMac", "ipv4", "ipv6"):
            if obs.get(key):
                out.add(str(obs[key]))
        for loc in obs.get("locations") or []:
            for key in ("lat", "lng", "x", "y", "floorPlanId", "floorPlanName"):
                if loc.get(key) is not None:
                    out.add(str(loc[key]))
            out.update(r["apMac"] for r in loc.get("rssiRecords", []))
    return out


async def test_meraki_client_details_never_leave_the_plugin(tmp_path: Path) -> None:
    (tmp_path / "hub.toml").write_text(CONFIG, "utf-8")
    registry = load_plugins()
    clock = ManualClock(datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC))
    the_hub = Hub(load_config(tmp_path / "hub.toml", registry), registry, clock=clock)
    doc = json.loads(FIXTURE.read_text("utf-8"))
    secrets = client_values(doc)
    assert {"Gemeente-Gast", "Samsung", "Apple", "52.10471", "Boulevard"} <= secrets
    stop = asyncio.Event()
    task = asyncio.create_task(the_hub.run(stop), name="hub-under-test")
    try:
        server: Any = the_hub.transports[("http", "default")]
        await asyncio.wait_for(server.started.wait(), 10)
        url = f"http://127.0.0.1:{server.port}/ingest/meraki"
        async with aiohttp.ClientSession() as session:

            async def post() -> int:
                async with session.post(url, json=doc) as resp:
                    return resp.status

            async with asyncio.timeout(10):
                while (status := await post()) == 404:  # the route is added once running
                    await asyncio.sleep(0.02)
            assert status == 200
        async with asyncio.timeout(10):  # close the minute (and its grace): the counts go out
            while the_hub.runners[1].stats.events_out < 2:
                clock.advance_to(clock.monotonic() + 30)
                await asyncio.sleep(0.01)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
    data = tmp_path / "data"
    events = [json.loads(ln) for ln in (data / "events.jsonl").read_text().splitlines()]
    assert sorted((e["zone"], e["measurement"]["count"]) for e in events) == [
        ("beach", 1),
        ("boulevard", 2),
    ]
    with contextlib.closing(sqlite3.connect(data / "events.db")) as db:
        rows = db.execute("SELECT * FROM events").fetchall()
    text = (data / "events.jsonl").read_text() + repr(rows) + (data / "status.json").read_text()
    if (data / "deadletter.jsonl").exists():
        text += (data / "deadletter.jsonl").read_text()
    for value in secrets:
        # a short number (a location) must not match inside a longer one (a time, an uptime)
        pattern = rf"(?<![\d.]){re.escape(value)}(?![\d])" if _numeric(value) else re.escape(value)
        assert not re.search(pattern, text), value


def _numeric(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
