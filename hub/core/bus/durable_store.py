"""The SQLite file behind one output's durable queue (see :mod:`hub.core.bus.durable`).

One file per output, WAL mode, one table ``queue(seq, t, body)``: ``seq`` is a
contiguous counter (the queue only ever deletes a prefix), ``t`` the wall-clock
time the event was queued, ``body`` the event's JSON. A second connection reads
the backlog back; a third folds the WAL into the database from a worker thread
(:meth:`Store.compact`, ``wal_autocheckpoint`` is off), so no checkpoint fsync
runs on the event loop.

Disk use. SQLite's WAL only grows while writes go on (a PASSIVE checkpoint
never catches up with a steady writer), and the database keeps the pages of
deleted rows. So the queue holds its commits while :meth:`Store.compact` runs a
``TRUNCATE`` checkpoint once the WAL passes :func:`wal_limit`, and a ``VACUUM``
once a backlog has drained (:func:`compact_due`): the files stay within
``max_bytes`` (see :func:`event_budget`) and shrink back after an outage.

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
from hub.storage import diagnose

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

ROW_OVERHEAD = 1.3
"""Database bytes per byte of event JSON: record header, cell pointer, page fill,
B-tree interior pages, and dropped rows whose delete waits for the next commit
(measured on 300-800 byte events)."""
_DRAINED = 2**20  # live bytes below which a backlog counts as drained
_VACUUM_FILE_MIN = 4 * 2**20


def wal_limit(max_bytes: int) -> int:
    """WAL size that triggers a ``TRUNCATE`` checkpoint: 1/8 of the bound, 64 KiB-16 MiB."""
    return min(16 * 2**20, max(64 * 1024, max_bytes // 8))


def event_budget(max_bytes: int) -> int:
    """Bytes of event JSON that fit in ``max_bytes`` of files: the WAL's allowance and
    the database's row overhead come off the top (at least a quarter stays for events)."""
    return max(max_bytes // 4, int((max_bytes - wal_limit(max_bytes)) / ROW_OVERHEAD))


def compact_due(store: Store, live_bytes: int, max_bytes: int) -> bool | None:
    """After a commit: None (nothing to do), False (checkpoint the WAL), True (VACUUM too).

    VACUUM copies what is live, so only once a backlog has drained; then a WAL of
    more than 1 MiB is truncated too."""
    drained = live_bytes <= _DRAINED
    if drained and store.db_bytes > 4 * live_bytes + _VACUUM_FILE_MIN:
        return True  # a drained backlog left its pages behind: give them back
    if store.wal_bytes > (min(_DRAINED, wal_limit(max_bytes)) if drained else wal_limit(max_bytes)):
        return False
    return None


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
        self._wal = path.with_name(path.name + "-wal")
        self.db_bytes = 0
        """Size of the database file, as of the last commit or compaction."""
        self.wal_bytes = 0
        """Size of the WAL file, as of the last commit or compaction."""

    @property
    def disk_bytes(self) -> int:
        """Bytes the queue's files take (database + WAL)."""
        return self.db_bytes + self.wal_bytes

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
            self.db_bytes = st.st_size
            self._stat_wal()
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
            raise self.error(f"cannot write ({_reason(err)}): {diagnose(err, self.path)}") from err
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
            self.db_bytes = st.st_size
            self._stat_wal()
        if ident != self._ident:
            raise FileLost(
                f"output {self.output}: durable queue {self.path} was deleted or replaced "
                "while the hub ran; events that were only on disk are lost; "
                "a new file is created (keep other programs out of the data dir)",
                output=self.output,
                path=str(self.path),
            )

    def _stat_wal(self) -> None:
        try:
            self.wal_bytes = os.stat(self._wal).st_size
        except OSError:
            self.wal_bytes = 0

    def compact(self, vacuum: bool) -> None:
        """Fold the WAL into the database and truncate it; ``vacuum``: first give the
        pages of deleted rows back to the file system. Best effort (a failure leaves
        the files as they were). The caller holds its commits meanwhile."""
        con = self._c
        if con is None:
            return
        with contextlib.suppress(sqlite3.Error):
            if vacuum:
                con.execute("VACUUM")
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with contextlib.suppress(OSError):
            self.db_bytes = os.stat(self.path).st_size
        self._stat_wal()

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

    __slots__ = ("_future", "done", "early", "end", "error", "first", "outcome", "rows")

    def __init__(self, first: int) -> None:
        self.first = first
        self.end = first
        self.early = False  # only deferred acknowledgements wait: deliver before the commit
        self.rows: list[Row] = []
        self.done = asyncio.Event()
        self.error: QueueUnavailable | None = None
        self.outcome: BaseException | bool | None = False  # False: not written yet
        self._future: asyncio.Future[None] | None = None

    def future(self) -> asyncio.Future[None]:
        """Done when committed; its exception (``QueueUnavailable``) when not."""
        fut = self._future
        if fut is None:
            fut = self._future = asyncio.get_running_loop().create_future()
            if self.done.is_set():
                self._settle(fut)
        return fut

    def finish(self, error: QueueUnavailable | None) -> None:
        self.error = error
        self.done.set()
        if self._future is not None:
            self._settle(self._future)

    def _settle(self, fut: asyncio.Future[None]) -> None:
        if fut.done():
            return
        if self.error is None:
            fut.set_result(None)
        else:
            fut.set_exception(self.error)
            fut.exception()  # whoever needs it asks; never "exception was never retrieved"


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
