"""The live stream: server-sent events, one filtered copy per view, a heartbeat.

One pump reads :meth:`PictureProvider.subscribe` and hands every change to every
open stream, filtered and encoded once per view (ten screens of the police view cost
one encoding). A stream starts with ``event: snapshot`` (everything its view may
see), then sends ``zone``, ``line``, ``sensor``, ``alert`` and ``log`` events as
things change, and ``heartbeat`` every ``heartbeat_s`` so the page can tell a live
hub from a dead connection. A stream that falls behind (its queue is full) is ended;
the browser reconnects and gets a fresh snapshot.
"""

from __future__ import annotations

__all__ = ["Streams", "sse"]

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from hub.dashboard.access import DashboardView
from hub.dashboard.coarse import Numbers
from hub.dashboard.policy import for_view
from hub.dashboard.provider import Change, PictureProvider

log = logging.getLogger("hub.dashboard")


def sse(event: str, data: Any) -> bytes:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"event: {event}\ndata: {body}\n\n".encode()


class _Conn:
    __slots__ = ("queue", "view")

    def __init__(self, view: DashboardView, size: int) -> None:
        self.view = view
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(size)


class Streams:
    """Every open stream of one dashboard."""

    def __init__(
        self,
        provider: PictureProvider,
        snapshot: Callable[[DashboardView], dict[str, Any]],
        *,
        heartbeat_s: float = 5.0,
        queue_size: int = 1000,
    ) -> None:
        self.provider = provider
        self.snapshot = snapshot
        self.heartbeat_s = heartbeat_s
        self.queue_size = queue_size
        self.conns: set[_Conn] = set()
        self.closing = False
        self.sent = 0
        self.numbers: Callable[[DashboardView], Numbers | None] = _no_numbers
        """The coarsening context of a view (the dashboard sets its picture's)."""

    def __len__(self) -> int:
        return len(self.conns)

    async def pump(self) -> None:
        """Run until cancelled: fan changes out to the open streams."""
        while not self.closing:
            async for change in self.provider.subscribe():
                self._fan_out(change)
            # the subscription ended (we fell behind): everyone starts over from a snapshot
            self._end_all()
            await asyncio.sleep(0.5)

    def _fan_out(self, change: Change) -> None:
        encoded: dict[DashboardView, bytes | None] = {}
        for c in list(self.conns):
            msg = encoded.get(c.view, b"")
            if msg == b"":
                data = for_view(c.view, change.kind, change.data, self.numbers(c.view))
                msg = encoded[c.view] = None if data is None else sse(change.kind, data)
            if msg is None:
                continue
            try:
                c.queue.put_nowait(msg)
            except asyncio.QueueFull:
                self._end(c)

    def _end(self, c: _Conn) -> None:
        self.conns.discard(c)
        while not c.queue.empty():
            c.queue.get_nowait()
        c.queue.put_nowait(None)

    def _end_all(self) -> None:
        for c in list(self.conns):
            self._end(c)

    def close(self) -> None:
        """End every stream (the server is stopping)."""
        self.closing = True
        self._end_all()

    async def serve(self, request: web.Request, view: DashboardView) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        if self.closing:
            raise web.HTTPServiceUnavailable(text="the hub is stopping\n")
        conn = _Conn(view, self.queue_size)
        self.conns.add(conn)  # before the snapshot: nothing between is lost
        try:
            await resp.prepare(request)
            first = {"now": _now(self.provider), "heartbeat_s": self.heartbeat_s}
            await resp.write(b"retry: 2000\n\n" + sse("snapshot", {**first, **self.snapshot(view)}))
            while True:
                try:
                    msg = await asyncio.wait_for(conn.queue.get(), self.heartbeat_s)
                except TimeoutError:
                    await resp.write(sse("heartbeat", {"now": _now(self.provider)}))
                    continue
                if msg is None:
                    break
                await resp.write(msg)
                self.sent += 1
        except (ConnectionResetError, ConnectionError):
            pass  # the browser went away
        finally:
            self.conns.discard(conn)
        return resp


def _no_numbers(view: DashboardView) -> Numbers | None:
    return None


def _now(provider: PictureProvider) -> str:
    t: datetime = provider.now()
    return t.isoformat()
