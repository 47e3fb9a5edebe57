"""The webhook sink against a real aiohttp receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from pydantic import ValidationError

from hub import Event, Occupancy, SinkRejected, SinkUnavailable
from hub.core.transports.http_client import HttpClientConfig, HttpClientTransport
from hub.outputs.http import WebhookConfig, WebhookSink, parse_retry_after, register_sinks
from hub.plugin import TransportContext
from hub.testing import FakeClock, sink_context, source_context
from hub.testing.fakes import fake_transports
from hub.testing.pytest_plugin import IngestClient
from hub.transports import HttpAuth, IngestRequest


@dataclass
class Receiver:
    """A webhook endpoint answering a script of ``(status, headers)`` then 204s."""

    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    hang: int = 0  # this many first requests never get an answer (timeouts)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        if self.hang:
            self.hang -= 1
            await self.release.wait()
        status, headers = self.script.pop(0) if self.script else (204, {})
        text = None if status == 204 else f"reason for {status}"
        return web.Response(status=status, text=text, headers=headers)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield rec, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    finally:
        rec.release.set()
        await runner.cleanup()


@pytest.fixture
async def make_sink() -> AsyncIterator[Callable[..., tuple[WebhookSink, FakeClock]]]:
    ctx = TransportContext(
        instance="default",
        kind="http_client",
        clock=FakeClock(),
        log=logging.getLogger("t.http_client"),
    )
    async with HttpClientTransport(HttpClientConfig(), ctx) as http:

        def make(**cfg: Any) -> tuple[WebhookSink, FakeClock]:
            config = WebhookConfig(id="hook", **cfg)
            sctx = sink_context("http", "hook", transports=fake_transports(http_client=http))
            clock = FakeClock()
            sctx.clock = clock
            return WebhookSink(config, sctx), clock

        yield make


def events(n: int = 2) -> list[Event]:
    ctx = source_context("lidar", "gate-a")
    return [ctx.event(Occupancy(count=i), key=i, observed_at=ctx.clock.now()) for i in range(n)]


async def test_posts_the_batch_as_json(
    receiver: tuple[Receiver, str], make_sink: Callable[..., tuple[WebhookSink, FakeClock]]
) -> None:
    rec, url = receiver
    sink, _ = make_sink(
        url=url, headers={"X-Site": "fairground"}, auth={"scheme": "bearer", "token": "tok"}
    )
    batch = events(3)
    await sink.write(batch)
    assert len(rec.requests) == 1
    headers, body = rec.requests[0]
    assert headers["Content-Type"] == "application/json"
    assert headers["Authorization"] == "Bearer tok"
    assert headers["X-Site"] == "fairground"
    doc = json.loads(body)
    assert list(doc) == ["events"]
    assert [Event.model_validate(e) for e in doc["events"]] == batch


async def test_retries_5xx_with_backoff_then_succeeds(
    receiver: tuple[Receiver, str], make_sink: Callable[..., tuple[WebhookSink, FakeClock]]
) -> None:
    rec, url = receiver
    rec.script = [(500, {}), (503, {})]
    sink, clock = make_sink(url=url, max_attempts=3, backoff_initial_s=1, backoff_max_s=10)
    start = clock.monotonic()
    await sink.write(events())
    assert len(rec.requests) == 3
    # jittered: 0.5..1 s, then 1..2 s
    assert 1.5 <= clock.monotonic() - start <= 3.0
    keys = {h["Idempotency-Key"] for h, _ in rec.requests}
    assert len(keys) == 1  # the same batch on every attempt


async def test_gives_up_after_max_attempts(
    receiver: tuple[Receiver, str], make_sink: Callable[..., tuple[WebhookSink, FakeClock]]
) -> None:
    rec, url = receiver
    rec.script = [(502, {})] * 5
    sink, _ = make_sink(url=url, max_attempts=2)
    with pytest.raises(
        SinkUnavailable, match="after 2 attempts; last: answered HTTP 502 Bad Gateway"
    ) as err:
        await sink.write(events())
    assert err.value.retry_after is None
    assert len(rec.requests) == 2


async def test_timeout_is_retried(
    receiver: tuple[Receiver, str], make_sink: Callable[..., tuple[WebhookSink, FakeClock]]
) -> None:
    rec, url = receiver
    rec.hang = 1
    sink, _ = make_sink(url=url, timeout_s=0.2, max_attempts=2)
    await sink.write(events())
    assert len(rec.requests) == 2


async def test_unreachable_is_unavailable(
    make_sink: Callable[..., tuple[WebhookSink, FakeClock]],
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink, _ = make_sink(url=f"http://127.0.0.1:{port}/hook", max_attempts=2)
    with pytest.raises(SinkUnavailable, match="after 2 attempts"):
        await sink.write(events())


async def test_honours_429_retry_after(
    receiver: tuple[Receiver, str], make_sink: Callable[..., tuple[WebhookSink, FakeClock]]
) -> None:
    rec, url = receiver
    rec.script = [(429, {"Retry-After": "7"})]
    sink, clock = make_sink(url=url, backoff_initial_s=0.1)
    start = clock.monotonic()
    await sink.write(events())
    assert len(rec.requests) == 2
    assert clock.monotonic() - start == pytest.approx(7)


async def test_429_beyond_the_budget_is_left_to_the_core(
    receiver: tuple[Receiver, str], make_sink: Callable[..., tuple[WebhookSink, FakeClock]]
) -> None:
    rec, url = receiver
    rec.script = [(429, {"Retry-After": "120"})]
    sink, clock = make_sink(url=url, max_retry_after_s=30)
    start = clock.monotonic()
    with pytest.raises(SinkUnavailable, match="429") as err:
        await sink.write(events())
    assert err.value.retry_after == 120
    assert len(rec.requests) == 1
    assert clock.monotonic() == start  # no waiting inside write()

    rec.requests.clear()
    rec.script = [(429, {"Retry-After": "2"})] * 2
    sink, _ = make_sink(url=url, max_attempts=2)
    with pytest.raises(SinkUnavailable) as err:
        await sink.write(events())
    assert err.value.retry_after == 2
    assert len(rec.requests) == 2


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_gives_up_on_4xx(
    receiver: tuple[Receiver, str],
    make_sink: Callable[..., tuple[WebhookSink, FakeClock]],
    status: int,
) -> None:
    rec, url = receiver
    rec.script = [(status, {})]
    sink, _ = make_sink(url=url + "?key=secret", max_attempts=5)
    with pytest.raises(SinkRejected, match=f"HTTP {status} [A-Z]") as err:
        await sink.write(events())
    assert len(rec.requests) == 1
    assert "secret" not in str(err.value) and "?key=***" in str(err.value)
    assert "reason for" not in str(err.value)  # the receiver's answer is never copied


async def test_hmac_signed_batch_into_the_hub_ingest_server(
    ingest_client: IngestClient, make_sink: Callable[..., tuple[WebhookSink, FakeClock]]
) -> None:
    """Hub to hub: the webhook sink signs, the ingest server verifies."""
    received: list[Event] = []

    async def handler(req: IngestRequest) -> None:
        received.extend(Event.model_validate(e) for e in req.json()["events"])

    auth = HttpAuth(scheme="hmac", hmac_secret="shared")
    ingest_client.server.add_route("upstream", handler, auth=auth)
    batch = events(4)
    sink, _ = make_sink(
        url=f"{ingest_client.url}/ingest/upstream", auth={"scheme": "hmac", "hmac_secret": "shared"}
    )
    await sink.write(batch)
    assert received == batch
    wrong, _ = make_sink(
        url=f"{ingest_client.url}/ingest/upstream", auth={"scheme": "hmac", "hmac_secret": "other"}
    )
    with pytest.raises(SinkRejected, match="HTTP 403"):
        await wrong.write(batch)


def test_config_and_registration() -> None:
    with pytest.raises(ValidationError, match="http:// or https://"):
        WebhookConfig(id="x", url="ftp://example.org/")
    with pytest.raises(ValidationError, match="needs token"):
        WebhookConfig(id="x", url="http://example.org/", auth={"scheme": "bearer"})
    cfg = WebhookConfig(id="x", url="http://example.org/", transport="edge")
    assert WebhookSink.required_transports(cfg) == [("http_client", "edge")]
    registered: list[type[Any]] = []
    register_sinks(registered.append)
    assert registered == [WebhookSink]


def test_parse_retry_after() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("30") == 30
    assert parse_retry_after("Mon, 01 Jun 2026 12:01:00 GMT", now) == 60
    assert parse_retry_after("Mon, 01 Jun 2026 11:00:00 GMT", now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


async def test_empty_batch_sends_nothing(
    receiver: tuple[Receiver, str], make_sink: Callable[..., tuple[WebhookSink, FakeClock]]
) -> None:
    rec, url = receiver
    sink, _ = make_sink(url=url)
    await sink.write([])
    assert rec.requests == []
