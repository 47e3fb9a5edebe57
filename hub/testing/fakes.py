"""Fake transports with the same protocols as the real ones (:mod:`hub.transports`).

Use them to run a source in a unit test without a device, broker or server::

    mqtt = FakeMessageTransport()
    ctx = source_context("wifi_counter", transports=fake_transports(mqtt=mqtt))
    ... start the source in a task ...
    await mqtt.inject("paxout/1", b"BwADAA==")

Real-peer fixtures (Mosquitto, pseudo-terminals, an HTTP client) live in
:mod:`hub.testing.pytest_plugin`; prefer them for transport-level tests.
"""

from __future__ import annotations

__all__ = [
    "FakeHttpIngest",
    "FakeMessageTransport",
    "FakeSerialTransport",
    "fake_transports",
    "topic_matches",
]

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from hub.clock import SystemClock
from hub.errors import DeviceUnavailable, MalformedInput, TransportError
from hub.plugin import Transport, TransportConfig, TransportContext
from hub.transports import (
    ByteStream,
    HttpAuth,
    IngestHandler,
    IngestRequest,
    IngestResponse,
    Message,
    SerialSettings,
    topic_matches,
)


def _ctx(kind: str) -> TransportContext:
    return TransportContext(
        instance="fake", kind=kind, clock=SystemClock(), log=logging.getLogger(f"fake.{kind}")
    )


class FakeMessageTransport(Transport[TransportConfig]):
    """An in-memory MQTT transport: ``inject`` delivers to matching subscribers,
    ``published`` records what sinks/sources published."""

    kind = "mqtt"
    config_model = TransportConfig

    def __init__(self) -> None:
        super().__init__(TransportConfig(), _ctx("mqtt"))
        self._subs: list[tuple[tuple[str, ...], asyncio.Queue[Message | None]]] = []
        self.published: list[Message] = []
        self.connected = True
        self.subscribed = asyncio.Event()

    async def run(self) -> None:
        await asyncio.Event().wait()

    @asynccontextmanager
    async def _subscription(
        self, filters: Sequence[str], qos: int, queue_size: int
    ) -> AsyncIterator[AsyncIterator[Message]]:
        queue: asyncio.Queue[Message | None] = asyncio.Queue(queue_size)
        entry = (tuple(filters), queue)
        self._subs.append(entry)
        self.subscribed.set()

        async def messages() -> AsyncIterator[Message]:
            while True:
                msg = await queue.get()
                if msg is None:
                    raise DeviceUnavailable("fake broker disconnected")
                yield msg

        try:
            yield messages()
        finally:
            self._subs.remove(entry)

    def subscribe(self, filters: Sequence[str], *, qos: int = 0, queue_size: int = 10_000) -> Any:
        return self._subscription(filters, qos, queue_size)

    async def inject(
        self, topic: str, payload: bytes | str, *, qos: int = 0, retain: bool = False
    ) -> int:
        """Deliver a message to every matching subscriber; returns how many got it."""
        data = payload.encode() if isinstance(payload, str) else payload
        n = 0
        for filters, queue in list(self._subs):
            if any(topic_matches(f, topic) for f in filters):
                await queue.put(Message(topic, data, qos, retain))
                n += 1
        return n

    async def disconnect(self) -> None:
        """Make every open subscription raise DeviceUnavailable (a dropped broker)."""
        for _, queue in list(self._subs):
            await queue.put(None)

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False
    ) -> None:
        if not self.connected:
            raise DeviceUnavailable("fake broker disconnected")
        self.published.append(Message(topic, payload, qos, retain))

    async def publish_many(
        self, messages: Sequence[tuple[str, bytes]], *, qos: int = 0, retain: bool = False
    ) -> None:
        for topic, payload in messages:
            await self.publish(topic, payload, qos=qos, retain=retain)


class _FakePort:
    def __init__(self, owner: FakeSerialTransport, settings: SerialSettings) -> None:
        self._owner = owner
        self._settings = settings

    async def read(self, max_bytes: int = 4096) -> bytes:
        owner = self._owner
        if not owner._pending:
            item = await owner._incoming.get()
            if item is None:
                raise DeviceUnavailable(f"serial port {self._settings.port}: device unplugged")
            owner._pending = item
        data, owner._pending = owner._pending[:max_bytes], owner._pending[max_bytes:]
        return data

    async def write(self, data: bytes) -> None:
        self._owner.written.append(bytes(data))
        self._owner.wrote.set()


class FakeSerialTransport(Transport[TransportConfig]):
    """An in-memory serial transport: ``feed`` bytes in, ``written`` holds commands out,
    ``unplug`` makes the open port fail like a pulled USB cable."""

    kind = "serial"
    config_model = TransportConfig

    def __init__(self) -> None:
        super().__init__(TransportConfig(), _ctx("serial"))
        self._incoming: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._pending = b""  # the rest of a chunk longer than one read
        self.written: list[bytes] = []
        self.wrote = asyncio.Event()
        self.opened = asyncio.Event()
        self.present = True

    async def run(self) -> None:
        await asyncio.Event().wait()

    @asynccontextmanager
    async def _open(self, settings: SerialSettings) -> AsyncIterator[ByteStream]:
        if not self.present:
            raise DeviceUnavailable(f"serial port {settings.port}: no such device")
        self.opened.set()
        yield _FakePort(self, settings)

    def open(self, settings: SerialSettings) -> Any:
        return self._open(settings)

    def feed(self, data: bytes) -> None:
        self._incoming.put_nowait(bytes(data))

    def unplug(self) -> None:
        self.present = False
        self._incoming.put_nowait(None)

    def replug(self) -> None:
        self.present = True


class FakeHttpIngest(Transport[TransportConfig]):
    """In-memory push ingest: ``request()`` calls the registered handler like the server
    would (content type and size checked; authentication is *not* checked here: the real
    server's tests cover it)."""

    kind = "http"
    config_model = TransportConfig

    def __init__(self) -> None:
        super().__init__(TransportConfig(), _ctx("http"))
        self.routes: dict[str, tuple[IngestHandler, dict[str, Any]]] = {}
        self.route_added = asyncio.Event()

    async def run(self) -> None:
        await asyncio.Event().wait()

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
        self.routes[source_id] = (
            handler,
            {"auth": auth, "content_types": tuple(content_types), "max_body_bytes": max_body_bytes},
        )
        self.route_added.set()

    def remove_route(self, source_id: str) -> None:
        self.routes.pop(source_id, None)

    async def request(
        self,
        source_id: str,
        body: bytes | str = b"",
        *,
        method: str = "POST",
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> IngestResponse:
        if source_id not in self.routes:
            return IngestResponse(404, f"unknown source {source_id!r}")
        handler, opts = self.routes[source_id]
        data = body.encode() if isinstance(body, str) else body
        if len(data) > opts["max_body_bytes"]:
            return IngestResponse(413, "body too large")
        base_type = content_type.split(";")[0].strip().lower()
        if method == "POST" and base_type not in opts["content_types"]:
            return IngestResponse(415, f"content type {base_type!r} not accepted")
        req = IngestRequest(
            method=method,
            path=f"/ingest/{source_id}",
            headers=dict(headers or {}),
            query=dict(query or {}),
            body=data,
            content_type=base_type,
        )
        try:
            resp = await handler(req)
        except MalformedInput as err:
            return IngestResponse(400, str(err))
        return resp or IngestResponse(204)


def fake_transports(
    **by_kind: Transport[Any] | Mapping[str, Transport[Any]],
) -> Callable[[str, str | None], Transport[Any]]:
    """A ``transports`` lookup for :func:`hub.testing.source_context`.

    ``fake_transports(mqtt=FakeMessageTransport())`` serves every broker id from one fake;
    pass a mapping ``{"local": fake}`` to serve named instances only.
    """

    def lookup(kind: str, instance: str | None) -> Transport[Any]:
        entry = by_kind.get(kind)
        if entry is None:
            raise TransportError(f"no fake transport of kind {kind!r}")
        if isinstance(entry, Transport):
            return entry
        key = instance or "default"
        if key not in entry:
            raise TransportError(f"no fake {kind} transport {key!r}")
        return entry[key]

    return lookup
