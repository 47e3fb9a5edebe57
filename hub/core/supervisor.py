"""One supervisor per source instance: run it, retry it, never let it take others down.

States: ``starting`` → ``running`` (first event or ``ctx.set_available()``) →
``retrying`` (``run()`` raised; logged once) → ``running`` (logged once: back)
…; ``disabled`` (startup failed with ``on_startup_error = "ignore"``, or
``enabled = false``); ``stopped`` (``run()`` returned or the hub stops).
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
        while True:
            try:
                await self.source.run()
            except asyncio.CancelledError:
                self.stats.state = "stopped"
                raise
            except Exception as err:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # the hub is stopping: a source that turned our cancel into another
                    # error (a port closed under it) must not start a retry
                    self.stats.state = "stopped"
                    raise asyncio.CancelledError from err
                self.stats.errors += 1
                reason = _describe(err)
                self.stats.last_error = reason
                if not self._ever_up and attempt == 0:
                    if cfg.on_startup_error == "fail":
                        self.stats.state = "failed"
                        raise StartupFailed(
                            f"{self.label}: could not start: {reason} "
                            '(on_startup_error = "fail"; set it to "retry" to keep trying)'
                        ) from err
                    if cfg.on_startup_error == "ignore":
                        self.stats.state = "disabled"
                        log.error(
                            '%s: could not start, disabled (on_startup_error = "ignore"): %s',
                            self.label,
                            reason,
                        )
                        return
                if self.stats.state == "running":
                    attempt = 0
                if not self._down_logged:
                    log.warning(
                        "%s: unavailable: %s; retrying with backoff",
                        self.label,
                        reason,
                        exc_info=not isinstance(err, HubError),
                    )
                    self._down_logged = True
                    self.stats.down_since = time.monotonic()
                self.stats.state = "retrying"
                if isinstance(err, AuthenticationFailed):
                    delay = cfg.retry_max_s
                else:
                    delay = backoff_delay(
                        attempt,
                        cfg.retry_initial_s,
                        cfg.retry_max_s,
                        retry_after=getattr(err, "retry_after", None),
                    )
                attempt += 1
                self.stats.restarts += 1
                await asyncio.sleep(delay)
                continue
            self.stats.state = "stopped"
            log.info("%s: finished", self.label)
            return


def _describe(err: BaseException) -> str:
    if isinstance(err, DeviceUnavailable | AuthenticationFailed | HubError):
        return str(err) or type(err).__name__
    return f"{type(err).__name__}: {err}"
