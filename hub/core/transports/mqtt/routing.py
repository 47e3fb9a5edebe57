"""Subscriptions of one MQTT transport: routing, acknowledgement, flow control.

Private to :mod:`.client`. The :class:`Router` is what a :class:`.connection.Connection`
delivers to (it implements :class:`.connection.Receiver`).

Acknowledgement. A QoS 1/2 message is acknowledged to the broker when every
subscriber it went to has handled it: a subscriber has handled a message when
it asks its iterator for the next one, or leaves the ``subscribe()`` context
normally (its filters are then unsubscribed, unless another subscriber uses
them). A subscriber that leaves with an exception (a crash, a cancel at shutdown)
gives its unhandled messages back and keeps its filters subscribed at the broker:
they are held for a subscriber that comes (a restarted source), as are messages
that arrive before any subscriber wants them (a persistent session resumes
before the sources subscribed). Held
messages are not acknowledged; after ``unrouted_hold_s`` they are acknowledged
and dropped, counted as ``unrouted`` and logged once per burst.

Deferred acknowledgement (:mod:`hub.core.kept`). While a subscriber handles a
message, its task has a :class:`~hub.core.kept.Keeping` scope: ``emit``
registers there the queue commits it did not wait for. When the subscriber asks
for the next message, the message goes to ``pending`` and is acknowledged once
those commits are done, in arrival order (one commit covers many messages); a
failed commit makes the next ``__anext__`` deliver the events again until kept.
At most ``PENDING_MAX`` messages wait so; then the subscriber waits.

Flow control. A full subscriber buffer marks the router backlogged and pauses
reading the socket, so QoS 0 waits in TCP buffers and QoS 1/2 in the broker
(its in-flight window fills with our unacknowledged messages). Reading must go
on while our own publishes or subscriptions wait for acknowledgements on the
same connection (else: deadlock); QoS 0 beyond 4x the buffer is then dropped.
"""

from __future__ import annotations

__all__ = ["Router", "Subscription"]

import asyncio
import logging
import time
from collections import deque
from typing import Any, Self

from hub.core.kept import Keeping, close_scope, open_scope
from hub.errors import HubError
from hub.transports import Message

from . import codec
from .connection import Connection
from .session import Incoming, Session

Item = tuple[Message, Incoming | None]

PENDING_MAX = 1000
"""Handled messages waiting for their commits before the subscriber waits too."""


class Subscription:
    """One ``subscribe()`` context: its filters and a bounded buffer, iterated by a source."""

    def __init__(self, router: Router, filters: tuple[str, ...], qos: int, size: int):
        self.router = router
        self.filters = filters
        self.qos = qos
        self.size = size
        self.low = size // 2
        self.items: deque[Item] = deque()
        self.current: Item | None = None
        """The message last returned to the consumer, not yet handled."""
        self.waiter: asyncio.Future[None] | None = None
        self.error: HubError | None = None
        self.keeping: Keeping | None = None
        """The commits the current message's handling registered (deferred)."""
        self.pending: deque[tuple[Incoming | None, Keeping | None]] = deque()
        """Handled messages, oldest first, waiting for their commits to be acknowledged."""
        self.stalled = False
        """A pending message's commit failed: ``__anext__`` delivers it again first."""
        self.watched: list[asyncio.Future[None]] = []
        """The commits ``pending`` messages wait for, each watched once (many messages
        share one commit)."""

    def put(self, msg: Message, rec: Incoming | None) -> None:
        n = len(self.items)
        if n >= self.size:
            if rec is None and n >= 4 * self.size:
                self.router.drop()  # only while reading cannot pause (see Router.full)
                return
            self.router.full()
        if rec is not None:
            rec.holders += 1
        self.items.append((msg, rec))
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    def fail(self, error: HubError) -> None:
        self.error = error
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    def close(self, handled: bool) -> list[Item]:
        """The context ends; ``handled``: the consumer is done with the current message.
        Returns what the consumer did not handle (to hold for another subscriber).
        Messages waiting for their commits are acknowledged when those are done."""
        back = list(self.items)
        self.items.clear()
        cur, self.current = self.current, None
        if cur is not None:
            if handled:
                self._handled(cur[1])
            else:
                back.insert(0, cur)
        self.keeping = None
        close_scope()
        return back

    async def finish(self) -> None:
        """The consumer leaves normally: wait until what it handled is kept."""
        cur, self.current = self.current, None
        if cur is not None:
            self._handled(cur[1])
        while self.pending:
            await self._settle_head()

    def _handled(self, rec: Incoming | None) -> None:
        """The consumer is done with a message: acknowledge it now, or once kept."""
        keeping, self.keeping = self.keeping, None
        pending = self.pending
        if keeping or pending:
            pending.append((rec, keeping or None))
            if keeping:
                keeping.watch(self._commit_done, self.watched)
            if len(pending) == 1:  # else a commit callback of an older one comes first
                self._progress()
        elif rec is not None:
            self.router.session.release(rec)

    def _commit_done(self, fut: asyncio.Future[None]) -> None:
        watched = self.watched
        for i, w in enumerate(watched):
            if w is fut:
                del watched[i]
                break
        self._progress()

    def _progress(self) -> None:
        """Acknowledge pending messages whose commits are done, oldest first."""
        pending, release = self.pending, self.router.session.release
        while pending:
            rec, keeping = pending[0]
            state = True if keeping is None else keeping.state()
            if state is None:
                return
            if not state:
                self.stalled = True  # __anext__ delivers it again
                w = self.waiter
                if w is not None and not w.done():
                    w.set_result(None)
                return
            pending.popleft()
            if keeping is not None:
                keeping.finish()
            if rec is not None:
                release(rec)

    async def _settle_head(self) -> None:
        head = self.pending[0]
        if head[1] is not None:
            await head[1].settle()  # delivered again until kept
        if self.pending and self.pending[0] is head:  # else acknowledged meanwhile
            self.pending[0] = (head[0], None)
        self.stalled = False
        self._progress()

    def adopt(self, orphans: deque[tuple[Incoming | None, Keeping | None]]) -> None:
        """Take over what a subscriber that left by an exception still waits for: its
        events are delivered again here if their commit fails."""
        self.pending.extendleft(reversed(orphans))
        orphans.clear()
        for _, keeping in self.pending:
            if keeping is not None:
                keeping.watch(self._commit_done, self.watched)
        self._progress()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Message:
        cur = self.current
        if cur is not None:  # asking for the next one: the last one is handled
            self.current = None
            self._handled(cur[1])
        while self.stalled or len(self.pending) > PENDING_MAX:
            await self._settle_head()
        items = self.items
        while not items:
            if self.error is not None:
                raise self.error
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
            while self.stalled:
                await self._settle_head()
        item = self.current = items.popleft()
        if self.router.backlogged and len(items) <= self.low:
            self.router.maybe_resume()
        # emit() while handling it defers its commits (QoS 0: nobody waits for them)
        self.keeping = open_scope(detached=item[1] is None)
        return item[0]


class Router:
    """The open subscriptions of one transport and the connection they are served on."""

    def __init__(
        self, label: str, log: logging.Logger, session: Session, hold_s: float = 30.0
    ) -> None:
        self.label = label
        self.log = log
        self.session = session
        self.hold_s = hold_s
        self.subs: list[Subscription] = []
        self.conn: Connection | None = None
        """The connection in use (set by the transport while it serves one)."""
        self.backlogged = False
        self.orphans: deque[tuple[Incoming | None, Keeping | None]] = deque()
        """Handled messages of a subscriber that left by an exception, not yet kept."""
        self.received = 0
        self.unrouted = 0
        self.dropped = 0
        self.held: deque[tuple[float, Message, tuple[int, ...], Incoming]] = deque()
        """QoS 1/2 messages no subscriber has taken yet, unacknowledged, oldest first."""
        self._timer: asyncio.TimerHandle | None = None
        self._since = time.monotonic()
        """When the connection came up or a subscriber left by an exception: unrouted
        messages are held only for ``hold_s`` after it."""
        self._routes: dict[Any, tuple[Subscription, ...]] = {}
        self._drop_logged = self._unrouted_logged = -1e9

    # -- subscriptions -------------------------------------------------------------------
    def add(self, sub: Subscription) -> None:
        """A new subscriber: it gets the held messages its filters match first."""
        self.subs.append(sub)
        self._routes.clear()
        if self.orphans:
            sub.adopt(self.orphans)
        if self.held:
            keep: deque[tuple[float, Message, tuple[int, ...], Incoming]] = deque()
            matches = codec.topic_matches
            for entry in self.held:
                _, msg, _, rec = entry
                if any(matches(f, msg.topic) for f in sub.filters):
                    rec.parked = False
                    sub.put(msg, rec)
                else:
                    keep.append(entry)
            self.held = keep

    def remove(self, sub: Subscription, handled: bool) -> None:
        """``sub`` ends; what it did not handle is held for a subscriber to come."""
        self.subs.remove(sub)
        self._routes.clear()
        if not handled:  # its subscription stays with the broker: hold what comes for now
            self._since = time.monotonic()
            self.orphans.extend(sub.pending)  # the next subscriber sees them kept
            sub.pending.clear()
        release = self.session.release
        for msg, rec in sub.close(handled):
            if rec is None:
                continue
            rec.parked = True
            release(rec)  # still held by the router: not acknowledged
            if rec.holders <= 0:
                self._hold(msg, (), rec)
            else:
                rec.parked = False  # another subscriber still has it
        self.maybe_resume()

    def wanted(self) -> dict[str, int]:
        """Every filter some subscription needs, with the highest QoS asked for it."""
        wanted: dict[str, int] = {}
        for sub in self.subs:
            for f in sub.filters:
                wanted[f] = max(wanted.get(f, 0), sub.qos)
        return wanted

    def fail_all(self, error: HubError) -> None:
        for sub in self.subs:
            sub.fail(error)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def attach(self, conn: Connection | None) -> None:
        """Serve on ``conn`` from now on (``None``: the connection ended)."""
        self.conn = conn
        self.backlogged = False
        if conn is not None:
            self._since = time.monotonic()

    # -- routing (the Receiver side) -----------------------------------------------------
    def deliver(self, msg: Message, ids: tuple[int, ...], rec: Incoming | None) -> None:
        self.received += 1
        key: Any = (msg.topic, ids) if ids else msg.topic
        subs = self._routes.get(key)
        if subs is None:
            subs = self._route(msg.topic, ids)
            if len(self._routes) > 10_000:
                self._routes.clear()
            self._routes[key] = subs
        if not subs:
            self._unrouted(msg, ids, rec)
        for s in subs:
            s.put(msg, rec)

    def _route(self, topic: str, ids: tuple[int, ...]) -> tuple[Subscription, ...]:
        """The subscriptions a message goes to. With MQTT 5 subscription ids, only those
        holding a filter the broker says matched (it sends one copy per filter); ids
        we do not know (given by an earlier run) route by topic."""
        matches = codec.topic_matches
        known = self.session.filter_of_id
        named = {known[i] for i in ids if i in known}
        if named:
            return tuple(
                s for s in self.subs if any(f in named and matches(f, topic) for f in s.filters)
            )
        return tuple(s for s in self.subs if any(matches(f, topic) for f in s.filters))

    def _unrouted(self, msg: Message, ids: tuple[int, ...], rec: Incoming | None) -> None:
        if rec is not None and time.monotonic() - self._since < self.hold_s:
            rec.parked = True  # the session resumed before its subscriber came: hold it
            if not self.held:
                self.log.info(
                    "%s: holding messages on %r (and maybe more) unacknowledged until a "
                    "source subscribes (at most %g s)",
                    self.label,
                    msg.topic,
                    self.hold_s,
                )
            self._hold(msg, ids, rec)
            return
        self._count_unrouted(1, msg.topic)

    def _count_unrouted(self, n: int, topic: str) -> None:
        self.unrouted += n
        now = time.monotonic()
        if now - self._unrouted_logged > 60.0:
            self._unrouted_logged = now
            self.log.warning(
                "%s: dropped a message on %r no source subscribes to (%d so far); the broker "
                "keeps a subscription of an earlier configuration, or a source did not start",
                self.label,
                topic,
                self.unrouted,
            )

    def _hold(self, msg: Message, ids: tuple[int, ...], rec: Incoming) -> None:
        self.held.append((time.monotonic(), msg, ids, rec))
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.hold_s, self._expire)

    def _expire(self) -> None:
        """Acknowledge and drop held messages no subscriber took in time."""
        self._timer = None
        held, limit = self.held, time.monotonic() - self.hold_s + 0.01
        dropped, topic = 0, ""
        while held and held[0][0] <= limit:
            _, msg, _, rec = held.popleft()
            rec.parked = False
            if rec.holders <= 0:
                self.session.settle(rec)
            dropped, topic = dropped + 1, msg.topic
        if dropped:
            self._count_unrouted(dropped, topic)
        if held:
            delay = held[0][0] + self.hold_s - time.monotonic()
            self._timer = asyncio.get_running_loop().call_later(max(0.01, delay), self._expire)

    # -- flow control --------------------------------------------------------------------
    def full(self) -> None:
        self.backlogged = True
        conn, session = self.conn, self.session
        if conn is not None and not conn.paused and not session.outgoing and not session.requests:
            conn.set_reading(False)

    def drop(self) -> None:
        self.dropped += 1
        now = time.monotonic()
        if now - self._drop_logged > 10.0:
            self._drop_logged = now
            self.log.warning(
                "%s: a subscriber is too slow; dropping QoS 0 messages (%d so far)",
                self.label,
                self.dropped,
            )

    def maybe_resume(self) -> None:
        if not self.backlogged or any(len(s.items) > s.low for s in self.subs):
            return
        self.backlogged = False
        conn = self.conn
        if conn is not None:
            conn.set_reading(True)
