"""The SQLite file behind one output's durable queue (see :mod:`hub.core.bus.durable`).

One file per output, WAL mode, one table ``queue(seq, t, body)``: ``seq`` is a
contiguous counter (the queue only ever deletes a prefix), ``t`` the wall-clock
time the event was queued, ``body`` the event's JSON. A second connection reads
the backlog back; a third checkpoints the WAL from a worker thread so no fsync
of a checkpoint ever runs on the event loop (``wal_autocheckpoint`` is off).

Every SQLite or OS error is translated here into :class:`~hub.errors.QueueUnavailable`
naming the output and the path. A file deleted or replaced under a running hub
is noticed after each commit (its device/inode no longer match what was opened)
and raised as :class:`FileLost`, a ``QueueUnavailable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
from pathlib import Path
from typing import Literal

from hub.errors import QueueUnavailable

Synchronous = Literal["normal", "full"]

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    seq  INTEGER PRIMARY KEY,  -- contiguous; the queue deletes only a prefix
    t    REAL NOT NULL,        -- when it was queued, epoch seconds
    body BLOB NOT NULL         -- the event as JSON (hub.Event)
);
"""
_INSERT = "INSERT INTO queue (seq, t, body) VALUES (?, ?, ?)"

Row = tuple[int, float, bytes]


class FileLost(QueueUnavailable):
    """The queue file was deleted or replaced while open: what it held is gone."""


class Store:
    """Connections to one queue file. ``write`` and ``checkpoint`` may run in a worker thread."""

    def __init__(self, path: Path, *, output: str, synchronous: Synchronous) -> None:
        self.path = path
        self.output = output
        self.synchronous = synchronous
        self._lock_fd: int | None = None
        self._w: sqlite3.Connection | None = None
        self._r: sqlite3.Connection | None = None
        self._c: sqlite3.Connection | None = None
        self._ident: tuple[int, int] = (0, 0)

    def error(self, what: str, err: BaseException | None = None) -> QueueUnavailable:
        reason = f": {_reason(err)}" if err is not None else ""
        return QueueUnavailable(
            f"output {self.output}: durable queue {self.path}: {what}{reason}",
            output=self.output,
            path=str(self.path),
        )

    # -- open / close ---------------------------------------------------------------

    def open(self) -> list[tuple[int, float, int]]:
        """Open (creating if needed) and return ``(seq, t, size)`` of what is queued, in order."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock()
            self._w = self._connect()
            mode = self._w.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise self.error(f"cannot switch to WAL mode (got {mode!r})")
            self._w.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
            self._w.execute("PRAGMA wal_autocheckpoint=0")
            self._w.execute("PRAGMA journal_size_limit=8388608")
            version = self._w.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise self.error(
                    f"written by a newer crowdhub (queue format {version}); "
                    "drain it with that version or move the file away"
                )
            self._w.executescript(_SCHEMA)
            self._w.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self._r = self._connect()
            self._c = self._connect()
            st = os.stat(self.path)
            self._ident = (st.st_dev, st.st_ino)
            rows = self._r.execute("SELECT seq, t, length(body) FROM queue ORDER BY seq").fetchall()
        except QueueUnavailable:
            self.close()
            raise
        except (sqlite3.Error, OSError) as err:
            self.close()
            raise self.error("cannot open it (is the data dir writable?)", err) from err
        return [(int(s), float(t), int(n)) for s, t, n in rows]

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        con.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
        return con

    def _lock(self) -> None:
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            raise self.error(
                "in use by another process (another hub with the same data_dir?)", err
            ) from err
        self._lock_fd = fd

    def close(self) -> None:
        """Checkpoint (best effort) and close every connection; release the lock."""
        if self._w is not None:
            with contextlib.suppress(sqlite3.Error):
                self._w.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for con in (self._c, self._r, self._w):
            if con is not None:
                with contextlib.suppress(sqlite3.Error):
                    con.close()
        self._w = self._r = self._c = None
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None

    def reopen_fresh(self) -> None:
        """After :class:`FileLost`: drop the old connections and create a new, empty file."""
        self.close()
        self.open()

    # -- writing ----------------------------------------------------------------------

    def write(self, rows: list[Row], delete_below: int | None) -> None:
        """One transaction: insert ``rows``, delete every ``seq < delete_below``, commit.

        Raises :class:`QueueUnavailable` (nothing of this transaction is kept) or
        :class:`FileLost` (it was committed into a file that is no longer at ``path``).
        """
        con = self._w
        if con is None:
            raise self.error("is closed")
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                if rows:
                    con.executemany(_INSERT, rows)
                if delete_below is not None:
                    con.execute("DELETE FROM queue WHERE seq < ?", (delete_below,))
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        con.execute("ROLLBACK")
                raise
        except sqlite3.Error as err:
            raise self.error("cannot write (disk full or read-only?)", err) from err
        self.check_file()

    def check_file(self) -> None:
        """Raise :class:`FileLost` when the file at ``path`` is not the one we opened."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            ident = None
        except OSError as err:
            raise self.error("cannot check the file", err) from err
        else:
            ident = (st.st_dev, st.st_ino)
        if ident != self._ident:
            raise FileLost(
                f"output {self.output}: durable queue {self.path} was deleted or replaced "
                "while the hub ran; events that were only on disk are lost; "
                "a new file is created (keep other programs out of the data dir)",
                output=self.output,
                path=str(self.path),
            )

    def checkpoint(self) -> None:
        """Copy the WAL into the database (PASSIVE: never waits for the writer)."""
        if self._c is not None:
            with contextlib.suppress(sqlite3.Error):
                self._c.execute("PRAGMA wal_checkpoint(PASSIVE)")

    # -- reading ----------------------------------------------------------------------

    def read(self, start: int, end: int) -> list[tuple[int, bytes]]:
        """``(seq, body)`` for ``start <= seq < end``, in order (committed rows only)."""
        if self._r is None:
            raise self.error("is closed")
        try:
            rows = self._r.execute(
                "SELECT seq, body FROM queue WHERE seq >= ? AND seq < ? ORDER BY seq",
                (start, end),
            ).fetchall()
        except sqlite3.Error as err:
            raise self.error("cannot read", err) from err
        return [(int(s), bytes(b)) for s, b in rows]


class Commit:
    """One transaction: the puts of one loop turn (and the acks so far)."""

    __slots__ = ("done", "end", "error", "first", "outcome", "rows")

    def __init__(self, first: int) -> None:
        self.first = first
        self.end = first
        self.rows: list[Row] = []
        self.done = asyncio.Event()
        self.error: QueueUnavailable | None = None
        self.outcome: BaseException | bool | None = False  # False: not written yet

    def finish(self, error: QueueUnavailable | None) -> None:
        self.error = error
        self.done.set()


def commit_outcome(commit: Commit) -> BaseException | None:
    outcome = commit.outcome
    if outcome is False:
        return RuntimeError("the write was cancelled")
    assert not isinstance(outcome, bool)
    return outcome


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    text = str(err) or type(err).__name__
    return text


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The running event loop, or None outside one (e.g. ``close()`` after the loop)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
