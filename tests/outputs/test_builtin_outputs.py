"""console, jsonl and sqlite outputs, on real files."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import hub
from hub.outputs.console import ConsoleConfig, ConsoleSink
from hub.outputs.jsonl import JsonlConfig, JsonlSink
from hub.outputs.sqlite import SqliteConfig, SqliteSink
from hub.site import Site
from hub.testing import sink_context, source_context

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def events(site: Site, n: int = 3) -> list[hub.Event]:
    ctx = source_context("lidar", "gate-a-lidar", site=site)
    out = []
    for i in range(n):
        out.append(
            ctx.event(
                hub.Crossing(in_=i, out=1),
                line="gate-a",
                key=i,
                observed_from=T0 + timedelta(minutes=i),
                observed_to=T0 + timedelta(minutes=i + 1),
            )
        )
    out.append(
        ctx.event(
            hub.Occupancy(count=42),
            zone="beach",
            observed_at=T0,
            key="o",
            quality=hub.Quality.ESTIMATED,
        )
    )
    return out


async def test_console_text_and_json(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    text = ConsoleSink(ConsoleConfig(id="c"), sink_context("console", site=site))
    await text.write(events(site, 1))
    out = capsys.readouterr().out.splitlines()
    assert "gate-a-lidar" in out[0] and "in=0" in out[0] and "line gate-a" in out[0]
    assert "occupancy=42" in out[1] and "[estimated" in out[1]
    js = ConsoleSink(ConsoleConfig(id="c", format="json"), sink_context("console", site=site))
    await js.write(events(site, 1))
    lines = capsys.readouterr().out.splitlines()
    assert hub.Event.model_validate_json(lines[0]).measurement.type == "crossing"


async def test_jsonl_appends_and_rotates(site: Site, tmp_path: Path) -> None:
    sink = JsonlSink(
        JsonlConfig(id="j", path="ev.jsonl", max_bytes=2048, keep=2),
        sink_context("jsonl", site=site, data_dir=str(tmp_path)),
    )
    await sink.open()
    batch = events(site, 3)
    for _ in range(10):
        await sink.write(batch)
    await sink.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["ev.jsonl", "ev.jsonl.1", "ev.jsonl.2"]
    for p in tmp_path.iterdir():
        assert p.stat().st_size <= 2048
        for line in p.read_text().splitlines():
            hub.Event.model_validate_json(line)


async def test_sqlite_is_queryable_wal_and_deduplicates(site: Site, tmp_path: Path) -> None:
    sink = SqliteSink(
        SqliteConfig(id="s"), sink_context("sqlite", site=site, data_dir=str(tmp_path))
    )
    await sink.open()
    batch = events(site, 3)
    await sink.write(batch)
    await sink.write(batch)  # replayed: same event ids
    await sink.close()
    db = sqlite3.connect(tmp_path / "events.sqlite")
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 4
        since = int((T0 + timedelta(minutes=2)).timestamp() * 1000)
        rows = db.execute(
            "SELECT line, SUM(count_in), SUM(count_out) FROM events WHERE measurement = "
            "'crossing' AND time_ms >= ? GROUP BY line",
            (since,),
        ).fetchall()
        assert rows == [("gate-a", 1 + 2, 2)]
        occ = db.execute("SELECT count, quality FROM events WHERE zone = 'beach'").fetchall()
        assert occ == [(42.0, "estimated")]
        (raw,) = db.execute("SELECT event FROM events LIMIT 1").fetchone()
        assert json.loads(raw)["schema_version"] == 2
    finally:
        db.close()
