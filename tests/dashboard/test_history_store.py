"""History read from the embedded store: a running hub with its sqlite output, stopped and
started again on the same data dir; raw zone states, then (past the raw retention) the
quarter-hour aggregates; a view's policy before anything is read; check-config's line."""

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

from hub import Event, Occupancy
from hub.core.runtime import Hub
from hub.core.transports.http_server import HttpIngestServer
from hub.errors import ConfigError
from tests.dashboard.test_wiring import PROV, VIEWS, bearer, make_hub, until

STORE = """
[zones]
publish_interval_s = 0

[[sinks.sqlite]]
id = "store"
path = "events.sqlite"
keep_raw_days = %s
"""
ORGANISER = """
[[views]]
id = "organiser"
token = "${HISTORY_ORGANISER_TOKEN:-organiser-token-0123456789}"
zones = ["square"]
"""


@asynccontextmanager
async def running(tmp_path: Path, extra: str) -> AsyncIterator[tuple[Hub, str]]:
    hub = make_hub(tmp_path, extra, views=VIEWS + ORGANISER)
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


def stored(path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat()


async def history(
    url: str, view: str, zone: str, start: datetime, end: datetime
) -> tuple[int, Any]:
    q = {"zone": zone, "from": iso(start), "to": iso(end), "step": "60"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{url}/api/v1/history", params=q, headers=bearer(view)) as r,
    ):
        body = await r.json() if r.content_type == "application/json" else await r.text()
        return r.status, body


async def test_history_reads_the_store_across_a_restart_and_past_raw_retention(
    tmp_path: Path,
) -> None:
    db = tmp_path / "data" / "events.sqlite"
    began = datetime.now(UTC)
    async with running(tmp_path, STORE % 30) as (hub, url):
        assert hub.zones is not None
        for count in (40, 40, 40):  # 40 people on the pier, 12 on the square
            now = hub.clock.now()
            for zone, n in (("pier", count), ("square", 12)):
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
        q = (
            "SELECT count(*) FROM events"
            " WHERE measurement = 'zone_state' AND zone = ? AND count = ?"
        )
        await until(lambda: asyncio.sleep(0, stored(db, q, "pier", 40.0)[0][0] >= 1))
        await until(lambda: asyncio.sleep(0, stored(db, q, "square", 12.0)[0][0] >= 1))
        status, live = await history(url, "operator", "pier", began - timedelta(minutes=3), now)
        assert status == 200 and live["source"] == "store", live
        assert 40.0 in live["occupancy"]
    ended = datetime.now(UTC)
    window = (began - timedelta(minutes=3), ended)

    # a new hub on the same data dir: its memory holds no minute of the first run
    async with running(tmp_path, STORE % 30) as (hub, url):
        assert hub.dashboard is not None
        status, again = await history(url, "operator", "pier", *window)
        assert status == 200 and again["source"] == "store"
        assert [v for v in again["occupancy"] if v is not None] == [40.0] * len(
            [v for v in again["occupancy"] if v is not None]
        ) and 40.0 in again["occupancy"]
        # a view restricted to the square: its zone's history, nothing of the pier
        status, square = await history(url, "organiser", "square", *window)
        assert status == 200 and square["zone"] == "square" and 12.0 in square["occupancy"]
        status, body = await history(url, "organiser", "pier", *window)
        assert status == 404 and body == {"error": "no history of zone 'pier' for this view"}
        # a levels-only view gets no history, not even of its own zone
        status, body = await history(url, "public", "square", *window)
        assert status == 404 and "12" not in str(body)

    # past the raw retention (here 0.9 s): the purge at open folds the states into
    # quarter hours; the same question is answered from the aggregates
    async with running(tmp_path, STORE % 0.00001) as (hub, url):
        q_raw = "SELECT count(*) FROM events WHERE measurement = 'zone_state' AND time_ms < ?"
        before = int(ended.timestamp() * 1000)  # the purge runs as the output opens
        await until(lambda: asyncio.sleep(0, stored(db, q_raw, before) == [(0,)]))
        q_agg = (
            "SELECT count_sum / count_n FROM aggregates_15min"
            " WHERE measurement = 'zone_state' AND zone = 'pier'"
        )
        assert {round(r[0], 6) for r in stored(db, q_agg)} == {40.0}
        status, old = await history(url, "operator", "pier", *window)
        assert status == 200 and old["source"] == "store"
        values = [v for v in old["occupancy"] if v is not None]
        # a quarter hour's mean is spread over every minute of it in the window
        assert values and set(values) == {40.0}
        assert len(values) >= len([v for v in again["occupancy"] if v is not None])


async def test_without_an_sqlite_output_history_comes_from_memory_and_says_so(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, "") as (_, url):
        now = datetime.now(UTC)
        status, body = await history(url, "operator", "pier", now - timedelta(hours=1), now)
        assert status == 200 and body["source"] == "memory"


def test_a_wrong_history_output_is_one_config_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        make_hub(tmp_path, STORE % 30 + '[dashboard]\nhistory = "archive"\n', views=VIEWS)
    [problem] = err.value.problems
    assert str(problem) == (
        "dashboard.history: no [[sinks.sqlite]] output with id = 'archive' (have: store); "
        'name one of them, or "memory" for the zone model\'s memory'
    )


def test_a_view_shaped_sqlite_output_is_not_read_for_history(tmp_path: Path) -> None:
    extra = STORE % 30 + 'view = "organiser"\n[dashboard]\nhistory = "store"\n'
    with pytest.raises(ConfigError) as err:
        make_hub(tmp_path, extra, views=VIEWS + ORGANISER)
    [problem] = err.value.problems
    assert str(problem).startswith(
        "dashboard.history: sqlite[store] does not keep every zone_state in full detail"
    )


def test_the_openapi_documents_the_history_parameters_and_its_source() -> None:
    from hub.dashboard.openapi import openapi

    get = openapi()["paths"]["/api/v1/history"]["get"]
    assert [p["name"] for p in get["parameters"]] == ["zone", "from", "to", "step"]
    schema = get["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["properties"]["source"]["enum"] == ["store", "memory"]
    assert "embedded store" in get["summary"] and "404" in get["summary"]
