"""pytest plugin (entry point ``pytest11: crowdhub``): fixtures for plugin authors.

Installed with crowdhub, so a vendor's test suite gets, with no conftest:

- ``mosquitto`` / ``mosquitto_session``: a real Mosquitto broker on a free loopback port;
- ``serial_pty``: a fake serial device on a real pseudo-terminal (unplug/replug);
- ``ingest_client``: the hub's real HTTP ingest server on a free port plus a client;
- ``fake_clock`` / ``manual_clock``: clocks for sources that sleep or aggregate.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from hub.testing import FakeClock, ManualClock

if TYPE_CHECKING:
    from hub.testing.mosquitto import Mosquitto
    from hub.testing.pty import PtyDevice


@pytest.fixture
def fake_clock() -> FakeClock:
    """A :class:`hub.testing.FakeClock` starting at 2026-06-01 12:00 UTC."""
    return FakeClock()


# -- HTTP ingest: the real server on a free loopback port --------------------------------


class IngestClient:
    """A running :class:`~hub.core.transports.http_server.HttpIngestServer` on ``127.0.0.1:<free>``
    and a real HTTP client for it. Add routes with ``ingest_client.server.add_route(...)``;
    set ``ingest_client.server.ctx.status`` / ``metrics_text`` to feed /healthz, /metrics."""

    def __init__(self, server: Any, client: Any) -> None:
        self.server = server
        self.client = client

    @property
    def url(self) -> str:
        return str(self.server.url)

    async def request(
        self,
        path: str,
        body: bytes | str = b"",
        *,
        method: str = "POST",
        content_type: str | None = "application/json",
        headers: dict[str, str] | None = None,
    ) -> Any:
        """Send ``method`` to ``path`` (``/ingest/<id>`` when ``path`` has no slash); returns a
        :class:`hub.transports.PollResponse` (status, headers, body)."""
        target = path if path.startswith("/") else f"/ingest/{path}"
        hdrs = dict(headers or {})
        if content_type is not None:
            hdrs["Content-Type"] = content_type
        data = body.encode() if isinstance(body, str) else body
        return await self.client.request(method, self.url + target, body=data, headers=hdrs)


async def _ingest_client() -> AsyncIterator[IngestClient]:
    import asyncio
    import logging

    from hub.clock import SystemClock
    from hub.core.transports.http_client import HttpClientConfig, HttpClientTransport
    from hub.core.transports.http_server import HttpIngestServer, HttpServerConfig
    from hub.plugin import TransportContext

    def ctx(kind: str) -> TransportContext:
        return TransportContext(
            instance="test",
            kind=kind,
            clock=SystemClock(),
            log=logging.getLogger(f"hub.test.{kind}"),
        )

    server = HttpIngestServer(HttpServerConfig(port=0), ctx("http"))
    task = asyncio.create_task(server.run(), name="test-http-ingest")
    try:
        await asyncio.wait_for(server.started.wait(), 10)
        async with HttpClientTransport(HttpClientConfig(), ctx("http_client")) as client:
            yield IngestClient(server, client)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


try:
    import pytest_asyncio

    ingest_client = pytest_asyncio.fixture(_ingest_client, name="ingest_client")
except ImportError:  # pragma: no cover - plugin authors without pytest-asyncio
    ingest_client = pytest.fixture(_ingest_client, name="ingest_client")


# -- serial: a fake device on a real pseudo-terminal -------------------------------------


@pytest.fixture
def serial_pty(tmp_path: Path) -> Iterator[PtyDevice]:
    """A fake serial device on a real pty: open ``serial_pty.path`` with the serial transport,
    ``write()`` device bytes, ``expect_written()`` commands, ``unplug()`` / ``replug()``."""
    from hub.testing.pty import PtyDevice  # POSIX only: imported when used

    device = PtyDevice(tmp_path, "ttyUSB0")
    try:
        yield device
    finally:
        device.close()


# -- MQTT: a real Mosquitto broker on a free loopback port --------------------------------


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A running anonymous Mosquitto on ``mosquitto.host:mosquitto.port``; ``restart()``
    keeps the port. For passwords or TLS build :class:`hub.testing.mosquitto.Mosquitto`
    with ``users=`` / ``tls=True``. Needs the ``mosquitto`` binary."""
    from hub.testing.mosquitto import Mosquitto

    with Mosquitto(tmp_path / "mosquitto") as broker:
        yield broker


@pytest.fixture(scope="session")
def mosquitto_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """One anonymous Mosquitto shared by a whole test session (do not restart it)."""
    from hub.testing.mosquitto import Mosquitto

    with Mosquitto(tmp_path_factory.mktemp("mosquitto")) as broker:
        yield broker


# -- conformance kit ---------------------------------------------------------------------


@pytest.fixture
def manual_clock() -> ManualClock:
    """A :class:`hub.testing.ManualClock` at 2026-06-01 12:00 UTC: ``sleep`` waits
    until the test calls ``advance_to`` (unlike ``fake_clock``, whose sleep moves time)."""
    return ManualClock(datetime(2026, 6, 1, 12, 0, tzinfo=UTC))
