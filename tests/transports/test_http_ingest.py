"""The HTTP ingest server against a real aiohttp client on 127.0.0.1.

Every status code of the ingest route, each auth scheme accepted and rejected,
per-source rate limits and isolation, /healthz and /metrics.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest

from hub import DeviceUnavailable, MalformedInput, Occupancy
from hub.clock import SystemClock
from hub.core.transports.http_ratelimit import TokenBucket
from hub.core.transports.http_server import HttpIngestServer, HttpServerConfig
from hub.errors import TransportError
from hub.plugin import TransportContext
from hub.testing import EventCollector, FakeClock, source_context
from hub.testing.pytest_plugin import IngestClient
from hub.transports import HttpAuth, IngestRequest, IngestResponse

TOKEN = "s3cret-token"
BEARER = HttpAuth(scheme="bearer", token=TOKEN)
MARKER = "BODY-MARKER-4242"


def counting_handler(source_id: str) -> tuple[EventCollector, Any]:
    """A source-like handler: ``{"count": n}`` -> one occupancy event on the 'bus'."""
    collector = EventCollector()
    ctx = source_context("test_push", source_id, emit=collector)

    async def handler(req: IngestRequest) -> IngestResponse | None:
        data = req.json()
        if not isinstance(data, dict) or not isinstance(data.get("count"), int):
            raise MalformedInput("field 'count' must be an integer")
        await ctx.emit(ctx.event(Occupancy(count=data["count"]), observed_at=ctx.clock.now()))
        return None

    return collector, handler


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextlib.asynccontextmanager
async def running(config: HttpServerConfig, clock: Any = None) -> AsyncIterator[HttpIngestServer]:
    ctx = TransportContext(
        instance="t", kind="http", clock=clock or SystemClock(), log=logging.getLogger("t.http")
    )
    server = HttpIngestServer(config, ctx)
    task = asyncio.create_task(server.run(), name="http-under-test")
    try:
        await asyncio.wait_for(server.started.wait(), 10)
        yield server
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# -- accepted requests -------------------------------------------------------------------


async def test_2xx_only_after_the_event_is_on_the_bus(ingest_client: IngestClient) -> None:
    events, handler = counting_handler("gate-a")
    ingest_client.server.add_route("gate-a", handler, auth=BEARER)
    resp = await ingest_client.request("gate-a", '{"count": 7}', headers=bearer())
    assert resp.status == 204
    # no waiting: the answer came after ctx.emit returned
    assert [e.measurement.count for e in events.events] == [7]
    assert events.events[0].source == "gate-a"
    assert ingest_client.server.health()["routes"]["gate-a"]["accepted"] == 1


async def test_handler_response_is_passed_through(ingest_client: IngestClient) -> None:
    async def handler(req: IngestRequest) -> IngestResponse:
        assert req.headers["x-device"] == "cam-1"  # case-insensitive
        assert (req.method, req.query, req.path) == ("PUT", {"v": "2"}, "/ingest/cam")
        return IngestResponse(202, '{"ok": true}', content_type="application/json")

    ingest_client.server.add_route("cam", handler, auth=BEARER)
    resp = await ingest_client.request(
        "/ingest/cam?v=2", "{}", headers={**bearer(), "X-Device": "cam-1"}, method="PUT"
    )
    assert (resp.status, resp.body) == (202, b'{"ok": true}')
    assert resp.headers["Content-Type"].startswith("application/json")


# -- authentication ----------------------------------------------------------------------


async def test_bearer_missing_wrong_and_other_scheme(ingest_client: IngestClient) -> None:
    events, handler = counting_handler("s1")
    ingest_client.server.add_route("s1", handler, auth=BEARER)
    missing = await ingest_client.request("s1", '{"count": 1}')
    assert missing.status == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer ")
    assert b"s1" in missing.body and b"Bearer" in missing.body
    wrong = await ingest_client.request("s1", '{"count": 1}', headers=bearer("nope"))
    assert wrong.status == 403
    assert b"wrong credentials" in wrong.body
    other = await ingest_client.request("s1", '{"count": 1}', headers={"Authorization": "x y"})
    assert other.status == 401
    assert events.events == []


async def test_basic_auth(ingest_client: IngestClient) -> None:
    events, handler = counting_handler("s2")
    auth = HttpAuth(scheme="basic", username="cam", password="pa:ss")
    ingest_client.server.add_route("s2", handler, auth=auth)

    def basic(user: str, pw: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}

    ok = await ingest_client.request("s2", '{"count": 2}', headers=basic("cam", "pa:ss"))
    assert ok.status == 204
    missing = await ingest_client.request("s2", '{"count": 2}')
    assert missing.status == 401
    assert missing.headers["WWW-Authenticate"].startswith("Basic ")
    assert (await ingest_client.request("s2", "{}", headers=basic("cam", "x"))).status == 403
    assert (await ingest_client.request("s2", "{}", headers=basic("eve", "pa:ss"))).status == 403
    garbage = await ingest_client.request("s2", "{}", headers={"Authorization": "Basic !!"})
    assert garbage.status == 403
    assert len(events.events) == 1


@pytest.mark.parametrize("prefix", ["", "sha256="])
async def test_hmac_signature(ingest_client: IngestClient, prefix: str) -> None:
    events, handler = counting_handler("s3")
    auth = HttpAuth(scheme="hmac", hmac_secret="k3y", hmac_header="X-Signature")
    ingest_client.server.add_route("s3", handler, auth=auth)
    body = b'{"count": 3}'
    sig = prefix + hmac.new(b"k3y", body, hashlib.sha256).hexdigest()
    ok = await ingest_client.request("s3", body, headers={"X-Signature": sig})
    assert ok.status == 204
    tampered = await ingest_client.request("s3", b'{"count": 30}', headers={"X-Signature": sig})
    assert tampered.status == 403
    assert b"X-Signature" in tampered.body
    missing = await ingest_client.request("s3", body)
    assert missing.status == 401
    assert "X-Signature" in missing.headers["WWW-Authenticate"]
    assert [e.measurement.count for e in events.events] == [3]


async def test_incomplete_auth_config_is_refused_at_add_route(
    ingest_client: IngestClient,
) -> None:
    _, handler = counting_handler("s4")
    with pytest.raises(TransportError, match="needs a token"):
        ingest_client.server.add_route("s4", handler, auth=HttpAuth(scheme="bearer"))
    with pytest.raises(TransportError, match="not a valid source id"):
        ingest_client.server.add_route("../x", handler, auth=BEARER)


# -- routing, method, type, size ---------------------------------------------------------


async def test_unknown_source_and_removed_route(ingest_client: IngestClient) -> None:
    _, handler = counting_handler("s5")
    ingest_client.server.add_route("s5", handler, auth=HttpAuth(scheme="none"))
    assert (await ingest_client.request("s5", '{"count": 1}')).status == 204
    ingest_client.server.remove_route("s5")
    gone = await ingest_client.request("s5", '{"count": 1}')
    assert gone.status == 404
    assert b"'s5'" in gone.body and b"/ingest/<source-id>" in gone.body


async def test_method_not_allowed_and_handshake_get(ingest_client: IngestClient) -> None:
    _, handler = counting_handler("s6")
    ingest_client.server.add_route("s6", handler, auth=BEARER)
    delete = await ingest_client.request("s6", method="DELETE", headers=bearer())
    assert delete.status == 405
    assert delete.headers["Allow"] == "POST, PUT"
    assert (await ingest_client.request("s6", method="GET", headers=bearer())).status == 405

    async def validator(req: IngestRequest) -> IngestResponse:
        return IngestResponse(200, "validator-string")

    ingest_client.server.add_route("meraki", validator, auth=BEARER, unauthenticated_get=True)
    get = await ingest_client.request("meraki", method="GET", content_type=None)
    assert (get.status, get.body) == (200, b"validator-string")
    # the POST of the same route still needs credentials
    assert (await ingest_client.request("meraki", "{}")).status == 401


async def test_wrong_or_missing_content_type(ingest_client: IngestClient) -> None:
    _, handler = counting_handler("s7")
    ingest_client.server.add_route(
        "s7", handler, auth=BEARER, content_types=("application/json", "text/*")
    )
    xml = await ingest_client.request(
        "s7", "<a/>", content_type="application/xml", headers=bearer()
    )
    assert xml.status == 415
    assert b"application/json" in xml.body
    assert (
        await ingest_client.request("s7", "x", content_type=None, headers=bearer())
    ).status == 415
    # a wildcard and parameters are fine (handler then finds the body malformed)
    text = await ingest_client.request(
        "s7", "x", content_type="text/plain; charset=utf-8", headers=bearer()
    )
    assert text.status == 400


async def test_oversized_body_by_content_length(ingest_client: IngestClient) -> None:
    events, handler = counting_handler("s8")
    ingest_client.server.add_route("s8", handler, auth=BEARER, max_body_bytes=100)
    big = b'{"count": 1, "pad": "' + b"x" * 200 + b'"}'
    resp = await ingest_client.request("s8", big, headers=bearer())
    assert resp.status == 413
    assert b"100 bytes" in resp.body
    assert events.events == []


async def test_oversized_chunked_body(ingest_client: IngestClient) -> None:
    events, handler = counting_handler("s9")
    ingest_client.server.add_route("s9", handler, auth=BEARER, max_body_bytes=1000)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"count": 1, "pad": "'
        for _ in range(20):
            yield b"y" * 100
        yield b'"}'

    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{ingest_client.url}/ingest/s9",
            data=chunks(),
            headers={**bearer(), "Content-Type": "application/json"},
        ) as resp,
    ):
        assert resp.request_info.headers.get("Transfer-Encoding") == "chunked"
        assert resp.status == 413
        assert "1000 bytes" in await resp.text()
    assert events.events == []


async def test_malformed_body_is_400_with_the_reason(ingest_client: IngestClient) -> None:
    _, handler = counting_handler("s10")
    ingest_client.server.add_route("s10", handler, auth=BEARER)
    not_json = await ingest_client.request("s10", "{nope", headers=bearer())
    assert not_json.status == 400
    assert b"not valid JSON" in not_json.body and b"s10" in not_json.body
    bad_field = await ingest_client.request("s10", '{"count": "x"}', headers=bearer())
    assert bad_field.status == 400
    assert b"'count' must be an integer" in bad_field.body


async def test_slow_body_is_408() -> None:
    async with running(HttpServerConfig(port=0, read_timeout_s=0.3)) as server:
        _, handler = counting_handler("slow")
        server.add_route("slow", handler, auth=BEARER)
        stop = asyncio.Event()

        async def trickle() -> AsyncIterator[bytes]:
            yield b'{"count":'
            await stop.wait()  # never sends the rest while the server waits

        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{server.url}/ingest/slow",
                data=trickle(),
                headers={**bearer(), "Content-Type": "application/json"},
            ) as resp,
        ):
            assert resp.status == 408
            stop.set()


# -- rate limit, unavailable source, bugs -----------------------------------------------


def test_token_bucket() -> None:
    bucket = TokenBucket(rate=2.0, burst=2, now=0.0)
    assert bucket.take(0.0) == 0.0
    assert bucket.take(0.0) == 0.0
    assert bucket.take(0.0) == pytest.approx(0.5)
    assert bucket.take(0.5) == 0.0  # one token refilled
    assert bucket.take(10.0) == 0.0  # never more than burst
    assert bucket.take(10.0) == 0.0
    assert bucket.take(10.0) > 0


async def test_rate_limit_429_with_retry_after() -> None:
    clock = FakeClock()
    async with running(HttpServerConfig(port=0), clock=clock) as server:
        events, handler = counting_handler("busy")
        server.add_route("busy", handler, auth=BEARER, rate_per_s=0.5, burst=2)
        async with aiohttp.ClientSession(headers=bearer()) as session:

            async def post() -> aiohttp.ClientResponse:
                async with session.post(f"{server.url}/ingest/busy", json={"count": 1}) as r:
                    await r.read()
                    return r

            assert (await post()).status == 204
            assert (await post()).status == 204
            limited = await post()
            assert limited.status == 429
            assert limited.headers["Retry-After"] == "2"
            # bad credentials take no tokens and are answered 403, not 429
            async with session.post(
                f"{server.url}/ingest/busy", json={"count": 1}, headers=bearer("bad")
            ) as r:
                assert r.status == 403
            clock.advance(2.0)
            assert (await post()).status == 204
        assert len(events.events) == 3
        assert server.health()["routes"]["busy"]["rejected"] == {"403": 1, "429": 1}


async def test_unavailable_source_503_and_bug_500(
    ingest_client: IngestClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def down(req: IngestRequest) -> None:
        raise DeviceUnavailable("bus closed")

    async def buggy(req: IngestRequest) -> None:
        raise KeyError(req.body.decode())  # a message that quotes the body

    ingest_client.server.add_route("down", down, auth=BEARER)
    ingest_client.server.add_route("buggy", buggy, auth=BEARER)
    resp = await ingest_client.request("down", "{}", headers=bearer())
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "5"
    with caplog.at_level(logging.DEBUG):
        bug = await ingest_client.request("buggy", f'"{MARKER}"', headers=bearer())
    assert bug.status == 500
    assert b"see the hub log" in bug.body
    assert "KeyError" in caplog.text
    assert MARKER not in caplog.text


async def test_slow_handler_is_503() -> None:
    async with running(HttpServerConfig(port=0, handler_timeout_s=0.2)) as server:

        async def stuck(req: IngestRequest) -> None:
            await asyncio.Event().wait()

        server.add_route("stuck", stuck, auth=HttpAuth(scheme="none"))
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{server.url}/ingest/stuck", json={}) as resp,
        ):
            assert resp.status == 503
            assert "busy" in await resp.text()


# -- isolation and privacy ---------------------------------------------------------------


async def test_bad_requests_to_one_source_do_not_disturb_another(
    ingest_client: IngestClient, caplog: pytest.LogCaptureFixture
) -> None:
    good_events, good = counting_handler("good")
    bad_events, bad = counting_handler("bad")
    server = ingest_client.server
    server.add_route("good", good, auth=BEARER)
    server.add_route("bad", bad, auth=BEARER, max_body_bytes=50, rate_per_s=0.001, burst=1)
    _, broken = counting_handler("broken")
    server.add_route("broken", broken, auth=BEARER)

    async def abuse(i: int) -> int:
        kinds = [
            ("bad", '{"count": 1}', {}),
            ("bad", '{"count": 1}', bearer("wrong")),
            ("bad", "x" * 100, bearer()),
            ("broken", "{broken", bearer()),
            ("bad", '{"count": 1}', bearer()),
        ]
        sid, body, headers = kinds[i % len(kinds)]
        return int(
            (
                await ingest_client.request(sid, body + f" {MARKER}" * (i == 3), headers=headers)
            ).status
        )

    async def legit(i: int) -> int:
        return int(
            (await ingest_client.request("good", f'{{"count": {i}}}', headers=bearer())).status
        )

    with caplog.at_level(logging.DEBUG):
        results = await asyncio.gather(
            *(abuse(i) for i in range(40)), *(legit(i) for i in range(40))
        )
    abuse_codes, legit_codes = results[:40], results[40:]
    assert legit_codes == [204] * 40
    assert sorted(e.measurement.count for e in good_events.events) == list(range(40))
    assert {401, 403, 413, 400, 429} <= set(abuse_codes)
    assert len(bad_events.events) == 1  # only the single burst token got through
    # privacy: neither client addresses nor bodies are logged
    assert "127.0.0.1" not in caplog.text
    assert MARKER not in caplog.text
    assert "answered 401" in caplog.text


async def test_protocol_errors_are_logged_without_the_client_address(
    ingest_client: IngestClient, caplog: pytest.LogCaptureFixture
) -> None:
    port = ingest_client.server.port
    with caplog.at_level(logging.DEBUG):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /ingest/x HTTP/1.1\r\nHost: h\r\nContent-Length: "
            + MARKER.encode()
            + b"\r\n\r\n"
        )
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        await writer.wait_closed()
    assert answer.split(b"\r\n")[0].endswith(b" 400 Bad Request")
    assert "client address not logged" in caplog.text
    assert "127.0.0.1" not in caplog.text
    assert MARKER not in caplog.text


# -- health and metrics ------------------------------------------------------------------


def status(source_state: str = "running", state: str = "running") -> dict[str, Any]:
    return {
        "state": state,
        "sources": {
            "gate-a": {
                "kind": "lidar",
                "state": source_state,
                "last_event_age_s": 1.5,
                "events_in": 10,
                "errors": 0,
            },
            "off": {
                "kind": "lidar",
                "state": "disabled",
                "last_event_age_s": None,
                "events_in": 0,
                "errors": 0,
            },
        },
        "sinks": {
            "out": {
                "kind": "mqtt",
                "state": "retrying",
                "events_out": 9,
                "dropped": {"rejected": 1},
            }
        },
    }


@pytest.mark.parametrize(
    ("snapshot", "code"),
    [
        (status(), 200),
        (status(source_state="retrying"), 503),
        (status(state="starting"), 503),
        (status(state="stopping"), 503),
    ],
)
async def test_healthz(ingest_client: IngestClient, snapshot: dict[str, Any], code: int) -> None:
    ingest_client.server.ctx.status = lambda: snapshot
    resp = await ingest_client.request("/healthz", method="GET", content_type=None)
    assert resp.status == code
    assert resp.headers["Content-Type"].startswith("application/json")
    assert resp.json() == snapshot


async def test_healthz_answers_when_status_fails(ingest_client: IngestClient) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("core broken")

    ingest_client.server.ctx.status = broken
    resp = await ingest_client.request("/healthz", method="GET", content_type=None)
    assert resp.status == 503
    assert resp.json()["state"] == "unknown"


async def test_metrics(ingest_client: IngestClient) -> None:
    registry = CollectorRegistry()
    events_in = Counter("hub_events_in", "events in", ["source"], registry=registry)
    events_in.labels("gate-a").inc(42)
    ingest_client.server.ctx.metrics_text = lambda: generate_latest(registry)
    resp = await ingest_client.request("/metrics", method="GET", content_type=None)
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert b'hub_events_in_total{source="gate-a"} 42.0' in resp.body


# -- lifecycle ---------------------------------------------------------------------------


async def test_busy_port_is_retried_until_free() -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    ctx = TransportContext(
        instance="t", kind="http", clock=SystemClock(), log=logging.getLogger("t.http")
    )
    server = HttpIngestServer(
        HttpServerConfig(port=port, bind_retry_initial_s=0.05, bind_retry_max_s=0.1), ctx
    )
    task = asyncio.create_task(server.run(), name="http-busy-port")
    try:
        async with asyncio.timeout(10):
            while server.health()["bind_error"] is None:
                await asyncio.sleep(0.01)
        assert not server.started.is_set()
        blocker.close()
        await asyncio.wait_for(server.started.wait(), 10)
        assert server.port == port
        assert server.health()["bind_error"] is None
    finally:
        blocker.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_burst_of_500s_is_one_log_line_with_a_count(
    ingest_client: IngestClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def buggy(req: IngestRequest) -> None:
        raise KeyError("boom")

    ingest_client.server.add_route("buggy", buggy, auth=BEARER)
    with caplog.at_level(logging.DEBUG):
        answers = [
            (await ingest_client.request("buggy", "{}", headers=bearer())).status for _ in range(50)
        ]
    assert answers == [500] * 50  # every request still gets its precise answer
    lines = [r for r in caplog.records if "a plugin bug" in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    route = ingest_client.server._routes["buggy"]  # the rest wait for the next report
    assert route.failures_unlogged == 49
