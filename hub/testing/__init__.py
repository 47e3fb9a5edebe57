"""Public test helpers for plugin authors (shipped in the wheel, used by our own tests).

* :class:`FakeClock`: a clock whose ``sleep`` moves time forward at once (for sources
  that sleep between readings); :class:`ManualClock`: a clock that moves only when the
  test advances it (for sources that aggregate over intervals).
* :class:`EventCollector` + :func:`source_context`: run a source outside the hub
  and look at what it emitted, with the hub's privacy rule applied.
* :class:`HubProcess`: ``hub run`` as a child process for end-to-end tests (log file,
  wait until healthy or any condition, SIGTERM and exit code); :class:`HubExited` when it
  ends early (an ``AssertionError`` with the log's tail).

Beside them: :mod:`hub.testing.fakes` (fake transports), :mod:`hub.testing.mosquitto`
(a real broker for tests), :mod:`hub.testing.pty` (a serial device on a pseudo-terminal,
from :mod:`hub.simulate.pty`), :mod:`hub.testing.conformance` (the conformance kit) and
the pytest plugin :mod:`hub.testing.pytest_plugin`.
"""

from __future__ import annotations

__all__ = [
    "EventCollector",
    "FakeClock",
    "HubExited",
    "HubProcess",
    "ManualClock",
    "sink_context",
    "source_context",
]

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from hub.events import Event
from hub.plugin import SinkContext, SourceContext, Transport
from hub.privacy import check_event
from hub.site import Site
from hub.testing.clocks import FakeClock, ManualClock
from hub.testing.hub_process import HubExited, HubProcess


class EventCollector:
    """Collects emitted events; ``strict_privacy`` raises on any identifier (as the hub would
    dead-letter it)."""

    def __init__(self, *, strict_privacy: bool = True) -> None:
        self.events: list[Event] = []
        self.strict_privacy = strict_privacy
        self.arrived = asyncio.Event()

    async def __call__(self, event: Event) -> None:
        if self.strict_privacy:
            check_event(event)
        self.events.append(event)
        self.arrived.set()

    async def wait_for(self, n: int, within_s: float = 5.0) -> list[Event]:
        """Wait until at least ``n`` events arrived; return them."""

        async def _wait() -> None:
            while len(self.events) < n:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(_wait(), within_s)
        return self.events


def source_context(
    kind: str,
    instance: str = "test",
    *,
    site: Site | None = None,
    emit: Callable[[Event], Any] | None = None,
    transports: Callable[[str, str | None], Transport[Any]] | None = None,
    clock: Any = None,
    plugin: str | None = None,
    plugin_version: str = "0.0.0",
    transport_name: str | None = None,
) -> SourceContext:
    """A :class:`~hub.plugin.SourceContext` for running one source in a test."""
    return SourceContext(
        instance=instance,
        kind=kind,
        plugin=plugin or kind,
        plugin_version=plugin_version,
        site=site or Site(),
        emit=emit or EventCollector(),
        transports=transports,
        clock=clock,
        logger=logging.getLogger(f"hub.test.{kind}.{instance}"),
        transport_name=transport_name,
    )


def sink_context(
    kind: str,
    instance: str = "test",
    *,
    site: Site | None = None,
    data_dir: str = ".",
    transports: Callable[[str, str | None], Transport[Any]] | None = None,
) -> SinkContext:
    """A :class:`~hub.plugin.SinkContext` for running one sink in a test."""
    return SinkContext(
        instance=instance, kind=kind, site=site or Site(), data_dir=data_dir, transports=transports
    )
