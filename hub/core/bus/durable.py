"""A durable, bounded queue per output (SQLite, WAL) behind the bus's queue seam.

One file per output in the data dir (:func:`queue_path`): a full or lost file
concerns one output only.

* **Crash-safe.** The puts of one loop turn are one transaction (several when
  only :meth:`~DurableQueue.kept` futures wait: ``durable_group``). ``flush()``
  returns once all put so far is committed, or raises ``QueueUnavailable`` for
  what was not (no longer queued); ``kept()`` is that as a future. Acknowledge
  upstream only then. ``synchronous = "full"`` also survives a power loss.
* **At-least-once, in order**, same JSON and ``event_id`` after a crash (acks are
  written within a second). The output takes an event once it is committed, or
  before when only deferred acknowledgements wait (``durable_read.deliverable``).
* **Bounded** by bytes on disk (database + WAL: ``durable_store``) and by age;
  ``drop_oldest`` counts what it drops, ``block`` makes ``put_nowait`` return False.
* **Flat memory**: at most ``window`` decoded events; the rest is read back.
A read-only data dir, a full disk or a deleted file give one ``QueueUnavailable``
naming the output and the path (while failing, retried after ``retry_s``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path

from hub.core.bus.durable_group import GroupCommit
from hub.core.bus.durable_index import SeqIndex
from hub.core.bus.durable_read import decode_run, deliverable, survivors, uncommitted
from hub.core.bus.durable_settings import DurableQueueSettings, queue_path
from hub.core.bus.durable_store import (
    Commit,
    FileLost,
    Store,
    commit_outcome,
    compact_due,
    event_budget,
    running_loop,
)
from hub.errors import QueueUnavailable
from hub.events import Event
from hub.json_memo import event_json

__all__ = ["DurableQueue", "DurableQueueSettings", "queue_path"]

log = logging.getLogger("hub.bus")

_ACK_DELAY_S = 1.0  # acknowledged events are deleted on disk within this long
_DELETE_EVERY = 4096  # ... or once this many are acknowledged (or 1/16 of the budget)


class DurableQueue:
    """A per-output FIFO on SQLite with ``put_nowait / peek_batch / ack`` (see module doc)."""

    durable = True

    def __init__(
        self,
        path: Path | str,
        *,
        output: str,
        settings: DurableQueueSettings | None = None,
        window: int = 2048,
        writer_thread: bool | None = None,
        retry_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        cfg = settings or DurableQueueSettings()
        self.settings = cfg
        self.output = output
        self.path = Path(path)
        self.dropped: Counter[str] = Counter()
        self.last_error: str | None = None
        self._window_max = max(1, window)
        self._retry_s = retry_s
        self._clock = clock
        # fsyncs belong in a thread; plain commits are cheaper inline (bench/queue_bench.py)
        self._threaded = cfg.synchronous == "full" if writer_thread is None else writer_thread
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"queue-{output}")
        self._store = Store(self.path, output=output, synchronous=cfg.synchronous)
        index = self._store.open()
        # the queue is the seq range [head, next) of this index
        self._ix = SeqIndex(index[0][0] if index else 1, ((t, n) for _, t, n in index))
        if index and self._ix.next != index[-1][0] + 1:
            self._store.close()
            raise self._store.error("has gaps in its sequence; move the file away")
        self._window: deque[Event] = deque()  # decoded events for [_head, _head + len)
        self._peek_start: int | None = None
        self._disk_head = self._head  # every seq below it is deleted on disk
        self._committed = self._next  # every seq below it is committed (or acked)
        self._pending: Commit | None = None
        self._inflight: Commit | None = None
        self._last_put: Commit | None = None  # what flush() waits for
        self._group = GroupCommit(self._kick, cfg.commit_interval_s)
        self._ack_timer: asyncio.TimerHandle | None = None
        self._delete_due = False  # set by the ack timer: the next commit deletes
        self._compacting = False  # Store.compact runs in the worker: commits wait
        self._budget = event_budget(cfg.max_bytes)  # bytes of event JSON: files <= max_bytes
        self._failed: QueueUnavailable | None = None  # retried from _retry_at on
        self._retry_at, self._expire_at, self._closed = 0.0, 0.0, False  # _expire sets it
        self._nonempty, self._space = asyncio.Event(), asyncio.Event()
        self._space.set()
        if index:
            log.info("%s: %d event(s) queued from the last run, delivered first", output, len(self))

    # -- the seam -----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._ix)

    @property
    def _head(self) -> int:
        return self._ix.head

    @property
    def _next(self) -> int:
        return self._ix.next

    @property
    def bytes(self) -> int:
        """Bytes of event JSON queued."""
        return self._ix.bytes

    @property
    def disk_bytes(self) -> int:
        """Bytes of the queue's files (database + WAL): what ``max_bytes`` bounds."""
        return self._store.disk_bytes

    def oldest_age_s(self) -> float | None:
        """Seconds since the oldest queued event was queued (None when empty)."""
        return max(0.0, self._clock() - self._ix.time_of(self._head)) if len(self) else None

    def put_nowait(self, event: Event) -> bool:
        """Queue ``event``; False only under ``overflow = "block"`` when full. Raises
        :class:`QueueUnavailable` while the file cannot be written (retried every ``retry_s``)."""
        if self._closed:
            raise self._store.error("is closed")
        if self._failed is not None:
            if self._clock() < self._retry_at:
                failed = self._failed
                raise QueueUnavailable(str(failed), output=failed.output, path=failed.path)
            self._failed = None
        cfg = self.settings
        body = event_json(event)  # made once for every queue and output (hub.json_memo)
        size = len(body)
        now = self._clock()
        ix = self._ix
        seq = ix.next
        queued = seq - ix.head
        if queued and cfg.max_age_s is not None and now >= self._expire_at:
            self._expire(now)
            queued = seq - ix.head
        if cfg.overflow == "block" and queued and ix.bytes + size > self._budget:
            self._space.clear()
            return False
        window = self._window
        if queued == len(window) and queued < self._window_max:
            window.append(event)
        now = ix.append(size, now)
        commit = self._pending
        if commit is None:
            commit = self._pending = Commit(seq)
        self._last_put = commit
        commit.rows.append((seq, now, body))
        commit.end = seq + 1
        if ix.bytes > self._budget:
            k = ix.count_to_free(ix.bytes - self._budget)
            self.dropped["overflow"] += k
            self._advance(k)
        self._schedule()
        self._nonempty.set()
        return True

    async def put(self, event: Event) -> None:
        """Queue ``event``, waiting for room under ``overflow = "block"``."""
        while not self.put_nowait(event):
            self._space.clear()
            await self._space.wait()

    async def flush(self) -> None:
        """Return once everything put so far is committed (at the end of this loop turn).
        Raises :class:`QueueUnavailable` for what could not be written (not queued)."""
        commit = self._last_put  # the transaction of the latest put, done or not
        if commit is not None and not commit.done.is_set():
            if commit is self._pending:
                self._group.hurry()
                commit.early = False  # somebody waits for it: the output waits too
                self._schedule()
            await commit.done.wait()
        if commit is not None and commit.error is not None:
            raise commit.error

    def kept(self) -> asyncio.Future[None] | None:
        """:meth:`flush` as a future (None: already kept); nobody waits, so the commit may
        gather puts a few ms longer (``durable_group``)."""
        commit = self._last_put
        if commit is None or (commit.done.is_set() and commit.error is None):
            return None
        if commit is self._pending:
            if self._group.relax():
                self._schedule()
            commit.early = self._group.relaxed  # not once a flush waits for it too
        return commit.future()

    async def wait_nonempty(self) -> None:
        """Return when an event can be taken, or when :meth:`wake` is called."""
        if self._deliverable() <= self._head:
            self._nonempty.clear()
            await self._nonempty.wait()

    def wake(self) -> None:
        self._nonempty.set()

    def peek_batch(self, n: int) -> list[Event]:
        """The oldest ``n`` events (fewer if fewer are queued), oldest first, not removed."""
        if len(self) and self.settings.max_age_s is not None:
            self._expire(self._clock())
        window = self._window
        self._peek_start = self._head
        n = min(n, self._deliverable() - self._head)
        if len(window) < n and self._head + len(window) < self._next:
            self._refill(max(n, self._window_max))
        return list(window) if len(window) <= n else list(islice(window, max(0, n)))

    def _deliverable(self) -> int:
        """The seq up to which the output may take events (``durable_read.deliverable``)."""
        return deliverable(self._committed, self._next, (self._inflight, self._pending))

    def ack(self, n: int) -> None:
        """Remove the first ``n`` events of the last :meth:`peek_batch` (those the overflow
        policy dropped meanwhile count); without a peek, the oldest ``n``."""
        start, self._peek_start = self._peek_start or self._head, None
        target = min(max(self._head, start + max(0, n)), self._next)
        self._advance(target - self._head)
        if self._ack_timer is None:
            loop = running_loop()
            if loop is not None:  # else close() writes them
                self._ack_timer = loop.call_later(_ACK_DELAY_S, self._ack_due)

    def close(self) -> None:
        """Write what is pending (acks included), checkpoint, close the file."""
        if self._closed:
            return
        self._closed = True
        if self._ack_timer is not None:
            self._ack_timer.cancel()
        self._group.cancel()
        self._pool.shutdown(wait=True)  # an in-flight commit finishes first
        inflight, pending = self._inflight, self._pending
        failed: QueueUnavailable | None = None
        if inflight is not None and not inflight.done.is_set():
            outcome = inflight.outcome
            if isinstance(outcome, BaseException):
                failed = self._store.error("cannot write", outcome)
            inflight.finish(failed)
        rows = [r for r in pending.rows if r[0] >= self._head] if pending else []
        if failed is None and (rows or self._disk_head != self._head):
            try:
                self._store.write(rows, self._head)
            except QueueUnavailable as err:
                failed = err
        if failed is not None:
            log.error("%s", failed)
        if pending is not None:
            pending.finish(failed)
        self._store.close()
        self._nonempty.set()

    # -- bounds -------------------------------------------------------------------------

    def _advance(self, k: int) -> None:
        """Remove the ``k`` oldest events (acknowledged or dropped)."""
        if k <= 0:
            return
        self._ix.pop_front(k)
        window = self._window
        if k >= len(window):
            window.clear()
        else:
            for _ in range(k):
                window.popleft()
        self._space.set()

    def _expire(self, now: float) -> None:
        max_age = self.settings.max_age_s
        assert max_age is not None
        k = self._ix.count_older_than(now - max_age)
        if k:
            self.dropped["expired"] += k
            self._advance(k)
        self._expire_at = self._ix.time_of(self._head) + max_age if len(self) else now

    # -- committing ---------------------------------------------------------------------

    def _schedule(self) -> None:
        """Have the pending puts (and acks) committed: ``durable_group`` says when."""
        if self._inflight is None and not self._compacting:
            pending = self._pending
            self._group.schedule(None if pending is None else len(pending.rows))

    def _ack_due(self) -> None:
        self._ack_timer = None
        if self._disk_head != self._head:
            self._delete_due = True
            self._schedule()

    def _kick(self) -> None:
        """Hand the puts of this loop turn (and the acks so far) to one transaction."""
        self._group.started()
        if self._inflight is not None or self._closed or self._compacting:
            return
        commit = self._pending
        self._pending = None
        if commit is None:
            if self._disk_head == self._head:
                return
            commit = Commit(self._next)
        self._inflight = commit
        rows = commit.rows
        # deleting what was acknowledged costs a page write: once a second (ack timer)
        # or per 4096 events, unless there is nothing else to write
        behind = self._head - self._disk_head
        gap = bool(rows) and rows[0][0] > self._committed  # acked, never written (a failure)
        every = min(
            _DELETE_EVERY, self._budget // 16 // max(1, self._ix.bytes // max(1, len(self)))
        )
        delete = behind > 0 and (not rows or gap or self._delete_due or behind >= every)
        head = self._head if delete else None
        self._delete_due = False
        if delete and rows and rows[0][0] < self._head:  # gone before ever being written
            rows = [r for r in rows if r[0] >= self._head]
        if not self._threaded:
            try:
                self._store.write(rows, head)
            except QueueUnavailable as err:
                self._done(commit, head, err)
            else:
                self._done(commit, head, None)
            return

        def job() -> None:  # in the worker thread
            try:
                self._store.write(rows, head)
            except BaseException as err:
                commit.outcome = err
            else:
                commit.outcome = None

        fut = asyncio.get_running_loop().run_in_executor(self._pool, job)
        fut.add_done_callback(lambda _f: self._done(commit, head, commit_outcome(commit)))

    def _done(self, commit: Commit, head: int | None, error: BaseException | None) -> None:
        self._inflight = None
        if self._closed:
            commit.finish(error if isinstance(error, QueueUnavailable) else None)
            return
        if error is None:
            if head is not None:
                self._disk_head = head
            self._committed = max(self._committed, commit.end)
            self._nonempty.set()  # what it held back can be taken now
            if self._failed is None and self.last_error is not None:
                log.warning("%s: durable queue is writable again", self.output)
                self.last_error = None
            commit.finish(None)
            vacuum = compact_due(self._store, self._ix.bytes, self.settings.max_bytes)
            if vacuum is not None:
                self._compact(vacuum)
        elif isinstance(error, FileLost):
            self._recover(commit, error)
        else:
            err = (
                error
                if isinstance(error, QueueUnavailable)
                else self._store.error("cannot write", error)
            )
            if commit.rows:
                self._fail(commit, err)
            else:  # only acknowledgements: nothing is lost, they go with the next commit
                if self.last_error is None:
                    log.warning("%s (acknowledgements kept for the next commit)", err)
                self.last_error = str(err)
                commit.finish(None)
        if self._pending is not None:
            self._schedule()

    def _fail(self, commit: Commit, err: QueueUnavailable) -> None:
        """Nothing from ``commit`` on was written: forget it, count it, tell the waiters."""
        cut = max(commit.first, self._head)
        lost = self._next - cut
        if lost > 0:
            self.dropped["unwritten"] += lost
            self._truncate(cut)
        pending, self._pending = self._pending, None
        self._failed = err
        self._nonempty.set()  # the runner looks again: what it waited for is gone
        self._retry_at = self._clock() + self._retry_s
        if self.last_error is None:
            log.error("%s (%d event(s) not kept; retrying in %.0f s)", err, lost, self._retry_s)
        self.last_error = str(err)
        commit.finish(err)
        if pending is not None:
            pending.finish(err)

    def _truncate(self, cut: int) -> None:
        """Forget every seq >= ``cut`` (never written)."""
        self._ix.truncate(cut)
        keep = cut - self._head
        while len(self._window) > keep:
            self._window.pop()
        self._committed = min(self._committed, cut)

    def _recover(self, commit: Commit, err: FileLost) -> None:
        """The file vanished: write what is still in memory into a new one, count the rest."""
        pending, self._pending = self._pending, None
        kept = survivors(
            range(self._head, self._next),
            self._ix.time_of,
            list(self._window),
            [r for c in (commit, pending) if c is not None for r in c.rows],
        )
        lost = len(self) - len(kept)
        self.dropped["file_lost"] += lost
        # renumber from _next on: the window keeps its place at the front
        base = self._next
        rows = [(base + j, t, body) for j, (t, body) in enumerate(kept)]
        self._ix.reset(base, ((r[1], len(r[2])) for r in rows))
        self._disk_head = base
        self._committed = base + len(rows)
        self._peek_start = None
        log.error("%s (%d event(s) lost)", err, lost)
        self.last_error = str(err)

        def rewrite() -> None:  # in the worker thread, after any checkpoint there
            self._store.reopen_fresh()
            self._store.write(rows, None)

        try:
            self._pool.submit(rewrite).result()
        except QueueUnavailable as again:
            self._fail(Commit(base), again)
            if pending is not None:
                pending.finish(again)
        else:
            if pending is not None:
                pending.finish(None)  # its rows are in the new file
        commit.finish(err)

    def _compact(self, vacuum: bool) -> None:
        """Checkpoint (TRUNCATE; and VACUUM) in the worker; puts gather in memory meanwhile."""
        if self._compacting or self._closed:
            return
        self._compacting = True

        def done(_f: object) -> None:
            self._compacting = False
            if self._pending is not None or self._disk_head != self._head:
                self._schedule()

        loop = asyncio.get_running_loop()
        loop.run_in_executor(self._pool, self._store.compact, vacuum).add_done_callback(done)

    # -- reading back -------------------------------------------------------------------

    def _refill(self, want: int) -> None:
        """Decode the events after the window, from disk or from uncommitted puts."""
        window = self._window
        start = self._head + len(window)
        end = min(self._next, self._head + max(want, len(window)))
        if start >= end:
            return
        bodies: list[tuple[int, bytes]] = []
        disk_end = min(end, self._committed)
        if start < disk_end:
            try:
                bodies = self._store.read(start, disk_end)
            except QueueUnavailable as err:
                log.error("%s", err)
                self.last_error = str(err)
                return
        bodies.extend(uncommitted((self._inflight, self._pending), max(start, disk_end), end))
        events, skipped, expect = decode_run(bodies, start, skip_bad=not window, output=self.output)
        if skipped:
            self.dropped["undecodable"] += skipped
            self._advance(skipped)
        window.extend(events)
        if not window and len(self) and expect == self._head:
            # the oldest rows are not in the file (deleted under us): skip to what is there
            first = bodies[0][0] if bodies else min(end, self._committed)
            missing = max(1, first - self._head)
            log.error("%s: %d queued event(s) missing from %s", self.output, missing, self.path)
            self.dropped["file_lost"] += missing
            self._advance(missing)
