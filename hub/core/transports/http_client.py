"""Outgoing HTTP: polling devices and the webhook sink's requests (aiohttp client side).

This is the only module that imports aiohttp's client side. One
``aiohttp.ClientSession`` per transport instance is opened lazily (or by
``run()``) and closed when ``run()`` is cancelled or :meth:`aclose` is called.

Sources poll through :class:`hub.transports.HttpClient`
(``ctx.http_client(id)``); sinks send with :meth:`HttpClientTransport.request`.
Library errors never cross this module: timeouts and connection errors become
:class:`~hub.errors.DeviceUnavailable`; in :meth:`~HttpClientTransport.poll`,
401/403 become :class:`~hub.errors.AuthenticationFailed` and other 4xx/5xx
DeviceUnavailable naming the status. Backoff between failed polls is the
supervisor's: it calls the source's ``run()`` again with jittered backoff.
"""

from __future__ import annotations

__all__ = ["HttpClientConfig", "HttpClientTransport", "auth_headers"]

import asyncio
import base64
import hashlib
import hmac
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from types import TracebackType
from typing import Any

import aiohttp
from multidict import CIMultiDict
from pydantic import Field
from yarl import URL

import hub
from hub.errors import AuthenticationFailed, DeviceUnavailable, TransportError
from hub.plugin import Transport, TransportConfig, TransportContext
from hub.transports import HttpAuth, PollResponse


class HttpClientConfig(TransportConfig):
    """``[[transports.http_client]]``: settings shared by every outgoing request."""

    connect_timeout_s: float = Field(
        default=10.0, gt=0, description="give up connecting after this (s)"
    )
    max_connections: int = Field(
        default=20, ge=1, description="open connections at most (all hosts together)"
    )
    max_response_bytes: int = Field(
        default=10_485_760, gt=0, description="a larger response is treated as an error"
    )
    verify_tls: bool = Field(
        default=True, description="check server certificates (never turn off in production)"
    )
    ca_file: str | None = Field(
        default=None, description="PEM file of extra CAs to trust (self-signed devices)"
    )
    user_agent: str = Field(
        default=f"crowdhub/{hub.__version__}", description="User-Agent header sent"
    )


def auth_headers(auth: HttpAuth | None, body: bytes = b"") -> dict[str, str]:
    """The headers that authenticate a request: bearer, basic, or an HMAC hex signature
    of ``body`` in ``auth.hmac_header``. Raises TransportError when a secret is missing."""
    if auth is None or auth.scheme == "none":
        return {}
    if auth.scheme in ("bearer", "token"):
        if not auth.token:
            raise TransportError(f"http auth scheme '{auth.scheme}' needs a token")
        prefix = "Bearer" if auth.scheme == "bearer" else "Token"
        return {"Authorization": f"{prefix} {auth.token.get_secret_value()}"}
    if auth.scheme == "basic":
        if auth.username is None or auth.password is None:
            raise TransportError("http auth scheme 'basic' needs username and password")
        raw = f"{auth.username}:{auth.password.get_secret_value()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}
    if not auth.hmac_secret:
        raise TransportError("http auth scheme 'hmac' needs hmac_secret")
    key = auth.hmac_secret.get_secret_value().encode("utf-8")
    digest = hmac.new(key, body, getattr(hashlib, auth.hmac_algorithm)).hexdigest()
    return {auth.hmac_header: digest}


def _where(method: str, url: str) -> str:
    """``GET http://host:port/path``: no credentials, no query (it may hold tokens)."""
    try:
        u = URL(url)
        return f"{method} {u.scheme}://{u.host}{'' if u.port is None else f':{u.port}'}{u.path}"
    except (ValueError, TypeError):
        return f"{method} (invalid URL)"


class HttpClientTransport(Transport[HttpClientConfig]):
    """``kind = "http_client"``: the hub's shared HTTP client (implements
    :class:`hub.transports.HttpClient`, plus :meth:`request` for sinks)."""

    kind = "http_client"
    config_model = HttpClientConfig
    description = "outgoing HTTP: polling devices, webhook sinks"

    def __init__(self, config: HttpClientConfig, ctx: TransportContext) -> None:
        super().__init__(config, ctx)
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self.requests = 0
        self.failures = 0

    # -- lifecycle -------------------------------------------------------------------
    async def run(self) -> None:
        """Hold the session open until cancelled, then close it."""
        self._closed = False
        self._get_session()
        try:
            await asyncio.get_running_loop().create_future()
        finally:
            await self.aclose()

    async def __aenter__(self) -> HttpClientTransport:
        self._closed = False
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the session; later requests raise DeviceUnavailable until ``run()``."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise DeviceUnavailable(f"http_client[{self.config.id}] is shut down; no more requests")
        if self._session is None or self._session.closed:
            cfg = self.config
            ssl_ctx: ssl.SSLContext | bool = True
            if not cfg.verify_tls:
                ssl_ctx = False
            elif cfg.ca_file:
                try:
                    ssl_ctx = ssl.create_default_context(cafile=cfg.ca_file)
                except (OSError, ssl.SSLError) as err:
                    raise TransportError(
                        f"http_client[{cfg.id}].ca_file: cannot load {cfg.ca_file}: {err}"
                    ) from err
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=cfg.max_connections, ssl=ssl_ctx),
                headers={"User-Agent": cfg.user_agent},
                auto_decompress=True,
            )
        return self._session

    def health(self) -> Mapping[str, Any]:
        return {
            "open": self._session is not None and not self._session.closed,
            "requests": self.requests,
            "failures": self.failures,
        }

    # -- requests --------------------------------------------------------------------
    async def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        auth: HttpAuth | None = None,
        allow_redirects: bool = True,
    ) -> PollResponse:
        """Send one request and read the whole response (any status).

        Raises DeviceUnavailable on timeouts, connection errors and oversized responses.
        """
        where = _where(method, url)
        hdrs = {**(headers or {}), **auth_headers(auth, body)}
        timeout = aiohttp.ClientTimeout(
            total=timeout_s, connect=min(timeout_s, self.config.connect_timeout_s)
        )
        session = self._get_session()
        self.requests += 1
        try:
            async with session.request(
                method,
                url,
                data=body or None,
                headers=hdrs,
                timeout=timeout,
                allow_redirects=allow_redirects,
            ) as resp:
                data = await self._read(resp, where)
                return PollResponse(resp.status, CIMultiDict(resp.headers), data)
        except TimeoutError:
            self.failures += 1
            raise DeviceUnavailable(f"{where}: no answer within {timeout_s:g} s") from None
        except aiohttp.InvalidURL as err:
            raise TransportError(f"{where}: invalid URL") from err
        except aiohttp.ClientError as err:
            self.failures += 1
            raise DeviceUnavailable(f"{where}: {type(err).__name__}: {err}") from err

    async def _read(self, resp: aiohttp.ClientResponse, where: str) -> bytes:
        limit = self.config.max_response_bytes
        chunks: list[bytes] = []
        size = 0
        while chunk := await resp.content.readany():
            size += len(chunk)
            if size > limit:
                raise DeviceUnavailable(
                    f"{where}: response larger than {limit} bytes (max_response_bytes)"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    async def poll(
        self,
        url: str,
        *,
        interval_s: float,
        timeout_s: float = 10.0,
        headers: Mapping[str, str] | None = None,
        auth: HttpAuth | None = None,
    ) -> AsyncIterator[PollResponse]:
        """GET ``url`` every ``interval_s`` (start to start); yield 2xx responses.

        Sends ``If-None-Match``/``If-Modified-Since`` from the last ETag/Last-Modified;
        a 304 yields nothing. Raises AuthenticationFailed on 401/403 and
        DeviceUnavailable on other errors.
        """
        if interval_s <= 0:
            raise TransportError(f"{_where('GET', url)}: interval_s must be > 0")
        clock = self.ctx.clock
        etag: str | None = None
        modified: str | None = None
        next_at = clock.monotonic()
        while True:
            hdrs = dict(headers or {})
            if etag:
                hdrs["If-None-Match"] = etag
            if modified:
                hdrs["If-Modified-Since"] = modified
            resp = await self.request("GET", url, headers=hdrs, timeout_s=timeout_s, auth=auth)
            status = resp.status
            if status in (401, 403):
                raise AuthenticationFailed(
                    f"{_where('GET', url)}: answered {status}; check the configured credentials"
                )
            if status != 304:
                if not 200 <= status < 300:
                    raise DeviceUnavailable(f"{_where('GET', url)}: answered HTTP {status}")
                etag = resp.headers.get("ETag") or None
                modified = resp.headers.get("Last-Modified") or None
                yield resp
            next_at += interval_s
            now = clock.monotonic()
            if next_at < now:  # we fell behind (slow device or consumer): skip, don't burst
                next_at = now
            await clock.sleep(next_at - now)


@hub.hookimpl
def register_transports(register: Callable[[type[Transport[Any]]], None]) -> None:
    """Register the ``http_client`` transport."""
    register(HttpClientTransport)
