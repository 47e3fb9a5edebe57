"""One MQTT connection as an asyncio protocol, and the acknowledgement bookkeeping.

Private to :mod:`.client` (which documents the behaviour); packets are built and
parsed by :mod:`.codec`. Received messages go to a :class:`Receiver` (the
transport's :class:`.routing.Router`); the connection knows nothing else of it.
"""

from __future__ import annotations

__all__ = ["Batch", "Connection", "Receiver", "consume"]

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast

from hub.errors import AuthenticationFailed, DeviceUnavailable, HubError, TransportError
from hub.transports import Message

from . import codec


class Receiver(Protocol):
    """Where a connection delivers received PUBLISH messages."""

    backlogged: bool
    """True while a subscriber's buffer is full: QoS 1/2 acknowledgements are held back."""

    def deliver(self, msg: Message, ids: tuple[int, ...]) -> None:
        """One received message; ``ids``: MQTT 5 subscription identifiers it matched."""
        ...


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

    def __init__(
        self,
        receiver: Receiver,
        *,
        label: str,
        v5: bool,
        max_inflight: int,
        write_buffer_bytes: int,
    ) -> None:
        loop = asyncio.get_running_loop()
        self.receiver = receiver
        self.label = label
        self.v5 = v5
        self.write_buffer_bytes = write_buffer_bytes
        self.decoder = codec.StreamDecoder()
        self.transport: asyncio.Transport | None = None
        self.connack: asyncio.Future[tuple[bool, int, dict[int, Any]]] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self.closed = False
        self.close_reason = "the broker closed it"
        self.last_rx = self.last_tx = time.monotonic()
        self.max_inflight = max_inflight
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
        self.transport.set_write_buffer_limits(high=self.write_buffer_bytes)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if exc is not None and self.close_reason == "the broker closed it":
            self.close_reason = str(exc) or type(exc).__name__
        gone = DeviceUnavailable(f"{self.label}: connection lost ({self.close_reason})")
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
            receiver, v5, out = self.receiver, self.v5, self._out
            deliver = receiver.deliver
            for first, body in packets:
                if first >> 4 == codec.PUBLISH:
                    topic, payload, qos, pid, ids = codec.decode_publish(first, body, v5)
                    if qos == 0:
                        deliver(Message(topic, payload, 0, bool(first & 1)), ids)
                    elif qos == 1:
                        deliver(Message(topic, payload, 1, bool(first & 1)), ids)
                        ack = codec.pid_packet(codec.PUBACK, pid)
                        if receiver.backlogged:  # acknowledge once the buffer drains: the
                            self.deferred.append(ack)  # broker's in-flight window holds
                        else:  # the rest back
                            out += ack
                    else:
                        if pid not in self.qos2_in:  # else a resend: delivered already
                            self.qos2_in.add(pid)
                            deliver(Message(topic, payload, 2, bool(first & 1)), ids)
                        ack = codec.pid_packet(codec.PUBREC, pid)
                        if receiver.backlogged:
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
                AuthenticationFailed(f"{self.label}: broker refused a publish: {text}")
                if reason in codec.AUTH_REASONS
                else TransportError(f"{self.label}: broker refused a publish: {text}")
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
            self._loop.call_soon(self.flush)
        self._wbuf.append(data)

    def flush(self) -> None:
        """Send what :meth:`write` queued now (normally done once per loop turn)."""
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
        raise TransportError(f"{self.label}: no free MQTT packet id")

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
        self.set_reading(True)
        try:
            async with asyncio.timeout(limit_s):
                return [await fut for fut in futures]
        except TimeoutError:
            self.abort("no SUBACK from the broker")
            raise DeviceUnavailable(f"{self.label}: broker did not answer") from None

    def new_sub_id(self, topic_filter: str) -> int:
        self._next_sub_id += 1
        self.filter_of_id[self._next_sub_id] = topic_filter
        return self._next_sub_id

    def abort(self, reason: str) -> None:
        self.close_reason = reason
        if self.transport is not None:
            self.transport.abort()

    def set_reading(self, on: bool) -> None:
        """Resume (``True``) or pause reading the socket; no-op when already so or closed."""
        if self.transport is None or self.closed or self.paused != on:
            return
        self.paused = not on
        if on:
            self.transport.resume_reading()
        else:
            self.transport.pause_reading()

    def release_deferred(self) -> None:
        """Send the acknowledgements held back while a subscriber's buffer was full."""
        if self.deferred:
            self.write(b"".join(self.deferred))
            self.deferred.clear()
