"""Shared helpers for the lidar plugin tests (imported as `from .helpers import ...`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hub
from hub.errors import DeviceUnavailable
from hub.site import Site
from hub.testing import EventCollector, source_context
from hub.testing.fakes import FakeSerialTransport

FIXTURES = Path(__file__).parent / "fixtures"


def hex_fixture(name: str) -> bytes:
    """The bytes of a ``.hex`` fixture: hex pairs, ``#`` starts a comment."""
    out = bytearray()
    for line in (FIXTURES / name).read_text().splitlines():
        data = line.split("#", 1)[0].strip()
        if data:
            out += bytes.fromhex(data)
    return bytes(out)


WAIT_S = 10.0
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # FakeClock's start


@contextlib.asynccontextmanager
async def running(
    source_class: type[hub.Source[Any]],
    config: dict[str, Any],
    site: Site,
    transports: Any,
    clock: Any = None,
) -> AsyncIterator[tuple[Any, EventCollector, asyncio.Task[None]]]:
    """A source of ``source_class`` running on the given transports until the block ends."""
    collector = EventCollector()
    cfg = source_class.config_model(**config)
    ctx = source_context(
        source_class.kind, cfg.id, site=site, emit=collector, transports=transports, clock=clock
    )
    src = source_class(cfg, ctx)
    task = asyncio.create_task(src.run(), name=f"test-{cfg.id}")
    try:
        yield src, collector, task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, DeviceUnavailable):
            await task


async def until(check: Callable[[], bool], what: str) -> None:
    async with asyncio.timeout(WAIT_S):
        while not check():
            await asyncio.sleep(0.01)


def feed(fake: FakeSerialTransport, data: bytes, size: int = 4000) -> None:
    for i in range(0, len(data), size):
        fake.feed(data[i : i + size])


def real_serial_transport() -> Any:
    """The hub's real serial transport (for tests on pseudo-terminals)."""
    from hub.clock import SystemClock
    from hub.core.transports.serial import SerialPortTransport, SerialTransportConfig
    from hub.plugin import TransportContext

    ctx = TransportContext(
        instance="default", kind="serial", clock=SystemClock(), log=logging.getLogger("t.serial")
    )
    return SerialPortTransport(SerialTransportConfig(), ctx)
