"""Retention: the sqlite store's purge on a real database file, and dead letters."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

from hub import Event
from hub.outputs.sqlite import SqliteConfig, SqliteSink
from hub.outputs.sqlite_retention import purge
from hub.testing import FakeClock, sink_context
from hub.views.retention import prune_jsonl
from tests.views.helpers import SITE, T0, crossing, devices, occupancy

DAY = timedelta(days=1)


def old_and_new() -> list[Event]:
    return [
        crossing("gate-a", T0, 3, 1),  # 12:00-12:01
        crossing("gate-a", T0 + timedelta(minutes=7), 4, 2),  # same quarter hour
        crossing("gate-a", T0 + timedelta(minutes=15), 5, 0),  # next quarter hour
        occupancy("beach", T0 + timedelta(minutes=3), 10),
        occupancy("beach", T0 + timedelta(minutes=9), 30),
        devices("beach", T0, 8),
        occupancy("beach", T0 + 35 * DAY, 99),  # recent: stays raw
    ]


async def open_sink(tmp_path: Path, clock: FakeClock, **cfg: object) -> SqliteSink:
    ctx = sink_context("sqlite", "db", site=SITE, data_dir=str(tmp_path))
    ctx.clock = clock
    sink = SqliteSink(SqliteConfig(id="db", **cfg), ctx)  # type: ignore[arg-type]
    await sink.open()
    return sink


async def test_raw_events_past_retention_become_quarter_hour_aggregates(tmp_path: Path) -> None:
    clock = FakeClock(T0 + 40 * DAY)
    sink = await open_sink(tmp_path, clock, keep_raw_days=30, keep_aggregates_days=400)
    assert sink.purged == {"runs": 1, "raw_deleted": 0, "aggregates_deleted": 0}  # at open
    sink._next_purge = 0.0  # as if purge_interval_s had passed since
    await sink.write(old_and_new())  # the purge runs on its own after a write when due
    assert sink.purged == {"runs": 2, "raw_deleted": 6, "aggregates_deleted": 0}
    await sink.write(old_and_new()[:1])  # not due again yet: the late old event stays raw
    assert sink.purged["runs"] == 2
    await sink.close()

    db = sqlite3.connect(tmp_path / "events.sqlite")
    assert db.execute("SELECT count(*) FROM events").fetchone() == (2,)
    rows = db.execute(
        "SELECT bucket_ms, measurement, zone, line, events, count_in, count_out,"
        " count_sum, count_max FROM aggregates_15min ORDER BY bucket_ms, measurement"
    ).fetchall()
    q0 = int(T0.timestamp() * 1000)
    q1 = q0 + 15 * 60 * 1000
    assert rows == [
        (q0, "crossing", "", "gate-a", 2, 7, 3, None, None),
        (q0, "devices", "beach", "", 1, None, None, 8.0, 8.0),
        (q0, "occupancy", "beach", "", 2, None, None, 40.0, 30.0),
        (q1, "crossing", "", "gate-a", 1, 5, 0, None, None),
    ]


def test_a_quarter_hour_split_over_two_purges_is_merged_and_old_aggregates_go(
    tmp_path: Path,
) -> None:
    from hub.outputs.sqlite import INSERT, SCHEMA, row

    db = sqlite3.connect(tmp_path / "e.sqlite", isolation_level=None)
    db.executescript(SCHEMA)
    first, second = crossing("gate-a", T0, 3, 1), crossing("gate-a", T0 + timedelta(minutes=5), 2)
    db.execute(INSERT, row(first))
    assert purge(db, T0 + 31 * DAY, keep_raw_days=30, keep_aggregates_days=400).raw_deleted == 1
    db.execute(INSERT, row(second))  # arrives late for the same quarter hour
    purge(db, T0 + 31 * DAY, keep_raw_days=30, keep_aggregates_days=400)
    assert db.execute("SELECT events, count_in, count_out FROM aggregates_15min").fetchall() == [
        (2, 5, 1)
    ]
    result = purge(db, T0 + 401 * DAY, keep_raw_days=30, keep_aggregates_days=400)
    assert (result.raw_deleted, result.aggregates_deleted) == (0, 1)
    assert db.execute("SELECT count(*) FROM aggregates_15min").fetchone() == (0,)


def test_dead_letters_are_pruned_in_place(tmp_path: Path) -> None:
    path = tmp_path / "deadletter.jsonl"
    records = [
        {"time": (T0 + i * DAY).isoformat(), "source": "s", "reason": "identifier in event"}
        for i in range(5)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + "not json\n")
    with path.open("a", encoding="utf-8") as writer:  # the runtime keeps it open to append
        assert prune_jsonl(path, T0 + 3 * DAY) == 3
        writer.write(json.dumps({"time": (T0 + 9 * DAY).isoformat()}) + "\n")
    lines = path.read_text().splitlines()
    assert [line[:30] for line in lines[:2]] == [json.dumps(r)[:30] for r in records[3:]]
    assert lines[2] == "not json"  # undatable lines are kept, never silently lost
    assert json.loads(lines[3])["time"].startswith("2026-06-10")
    assert prune_jsonl(tmp_path / "missing.jsonl", T0) == 0
