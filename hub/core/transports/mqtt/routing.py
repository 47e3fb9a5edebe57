"""Subscriptions of one MQTT transport: routing received messages, and flow control.

Private to :mod:`.client`. The :class:`Router` is what a :class:`.connection.Connection`
delivers to (it implements :class:`.connection.Receiver`).

Flow control. A full subscriber buffer marks the router backlogged: QoS 1/2
acknowledgements are held back (the broker's in-flight window then stops sending
them), and reading the socket pauses, so QoS 0 waits in TCP buffers. Reading must
go on while our own publishes or subscriptions wait for acknowledgements on the
same connection (else: deadlock); QoS 0 beyond 4x the buffer is then dropped.
"""

from __future__ import annotations

__all__ = ["Router", "Subscription"]

import asyncio
import logging
import time
from collections import deque
from typing import Any, Self

from hub.errors import HubError
from hub.transports import Message

from . import codec
from .connection import Connection


class Subscription:
    """One ``subscribe()`` context: its filters and a bounded buffer, iterated by a source."""

    def __init__(self, router: Router, filters: tuple[str, ...], qos: int, size: int):
        self.router = router
        self.filters = filters
        self.qos = qos
        self.size = size
        self.low = size // 2
        self.items: deque[Message] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.error: HubError | None = None

    def put(self, msg: Message) -> None:
        n = len(self.items)
        if n >= self.size:
            if msg.qos == 0 and n >= 4 * self.size:
                self.router.drop()  # only while reading cannot pause (see Router.full)
                return
            self.router.full()
        self.items.append(msg)
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    def fail(self, error: HubError) -> None:
        self.error = error
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Message:
        items = self.items
        while not items:
            if self.error is not None:
                raise self.error
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        msg = items.popleft()
        if self.router.backlogged and len(items) <= self.low:
            self.router.maybe_resume()
        return msg


class Router:
    """The open subscriptions of one transport and the connection they are served on."""

    def __init__(self, label: str, log: logging.Logger) -> None:
        self.label = label
        self.log = log
        self.subs: list[Subscription] = []
        self.conn: Connection | None = None
        """The connection in use (set by the transport while it serves one)."""
        self.backlogged = False
        self.received = 0
        self.unrouted = 0
        self.dropped = 0
        self._routes: dict[Any, tuple[Subscription, ...]] = {}
        self._drop_logged = -1e9

    # -- subscriptions -------------------------------------------------------------------
    def add(self, sub: Subscription) -> None:
        self.subs.append(sub)
        self._routes.clear()

    def remove(self, sub: Subscription) -> None:
        self.subs.remove(sub)
        self._routes.clear()
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

    def attach(self, conn: Connection | None) -> None:
        """Serve on ``conn`` from now on (``None``: the connection ended)."""
        self.conn = conn
        self.backlogged = False

    # -- routing (the Receiver side) -----------------------------------------------------
    def deliver(self, msg: Message, ids: tuple[int, ...] = ()) -> None:
        self.received += 1
        key: Any = (msg.topic, ids) if ids else msg.topic
        subs = self._routes.get(key)
        if subs is None:
            subs = self._route(msg.topic, ids)
            if len(self._routes) > 10_000:
                self._routes.clear()
            self._routes[key] = subs
        if not subs:
            self.unrouted += 1
        for s in subs:
            s.put(msg)

    def _route(self, topic: str, ids: tuple[int, ...]) -> tuple[Subscription, ...]:
        """The subscriptions a message goes to. With MQTT 5 subscription ids, only those
        holding a filter the broker says matched (it sends one copy per filter)."""
        matches = codec.topic_matches
        conn = self.conn
        if ids and conn is not None:
            named = {conn.filter_of_id.get(i) for i in ids}
            return tuple(
                s for s in self.subs if any(f in named and matches(f, topic) for f in s.filters)
            )
        return tuple(s for s in self.subs if any(matches(f, topic) for f in s.filters))

    # -- flow control --------------------------------------------------------------------
    def full(self) -> None:
        self.backlogged = True
        conn = self.conn
        if conn is not None and not conn.paused and not conn.inflight and not conn.acks:
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
            conn.release_deferred()
            conn.set_reading(True)
