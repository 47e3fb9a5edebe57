"""The file outputs on real files: storage deleted, moved or replaced under them, and
one event whose value the store cannot hold."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import hub
from hub.core.config import load_config
from hub.core.plugins import load_plugins
from hub.core.runtime import Hub
from hub.errors import SinkRejected, SinkUnavailable
from hub.outputs.jsonl import JsonlConfig, JsonlSink
from hub.outputs.sqlite import SqliteConfig, SqliteSink
from hub.site import Site
from hub.testing import sink_context, source_context

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def unstorable(event: hub.Event) -> hub.Event:
    """``event`` counting 2**70 people in: more than a 64-bit SQLite INTEGER holds.

    ``hub.Event`` validation refuses such a count, so it is built the way a pipeline
    stage's ``model_copy(update=...)`` would build it: without validation. The sink
    must still refuse just this event.
    """
    return event.model_copy(update={"measurement": hub.Crossing.model_construct(in_=2**70, out=0)})


def crossings(site: Site, start: int, n: int, *, big: int | None = None) -> list[hub.Event]:
    """``n`` crossing events keyed ``start..``; the one keyed ``big`` is :func:`unstorable`."""
    ctx = source_context("lidar", "gate-a-lidar", site=site)
    out = [
        ctx.event(
            hub.Crossing(in_=i, out=1),
            line="gate-a",
            key=i,
            observed_from=T0 + timedelta(minutes=i),
            observed_to=T0 + timedelta(minutes=i + 1),
        )
        for i in range(start, start + n)
    ]
    return [unstorable(e) if i == big else e for i, e in enumerate(out, start)]


def stored_ids(path: Path) -> set[str]:
    """What the database at ``path`` holds (read-only: never creates the file); a
    database still being created holds nothing."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {r[0] for r in db.execute("SELECT event_id FROM events")}
    except sqlite3.OperationalError as err:
        if "no such table" in str(err):
            return set()
        raise
    finally:
        db.close()


def remove_database(path: Path) -> None:
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        p.unlink(missing_ok=True)


@pytest.fixture
def sqlite_sink(site: Site, tmp_path: Path) -> Iterator[SqliteSink]:
    sink = SqliteSink(
        SqliteConfig(id="store"), sink_context("sqlite", "store", site=site, data_dir=str(tmp_path))
    )
    yield sink


async def test_sqlite_file_deleted_mid_run_is_reported_and_recreated(
    site: Site, tmp_path: Path, sqlite_sink: SqliteSink
) -> None:
    path = tmp_path / "events.sqlite"
    await sqlite_sink.open()
    await sqlite_sink.write(crossings(site, 0, 3))
    remove_database(path)
    second = crossings(site, 3, 3)
    with pytest.raises(SinkUnavailable) as err:
        await sqlite_sink.write(second)
    message = str(err.value)
    assert message.startswith("sqlite[store]: ") and str(path) in message
    assert "deleted or replaced" in message and "written again" in message
    await sqlite_sink.write(second)  # the runner's retry: into a new database
    await sqlite_sink.write(crossings(site, 6, 2))
    await sqlite_sink.close()
    assert stored_ids(path) == {e.event_id for e in second + crossings(site, 6, 2)}


async def test_sqlite_file_replaced_mid_run_is_reported(
    site: Site, tmp_path: Path, sqlite_sink: SqliteSink
) -> None:
    path = tmp_path / "events.sqlite"
    await sqlite_sink.open()
    await sqlite_sink.write(crossings(site, 0, 2))
    remove_database(path)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).close()
    other.rename(path)  # another program put an empty database there
    with pytest.raises(SinkUnavailable, match="deleted or replaced"):
        await sqlite_sink.write(crossings(site, 2, 2))
    await sqlite_sink.write(crossings(site, 2, 2))
    await sqlite_sink.close()
    assert len(stored_ids(path)) == 2


async def test_sqlite_batch_committed_into_a_deleted_file_is_not_acknowledged(
    site: Site, tmp_path: Path, sqlite_sink: SqliteSink
) -> None:
    """The file goes while the batch is being committed: the write must fail."""
    path = tmp_path / "events.sqlite"
    await sqlite_sink.open()
    db = sqlite_sink._db
    assert db is not None

    def delete_on_commit(statement: str) -> None:  # SQLite calls it as each statement starts
        if statement == "COMMIT":
            remove_database(path)

    db.set_trace_callback(delete_on_commit)
    batch = crossings(site, 0, 3)
    with pytest.raises(SinkUnavailable, match="deleted or replaced"):
        await sqlite_sink.write(batch)
    await sqlite_sink.write(batch)
    await sqlite_sink.close()
    assert stored_ids(path) == {e.event_id for e in batch}


async def test_sqlite_refuses_only_the_event_it_cannot_store(
    site: Site, tmp_path: Path, sqlite_sink: SqliteSink
) -> None:
    await sqlite_sink.open()
    batch = crossings(site, 0, 5, big=2)
    with pytest.raises(SinkRejected) as err:
        await sqlite_sink.write(batch)
    refused = err.value.events
    assert refused is not None and list(refused) == [batch[2].event_id]
    assert refused[batch[2].event_id].startswith("OverflowError")
    assert "1 of 5 event(s)" in str(err.value) and "the other 4 are stored" in str(err.value)
    await sqlite_sink.write(crossings(site, 5, 2))  # the store goes on
    await sqlite_sink.close()
    good = [e for i, e in enumerate(batch) if i != 2] + crossings(site, 5, 2)
    assert stored_ids(tmp_path / "events.sqlite") == {e.event_id for e in good}


@pytest.fixture
def jsonl_sink(site: Site, tmp_path: Path) -> Iterator[JsonlSink]:
    sink = JsonlSink(
        JsonlConfig(id="archive"),
        sink_context("jsonl", "archive", site=site, data_dir=str(tmp_path)),
    )
    yield sink


def ids_in(path: Path) -> list[str]:
    return [hub.Event.model_validate_json(line).event_id for line in path.read_text().splitlines()]


async def test_jsonl_file_deleted_mid_run_is_reported_and_started_anew(
    site: Site, tmp_path: Path, jsonl_sink: JsonlSink
) -> None:
    path = tmp_path / "events.jsonl"
    await jsonl_sink.open()
    await jsonl_sink.write(crossings(site, 0, 2))
    path.unlink()
    second = crossings(site, 2, 2)
    with pytest.raises(SinkUnavailable) as err:
        await jsonl_sink.write(second)
    assert str(err.value).startswith("jsonl[archive]: ") and str(path) in str(err.value)
    assert "deleted" in str(err.value)
    await jsonl_sink.write(second)
    await jsonl_sink.close()
    assert ids_in(path) == [e.event_id for e in second]


async def test_jsonl_file_moved_away_is_followed_silently(
    site: Site, tmp_path: Path, jsonl_sink: JsonlSink
) -> None:
    path = tmp_path / "events.jsonl"
    await jsonl_sink.open()
    first, second = crossings(site, 0, 2), crossings(site, 2, 2)
    await jsonl_sink.write(first)
    path.rename(tmp_path / "events.jsonl.old")  # logrotate's way
    await jsonl_sink.write(second)
    await jsonl_sink.close()
    assert ids_in(tmp_path / "events.jsonl.old") == [e.event_id for e in first]
    assert ids_in(path) == [e.event_id for e in second]


async def test_jsonl_batch_written_into_a_deleted_file_is_not_acknowledged(
    site: Site, tmp_path: Path, jsonl_sink: JsonlSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file goes between the check before the batch and the write (simulated by
    skipping that check once: the race cannot be timed with a real second program)."""
    path = tmp_path / "events.jsonl"
    await jsonl_sink.open()
    await jsonl_sink.write(crossings(site, 0, 1))
    path.unlink()
    monkeypatch.setattr(jsonl_sink, "_check_file", lambda when: None)
    batch = crossings(site, 1, 2)
    with pytest.raises(SinkUnavailable, match="while this batch was written"):
        await jsonl_sink.write(batch)
    monkeypatch.undo()
    await jsonl_sink.write(batch)
    await jsonl_sink.close()
    assert ids_in(path) == [e.event_id for e in batch]


HUB_CONFIG = """
[hub]
data_dir = "{data}"
status_interval_s = 0.05
shutdown_timeout_s = 3

[site]
id = "store"
[[site.zones]]
id = "square"
area_m2 = 100.0

[[sources.simulated]]
id = "sim"
zone = "square"
measurement = "occupancy"
interval_s = 0.01
capacity = 100

[[sinks.sqlite]]
id = "store"
retry_initial_s = 0.05
retry_max_s = 0.1
"""


async def test_a_running_hub_says_so_and_keeps_storing(tmp_path: Path) -> None:
    """A whole hub: the database deleted under it shows in status.json, and storing
    goes on into a new file."""
    data = tmp_path / "data"
    path = data / "events.sqlite"
    config = tmp_path / "hub.toml"
    config.write_text(HUB_CONFIG.format(data=data))
    registry = load_plugins(entrypoints=False)
    the_hub = Hub(load_config(config, registry), registry)
    stop = asyncio.Event()
    task = asyncio.create_task(the_hub.run(stop))
    try:
        async with asyncio.timeout(20):
            while not path.exists() or len(stored_ids(path)) < 5:
                await asyncio.sleep(0.02)
            remove_database(path)
            status = data / "status.json"
            while "deleted or replaced" not in status.read_text():
                await asyncio.sleep(0.02)
            while not path.exists() or len(stored_ids(path)) < 5:
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    sink = json.loads(status.read_text())["sinks"]["store"]
    assert sink["retries"] >= 1 and str(path) in sink["last_error"]


class BigIntSource(hub.Source[hub.SourceConfig]):
    """Emits crossings keyed 0..9; the one keyed 3 is :func:`unstorable`."""

    kind = "big_int"
    config_model = hub.SourceConfig

    async def run(self) -> None:
        for i in range(10):
            event = self.ctx.event(
                hub.Crossing(in_=i, out=0),
                line="gate-a",
                key=i,
                observed_from=T0 + timedelta(minutes=i),
                observed_to=T0 + timedelta(minutes=i + 1),
            )
            await self.ctx.emit(unstorable(event) if i == 3 else event)
        await asyncio.Event().wait()


class BigIntPlugin:
    @hub.hookimpl
    def register_sources(self, register: Callable[[type[hub.Source[Any]]], None]) -> None:
        register(BigIntSource)


BIG_INT_CONFIG = """
[hub]
data_dir = "{data}"
shutdown_timeout_s = 3

[site]
id = "store"
[[site.zones]]
id = "square"
area_m2 = 100.0
[[site.lines]]
id = "gate-a"
zone = "square"
width_m = 3.0

[zones]
enabled = false             # the source's events only (the crowd picture: test_e2e_zones)

[[sources.big_int]]
id = "door"

[[sinks.sqlite]]
id = "store"
batch_size = 100
linger_s = 0.05
"""


async def test_an_event_the_store_cannot_hold_is_dead_lettered_and_the_rest_stored(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    path = data / "events.sqlite"
    config = tmp_path / "hub.toml"
    config.write_text(BIG_INT_CONFIG.format(data=data))
    registry = load_plugins(entrypoints=False, extra=[("big_int", BigIntPlugin())])
    the_hub = Hub(load_config(config, registry), registry)
    stop = asyncio.Event()
    task = asyncio.create_task(the_hub.run(stop))
    try:
        async with asyncio.timeout(20):
            while not path.exists() or len(stored_ids(path)) < 9:
                await asyncio.sleep(0.02)
            sink = the_hub.status()["sinks"]["store"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert sink["dropped"] == {"rejected": 1} and sink["events_out"] == 9
    assert sink["queued"] == 0 and sink["state"] == "running"
    assert "1 of " in sink["last_error"] and "OverflowError" in sink["last_error"]
    (record,) = [json.loads(line) for line in (data / "deadletter.jsonl").read_text().splitlines()]
    assert record["output"] == "sinks.sqlite[store]" and record["source"] == "door"
    assert record["reason"].startswith("OverflowError")
    assert record["event"]["measurement"]["in"] == 2**70
    assert record["event_id"] not in stored_ids(path)
