"""``generic_json`` inside a running hub (issue 9): the real aiohttp push path and a real
Mosquitto, the core's privacy screen and clock check, the jsonl and sqlite outputs.

- a per-person list in a payload reaches no output with any config check-config accepts;
- counts of 10^30 and years 9999/1970 never go out, and never block the sqlite output;
  a time ahead of the hub clock is flagged ``clock_skew``, far ahead it is refused;
- a push refused with 400 and sent again once fixed is accepted (state advances only
  on acceptance);
- ``Authorization: Token <token>``; a multi-item message yields every item; an azimuth
  maps to in/out per line (over MQTT).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hub.core.config import load_config
from hub.core.plugins import load_plugins
from hub.core.runtime import Hub
from hub.errors import ConfigError

SITE = """
[hub]
data_dir = "data"
status_interval_s = 0.1
shutdown_timeout_s = 5

[site]
id = "plaza"
timezone = "UTC"
[[site.zones]]
id = "hall"
area_m2 = 400.0
[[site.zones]]
id = "square"
area_m2 = 900.0
[[site.lines]]
id = "gate-a"
zone = "hall"
width_m = 2.0
[[site.lines]]
id = "gate-b"
zone = "hall"
width_m = 2.0
[[site.lines]]
id = "gate-c"
zone = "square"
width_m = 2.0

[zones]
enabled = false             # the devices' events only (the crowd picture: test_e2e_zones)

[[sinks.jsonl]]
id = "archive"
path = "events.jsonl"

[[sinks.sqlite]]
id = "db"
path = "events.db"
"""

HTTP = """
[[transports.http]]
host = "127.0.0.1"
port = 0
"""

PERSONS = [
    {"t": 1781352000123, "speed": 1.37, "distance": 4.25},
    {"t": 1781352001456, "speed": 0.91, "distance": 2.5},
    {"t": 1781352003789, "speed": 1.12, "distance": 3.75},
]
PERSON_VALUES = ("1781352000123", "1781352001456", "1.37", "0.91", "4.25", "3.75", "speed")


def write_config(tmp_path: Path, source: str, transports: str = HTTP) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(SITE + transports + "\n[[sources.generic_json]]\n" + source, "utf-8")
    return path


def load(path: Path) -> Hub:
    registry = load_plugins()
    return Hub(load_config(path, registry), registry)


@contextlib.asynccontextmanager
async def running(the_hub: Hub) -> AsyncIterator[Hub]:
    stop = asyncio.Event()
    task = asyncio.create_task(the_hub.run(stop), name="hub-under-test")
    try:
        async with asyncio.timeout(10):
            while the_hub.state != "running":
                await asyncio.sleep(0.01)
        yield the_hub
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def until(cond: Any, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.01)


class Pusher:
    """A device POSTing to the hub's real HTTP server."""

    def __init__(self, the_hub: Hub, session: aiohttp.ClientSession, source: str) -> None:
        server: Any = the_hub.transports[("http", "default")]
        self.url = f"http://127.0.0.1:{server.port}/ingest/{source}"
        self.session = session
        self.headers: dict[str, str] = {}

    async def push(self, doc: Any, headers: dict[str, str] | None = None) -> tuple[int, str]:
        body = doc if isinstance(doc, str) else json.dumps(doc)
        hdrs = {"Content-Type": "application/json", **self.headers, **(headers or {})}
        async with self.session.post(self.url, data=body, headers=hdrs) as resp:
            return resp.status, await resp.text()


@contextlib.asynccontextmanager
async def pushing(the_hub: Hub, source: str) -> AsyncIterator[Pusher]:
    server: Any = the_hub.transports[("http", "default")]
    await asyncio.wait_for(server.started.wait(), 10)
    async with aiohttp.ClientSession() as session:
        pusher = Pusher(the_hub, session, source)

        async def route_up() -> None:
            while (await pusher.push({}))[0] == 404:
                await asyncio.sleep(0.02)

        await asyncio.wait_for(route_up(), 10)
        yield pusher


def outputs(tmp_path: Path) -> tuple[list[dict[str, Any]], list[tuple[Any, ...]], str]:
    """(jsonl events, sqlite rows, everything either output holds as text)."""
    data = tmp_path / "data"
    lines = (data / "events.jsonl").read_text("utf-8").splitlines()
    with contextlib.closing(sqlite3.connect(data / "events.db")) as db:
        rows = db.execute("SELECT count_in, quality, event FROM events ORDER BY time_ms").fetchall()
    text = "\n".join(lines) + "\n" + repr(rows)
    dead = data / "deadletter.jsonl"
    if dead.exists():
        text += dead.read_text("utf-8")
    return [json.loads(ln) for ln in lines], rows, text


def now_s() -> float:
    return datetime.now(UTC).timestamp()


# -- privacy: a per-person list reaches no output ---------------------------------------------

ACCEPTED_EXTRAS = [
    'extras = { people = "persons" }',
    'extras = { first = "persons[0]" }',
    'extras = { text = "to_string(persons)" }',
    'extras = { n = "length(persons)", fw = "meta.fw" }',
    'extras = ["persons", "meta"]',
]
REFUSED_EXTRAS = [
    'extras = { people = "persons[]" }',
    'extras = { speeds = "persons[*].speed" }',
    'extras = { fast = "persons[?speed > `1`]" }',
    'extras = { all = "@" }',
    'extras = { pair = "[persons, meta]" }',
    "extras = { t = \"join(',', persons[*].to_string(t))\" }",
    'extras = { s = "to_string(persons[*])" }',
]


def person_source(extras: str) -> str:
    return f"""id = "counter"
transport = "http"
auth = {{ scheme = "none" }}
line = "gate-a"
in = "in"
out = "out"
time = "ts"
{extras}
"""


@pytest.mark.parametrize("extras", REFUSED_EXTRAS)
def test_check_config_refuses_extras_selecting_a_structure(tmp_path: Path, extras: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(write_config(tmp_path, person_source(extras)))
    text = str(info.value)
    assert "sources.generic_json[counter].extras:" in text
    assert "an extras value is one scalar" in text


async def test_per_person_list_reaches_no_output(tmp_path: Path) -> None:
    for i, extras in enumerate(ACCEPTED_EXTRAS):
        directory = tmp_path / f"config-{i}"
        directory.mkdir()
        the_hub = load(write_config(directory, person_source(extras)))  # check-config accepts it
        doc = {
            "ts": now_s(),
            "in": 3,
            "out": 0,
            "persons": PERSONS,
            "meta": {"fw": "2.1"},
        }
        async with running(the_hub), pushing(the_hub, "counter") as device:
            status, _ = await device.push(doc)
            assert status == 204, extras
            await until(lambda h=the_hub: h.runners[1].stats.events_out >= 1)  # type: ignore[misc]
        events, rows, text = outputs(directory)
        assert len(events) == 1 and len(rows) == 1, extras
        for value in PERSON_VALUES:
            assert value not in text, (extras, value)
        assert events[0]["measurement"]["in"] == 3
        kept = events[0]["extras"].get("generic_json", {})
        assert all(not isinstance(v, list | dict) for v in kept.values())
        if "length(persons)" in extras:
            assert kept == {"n": 3, "fw": "2.1"}


# -- bounded values: through the sqlite output ------------------------------------------------


async def test_impossible_values_never_go_out_and_never_block_sqlite(tmp_path: Path) -> None:
    the_hub = load(write_config(tmp_path, person_source('key = "id"')))
    t = now_s()
    async with running(the_hub), pushing(the_hub, "counter") as device:
        for doc, needle in [
            # the mapper refuses a count beyond 64 bits before the event schema would
            ({"id": "a", "ts": t, "in": 1e30, "out": 0}, "in: 1e+30 is beyond any count"),
            ({"id": "b", "ts": t, "in": 2**70, "out": 0}, "is beyond any count (more than 2^63"),
            ({"id": "c", "ts": "9999-12-31T23:59:59Z", "in": 1, "out": 0}, "ts"),
            ({"id": "d", "ts": "1970-01-01T00:00:01Z", "in": 1, "out": 0}, "ts"),
            ({"id": "e", "ts": 253402300799, "in": 1, "out": 0}, "ts"),
        ]:
            status, reason = await device.push(doc)
            assert status == 400, doc
            assert needle in reason
        ahead_1h = {"id": "f", "ts": t + 3600, "in": 2, "out": 1}
        ahead_3d = {"id": "g", "ts": t + 3 * 86400, "in": 5, "out": 5}
        good = {"id": "h", "ts": t, "in": 7, "out": 4}
        for doc in (ahead_1h, ahead_3d, good):
            assert (await device.push(doc))[0] == 204
        await until(lambda: the_hub.runners[1].stats.events_out >= 2)
        await until(lambda: the_hub.dead_letters["clock skew"] >= 1)
        assert the_hub.runners[1].stats.state != "failed"
    events, rows, _ = outputs(tmp_path)
    assert sorted((e["measurement"]["in"], e["quality"], e["quality_reasons"]) for e in events) == [
        (2, "suspect", ["clock_skew"]),
        (7, "ok", []),
    ]
    assert sorted((r[0], r[1]) for r in rows) == [(2, "suspect"), (7, "ok")]
    record = json.loads((tmp_path / "data" / "deadletter.jsonl").read_text().splitlines()[0])
    assert record["findings"] == [{"field": "observed_to", "problem": "clock skew"}]
    assert "ahead of the hub clock" in record["reason"]


# -- state advances only when accepted --------------------------------------------------------


async def test_400_refused_push_retried_after_the_fix_is_accepted(tmp_path: Path) -> None:
    the_hub = load(write_config(tmp_path, person_source('sequence = "seq"')))
    t = now_s()
    async with running(the_hub), pushing(the_hub, "counter") as device:
        assert (await device.push({"seq": 1, "ts": t, "in": 1, "out": 0}))[0] == 204
        status, reason = await device.push({"seq": 2, "ts": t + 1, "in": "many", "out": 0})
        assert status == 400 and "in: not a number" in reason
        assert (await device.push({"seq": 2, "ts": t + 1, "in": 5, "out": 0}))[0] == 204
        assert (await device.push({"seq": 2, "ts": t + 1, "in": 5, "out": 0}))[0] == 204  # a replay
        await until(lambda: the_hub.runners[0].stats.events_out >= 2)
        source: Any = the_hub.supervisors[0].source
        await until(lambda: source.duplicates == 1)
    events, rows, _ = outputs(tmp_path)
    assert [(e["sequence"], e["measurement"]["in"]) for e in events] == [(1, 1), (2, 5)]
    assert len(rows) == 2


# -- onboarding without gaps ------------------------------------------------------------------


async def test_token_auth_and_multi_item_message(tmp_path: Path) -> None:
    source = """id = "feed"
transport = "http"
auth = { scheme = "token", token = "${FEED_TOKEN}" }
items = "lines"
line_expr = "item.name"
zone_expr = "item.area"
in = "item.in"
out = "item.out"
time = "message.end"
interval_expr = "message.interval"
key = "join('/', [message.id, item.name])"
"""
    import os

    os.environ["FEED_TOKEN"] = "s3cret-token"
    try:
        the_hub = load(write_config(tmp_path, source))
    finally:
        del os.environ["FEED_TOKEN"]
    end = datetime.now(UTC).replace(microsecond=0)
    doc = {
        "id": "m-1",
        "end": end.isoformat(),
        "interval": 120,
        "lines": [
            {"name": "gate-a", "area": "hall", "in": 4, "out": 1},
            {"name": "gate-b", "in": 2, "out": 0},
            {"name": "gate-c", "area": "square", "in": 0, "out": 9},
            {"name": "gate-b", "area": "square", "in": 6, "out": 6},  # gate-b is in the hall
        ],
    }
    async with running(the_hub), pushing(the_hub, "feed") as device:
        assert (await device.push(doc))[0] == 401
        assert (await device.push(doc, {"Authorization": "Bearer s3cret-token"}))[0] == 401
        assert (await device.push(doc, {"Authorization": "Token wrong"}))[0] == 403
        status, _ = await device.push(doc, {"Authorization": "Token s3cret-token"})
        assert status == 204
        await until(lambda: the_hub.runners[0].stats.events_out >= 3)
        source_obj: Any = the_hub.supervisors[0]
        await until(lambda: source_obj.ctx.counters.malformed >= 1)
    events, _, _ = outputs(tmp_path)
    assert [
        (e["line"], e["zone"], e["measurement"]["in"], e["measurement"]["out"]) for e in events
    ] == [
        ("gate-a", "hall", 4, 1),
        ("gate-b", "hall", 2, 0),
        ("gate-c", "square", 0, 9),
    ]
    start = (end - timedelta(seconds=120)).isoformat().replace("+00:00", "Z")
    assert {e["observed_from"].replace("+00:00", "Z") for e in events} == {start}


@pytest.mark.mosquitto
async def test_azimuth_per_line_over_a_real_mosquitto(tmp_path: Path) -> None:
    from hub.testing.mosquitto import Mosquitto

    source = """id = "tracker"
broker = "local"
topics = ["sensors/+/passages"]
qos = 1
items = "passages"
line_expr = "item.line"
direction_expr = "item.heading"
count = "item.n"
time = "message.t"
interval_expr = "message.period"
directions = { gate-a = { in = 90, tolerance = 45 }, gate-c = { in = 350, tolerance = 30 } }
extras = { people = "message.persons" }
"""
    with Mosquitto(tmp_path / "broker") as broker:
        mqtt = f"""
[[transports.mqtt]]
id = "local"
host = "{broker.host}"
port = {broker.port}
reconnect_initial_s = 0.05
"""
        the_hub = load(write_config(tmp_path, source, mqtt))
        doc = {
            "t": now_s(),
            "period": 60,
            "persons": PERSONS,
            "passages": [
                {"line": "gate-a", "heading": 120, "n": 3},
                {"line": "gate-a", "heading": 265, "n": 2},
                {"line": "gate-a", "heading": 0, "n": 7},
                {"line": "gate-c", "heading": 10, "n": 1},
                {"line": "gate-c", "heading": 185, "n": 4},
            ],
        }
        async with running(the_hub):
            transport: Any = the_hub.transports[("mqtt", "local")]
            source_obj: Any = the_hub.supervisors[0]

            async def publish() -> None:
                while source_obj.stats.state != "running":
                    await asyncio.sleep(0.02)
                await asyncio.sleep(0.2)  # the subscription is in place once running
                await transport.publish("sensors/s1/passages", json.dumps(doc).encode(), qos=1)

            await asyncio.wait_for(publish(), 10)
            await until(lambda: the_hub.runners[1].stats.events_out >= 4)
            assert source_obj.source.undirected == 1
    events, _, text = outputs(tmp_path)
    assert sorted((e["line"], e["measurement"]["in"], e["measurement"]["out"]) for e in events) == [
        ("gate-a", 0, 2),
        ("gate-a", 3, 0),
        ("gate-c", 0, 4),
        ("gate-c", 1, 0),
    ]
    for value in PERSON_VALUES:
        assert value not in text


def test_the_hubs_http_client_sends_the_token_scheme() -> None:
    from hub.core.transports.http_client import auth_headers
    from hub.transports import HttpAuth

    auth = HttpAuth(scheme="token", token="s3cret")  # type: ignore[arg-type]
    assert auth_headers(auth) == {"Authorization": "Token s3cret"}
