"""When a durable queue commits: group commit (see :mod:`hub.core.bus.durable`).

How long a commit gathers puts depends on who waits for it:

* somebody awaits it (``flush``: an HTTP push answering ``2xx``, a source's
  ``emit`` outside a deferred scope), or puts alone: at the end of the loop turn
  (before the output's runner, woken by the same puts, takes them: a push
  refused with ``503`` has then reached no output of a queue that failed);
* only :meth:`~hub.core.bus.durable.DurableQueue.kept` futures (deferred
  upstream acknowledgements, :mod:`hub.core.kept`; MQTT QoS 0 messages, which
  nobody acknowledges, ask the same): within ``GROUP_S`` or once ``GROUP_ROWS``
  are pending. At a steady 1,000 msg/s that is ~16 messages per commit instead
  of one; the upstream acknowledgement waits those ms. ``GROUP_ROWS`` stays
  below the in-flight window of common brokers (Mosquitto 20), so a broker
  waiting for our acknowledgements never waits for the timer.

Delivery to the output does not wait for a deferred commit (it reads queued
events from memory). Fewer commits save their own cost and the loop wake-ups of
their timers (``bench/README.md``). A configured ``commit_interval_s`` replaces
both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from hub.core.bus.durable_store import running_loop

GROUP_S = 0.020
GROUP_ROWS = 16


class GroupCommit:
    """The one scheduled commit of a queue: now (end of turn) or within ``GROUP_S``
    (see the module doc)."""

    __slots__ = ("_handle", "_handle_lazy", "_hurry", "_interval", "_kick", "_watched")

    def __init__(self, kick: Callable[[], None], interval: float) -> None:
        self._kick = kick
        self._interval = interval
        self._handle: asyncio.Handle | None = None
        self._hurry = self._watched = self._handle_lazy = False

    def hurry(self) -> None:
        """Somebody waits for the pending puts: commit at the end of this turn."""
        self._hurry = True

    @property
    def relaxed(self) -> bool:
        """Only deferred acknowledgements wait for the pending puts (none awaits them)."""
        return self._watched and not self._hurry

    def relax(self) -> bool:
        """A deferred acknowledgement waits (``kept``); returns True the first time."""
        if self._watched:
            return False
        self._watched = True
        return True

    def schedule(self, pending_rows: int | None) -> None:
        """Have ``_kick`` called; ``pending_rows``: puts waiting (None: only deletes)."""
        handle = self._handle
        if self._interval:
            if handle is None:
                loop = running_loop()
                if loop is not None:  # else close() writes them
                    self._handle = loop.call_later(self._interval, self._kick)
            return
        lazy = (
            self._watched
            and not self._hurry
            and pending_rows is not None
            and pending_rows < GROUP_ROWS
        )
        if handle is not None and self._handle_lazy == lazy:
            return  # the hot path: every put of a commit but the first
        loop = running_loop()
        if loop is None:  # close() writes them
            return
        if handle is not None:
            handle.cancel()
        self._handle_lazy = lazy
        self._handle = loop.call_later(GROUP_S, self._kick) if lazy else loop.call_soon(self._kick)

    def started(self) -> None:
        """``_kick`` runs: what comes next is a new commit."""
        self.cancel()
        self._hurry = self._watched = False

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
