"""``sqlite`` output: the embedded default store.

WAL mode, one transaction per batch, ``INSERT OR IGNORE`` on ``event_id`` (a
replayed device message is stored once). Columns make the common questions
cheap: by time (``time_ms``), by zone or line, by measurement::

    SELECT zone, SUM(count_in) FROM events
     WHERE measurement = 'crossing' AND time_ms >= :since GROUP BY zone;

The full event is kept as JSON in ``event``. All database work runs in one
worker thread; ``close()`` commits and checkpoints, so nothing written is lost
on a clean shutdown.

A value the database cannot hold (an integer beyond 64 bits, say) refuses
that one event, never the batch: the batch is written again row by row, the
events that fail are reported with :class:`~hub.errors.SinkRejected` (``events``
maps each ``event_id`` to the reason; the core dead-letters and counts them)
and the rest is stored. Nothing is retried forever behind a bad event.

The file is checked before and after each batch (one ``stat``): when another
program deleted or replaced it while the hub ran, the write raises
:class:`~hub.errors.SinkUnavailable` naming the file, the database is created
anew at ``path`` and the batch is written again there, so nothing is
acknowledged that went into a file nobody can read.

Retention (data minimisation): raw events are kept ``keep_raw_days`` (default
30), then folded into quarter-hour aggregates (``aggregates_15min``) kept
``keep_aggregates_days``; the purge runs on its own every ``purge_interval_s``
and at open, and is counted in ``purged`` (see :mod:`hub.outputs.sqlite_retention`).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import Field

import hub
from hub import Event, Sink, SinkConfig, SinkRejected, SinkUnavailable, event_json
from hub.outputs.sqlite_retention import PurgeResult, purge
from hub.storage import diagnose

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
-- the zone states alone, for the dashboard's history (hub.dashboard.store)
CREATE INDEX IF NOT EXISTS events_zone_state ON events (zone, time_ms)
    WHERE measurement = 'zone_state';
"""

INSERT = (
    "INSERT OR IGNORE INTO events (event_id, time_ms, time_from_ms, source, kind, site, zone,"
    " line, measurement, count_in, count_out, count, value, quality, received_ms, event)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


DATA_ERRORS = (
    OverflowError,  # an int beyond 64 bits
    ValueError,  # a string SQLite cannot encode
    sqlite3.IntegrityError,
    sqlite3.InterfaceError,  # a value of a type SQLite cannot bind
    sqlite3.DataError,
)
"""Errors that belong to one row's values, not to the database: that row is refused."""


class FileLost(Exception):
    """The database file at ``path`` is no longer the one the sink opened."""


def _reason(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


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
        event_json(e).decode(),
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
        self._file_id: tuple[int, int] | None = None
        self._name = f"sqlite[{ctx.instance}]"

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self.config.synchronous}")
        db.executescript(SCHEMA)
        self._db = db
        self._file_id = self._identity()
        self._purge_if_due()

    def _identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_dev, st.st_ino)

    def _check_file(self) -> None:
        """Raise FileLost (and forget the connection) when the file was deleted or replaced."""
        if self._db is None or self._identity() == self._file_id:
            return
        db, self._db = self._db, None
        db.close()
        raise FileLost(str(self.path))

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
            raise SinkUnavailable(
                f"{self._name}: cannot open {self.path}: {err}; check that the data dir is "
                "writable and the file is an SQLite database"
            ) from err

    def _write(self, rows: list[tuple[Any, ...]]) -> dict[str, str]:
        """Store ``rows`` in one transaction; return ``{event_id: reason}`` of refused rows."""
        self._check_file()
        if self._db is None:
            self._open()
        assert self._db is not None
        db = self._db
        refused: dict[str, str] = {}
        db.execute("BEGIN")
        try:
            try:
                db.executemany(INSERT, rows)
            except DATA_ERRORS:
                db.execute("ROLLBACK")
                db.execute("BEGIN")
                refused = self._insert_one_by_one(db, rows)
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        self._check_file()  # committed into a file someone deleted meanwhile: write it again
        self._purge_if_due()
        return refused

    @staticmethod
    def _insert_one_by_one(db: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> dict[str, str]:
        refused: dict[str, str] = {}
        for r in rows:
            try:
                db.execute(INSERT, r)
            except DATA_ERRORS as err:
                refused[r[0]] = _reason(err)
        return refused

    async def write(self, batch: Sequence[Event]) -> None:
        rows = []
        refused: dict[str, str] = {}
        for e in batch:
            try:
                rows.append(row(e))
            except DATA_ERRORS as err:
                refused[e.event_id] = _reason(err)
        try:
            refused.update(await self._call(self._write, rows))
        except FileLost:
            raise SinkUnavailable(
                f"{self._name}: {self.path} was deleted or replaced while the hub ran (by "
                "another program?); what it held is gone with it. A new database is created "
                "there and this batch written again. Keep other programs from deleting the "
                "file; copy it with `sqlite3 <file> '.backup <copy>'`"
            ) from None
        except sqlite3.Error as err:
            raise SinkUnavailable(
                f"{self._name}: cannot write {self.path} ({err}): {diagnose(err, self.path)}; "
                "the events wait in this output's queue meanwhile"
            ) from err
        if refused:
            first = next(iter(refused.values()))
            raise SinkRejected(
                f"{self._name}: {len(refused)} of {len(batch)} event(s) hold a value "
                f"{self.path.name} cannot store ({first}); they were left out, the other "
                f"{len(batch) - len(refused)} are stored",
                events=refused,
            )

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
