"""One MQTT connection as an asyncio protocol, and the buffers around it.

Private to :mod:`hub.core.transports.mqtt` (which documents the behaviour);
packets are built and parsed by :mod:`.mqtt_codec`.
"""

from __future__ import annotations

__all__ = ["Batch", "Connection", "Subscription", "consume"]

import asyncio
import contextlib
import socket
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Self, cast

from hub.errors import AuthenticationFailed, DeviceUnavailable, HubError, TransportError
from hub.transports import Message

from . import mqtt_codec as codec

if TYPE_CHECKING:
    from .mqtt import MqttTransport


class Subscription:
    """One ``subscribe()`` context: its filters and a bounded buffer, iterated by a source."""

    def __init__(self, owner: MqttTransport, filters: tuple[str, ...], qos: int, size: int):
        self.owner = owner
        self.filters = filters
        self.qos = qos
        self.size = size
        self.low = size // 2
        self.items: deque[Message] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.error: HubError | None = None

    def put(self, msg: Message) -> None:
        n = len(self.items)
        if n >= self.size:
            if msg.qos == 0 and n >= 4 * self.size:
                self.owner._drop(self)  # only while reading cannot pause (see _full)
                return
            self.owner._full()
        self.items.append(msg)
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    def fail(self, error: HubError) -> None:
        self.error = error
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Message:
        items = self.items
        while not items:
            if self.error is not None:
                raise self.error
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        msg = items.popleft()
        if self.owner._backlog and len(items) <= self.low:
            self.owner._maybe_resume()
        return msg


class Batch:
    """QoS 1/2 publishes of one call, waiting for their acknowledgements."""

    __slots__ = ("error", "future", "remaining")

    def __init__(self, n: int, future: asyncio.Future[None]) -> None:
        self.remaining = n
        self.future = future
        self.error: HubError | None = None

    def done_one(self, error: HubError | None = None) -> None:
        if error is not None and self.error is None:
            self.error = error
        self.remaining -= 1
        if self.remaining == 0 and not self.future.done():
            if self.error is not None:
                self.future.set_exception(self.error)
            else:
                self.future.set_result(None)


def consume(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()  # retrieved: no "exception was never retrieved" when nobody waits


class Connection(asyncio.Protocol):
    """One TCP (or TLS) connection to the broker."""

    def __init__(self, owner: MqttTransport) -> None:
        loop = asyncio.get_running_loop()
        self.owner = owner
        self.v5 = owner.config.protocol == "5"
        self.decoder = codec.StreamDecoder()
        self.transport: asyncio.Transport | None = None
        self.connack: asyncio.Future[tuple[bool, int, dict[int, Any]]] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self.closed = False
        self.close_reason = "the broker closed it"
        self.last_rx = self.last_tx = time.monotonic()
        self.max_inflight = owner.config.max_queued
        self.inflight: dict[int, Batch] = {}
        self.acks: dict[int, asyncio.Future[list[int]]] = {}
        self.qos2_in: set[int] = set()
        self.deferred: list[bytes] = []
        """PUBACK/PUBREC held back while a subscriber's buffer is full."""
        self.paused = False
        self.subscribed: dict[str, int] = {}
        self.filter_of_id: dict[int, str] = {}
        """MQTT 5 subscription identifier -> filter: routes overlapping subscriptions."""
        self.sub_ids = True
        self._next_sub_id = 0
        self.has_room = asyncio.Event()
        self.has_room.set()
        self.writable = asyncio.Event()
        self.writable.set()
        self._next_pid = 0
        self._out = bytearray()
        self._wbuf: list[bytes] = []
        self._loop = loop

    # -- asyncio.Protocol ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport.set_write_buffer_limits(high=self.owner.config.write_buffer_bytes)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if exc is not None and self.close_reason == "the broker closed it":
            self.close_reason = str(exc) or type(exc).__name__
        gone = DeviceUnavailable(f"{self.owner.label}: connection lost ({self.close_reason})")
        futures: list[asyncio.Future[Any]] = [self.connack, *self.acks.values()]
        for fut in futures:
            if not fut.done():
                fut.set_exception(gone)
                consume(fut)
        self.acks.clear()
        for batch in set(self.inflight.values()):
            if not batch.future.done():
                batch.future.set_exception(gone)
        self.inflight.clear()
        self.has_room.set()
        self.writable.set()
        if not self.lost.done():
            self.lost.set_result(None)

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def data_received(self, data: bytes) -> None:
        self.last_rx = time.monotonic()
        try:
            packets = self.decoder.feed(data)
            owner, v5, out = self.owner, self.v5, self._out
            for first, body in packets:
                if first >> 4 == codec.PUBLISH:
                    topic, payload, qos, pid, ids = codec.decode_publish(first, body, v5)
                    if qos == 0:
                        owner._deliver(Message(topic, payload, 0, bool(first & 1)), ids)
                    elif qos == 1:
                        owner._deliver(Message(topic, payload, 1, bool(first & 1)), ids)
                        ack = codec.pid_packet(codec.PUBACK, pid)
                        if owner._backlog:  # acknowledge once the buffer drains: the
                            self.deferred.append(ack)  # broker's in-flight window holds
                        else:  # the rest back
                            out += ack
                    else:
                        if pid not in self.qos2_in:  # else a resend: delivered already
                            self.qos2_in.add(pid)
                            owner._deliver(Message(topic, payload, 2, bool(first & 1)), ids)
                        ack = codec.pid_packet(codec.PUBREC, pid)
                        if owner._backlog:
                            self.deferred.append(ack)
                        else:
                            out += ack
                else:
                    self._control(first, body)
        except codec.ProtocolViolation as err:
            self.abort(f"protocol error from the broker: {err}")
            return
        if out:
            self.write(bytes(out))
            out.clear()

    def _control(self, first: int, body: bytes) -> None:
        kind = first >> 4
        if kind == codec.PUBACK or kind == codec.PUBCOMP:
            pid, reason = codec.decode_ack(body, self.v5)
            self._acked(pid, reason)
        elif kind == codec.PUBREC:
            pid, reason = codec.decode_ack(body, self.v5)
            if reason >= 0x80:
                self._acked(pid, reason)
            else:
                self._out += codec.pid_packet(codec.PUBREL, pid)
        elif kind == codec.PUBREL:
            pid, _ = codec.decode_ack(body, self.v5)
            self.qos2_in.discard(pid)
            self._out += codec.pid_packet(codec.PUBCOMP, pid)
        elif kind == codec.SUBACK or kind == codec.UNSUBACK:
            pid, codes = codec.decode_suback(body, self.v5)
            fut = self.acks.pop(pid, None)
            if fut is not None and not fut.done():
                fut.set_result(codes)
        elif kind == codec.CONNACK:
            if not self.connack.done():
                self.connack.set_result(codec.decode_connack(body, self.v5))
        elif kind == codec.DISCONNECT:
            code = body[0] if body else 0
            self.close_reason = f"broker disconnected us: {codec.reason_text(code)}"
        elif kind != codec.PINGRESP and kind != codec.AUTH:
            raise codec.ProtocolViolation(f"unexpected packet type {kind}")

    def _acked(self, pid: int, reason: int) -> None:
        batch = self.inflight.pop(pid, None)
        if batch is None:
            return
        error: HubError | None = None
        if reason >= 0x80:
            text = codec.reason_text(reason)
            error = (
                AuthenticationFailed(f"{self.owner.label}: broker refused a publish: {text}")
                if reason in codec.AUTH_REASONS
                else TransportError(f"{self.owner.label}: broker refused a publish: {text}")
            )
        batch.done_one(error)
        if len(self.inflight) < self.max_inflight:
            self.has_room.set()

    # -- used by the transport -----------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Queue bytes; everything written in one loop turn goes out in one send."""
        if self.transport is None or self.closed:
            return
        if not self._wbuf:
            self._loop.call_soon(self._flush)
        self._wbuf.append(data)

    def _flush(self) -> None:
        chunks, self._wbuf = self._wbuf, []
        if self.transport is not None and not self.closed and chunks:
            self.transport.write(b"".join(chunks) if len(chunks) > 1 else chunks[0])
            self.last_tx = time.monotonic()

    def next_pid(self) -> int:
        for _ in range(65_535):
            self._next_pid = self._next_pid % 65_535 + 1
            pid = self._next_pid
            if pid not in self.inflight and pid not in self.acks:
                return pid
        raise TransportError(f"{self.owner.label}: no free MQTT packet id")

    async def request(
        self, packets_for: Sequence[Callable[[int], bytes]], limit_s: float
    ) -> list[list[int]]:
        """Send SUBSCRIBE packets built by ``packet_for(pid)``; their reason codes."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[list[int]]] = []
        for packet_for in packets_for:
            pid = self.next_pid()
            futures.append(loop.create_future())
            self.acks[pid] = futures[-1]
            self.write(packet_for(pid))
        if self.paused:
            self.owner._must_read(self)
        try:
            async with asyncio.timeout(limit_s):
                return [await fut for fut in futures]
        except TimeoutError:
            self.abort("no SUBACK from the broker")
            raise DeviceUnavailable(f"{self.owner.label}: broker did not answer") from None

    def new_sub_id(self, topic_filter: str) -> int:
        self._next_sub_id += 1
        self.filter_of_id[self._next_sub_id] = topic_filter
        return self._next_sub_id

    def abort(self, reason: str) -> None:
        self.close_reason = reason
        if self.transport is not None:
            self.transport.abort()
