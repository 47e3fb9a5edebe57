"""The polling HTTP client against a real aiohttp device server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from hub import AuthenticationFailed, DeviceUnavailable
from hub.core.transports.http_client import HttpClientConfig, HttpClientTransport
from hub.plugin import TransportContext
from hub.testing import FakeClock
from hub.transports import HttpAuth


@dataclass
class Device:
    """A fake people counter's HTTP API: ``/counts`` with an ETag, ``/lm`` with
    Last-Modified, and endpoints that misbehave."""

    version: int = 1
    not_modified: int = 0
    seen: list[dict[str, str | None]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    hit: asyncio.Event = field(default_factory=asyncio.Event)

    async def counts(self, request: web.Request) -> web.Response:
        self.seen.append(
            {
                "inm": request.headers.get("If-None-Match"),
                "auth": request.headers.get("Authorization"),
            }
        )
        etag = f'"v{self.version}"'
        if request.headers.get("If-None-Match") == etag:
            self.not_modified += 1
            if self.not_modified == 3:  # the count changes after three unchanged polls
                self.version += 1
            return web.Response(status=304, headers={"ETag": etag})
        return web.json_response({"count": self.version}, headers={"ETag": etag})

    async def last_modified(self, request: web.Request) -> web.Response:
        stamp = "Mon, 01 Jun 2026 12:00:00 GMT"
        self.seen.append({"ims": request.headers.get("If-Modified-Since")})
        self.hit.set()
        if request.headers.get("If-Modified-Since") == stamp:
            return web.Response(status=304)
        return web.Response(text="data", headers={"Last-Modified": stamp})

    async def slow(self, request: web.Request) -> web.Response:
        await self.release.wait()
        return web.Response(text="late")

    async def status(self, request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="nope")

    async def big(self, request: web.Request) -> web.Response:
        return web.Response(body=b"z" * 5000)


@pytest.fixture
async def device() -> AsyncIterator[tuple[Device, str]]:
    dev = Device()
    app = web.Application()
    app.router.add_get("/counts", dev.counts)
    app.router.add_get("/lm", dev.last_modified)
    app.router.add_get("/slow", dev.slow)
    app.router.add_get("/status/{code}", dev.status)
    app.router.add_get("/big", dev.big)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield dev, f"http://127.0.0.1:{port}"
    finally:
        dev.release.set()
        await runner.cleanup()


def client(clock: FakeClock | None = None, **cfg: int) -> HttpClientTransport:
    ctx = TransportContext(
        instance="t",
        kind="http_client",
        clock=clock or FakeClock(),
        log=logging.getLogger("t.http_client"),
    )
    return HttpClientTransport(HttpClientConfig(**cfg), ctx)


async def test_etag_and_304(device: tuple[Device, str]) -> None:
    dev, base = device
    async with client() as http:
        polls = http.poll(f"{base}/counts", interval_s=5, headers={"Accept": "application/json"})
        async with contextlib.aclosing(polls) as stream:
            async with asyncio.timeout(10):
                got = [await anext(stream), await anext(stream)]
    # v1, three 304s (not yielded), then v2 (still asked for with v1's ETag)
    assert [r.json() for r in got] == [{"count": 1}, {"count": 2}]
    assert [r.headers["etag"] for r in got] == ['"v1"', '"v2"']
    assert [s["inm"] for s in dev.seen] == [None] + ['"v1"'] * 4


async def test_last_modified(device: tuple[Device, str]) -> None:
    dev, base = device
    http = client()
    async with http, contextlib.aclosing(http.poll(f"{base}/lm", interval_s=1)) as stream:
        first = await anext(stream)
        assert first.body == b"data"
        waiter = asyncio.ensure_future(anext(stream))
        async with asyncio.timeout(10):
            while len(dev.seen) < 3:
                dev.hit.clear()
                await dev.hit.wait()
        assert not waiter.done()  # 304s are not yielded
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiter
    assert dev.seen[1]["ims"] == "Mon, 01 Jun 2026 12:00:00 GMT"


async def test_interval_is_start_to_start(device: tuple[Device, str]) -> None:
    _, base = device
    clock = FakeClock()
    start = clock.monotonic()
    http = client(clock)
    async with http, contextlib.aclosing(http.poll(f"{base}/status/200", interval_s=7)) as s:
        for _ in range(3):
            assert (await anext(s)).status == 200
    assert clock.monotonic() - start == pytest.approx(14)


async def test_timeout_is_device_unavailable(device: tuple[Device, str]) -> None:
    _, base = device
    async with client() as http:
        polls = http.poll(f"{base}/slow?token=secret", interval_s=1, timeout_s=0.2)
        with pytest.raises(DeviceUnavailable, match=r"no answer within 0.2 s") as err:
            async with contextlib.aclosing(polls) as stream:
                await anext(stream)
    assert "secret" not in str(err.value)
    assert "/slow" in str(err.value)


async def test_connection_refused_is_device_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with client() as http:
        with pytest.raises(DeviceUnavailable, match="Connect"):
            await http.request("GET", f"http://127.0.0.1:{port}/x", timeout_s=5)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (401, AuthenticationFailed),
        (403, AuthenticationFailed),
        (404, DeviceUnavailable),
        (503, DeviceUnavailable),
    ],
)
async def test_error_status(device: tuple[Device, str], code: int, error: type[Exception]) -> None:
    _, base = device
    async with client() as http:
        with pytest.raises(error, match=str(code)):
            async with contextlib.aclosing(
                http.poll(f"{base}/status/{code}", interval_s=1)
            ) as stream:
                await anext(stream)


async def test_auth_headers_are_sent(device: tuple[Device, str]) -> None:
    dev, base = device
    async with client() as http:
        auth = HttpAuth(scheme="basic", username="u", password="p")
        async with contextlib.aclosing(
            http.poll(f"{base}/counts", interval_s=1, auth=auth)
        ) as stream:
            await anext(stream)
    assert dev.seen[0]["auth"] == "Basic " + base64.b64encode(b"u:p").decode()


async def test_oversized_response(device: tuple[Device, str]) -> None:
    _, base = device
    async with client(max_response_bytes=1000) as http:
        with pytest.raises(DeviceUnavailable, match="larger than 1000 bytes"):
            await http.request("GET", f"{base}/big")


async def test_run_owns_the_session_and_closes_it(device: tuple[Device, str]) -> None:
    _, base = device
    http = client()
    task = asyncio.create_task(http.run(), name="http-client-run")
    await asyncio.sleep(0)
    resp = await http.request("GET", f"{base}/status/200")
    assert resp.status == 200
    assert http.health()["open"] is True
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert http.health()["open"] is False
    with pytest.raises(DeviceUnavailable, match="shut down"):
        await http.request("GET", f"{base}/status/200")
