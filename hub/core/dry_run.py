"""``hub run --test CONFIG``: run the sources, print their events, write to no output.

Like Telegraf's ``--test``: every configured source runs with its transports until
each one has produced an event or ``--test-duration`` seconds have passed. Events
are printed on stdout, one JSON object per line, after the privacy check; no
configured output is opened and the hub's data_dir is left alone (status and dead
letters go to a temporary folder), so it is safe beside a running hub (except for
servers that need the same port).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from typing import ClassVar

from hub.core.config import HubConfig
from hub.core.plugins import PluginInfo, Registry
from hub.events import Event
from hub.plugin import Sink, SinkConfig

log = logging.getLogger("hub")
PRINTER_KIND = "run-test-printer"


class _Seen:
    """Which sources have produced, and the stop to set when all of them have."""

    def __init__(self, wanted: set[str]) -> None:
        self.wanted = wanted
        self.counts: Counter[str] = Counter()
        self.stop: asyncio.Event | None = None

    def add(self, event: Event) -> None:
        self.counts[event.source] += 1
        if self.stop is not None and self.wanted <= set(self.counts):
            self.stop.set()


class _Printer(Sink[SinkConfig]):
    """Prints each event as one JSON line; the only output of a test run."""

    kind = PRINTER_KIND
    config_model = SinkConfig
    seen: ClassVar[_Seen]

    async def write(self, batch: Sequence[Event]) -> None:
        for event in batch:
            sys.stdout.write(event.model_dump_json() + "\n")
            self.seen.add(event)
        sys.stdout.flush()


def printer_setup(
    config: HubConfig, registry: Registry, data_dir: str
) -> tuple[HubConfig, Registry, _Seen]:
    """The config and registry of a test run: the printer as the only sink."""
    wanted = {c.id for items in config.sources.values() for c in items if c.enabled}
    seen = _Seen(wanted)
    printer = type("Printer", (_Printer,), {"seen": seen})
    info = PluginInfo(PRINTER_KIND, "", "crowdhub", __name__, builtin=True, sinks=[PRINTER_KIND])
    test_registry = dataclasses.replace(registry, sinks={PRINTER_KIND: (printer, info)})
    test_config = dataclasses.replace(
        config,
        hub=config.hub.model_copy(update={"data_dir": data_dir}),
        sinks={PRINTER_KIND: [SinkConfig(id="test", batch_size=100)]},
        zones=config.zones.model_copy(update={"enabled": False}),  # the sources' events only
    )
    return test_config, test_registry, seen


def run_test(config: HubConfig, registry: Registry, duration_s: float) -> int:
    """0 when every enabled source produced at least one event within ``duration_s``."""
    from hub.core.runtime import Hub, run_until_stopped

    with tempfile.TemporaryDirectory(prefix="crowdhub-test-") as tmp:
        test_config, test_registry, seen = printer_setup(config, registry, tmp)
        if not seen.wanted:
            log.error("--test: no enabled source in the config; nothing to test")
            return 1

        async def body(stop: asyncio.Event) -> None:
            seen.stop = stop
            await Hub(test_config, test_registry).run(stop)

        code = run_until_stopped(body, duration_s, done="test run finished")
    silent = sorted(seen.wanted - set(seen.counts))
    for sid in sorted(seen.wanted):
        n = seen.counts[sid]
        if n:
            log.info("--test: source %s: %d event(s)", sid, n)
        else:
            log.error("--test: source %s: no event within %g s", sid, duration_s)
    return code or (1 if silent else 0)
