"""The hub's one HTTP server: push ingest, ``/healthz`` and ``/metrics`` (aiohttp server side).

This is the only module that imports aiohttp's server side; request
authentication is in :mod:`.http_auth`, rate limiting in :mod:`.http_ratelimit`. Sources reach it
through :class:`hub.transports.HttpIngest` (``ctx.http_server(id)``) and add a
route ``/ingest/<source-id>``; routes live in a dict behind one aiohttp route, so
a source may add or remove its route while the server runs.

A pushed request is checked in this order; the first failing check answers:

===== ===================================================================
404   no source with that id accepts pushes
405   method not allowed (POST and PUT; GET only for ``unauthenticated_get``
      routes, i.e. vendor handshakes), with ``Allow``
401   credentials missing (with ``WWW-Authenticate``)
403   credentials wrong (bearer, token, basic; HMAC after the body is read).
      Secrets are compared in constant time
415   content type not accepted by the source
413   body over the source's limit: ``Content-Length`` first, then while reading
408   the body did not arrive within ``read_timeout_s``
429   over the source's token-bucket rate, with ``Retry-After``; only requests
      that passed authentication take tokens
400   the source's handler raised :class:`~hub.errors.MalformedInput`
503   the handler raised :class:`~hub.errors.DeviceUnavailable` or did not
      finish within ``handler_timeout_s`` (outputs behind), with ``Retry-After``
2xx   only after the handler returned, i.e. its events are on the bus
===== ===================================================================

Every answer carries a one-line plain-text reason naming the source and what to
do. Neither client addresses nor bodies are ever logged (aiohttp's access log is
off and its error log is redacted); rejections are logged once per source and
status per minute and counted in :meth:`HttpIngestServer.health`.

``GET /healthz`` answers the core's status snapshot as JSON, ``200`` when the
hub's state is ``running``, no source is ``retrying`` and every output's durable
queue can write (a full or read-only data dir: the hub takes no data), else
``503`` (a failing output whose queue keeps its events, and disabled sources, do
not make it unhealthy). ``GET /metrics`` answers the
core's Prometheus exposition (``text/plain; version=0.0.4``).
"""

from __future__ import annotations

__all__ = ["HttpIngestServer", "HttpServerConfig"]

import asyncio
import json
import logging
import math
import re
import time
import traceback
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from multidict import CIMultiDict
from pydantic import Field

import hub
from hub.core.backoff import Backoff
from hub.errors import AuthenticationFailed, DeviceUnavailable, MalformedInput, TransportError
from hub.plugin import Transport, TransportConfig, TransportContext
from hub.site import ID_PATTERN
from hub.transports import HttpAuth, IngestHandler, IngestRequest

from .http_auth import Reject, auth_problem, check_header_auth, check_hmac
from .http_ratelimit import TokenBucket

_ID_RE = re.compile(ID_PATTERN)
_BODY_METHODS = ("POST", "PUT")
_LOG_EVERY_S = 60.0
FAILURE_LOG_INTERVAL_S = 10.0
"""A handler that fails (HTTP 500) is logged once per this interval, with a count."""
_METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class HttpServerConfig(TransportConfig):
    """``[[transports.http]]``: where the hub listens for pushes, health and metrics."""

    host: str = Field(default="127.0.0.1", description="address to listen on (0.0.0.0: all)")
    port: int = Field(
        default=8080, ge=0, le=65535, description="TCP port; 0 picks a free port (tests)"
    )
    max_body_bytes: int = Field(
        default=1_048_576, gt=0, description="body limit for routes that do not set their own"
    )
    read_timeout_s: float = Field(
        default=30.0, gt=0, description="a request body must arrive within this (else 408)"
    )
    handler_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="a source must take a request's events within this (else 503)",
    )
    keepalive_timeout_s: float = Field(
        default=75.0, gt=0, description="idle keep-alive connections are closed after this"
    )
    shutdown_timeout_s: float = Field(
        default=5.0, gt=0, description="requests in flight get this long at shutdown"
    )
    unavailable_retry_after_s: int = Field(
        default=5, ge=1, description="Retry-After sent with 503 answers (s)"
    )
    bind_retry_initial_s: float = Field(
        default=1.0, gt=0, description="first retry delay when the port cannot be bound (s)"
    )
    bind_retry_max_s: float = Field(
        default=30.0, gt=0, description="longest retry delay when the port cannot be bound (s)"
    )


@dataclass
class _Route:
    source_id: str
    handler: IngestHandler
    auth: HttpAuth
    content_types: tuple[str, ...]
    max_body_bytes: int
    bucket: TokenBucket | None
    unauthenticated_get: bool
    accepted: int = 0
    rejected: Counter[int] = field(default_factory=Counter)
    failures_logged_at: float = -1e9
    failures_unlogged: int = 0


class _RedactPeer(logging.Filter):
    """aiohttp logs ``Error handling request from <client address>`` with the parser error,
    which may quote request bytes. Keep the event, drop the address and the details."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "from %s" in str(record.msg):
            exc = record.exc_info[1] if record.exc_info else None
            what = type(exc).__name__ if exc is not None else "error"
            record.msg = "HTTP server: bad request (%s); client address not logged"
            record.args = (what,)
            record.exc_info = None
            record.exc_text = None
            record.levelno = min(record.levelno, logging.WARNING)  # clients' fault, not ours
            record.levelname = logging.getLevelName(record.levelno)
        return True


def _content_type_ok(given: str, accepted: Sequence[str]) -> bool:
    main = given.split("/", 1)[0]
    return any(a in (given, "*/*", f"{main}/*") for a in accepted)


class HttpIngestServer(Transport[HttpServerConfig]):
    """``kind = "http"``: the push-ingest server (implements :class:`hub.transports.HttpIngest`).

    ``port`` holds the bound port once ``started`` is set (useful with ``port = 0``).
    """

    kind = "http"
    config_model = HttpServerConfig
    description = "HTTP server for pushed data (/ingest/<source-id>), /healthz and /metrics"

    def __init__(self, config: HttpServerConfig, ctx: TransportContext) -> None:
        super().__init__(config, ctx)
        self._routes: dict[str, _Route] = {}
        self._unknown = 0
        self._logged: dict[tuple[str, int], tuple[float, int]] = {}
        self.port: int | None = None
        self.started = asyncio.Event()
        self._bind_error: str | None = None
        self._server_log = ctx.log.getChild("server")
        self._server_log.addFilter(_RedactPeer())
        self.extensions: list[Callable[[web.Application], None]] = []
        """Called with the application before it is set up: more routes on the same server
        (the dashboard, :mod:`hub.core.dashboard_wiring`)."""

    # -- HttpIngest ------------------------------------------------------------------
    def add_route(
        self,
        source_id: str,
        handler: IngestHandler,
        *,
        auth: HttpAuth,
        content_types: Sequence[str] = ("application/json",),
        max_body_bytes: int | None = None,
        rate_per_s: float | None = None,
        burst: int = 20,
        unauthenticated_get: bool = False,
    ) -> None:
        """Serve ``/ingest/<source_id>``; replaces an earlier route of the same source.

        ``max_body_bytes=None`` uses the server's ``max_body_bytes``.
        """
        where = f"http[{self.config.id}] route for source {source_id!r}"
        if not _ID_RE.match(source_id):
            raise TransportError(f"{where}: not a valid source id for a URL path")
        problem = auth_problem(auth)
        if problem:
            raise TransportError(f"{where}: {problem}; set it in the source's auth table")
        if rate_per_s is not None and (rate_per_s <= 0 or burst < 1):
            raise TransportError(f"{where}: rate_per_s must be > 0 and burst >= 1")
        limit = self.config.max_body_bytes if max_body_bytes is None else max_body_bytes
        if limit <= 0:
            raise TransportError(f"{where}: max_body_bytes must be > 0")
        bucket = (
            None
            if rate_per_s is None
            else TokenBucket(rate_per_s, burst, self.ctx.clock.monotonic())
        )
        self._routes[source_id] = _Route(
            source_id=source_id,
            handler=handler,
            auth=auth,
            content_types=tuple(c.strip().lower() for c in content_types),
            max_body_bytes=limit,
            bucket=bucket,
            unauthenticated_get=unauthenticated_get,
        )

    def remove_route(self, source_id: str) -> None:
        self._routes.pop(source_id, None)

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server (for tests and logs)."""
        host = self.config.host if self.config.host not in ("0.0.0.0", "::") else "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    # -- lifecycle -------------------------------------------------------------------
    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/ingest/{source_id}", self._ingest)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        for extend in self.extensions:
            extend(app)
        return app

    async def run(self) -> None:
        """Listen until cancelled; a port that cannot be bound is retried with backoff."""
        runner = web.AppRunner(
            self._app(),
            access_log=None,
            logger=self._server_log,
            keepalive_timeout=self.config.keepalive_timeout_s,
            shutdown_timeout=self.config.shutdown_timeout_s,
        )
        await runner.setup()
        try:
            await self._bind(runner)
            await asyncio.get_running_loop().create_future()  # until cancelled
        finally:
            self.started.clear()
            self.port = None
            await runner.cleanup()

    async def _bind(self, runner: web.AppRunner) -> None:
        cfg = self.config
        retry = Backoff(initial_s=cfg.bind_retry_initial_s, max_s=cfg.bind_retry_max_s)
        while True:
            site = web.TCPSite(runner, cfg.host, cfg.port)
            try:
                await site.start()
            except OSError as err:
                reason = f"cannot listen on {cfg.host}:{cfg.port} ({err.strerror or err})"
                if self._bind_error is None:
                    self.ctx.log.error(
                        "http[%s]: %s; retrying. Free the port or change "
                        "[[transports.http]] host/port",
                        cfg.id,
                        reason,
                    )
                self._bind_error = reason
                await self.ctx.clock.sleep(retry.next_delay())
                continue
            break
        if self._bind_error is not None:
            self.ctx.log.info("http[%s]: listening on %s:%s again", cfg.id, cfg.host, cfg.port)
        self._bind_error = None
        addr = runner.addresses[0]
        self.port = int(addr[1])
        self.started.set()

    def health(self) -> Mapping[str, Any]:
        return {
            "listening": self.started.is_set(),
            "port": self.port,
            "bind_error": self._bind_error,
            "unknown_source_requests": self._unknown,
            "routes": {
                sid: {
                    "accepted": r.accepted,
                    "rejected": {str(k): v for k, v in sorted(r.rejected.items())},
                }
                for sid, r in sorted(self._routes.items())
            },
        }

    # -- handlers --------------------------------------------------------------------
    def _answer(self, route: _Route | None, rej: Reject) -> web.Response:
        key = (route.source_id if route else "", rej.status)
        now = time.monotonic()
        last, suppressed = self._logged.get(key, (-1e9, 0))
        if now - last >= _LOG_EVERY_S:
            more = f" (+{suppressed} more like it)" if suppressed else ""
            self.ctx.log.warning(
                "http[%s]: answered %d: %s%s", self.config.id, rej.status, rej.reason, more
            )
            self._logged[key] = (now, 0)
        else:
            self._logged[key] = (last, suppressed + 1)
        if route is not None:
            route.rejected[rej.status] += 1
        return web.Response(status=rej.status, text=rej.reason + "\n", headers=rej.headers)

    async def _ingest(self, request: web.Request) -> web.StreamResponse:
        source_id = request.match_info["source_id"]
        route = self._routes.get(source_id)
        if route is None:
            self._unknown += 1
            shown = repr(source_id) if _ID_RE.match(source_id) else "(invalid id)"
            why = f"no source {shown} accepts pushes here; check the URL /ingest/<source-id>"
            return self._answer(None, Reject(404, why + " against the hub configuration"))
        try:
            req = await self._checked_request(route, request)
            return await self._call(route, req)
        except Reject as rej:
            return self._answer(route, rej)

    async def _checked_request(self, route: _Route, request: web.Request) -> IngestRequest:
        sid = route.source_id
        method = request.method
        handshake = method == "GET" and route.unauthenticated_get
        if method not in _BODY_METHODS and not handshake:
            allow = "GET, POST, PUT" if route.unauthenticated_get else "POST, PUT"
            raise Reject(
                405, f"source {sid!r} accepts {allow}, not {method[:10]}", {"Allow": allow}
            )
        if not handshake:
            check_header_auth(route.auth, sid, request.headers)
        ctype = request.content_type.lower() if request.headers.get("Content-Type") else ""
        if method in _BODY_METHODS:
            if not ctype or not _content_type_ok(ctype, route.content_types):
                raise Reject(
                    415,
                    f"source {sid!r} accepts Content-Type "
                    f"{', '.join(route.content_types)}, not {ctype[:60] or 'none'}",
                )
            length = request.content_length
            if length is not None and length > route.max_body_bytes:
                raise Reject(
                    413,
                    f"source {sid!r} accepts bodies up to "
                    f"{route.max_body_bytes} bytes, this one declares {length}",
                )
        body = await self._read_body(route, request)
        if not handshake and route.auth.scheme == "hmac":
            check_hmac(route.auth, sid, request.headers, body)
        if route.bucket is not None:
            wait = route.bucket.take(self.ctx.clock.monotonic())
            if wait > 0:
                secs = max(1, math.ceil(wait))
                raise Reject(
                    429,
                    f"source {sid!r} is over its rate of "
                    f"{route.bucket.rate:g} requests/s; retry after {secs} s",
                    {"Retry-After": str(secs)},
                )
        return IngestRequest(
            method=method,
            path=request.path,
            headers=CIMultiDict(request.headers),  # case-insensitive lookups
            query=dict(request.query),
            body=body,
            content_type=ctype,
        )

    async def _read_body(self, route: _Route, request: web.Request) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.config.read_timeout_s):
                while chunk := await request.content.readany():
                    size += len(chunk)
                    if size > route.max_body_bytes:
                        raise Reject(
                            413,
                            f"source {route.source_id!r} accepts bodies up "
                            f"to {route.max_body_bytes} bytes; this one is larger",
                        )
                    chunks.append(chunk)
        except TimeoutError:
            raise Reject(
                408,
                f"source {route.source_id!r}: the body did not arrive within "
                f"{self.config.read_timeout_s:g} s",
            ) from None
        except (web.RequestPayloadError, ConnectionError) as err:
            raise Reject(
                400,
                f"source {route.source_id!r}: the body could not be read ({type(err).__name__})",
            ) from None
        return b"".join(chunks)

    async def _call(self, route: _Route, req: IngestRequest) -> web.StreamResponse:
        sid = route.source_id
        retry = {"Retry-After": str(self.config.unavailable_retry_after_s)}
        try:
            async with asyncio.timeout(self.config.handler_timeout_s):
                resp = await route.handler(req)
        except MalformedInput as err:
            raise Reject(400, f"source {sid!r}: {err}") from None
        except AuthenticationFailed as err:
            raise Reject(403, f"source {sid!r}: {err}") from None
        except DeviceUnavailable as err:
            raise Reject(
                503, f"source {sid!r} cannot take data now ({err}); retry later", retry
            ) from None
        except TimeoutError:
            raise Reject(
                503, f"source {sid!r} is busy (outputs are behind); retry later", retry
            ) from None
        except Exception as err:
            tb = traceback.extract_tb(err.__traceback__)[-3:]
            where = "; ".join(f"{f.filename}:{f.lineno} in {f.name}" for f in tb)
            # type and frames only: the message may quote the body
            now = time.monotonic()
            if now - route.failures_logged_at >= FAILURE_LOG_INTERVAL_S:
                more = route.failures_unlogged
                msg = "http[%s]: handler of source %r raised %s at %s (a plugin bug)%s"
                extra = f" (+{more} more failure(s) since the last report)" if more else ""
                self.ctx.log.error(msg, self.config.id, sid, type(err).__name__, where, extra)
                route.failures_logged_at, route.failures_unlogged = now, 0
            else:  # a burst (e.g. crafted requests): one line per interval, with a count
                route.failures_unlogged += 1
            raise Reject(500, f"source {sid!r} failed on this request; see the hub log") from None
        if resp is not None and resp.status >= 400:
            route.rejected[resp.status] += 1  # the source refused it (e.g. 403, 422)
        else:
            route.accepted += 1
        if resp is None:
            return web.Response(status=204)
        body = resp.body.encode("utf-8") if isinstance(resp.body, str) else resp.body
        headers = {"Content-Type": resp.content_type, **resp.headers}
        return web.Response(
            status=resp.status, body=body if resp.status != 204 else None, headers=headers
        )

    async def _healthz(self, request: web.Request) -> web.Response:
        try:
            status = dict(self.ctx.status())
        except Exception as err:  # the endpoint must answer even when the core is broken
            status = {"state": "unknown", "error": type(err).__name__}
        healthy = (
            status.get("state") == "running"
            and not any(
                isinstance(s, Mapping) and s.get("state") == "retrying"
                for s in (status.get("sources") or {}).values()
            )
            and not any(
                isinstance(s, Mapping) and s.get("queue_error")
                for s in (status.get("sinks") or {}).values()
            )
        )
        return web.Response(
            status=200 if healthy else 503,
            text=json.dumps(status, default=str, sort_keys=True),
            content_type="application/json",
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self.ctx.metrics_text(), headers={"Content-Type": _METRICS_CONTENT_TYPE}
        )


@hub.hookimpl
def register_transports(register: Callable[[type[Transport[Any]]], None]) -> None:
    """Register the ``http`` server transport."""
    register(HttpIngestServer)
