"""The picture as it was ``delay_s`` ago: a bounded in-memory delay line of its changes.

A view with ``delay_s`` (the public, 15 minutes late) sees the dashboard as it was that
long ago: :class:`DelayedPicture` is a :class:`~hub.dashboard.provider.PictureProvider`
(read side) whose state is the live picture's changes replayed ``delay_s`` late.

* :meth:`DelayedPicture.record` takes every change of the live picture with its time
  (the dashboard's recorder feeds it from :meth:`PictureProvider.subscribe`);
* changes of one zone, line or sensor within one ``step_s`` are merged into the newest
  of them (``step_s = max(1, delay_s / 300)``), so the line holds at most about 300
  states per item plus the alert and log changes: memory is bounded by the number of
  items, not by the event rate (the alert and log changes are few, one per transition);
* :meth:`DelayedPicture.advance` applies what is ``delay_s`` old to the delayed state and
  hands it to the delayed stream's subscribers: a change is shown ``delay_s`` (up to
  ``step_s`` more) after it happened, never earlier;
* the log and the history are time-stamped already: they are read from the live picture,
  cut at ``now - delay_s``; the forecast (made from the present) is left out;
* actions are refused (``ActionError`` 403): a delayed view acts on a picture it has not
  seen yet.

Until the hub has run ``delay_s``, zones and lines read ``unknown`` unless the line was
seeded from the embedded store at start (:mod:`hub.dashboard.seed`); without a store
nothing is known of the time before the hub started.
"""

from __future__ import annotations

__all__ = ["DelayedPicture"]

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

from hub.dashboard.provider import Change, PictureProvider
from hub.dashboard.serialize import line_dict, zone_dict
from hub.site import Site
from hub.zones.actions import ActionError

_STATES = ("zone", "line", "sensor", "alert")


class DelayedPicture:
    """The picture of ``live`` as it was ``delay_s`` ago (a read-only PictureProvider)."""

    def __init__(
        self,
        live: PictureProvider,
        delay_s: float,
        *,
        step_s: float | None = None,
        queue_size: int = 10_000,
    ) -> None:
        if delay_s <= 0:
            raise ValueError("a delayed picture needs delay_s > 0")
        self.live = live
        self.delay_s = delay_s
        self.delay = timedelta(seconds=delay_s)
        self.step_s = step_s if step_s is not None else max(1.0, delay_s / 300)
        self._queue_size = queue_size
        self._line: deque[tuple[float, Change]] = deque()
        self._staged: dict[tuple[str, str], tuple[float, Change]] = {}
        self._staged_log: list[tuple[float, Change]] = []
        self._flush_at: float | None = None
        self._state: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in _STATES}
        self._subs: set[asyncio.Queue[Change | None]] = set()
        self.listeners: list[Callable[[Change, float], None]] = []
        """Called with each change as it is applied, and the time it happened."""
        self.released = 0
        """Changes applied so far (for tests and the bench)."""

    # --- the delay line -----------------------------------------------------------------

    def record(self, change: Change, t: float) -> None:
        """A change of the live picture at ``t`` (epoch seconds, non-decreasing)."""
        if self._flush_at is not None and t >= self._flush_at:
            self._flush()
        if self._flush_at is None:
            self._flush_at = t + self.step_s
        if change.kind == "log":
            self._staged_log.append((t, change))
        else:
            self._staged[(change.kind, str(change.data["id"]))] = (t, change)

    def _flush(self) -> None:
        batch = [*self._staged.values(), *self._staged_log]
        batch.sort(key=lambda tc: tc[0])
        self._line.extend(batch)
        self._staged.clear()
        self._staged_log.clear()
        self._flush_at = None

    def pending(self) -> int:
        """Changes held (in the line and staged): what the memory bound is about."""
        return len(self._line) + len(self._staged) + len(self._staged_log)

    def advance(self, now: datetime | None = None) -> int:
        """Apply every change at least ``delay_s`` old; returns how many."""
        cut = (now or self.live.now()).timestamp() - self.delay_s
        if self._flush_at is not None and self._flush_at - self.step_s <= cut:
            self._flush()  # staged changes are due: no later change may overtake them
        n = 0
        line = self._line
        while line and line[0][0] <= cut:
            t, change = line.popleft()
            self._apply(change, t)
            n += 1
        self.released += n
        return n

    def _apply(self, change: Change, t: float) -> None:
        for listen in self.listeners:
            listen(change, t)
        if change.kind != "log":
            items = self._state[change.kind]
            ident = str(change.data["id"])
            if change.kind == "alert" and change.data.get("state") == "closed":
                items.pop(ident, None)
            else:
                items[ident] = change.data
        for q in list(self._subs):
            try:
                q.put_nowait(change)
            except asyncio.QueueFull:
                self._drop(q)

    def _drop(self, q: asyncio.Queue[Change | None]) -> None:
        self._subs.discard(q)
        while not q.empty():
            q.get_nowait()
        q.put_nowait(None)

    def close(self) -> None:
        for q in list(self._subs):
            self._drop(q)

    # --- the read side (PictureProvider) --------------------------------------------------

    @property
    def site(self) -> Site:
        return self.live.site

    def now(self) -> datetime:
        return self.live.now() - self.delay

    def zones(self) -> list[dict[str, Any]]:
        have = self._state["zone"]
        return [have.get(z.id) or zone_dict(z, None) for z in self.site.zones]

    def lines(self) -> list[dict[str, Any]]:
        have = self._state["line"]
        return [have.get(ln.id) or line_dict(ln, None) for ln in self.site.lines]

    def sensors(self) -> list[dict[str, Any]]:
        now = self.now().timestamp()
        out = []
        for s in sorted(self._state["sensor"].values(), key=lambda d: str(d["id"])):
            seen = s.get("last_seen")
            age = None if not seen else round(max(0.0, now - _ts(seen)), 1)
            out.append({**s, "age_s": age})
        return out

    def alerts(self) -> list[dict[str, Any]]:
        return list(self._state["alert"].values())

    def alert_log(
        self, *, since: datetime | None = None, until: datetime | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        cut = self.now()
        return self.live.alert_log(
            since=since, until=cut if until is None else min(until, cut), limit=limit
        )

    async def history(
        self, zone: str, start: datetime, end: datetime, step_s: int
    ) -> dict[str, Any]:
        h = await self.live.history(zone, start, min(end, self.now()), step_s)
        return {**h, "forecast": {"t": [], "values": [], "p10": [], "p90": [], "weeks": 0}}

    def acknowledge(self, alert_id: str, *, by: str, note: str) -> dict[str, Any]:
        raise ActionError(_REFUSED, 403)

    def silence(
        self, *, subject: str, rule: str | None, until: datetime, reason: str, by: str
    ) -> dict[str, Any]:
        raise ActionError(_REFUSED, 403)

    def log_measure(self, subject: str, text: str, *, by: str) -> dict[str, Any]:
        raise ActionError(_REFUSED, 403)

    async def subscribe(self) -> AsyncIterator[Change]:
        q: asyncio.Queue[Change | None] = asyncio.Queue(self._queue_size)
        self._subs.add(q)
        try:
            while True:
                change = await q.get()
                if change is None:
                    return
                yield change
        finally:
            self._subs.discard(q)


_REFUSED = "a delayed view shows the past and cannot act; use a live view"


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _conforms(p: DelayedPicture) -> PictureProvider:
    """Type check only: a delayed picture is a PictureProvider."""
    return p
