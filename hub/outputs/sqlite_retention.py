"""Retention of the embedded store: raw events for days, quarter-hour aggregates for longer.

:func:`purge` runs in one transaction:

1. every raw event older than ``keep_raw_days`` (by ``time_ms``) is first added to
   ``aggregates_15min`` — per quarter hour (by the start of its interval, else its
   instant) x measurement x source x site x zone x line: the number of events,
   the sums of ``in``/``out``, the sum, maximum and number of ``count`` and
   ``value`` (an event without one, e.g. a stale zone state, is not in them) —
   then deleted. Each raw event is added exactly once; a quarter hour split
   over two purges is merged (sums add, maxima take the larger);
2. aggregates older than ``keep_aggregates_days`` are deleted.

Averages are ``count_sum / count_n`` (resp. ``value_sum / value_n``; rows written
before those two columns existed have them NULL: use ``events``). The counts of what
was removed are returned, so the sink can count its purges.
"""

from __future__ import annotations

__all__ = ["AGGREGATE_SCHEMA", "PurgeResult", "purge"]

import sqlite3
from dataclasses import dataclass
from datetime import datetime

QUARTER_MS = 15 * 60 * 1000
DAY_MS = 86_400_000

AGGREGATE_SCHEMA = """
CREATE TABLE IF NOT EXISTS aggregates_15min (
    bucket_ms    INTEGER NOT NULL,  -- start of the quarter hour, epoch ms UTC
    measurement  TEXT NOT NULL,
    source       TEXT NOT NULL,
    site         TEXT NOT NULL,     -- '' when the events had none
    zone         TEXT NOT NULL,
    line         TEXT NOT NULL,
    events       INTEGER NOT NULL,  -- raw events behind this row
    count_in     INTEGER,           -- crossing: sum
    count_out    INTEGER,           -- crossing: sum
    count_sum    REAL,              -- occupancy / devices: sum (average = count_sum / events)
    count_max    REAL,
    value_sum    REAL,              -- density: sum
    value_max    REAL,
    count_n      INTEGER,           -- events with a count (average = count_sum / count_n)
    value_n      INTEGER,           -- events with a value
    PRIMARY KEY (bucket_ms, measurement, source, site, zone, line)
);
CREATE INDEX IF NOT EXISTS aggregates_zone_time ON aggregates_15min (zone, bucket_ms);
"""

_KEYS = "bucket_ms, measurement, source, site, zone, line"
_ADDED = ("count_n", "value_n")
"""Columns added after the table's first version: added to an older table on purge."""


def _add(col: str) -> str:
    return (
        f"{col} = CASE WHEN {col} IS NULL AND excluded.{col} IS NULL THEN NULL "
        f"ELSE COALESCE({col}, 0) + COALESCE(excluded.{col}, 0) END"
    )


def _max(col: str) -> str:
    return f"{col} = MAX(COALESCE({col}, excluded.{col}), COALESCE(excluded.{col}, {col}))"


ROLLUP = f"""
INSERT INTO aggregates_15min ({_KEYS}, events, count_in, count_out, count_sum, count_max,
                              value_sum, value_max, count_n, value_n)
SELECT (COALESCE(time_from_ms, time_ms) / {QUARTER_MS}) * {QUARTER_MS}, measurement, source,
       COALESCE(site, ''), COALESCE(zone, ''), COALESCE(line, ''),
       COUNT(*), SUM(count_in), SUM(count_out), SUM(count), MAX(count), SUM(value), MAX(value),
       COUNT(count), COUNT(value)
  FROM events WHERE time_ms < :cutoff
 GROUP BY 1, 2, 3, 4, 5, 6
ON CONFLICT ({_KEYS}) DO UPDATE SET
    events = events + excluded.events,
    {_add("count_in")}, {_add("count_out")}, {_add("count_sum")}, {_max("count_max")},
    {_add("value_sum")}, {_max("value_max")}, {_add("count_n")}, {_add("value_n")}
"""


@dataclass(frozen=True)
class PurgeResult:
    raw_deleted: int
    """Raw events older than the raw retention, now only in the aggregates."""
    aggregate_rows: int
    """Quarter-hour rows written or merged from them."""
    aggregates_deleted: int
    """Quarter-hour rows older than the aggregate retention."""


def purge(
    db: sqlite3.Connection, now: datetime, *, keep_raw_days: float, keep_aggregates_days: float
) -> PurgeResult:
    """Aggregate then delete raw events past ``keep_raw_days``; delete old aggregates.

    ``db`` must have the ``events`` table; ``aggregates_15min`` is created if missing.
    Runs in its own transaction (``db`` in autocommit mode, as the sqlite sink opens it).
    """
    now_ms = int(now.timestamp() * 1000)
    cutoff = now_ms - int(keep_raw_days * DAY_MS)
    agg_cutoff = now_ms - int(keep_aggregates_days * DAY_MS)
    db.executescript(AGGREGATE_SCHEMA)
    have = {r[1] for r in db.execute("PRAGMA table_info(aggregates_15min)")}
    for col in _ADDED:
        if col not in have:
            db.execute(f"ALTER TABLE aggregates_15min ADD COLUMN {col} INTEGER")
    db.execute("BEGIN")
    try:
        rows = db.execute(ROLLUP, {"cutoff": cutoff}).rowcount
        raw = db.execute("DELETE FROM events WHERE time_ms < ?", (cutoff,)).rowcount
        old = db.execute("DELETE FROM aggregates_15min WHERE bucket_ms < ?", (agg_cutoff,)).rowcount
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return PurgeResult(raw, max(rows, 0), old)
