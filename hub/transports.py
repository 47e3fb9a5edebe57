"""The transport seam: what sources and sinks may ask of serial, MQTT and HTTP.

Sources never open ports or sockets themselves. They ask their context for a
shared transport and use the protocol below::

    mqtt = self.ctx.mqtt(self.config.broker)
    async with mqtt.subscribe(["paxout/+"], qos=1) as messages:
        async for msg in messages:
            ...

Real implementations live in ``hub.core.transports`` (one module per library:
pyserial, the MQTT client, aiohttp); fakes with the same protocols ship in
:mod:`hub.testing`. Library exceptions never cross this seam: a transport
raises :class:`~hub.errors.DeviceUnavailable` (retry later) or
:class:`~hub.errors.AuthenticationFailed`.
"""

from __future__ import annotations

__all__ = [
    "ByteStream",
    "HttpAuth",
    "HttpClient",
    "HttpIngest",
    "IngestHandler",
    "IngestRequest",
    "IngestResponse",
    "Message",
    "MessageTransport",
    "PollResponse",
    "SerialSettings",
    "SerialTransport",
    "topic_matches",
]

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from hub.errors import MalformedInput

# -- serial ------------------------------------------------------------------------------


class SerialSettings(BaseModel):
    """How to open a serial port. Embed it in a source config as ``serial = {...}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    port: str = Field(description="device path (/dev/ttyUSB0) or pyserial URL (socket://h:p)")
    baudrate: int = Field(default=115200, gt=0, description="bits per second")
    bytesize: Literal[5, 6, 7, 8] = Field(default=8, description="data bits")
    parity: Literal["N", "E", "O", "M", "S"] = Field(default="N", description="parity")
    stopbits: float = Field(default=1, description="stop bits: 1, 1.5 or 2")

    @field_validator("stopbits")
    @classmethod
    def _stopbits(cls, v: float) -> float:
        if v not in (1, 1.5, 2):
            raise ValueError("stop bits must be 1, 1.5 or 2")
        return v

    read_timeout_s: float = Field(
        default=5.0,
        gt=0,
        description="no byte for this long means the device is gone (reopen with backoff)",
    )


class ByteStream(Protocol):
    """An open serial port (or anything byte-oriented)."""

    async def read(self, max_bytes: int = 4096) -> bytes:
        """Return at least one byte. Raises DeviceUnavailable when the port is gone or silent."""
        ...

    async def write(self, data: bytes) -> None:
        """Send bytes to the device (e.g. a 'start scan' request)."""
        ...


@runtime_checkable
class SerialTransport(Protocol):
    """``ctx.serial()``: opens ports; one owner per port."""

    def open(self, settings: SerialSettings) -> AbstractAsyncContextManager[ByteStream]:
        """Open the port; raises DeviceUnavailable when it does not exist or cannot open."""
        ...


# -- MQTT --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Message:
    """One received MQTT message."""

    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False


@runtime_checkable
class MessageTransport(Protocol):
    """``ctx.mqtt(broker_id)``: one shared connection to one broker.

    **Acknowledgement contract** (QoS 1/2). A received message is acknowledged to
    the broker only after the consumer has *handled* it, and handling ends when
    the consumer asks the iterator for the next message (or leaves the
    ``subscribe()`` context normally). So the plain loop ::

        async with mqtt.subscribe(["paxout/+"], qos=1) as messages:
            async for msg in messages:
                for event in parse(msg.payload):
                    await self.ctx.emit(event)

    acknowledges each message only after every ``emit()`` for it returned; a
    message whose handling had not ended when the hub stopped or the process
    died is delivered again (at least once; the broker keeps it with a
    persistent session). Hence: emit everything a message yields *before*
    taking the next one; do not hand messages to another task and go on
    iterating (they would be acknowledged before they are kept); a malformed
    message that you count and skip is handled. Leaving the context with an
    exception (a crash, the cancel at shutdown) acknowledges nothing that was
    not handled: those messages are held for the restarted source and the
    subscription stays with the broker. QoS 0 messages are never acknowledged.
    """

    def subscribe(
        self, filters: Sequence[str], *, qos: int = 0, queue_size: int = 10_000
    ) -> AbstractAsyncContextManager[AsyncIterator[Message]]:
        """Subscribe to topic filters (wildcards, ``$share/<group>/...``) for as long as
        the context is open; iterate to receive the messages whose topic matches.
        Subscriptions survive reconnects (the transport resubscribes when the broker
        did not keep them). Acknowledgement: see the class docstring."""
        ...

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False
    ) -> None:
        """Publish one message. Raises DeviceUnavailable while disconnected."""
        ...

    async def publish_many(
        self, messages: Sequence[tuple[str, bytes]], *, qos: int = 0, retain: bool = False
    ) -> None:
        """Publish a batch; returns when all are sent (QoS 0) or acknowledged (QoS 1/2)."""
        ...


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT topic-filter matching: ``+`` one level, ``#`` the rest, ``$share/<group>/``
    stripped; topics starting with ``$`` never match a leading wildcard."""
    if topic_filter.startswith("$share/"):
        parts = topic_filter.split("/", 2)
        if len(parts) < 3:
            return False
        topic_filter = parts[2]
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    f_parts = topic_filter.split("/")
    t_parts = topic.split("/")
    for i, f in enumerate(f_parts):
        if f == "#":
            return True
        if i >= len(t_parts):
            return False
        if f != "+" and f != t_parts[i]:
            return False
    return len(f_parts) == len(t_parts)


# -- HTTP --------------------------------------------------------------------------------


class HttpAuth(BaseModel):
    """Per-source authentication of pushed requests. Secrets come from ``${ENV}`` references."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    scheme: Literal["none", "bearer", "token", "basic", "hmac"] = Field(
        default="bearer",
        description="none | bearer | token (`Authorization: Token <token>`, e.g. Django "
        "REST framework) | basic | hmac",
    )
    token: SecretStr | None = Field(default=None, description="bearer / token scheme token")
    username: str | None = Field(default=None, description="basic auth user")
    password: SecretStr | None = Field(default=None, description="basic auth password")
    hmac_secret: SecretStr | None = Field(default=None, description="HMAC key")
    hmac_header: str = Field(
        default="X-Hub-Signature-256", description="header carrying hex HMAC of the body"
    )
    hmac_algorithm: Literal["sha256", "sha1"] = "sha256"


@dataclass(frozen=True)
class IngestRequest:
    """A pushed HTTP request, already authenticated, size- and type-checked."""

    method: str
    path: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    content_type: str = ""

    def json(self) -> Any:
        """The body parsed as JSON; raises MalformedInput (answered 400) when it is not."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as err:
            raise MalformedInput(f"body is not valid JSON: {err}") from None
        except RecursionError:
            raise MalformedInput("body is JSON nested too deeply to read") from None

    def text(self) -> str:
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError as err:
            raise MalformedInput(f"body is not UTF-8: {err}") from None


@dataclass(frozen=True)
class IngestResponse:
    """What to answer. The default (None from the handler) is ``204 No Content``."""

    status: int = 204
    body: bytes | str = b""
    content_type: str = "text/plain"
    headers: Mapping[str, str] = field(default_factory=dict)


IngestHandler = Callable[[IngestRequest], Awaitable[IngestResponse | None]]
"""Called per request; emits events (awaiting ``ctx.emit``) and returns a response.
Raise MalformedInput for a 400 with its message."""


@runtime_checkable
class HttpIngest(Protocol):
    """``ctx.http_server(id)``: the hub's one HTTP server for pushes."""

    def add_route(
        self,
        source_id: str,
        handler: IngestHandler,
        *,
        auth: HttpAuth,
        content_types: Sequence[str] = ("application/json",),
        max_body_bytes: int = 1_048_576,
        rate_per_s: float | None = None,
        burst: int = 20,
        unauthenticated_get: bool = False,
    ) -> None:
        """Serve ``/ingest/<source_id>``. ``unauthenticated_get`` lets a vendor handshake
        (e.g. Meraki's validator GET) through without credentials."""
        ...

    def remove_route(self, source_id: str) -> None: ...


@dataclass(frozen=True)
class PollResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as err:
            raise MalformedInput(f"response is not valid JSON: {err}") from None


@runtime_checkable
class HttpClient(Protocol):
    """``ctx.http_client(id)``: polling devices that must be asked, and plain
    requests (the webhook output)."""

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
        """Send one request, return the whole response (any status). Raises
        DeviceUnavailable on timeouts and connection errors."""
        ...

    def poll(
        self,
        url: str,
        *,
        interval_s: float,
        timeout_s: float = 10.0,
        headers: Mapping[str, str] | None = None,
        auth: HttpAuth | None = None,
    ) -> AsyncIterator[PollResponse]:
        """Yield a response every ``interval_s`` when the resource changed (ETag /
        Last-Modified conditional requests; 304 is not yielded). Raises
        DeviceUnavailable after a timeout or connection error (the supervisor retries)."""
        ...
