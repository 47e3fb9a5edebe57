"""When a durable queue commits: group commit (see :mod:`hub.core.bus.durable`).

The puts of one loop turn are one transaction, committed at the end of that
turn, when somebody waits for them (``flush``: an HTTP push answering ``2xx``,
a source's ``emit``). When only :meth:`~hub.core.bus.durable.DurableQueue.kept`
callers wait (deferred acknowledgements, :mod:`hub.core.kept`), the commit
gathers puts for up to ``GROUP_S`` or until ``GROUP_ROWS`` are pending: at a
steady 1,000 msg/s that is ~5 messages per commit instead of one, and the
upstream acknowledgement waits those few ms; delivery to the output does not
(it reads queued events from memory). ``GROUP_ROWS`` stays below the in-flight
window of common brokers (Mosquitto 20), so a broker waiting for our
acknowledgements never waits for the timer. A configured ``commit_interval_s``
replaces both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from hub.core.bus.durable_store import running_loop

GROUP_S = 0.005
GROUP_ROWS = 8


class GroupCommit:
    """The one scheduled commit of a queue: now (end of turn), or within ``GROUP_S``."""

    __slots__ = ("_handle", "_handle_lazy", "_hurry", "_interval", "_kick", "_lazy")

    def __init__(self, kick: Callable[[], None], interval: float) -> None:
        self._kick = kick
        self._interval = interval
        self._handle: asyncio.Handle | None = None
        self._hurry = self._lazy = self._handle_lazy = False

    def hurry(self) -> None:
        """Somebody waits for the pending puts: commit at the end of this turn."""
        self._hurry = True

    def relax(self) -> bool:
        """Only deferred acknowledgements wait so far; returns True the first time."""
        if self._lazy:
            return False
        self._lazy = True
        return True

    def schedule(self, pending_rows: int | None) -> None:
        """Have ``_kick`` called; ``pending_rows``: puts waiting (None: only deletes)."""
        loop = running_loop()
        if loop is None:  # close() writes them
            return
        if self._interval:
            if self._handle is None:
                self._handle = loop.call_later(self._interval, self._kick)
            return
        lazy = (
            self._lazy
            and not self._hurry
            and pending_rows is not None
            and pending_rows < GROUP_ROWS
        )
        if self._handle is not None:
            if self._handle_lazy == lazy:
                return
            self._handle.cancel()
        self._handle_lazy = lazy
        self._handle = loop.call_later(GROUP_S, self._kick) if lazy else loop.call_soon(self._kick)

    def started(self) -> None:
        """``_kick`` runs: what comes next is a new commit."""
        self.cancel()
        self._hurry = self._lazy = False

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
