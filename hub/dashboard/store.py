"""History from the embedded store: a zone's occupancy read back from the ``sqlite`` output.

The bundled ``sqlite`` output (:mod:`hub.outputs.sqlite`) keeps every ``zone_state`` event
the zone model publishes (a changed figure at most every ``publish_interval_s``, every
state at least every ``heartbeat_s``) as a row of its ``events`` table: ``zone``,
``time_ms`` and the occupancy in ``count``. Past its raw retention it folds them into
``aggregates_15min`` (``count_sum / count_n`` per quarter hour). :class:`StoreHistory`
reads both back, per ``step``:

* raw rows: the mean of the zone's states in each step (``GROUP BY`` in SQL, so at most
  one row per point leaves the database); a step without a state holds the last one for
  up to ``carry_s`` (a state holds until the next; the heartbeat bounds the gap);
* quarter-hour aggregates: spread over the steps each quarter covers, weighted by the
  events behind it and by the overlap; older than the raw retention there are no raw
  rows, so the two never count the same state twice.

The file is opened read-only (``file:...?mode=ro``: in WAL mode a reader never blocks
the writer, and the writer never blocks a reader) on a new connection per query, in a
worker thread (``asyncio.to_thread``), so a query never stalls the event loop. The schema
is the sqlite output's, documented there; this module imports nothing of it.
"""

from __future__ import annotations

__all__ = ["StoreError", "StoreHistory"]

import asyncio
import math
import sqlite3
from pathlib import Path
from urllib.parse import quote

QUARTER_MS = 15 * 60 * 1000

RAW = """
SELECT (time_ms - :t0) / :step AS i, SUM(count), COUNT(count), MAX(time_ms)
  FROM events
 WHERE measurement = 'zone_state' AND zone = :zone AND time_ms >= :t0 AND time_ms < :end
   AND count IS NOT NULL
 GROUP BY i
"""
"""Per step: the sum and number of the zone's stored occupancies and the last one's time.

``measurement = 'zone_state'`` literally, so SQLite may use the sqlite output's partial
index on (zone, time_ms) of the zone states."""

BEFORE = """
SELECT time_ms, count FROM events
 WHERE measurement = 'zone_state' AND zone = :zone AND time_ms < :t0 AND time_ms >= :since
   AND count IS NOT NULL
 ORDER BY time_ms DESC LIMIT 1
"""
"""The last state before the first step, to hold into it."""

AGGREGATES = """
SELECT bucket_ms, SUM(count_sum), SUM({n}) FROM aggregates_15min
 WHERE measurement = 'zone_state' AND zone = :zone AND bucket_ms > :t0 - :quarter
   AND bucket_ms < :end AND count_sum IS NOT NULL
 GROUP BY bucket_ms ORDER BY bucket_ms LIMIT :limit
"""

MAX_QUARTERS = 200_000
"""At most this many quarter hours are read per query (about 5.7 years)."""


class StoreError(Exception):
    """The store could not be read (missing file, not an SQLite database, locked too long)."""


class StoreHistory:
    """Occupancy per step of one zone, read from the ``sqlite`` output ``output_id``'s file."""

    def __init__(
        self,
        path: Path,
        *,
        output_id: str,
        carry_s: float = 150.0,
        max_points: int = 5000,
        timeout_s: float = 5.0,
    ) -> None:
        self.path = path
        self.output_id = output_id
        self.carry_s = carry_s
        self.max_points = max_points
        self.timeout_s = timeout_s

    async def occupancy(
        self, zone: str, start: float, end: float, step: int
    ) -> tuple[float, list[float | None]]:
        """Mean occupancy per ``step`` seconds in [start, end) (epoch seconds), off the loop.

        Returns the first point's time (``start`` down to a multiple of ``step``) and one
        value per point (``None``: nothing stored). Raises :class:`StoreError`."""
        return await asyncio.to_thread(self.read, zone, start, end, step)

    def read(
        self, zone: str, start: float, end: float, step: int
    ) -> tuple[float, list[float | None]]:
        """:meth:`occupancy` in the calling thread."""
        t0 = math.floor(start / step) * step
        n = max(0, math.ceil((end - t0) / step))
        if n > self.max_points:
            raise ValueError(f"{n} points asked, at most {self.max_points}")
        try:
            db = self.connect()
        except sqlite3.Error as err:
            raise StoreError(f"cannot open {self.path} read-only: {err}") from err
        try:
            return t0, self._query(db, zone, int(t0 * 1000), n, step * 1000)
        except sqlite3.Error as err:
            raise StoreError(f"cannot read {self.path}: {err}") from err
        finally:
            db.close()

    def connect(self) -> sqlite3.Connection:
        """A new read-only connection to the file (raises ``sqlite3.Error``)."""
        if not self.path.is_file():
            raise sqlite3.OperationalError("no such file (nothing stored yet?)")
        uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
        db = sqlite3.connect(uri, uri=True, timeout=self.timeout_s, check_same_thread=False)
        db.execute("PRAGMA query_only = ON")
        return db

    def _query(
        self, db: sqlite3.Connection, zone: str, t0: int, n: int, step: int
    ) -> list[float | None]:
        end = t0 + n * step
        sums = [0.0] * n
        weights = [0.0] * n
        last = [-1] * n  # time (ms) of the last state in each step
        args = {"zone": zone, "t0": t0, "end": end, "step": step}
        for i, total, count, t_last in db.execute(RAW, args):
            if 0 <= i < n and count:
                sums[i] += total
                weights[i] += count
                last[i] = t_last
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "aggregates_15min" in tables:
            cols = {r[1] for r in db.execute("PRAGMA table_info(aggregates_15min)")}
            n_col = "COALESCE(count_n, events)" if "count_n" in cols else "events"
            rows = db.execute(
                AGGREGATES.format(n=n_col), {**args, "quarter": QUARTER_MS, "limit": MAX_QUARTERS}
            ).fetchall()
            for bucket, total, events in rows:
                if events:
                    self._spread(bucket, total / events, events, t0, step, sums, weights, last)
        carry_ms = int(self.carry_s * 1000)
        held: tuple[int, float] | None = None  # (time ms, value) of the last state so far
        row = db.execute(BEFORE, {**args, "since": t0 - carry_ms}).fetchone()
        if row is not None:
            held = (row[0], row[1])
        out: list[float | None] = []
        for i in range(n):
            if weights[i]:
                value = sums[i] / weights[i]
                out.append(value)
                held = (last[i], value)
            elif held is not None and t0 + i * step - held[0] <= carry_ms:
                out.append(held[1])
            else:
                out.append(None)
        return out

    @staticmethod
    def _spread(
        bucket: int,
        mean: float,
        events: float,
        t0: int,
        step: int,
        sums: list[float],
        weights: list[float],
        last: list[int],
    ) -> None:
        """Add a quarter hour's mean to each step it overlaps, by events x overlap."""
        q_end = bucket + QUARTER_MS
        first = max(0, (bucket - t0) // step)
        for i in range(first, len(sums)):
            s = t0 + i * step
            if s >= q_end:
                break
            overlap = min(q_end, s + step) - max(bucket, s)
            if overlap <= 0:
                continue
            w = events * overlap / QUARTER_MS
            sums[i] += mean * w
            weights[i] += w
            last[i] = max(last[i], min(q_end, s + step) - 1)
