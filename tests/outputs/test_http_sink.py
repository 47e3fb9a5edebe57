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
from hub.core.bus import SinkRunner
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


@pytest.mark.parametrize("status", [500, 502, 503, 408])
async def test_5xx_and_408_leave_the_retry_to_the_runner(
    receiver: tuple[Receiver, str],
    make_sink: Callable[..., tuple[WebhookSink, FakeClock]],
    status: int,
) -> None:
    rec, url = receiver
    rec.script = [(status, {})]
    sink, clock = make_sink(url=url)
    start = clock.monotonic()
    with pytest.raises(SinkUnavailable, match=f"answered HTTP {status} [A-Z]") as err:
        await sink.write(events())
    assert err.value.retry_after is None and "reason for" not in str(err.value)
    assert len(rec.requests) == 1  # one write, one attempt: no retry loop inside the sink
    assert clock.monotonic() == start


async def test_timeout_is_unavailable(
    receiver: tuple[Receiver, str], make_sink: Callable[..., tuple[WebhookSink, FakeClock]]
) -> None:
    rec, url = receiver
    rec.hang = 1
    sink, _ = make_sink(url=url, timeout_s=0.2)
    with pytest.raises(SinkUnavailable, match=r"http\[hook\]"):
        await sink.write(events())
    assert len(rec.requests) == 1


async def test_unreachable_is_unavailable(
    make_sink: Callable[..., tuple[WebhookSink, FakeClock]],
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink, _ = make_sink(url=f"http://127.0.0.1:{port}/hook")
    with pytest.raises(SinkUnavailable, match=r"http\[hook\]"):
        await sink.write(events())


@pytest.mark.parametrize(
    ("status", "header", "seconds"),
    [(429, "7", 7), (429, "120", 120), (503, "Fri, 31 Dec 9999 23:59:59 GMT", None)],
)
async def test_retry_after_is_passed_to_the_runner(
    receiver: tuple[Receiver, str],
    make_sink: Callable[..., tuple[WebhookSink, FakeClock]],
    status: int,
    header: str,
    seconds: float | None,
) -> None:
    rec, url = receiver
    rec.script = [(status, {"Retry-After": header})]
    sink, clock = make_sink(url=url)
    start = clock.monotonic()
    with pytest.raises(SinkUnavailable, match=f"{status}.*Retry-After") as err:
        await sink.write(events())
    assert err.value.retry_after is not None
    if seconds is not None:
        assert err.value.retry_after == seconds
    else:
        assert err.value.retry_after > 1e6  # an HTTP date far ahead
    assert len(rec.requests) == 1
    assert clock.monotonic() == start  # no waiting inside write()


async def test_the_runner_retries_after_retry_after(
    receiver: tuple[Receiver, str], make_sink: Callable[..., tuple[WebhookSink, FakeClock]]
) -> None:
    """One retry policy: the sink runner, not the sink, waits what the receiver asked."""
    rec, url = receiver
    rec.script = [(503, {"Retry-After": "1"})]
    sink, _ = make_sink(url=url, retry_initial_s=0.01, retry_max_s=0.02)
    runner = SinkRunner(sink, sink.config, "sinks.http[hook]")
    for e in events(3):
        await runner.put(e)
    task = asyncio.create_task(runner.run())
    loop = asyncio.get_running_loop()
    seen: list[float] = []
    try:
        async with asyncio.timeout(10):
            while len(rec.requests) < 2:
                if len(rec.requests) > len(seen):
                    seen.append(loop.time())
                await asyncio.sleep(0.01)
            seen.append(loop.time())
    finally:
        runner.close_input()
        await asyncio.wait_for(task, 5)
    # the backoff alone would retry after 0.01 s; Retry-After: 1 holds it off a second
    assert seen[1] - seen[0] >= 0.9
    assert runner.stats.retries == 1 and runner.stats.events_out == 3
    assert rec.requests[0][0]["Idempotency-Key"] == rec.requests[1][0]["Idempotency-Key"]


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("max_attempts", "the hub retries a failed batch itself"),
        ("backoff_initial_s", "write retry_initial_s instead"),
        ("backoff_max_s", "write retry_max_s instead"),
        ("max_retry_after_s", "the hub waits what Retry-After asks"),
    ],
)
def test_removed_retry_settings_say_what_to_write(key: str, hint: str) -> None:
    with pytest.raises(ValidationError, match=f"{key} is no longer used: {hint}"):
        WebhookConfig(id="x", url="http://127.0.0.1/", **{key: 3})


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_gives_up_on_4xx(
    receiver: tuple[Receiver, str],
    make_sink: Callable[..., tuple[WebhookSink, FakeClock]],
    status: int,
) -> None:
    rec, url = receiver
    rec.script = [(status, {})]
    sink, _ = make_sink(url=url + "?key=secret")
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
