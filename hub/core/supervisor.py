"""One supervisor per source instance: run it, retry it, never let it take others down.

States: ``starting`` → ``running`` (first event or ``ctx.set_available()``) →
``retrying`` (``run()`` raised; logged once) → ``running`` (logged once: back)
…; ``disabled`` (startup failed with ``on_startup_error = "ignore"``, or
``enabled = false``); ``stopped`` (``run()`` returned or the hub stops).

Each ``source.run()`` attempt runs in a task of its own, so only a cancel of the
supervisor's task (the hub stopping) is a stop. Whatever the source does with
tasks cannot make a failure look like a stop: on Python 3.11 a ``TaskGroup``
whose child fails while the parent waits at the end of the group leaves the
parent task marked as cancelling; that mark now stays on the attempt's task.
A ``run()`` that ends cancelled although nobody stopped the hub is a failure
too (retried). An :class:`ExceptionGroup` is described and classified by its
leaves (a ``DeviceUnavailable`` raised inside a ``TaskGroup``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from hub.core.backoff import backoff_delay
from hub.errors import AuthenticationFailed, DeviceUnavailable, HubError
from hub.plugin import Source, SourceConfig, SourceContext

log = logging.getLogger("hub.supervisor")


class StartupFailed(HubError):
    """A source with ``on_startup_error = "fail"`` could not start: the hub stops."""


@dataclass
class SourceStats:
    state: str = "starting"
    errors: int = 0
    restarts: int = 0
    dead_letters: int = 0
    last_error: str | None = None
    down_since: float | None = None


class SourceSupervisor:
    def __init__(
        self, source: Source[Any], config: SourceConfig, ctx: SourceContext, label: str
    ) -> None:
        self.source = source
        self.config = config
        self.ctx = ctx
        self.label = label
        self.stats = SourceStats()
        self._ever_up = False
        self._down_logged = False
        ctx.on_availability(self._set_available)

    def _set_available(self, available: bool) -> None:
        if available:
            if self.stats.state == "running":
                return
            if self._down_logged:
                log.warning(
                    "%s: back (after %d retr%s)",
                    self.label,
                    self.stats.restarts,
                    "y" if self.stats.restarts == 1 else "ies",
                )
                self._down_logged = False
            self._ever_up = True
            self.stats.state = "running"
            self.stats.down_since = None
        elif self.stats.state == "running":
            self.stats.state = "retrying"

    async def run(self) -> None:
        cfg = self.config
        if not cfg.enabled:
            self.stats.state = "disabled"
            return
        attempt = 0
        try:
            while True:
                try:
                    await self._attempt()
                except Exception as err:
                    if not self._may_retry(err, attempt):
                        return
                    if self.stats.state == "running":
                        attempt = 0
                    self._went_down(err)
                    await asyncio.sleep(self._delay(err, attempt))
                    attempt += 1
                    self.stats.restarts += 1
                    continue
                self.stats.state = "stopped"
                log.info("%s: finished", self.label)
                return
        except asyncio.CancelledError:
            self.stats.state = "stopped"
            raise

    async def _attempt(self) -> None:
        """One ``source.run()`` in its own task: its outcome, or CancelledError when *this*
        task is cancelled (the hub stops; the source is cancelled and awaited first)."""
        child = asyncio.create_task(self.source.run(), name=f"{self.label}: run")
        stopping = False
        while not child.done():
            try:
                await asyncio.wait([child])
            except asyncio.CancelledError:
                stopping = True  # forward every cancel of ours to the source
                child.cancel()
        if stopping:
            if not child.cancelled() and child.exception() is not None:
                # a source that turned our cancel into another error (a port closed
                # under it) must not start a retry
                log.debug("%s: error while stopping: %s", self.label, child.exception())
            raise asyncio.CancelledError
        if child.cancelled():
            raise SourceCancelled(
                "run() ended cancelled although the hub is not stopping (a task of the "
                "source was cancelled); retrying"
            )
        err = child.exception()
        if err is not None:
            raise err

    def _may_retry(self, err: Exception, attempt: int) -> bool:
        """Count the failure; False (or StartupFailed) when the startup policy says stop."""
        cfg = self.config
        self.stats.errors += 1
        reason = _describe(err)
        self.stats.last_error = reason
        if self._ever_up or attempt != 0 or cfg.on_startup_error == "retry":
            return True
        if cfg.on_startup_error == "fail":
            self.stats.state = "failed"
            raise StartupFailed(
                f"{self.label}: could not start: {reason} "
                '(on_startup_error = "fail"; set it to "retry" to keep trying)'
            ) from err
        self.stats.state = "disabled"
        log.error(
            '%s: could not start, disabled (on_startup_error = "ignore"): %s',
            self.label,
            reason,
        )
        return False

    def _went_down(self, err: Exception) -> None:
        """State ``retrying``; the first failure of a run of failures is logged (once)."""
        if not self._down_logged:
            log.warning(
                "%s: unavailable: %s; retrying with backoff",
                self.label,
                self.stats.last_error,
                exc_info=not isinstance(_leaf(err), HubError),
            )
            self._down_logged = True
            self.stats.down_since = time.monotonic()
        self.stats.state = "retrying"

    def _delay(self, err: Exception, attempt: int) -> float:
        cfg = self.config
        leaf = _leaf(err)
        if isinstance(leaf, AuthenticationFailed):
            return cfg.retry_max_s
        return backoff_delay(
            attempt,
            cfg.retry_initial_s,
            cfg.retry_max_s,
            retry_after=getattr(leaf, "retry_after", None),
        )


class SourceCancelled(HubError):
    """``run()`` ended cancelled although the hub did not stop it: retried like a failure."""


def _leaves(err: BaseException) -> list[BaseException]:
    if isinstance(err, BaseExceptionGroup):
        return [leaf for sub in err.exceptions for leaf in _leaves(sub)]
    return [err]


def _leaf(err: BaseException) -> BaseException:
    """The exception that says what went wrong: ``err`` itself, or for an exception group
    (a ``TaskGroup`` in the source) its first hub error, else its first leaf."""
    leaves = _leaves(err)
    return next((e for e in leaves if isinstance(e, HubError)), leaves[0])


def _describe(err: BaseException) -> str:
    if isinstance(err, BaseExceptionGroup):
        return "; ".join(dict.fromkeys(_describe(e) for e in _leaves(err)))
    if isinstance(err, DeviceUnavailable | AuthenticationFailed | HubError):
        return str(err) or type(err).__name__
    return f"{type(err).__name__}: {err}"
