"""``sqlite`` output: the embedded default store.

WAL mode, one transaction per batch, ``INSERT OR IGNORE`` on ``event_id`` (a
replayed device message is stored once). Columns make the common questions
cheap: by time (``time_ms``), by zone or line, by measurement::

    SELECT zone, SUM(count_in) FROM events
     WHERE measurement = 'crossing' AND time_ms >= :since GROUP BY zone;

The full event is kept as JSON in ``event``. All database work runs in one
worker thread; ``close()`` commits and checkpoints, so nothing written is lost
on a clean shutdown.

Retention (data minimisation): raw events are kept ``keep_raw_days`` (default
30), then folded into quarter-hour aggregates (``aggregates_15min``) kept
``keep_aggregates_days``; the purge runs on its own every ``purge_interval_s``
and at open, and is counted in ``purged`` (see :mod:`hub.outputs.sqlite_retention`).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import Field

import hub
from hub import Event, Sink, SinkConfig, SinkUnavailable
from hub.outputs.sqlite_retention import PurgeResult, purge

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id     TEXT PRIMARY KEY,
    time_ms      INTEGER NOT NULL,  -- observed_at, or the end of the interval, epoch ms UTC
    time_from_ms INTEGER,           -- start of the interval, if any
    source       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    site         TEXT,
    zone         TEXT,
    line         TEXT,
    measurement  TEXT NOT NULL,     -- crossing | occupancy | devices | density | status
    count_in     INTEGER,           -- crossing
    count_out    INTEGER,           -- crossing
    count        REAL,              -- occupancy / devices
    value        REAL,              -- density
    quality      TEXT NOT NULL,
    received_ms  INTEGER NOT NULL,
    event        TEXT NOT NULL      -- the whole event as JSON
);
CREATE INDEX IF NOT EXISTS events_time ON events (time_ms);
CREATE INDEX IF NOT EXISTS events_zone_time ON events (zone, time_ms);
CREATE INDEX IF NOT EXISTS events_line_time ON events (line, time_ms);
CREATE INDEX IF NOT EXISTS events_measurement_time ON events (measurement, time_ms);
"""

INSERT = (
    "INSERT OR IGNORE INTO events (event_id, time_ms, time_from_ms, source, kind, site, zone,"
    " line, measurement, count_in, count_out, count, value, quality, received_ms, event)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _ms(t: Any) -> int | None:
    return None if t is None else int(t.timestamp() * 1000)


def row(e: Event) -> tuple[Any, ...]:
    m = e.measurement
    cin = cout = None
    count = value = None
    if m.type == "crossing":
        cin, cout = m.in_, m.out
    elif m.type in ("occupancy", "devices"):
        count = m.count
    elif m.type == "density":
        value = m.value
    elif m.type == "zone_state":
        count, value = m.occupancy, m.density
    elif m.type == "line_flow":
        cin, cout = m.in_, m.out
    return (
        e.event_id,
        _ms(e.time),
        _ms(e.observed_from),
        e.source,
        e.kind,
        e.site,
        e.zone,
        e.line,
        m.type,
        cin,
        cout,
        count,
        value,
        e.quality.value,
        _ms(e.received_at),
        e.model_dump_json(),
    )


class SqliteConfig(SinkConfig):
    path: str = Field(
        default="events.sqlite", description="database file (relative to [hub] data_dir)"
    )
    synchronous: str = Field(
        default="NORMAL",
        pattern="^(OFF|NORMAL|FULL)$",
        description="SQLite synchronous pragma: NORMAL is durable across crashes of the hub "
        "in WAL mode; FULL also across power loss",
    )
    keep_raw_days: float = Field(
        default=30, gt=0, description="keep raw events this many days, then only aggregates"
    )
    keep_aggregates_days: float = Field(
        default=400, gt=0, description="keep the quarter-hour aggregates this many days"
    )
    purge_interval_s: float = Field(
        default=3600, gt=0, description="how often the retention purge runs"
    )


class SqliteSink(Sink[SqliteConfig]):
    kind = "sqlite"
    config_model = SqliteConfig
    description = "store events in a local SQLite database (WAL)"

    def __init__(self, config: SqliteConfig, ctx: hub.SinkContext) -> None:
        super().__init__(config, ctx)
        self.path = Path(ctx.data_dir) / config.path
        self._db: sqlite3.Connection | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"sqlite-{config.id}")
        self.purged = {"runs": 0, "raw_deleted": 0, "aggregates_deleted": 0}
        self._next_purge = 0.0

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self.config.synchronous}")
        db.executescript(SCHEMA)
        self._db = db
        self._purge_if_due()

    def purge_now(self) -> PurgeResult:
        """Run the retention purge (in the worker thread) and count it."""
        assert self._db is not None
        result = purge(
            self._db,
            self.ctx.clock.now(),
            keep_raw_days=self.config.keep_raw_days,
            keep_aggregates_days=self.config.keep_aggregates_days,
        )
        self.purged["runs"] += 1
        self.purged["raw_deleted"] += result.raw_deleted
        self.purged["aggregates_deleted"] += result.aggregates_deleted
        if result.raw_deleted or result.aggregates_deleted:
            self.ctx.log.info(
                "retention: %d raw events folded into aggregates, %d old aggregates deleted",
                result.raw_deleted,
                result.aggregates_deleted,
            )
        return result

    def _purge_if_due(self) -> None:
        if time.monotonic() >= self._next_purge:
            self._next_purge = time.monotonic() + self.config.purge_interval_s
            self.purge_now()

    async def open(self) -> None:
        try:
            await self._call(self._open)
        except sqlite3.Error as err:
            raise SinkUnavailable(f"cannot open {self.path}: {err}") from err

    def _write(self, rows: list[tuple[Any, ...]]) -> None:
        if self._db is None:
            self._open()
        assert self._db is not None
        db = self._db
        db.execute("BEGIN")
        try:
            db.executemany(INSERT, rows)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        self._purge_if_due()

    async def write(self, batch: Sequence[Event]) -> None:
        rows = [row(e) for e in batch]
        try:
            await self._call(self._write, rows)
        except sqlite3.Error as err:
            raise SinkUnavailable(f"cannot write {self.path}: {err}") from err

    def _close(self) -> None:
        if self._db is not None:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()
            self._db = None

    async def close(self) -> None:
        try:
            await self._call(self._close)
        finally:
            self._pool.shutdown(wait=True)


@hub.hookimpl
def register_sinks(register: Callable[[type[Sink[Any]]], None]) -> None:
    register(SqliteSink)
