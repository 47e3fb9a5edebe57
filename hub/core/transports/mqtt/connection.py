"""One MQTT connection as an asyncio protocol.

Private to :mod:`.client` (which documents the behaviour); packets are built and
parsed by :mod:`.codec`; what outlives the connection (packet ids, messages in
flight both ways, subscriptions the broker holds) is the :class:`.session.Session`.
Received messages go to a :class:`Receiver` (the transport's
:class:`.routing.Router`); the connection knows nothing else of it.
"""

from __future__ import annotations

__all__ = ["Connection", "Receiver"]

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast

from hub.errors import AuthenticationFailed, DeviceUnavailable, HubError, TransportError
from hub.transports import Message

from . import codec
from .session import Incoming, Session, consume


class Receiver(Protocol):
    """Where a connection delivers received PUBLISH messages."""

    def deliver(self, msg: Message, ids: tuple[int, ...], rec: Incoming | None) -> None:
        """One received message; ``ids``: MQTT 5 subscription identifiers it matched;
        ``rec``: its acknowledgement state (QoS 1/2), released by whoever handles it."""
        ...


class Connection(asyncio.Protocol):
    """One TCP (or TLS) connection to the broker."""

    def __init__(
        self,
        receiver: Receiver,
        session: Session,
        *,
        label: str,
        v5: bool,
        max_inflight: int,
        write_buffer_bytes: int,
        max_packet_bytes: int,
    ) -> None:
        loop = asyncio.get_running_loop()
        self.receiver = receiver
        self.session = session
        self.label = label
        self.v5 = v5
        self.write_buffer_bytes = write_buffer_bytes
        self.decoder = codec.StreamDecoder(max_packet_bytes)
        self.transport: asyncio.Transport | None = None
        self.connack: asyncio.Future[tuple[bool, int, dict[int, Any]]] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self.closed = False
        self.close_reason = "the broker closed it"
        self.refused_packet = False
        """Closed by us: the broker sent a packet larger than we accept."""
        self.last_rx = self.last_tx = time.monotonic()
        self.max_inflight = max_inflight
        # what the broker allows (MQTT 5 CONNACK properties; set by the transport)
        self.keepalive = 0
        self.max_qos = 2
        self.retain_ok = True
        self.max_out_packet = codec.MAX_PACKET + 5
        self.session_present = False
        self.paused = False
        self.sub_ids = True
        self.has_room = asyncio.Event()
        self.has_room.set()
        self.writable = asyncio.Event()
        self.writable.set()
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
        if not self.connack.done():
            self.connack.set_exception(gone)
            consume(self.connack)
        self.session.lost(self, gone)
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
        except codec.PacketTooLarge as err:
            self.refused_packet = True
            self.abort(f"refused {err} from the broker; raise max_packet_bytes to accept it")
            return
        except codec.ProtocolViolation as err:
            self.abort(f"protocol error from the broker: {err}")
            return
        try:
            session, out, deliver = self.session, self._out, self.receiver.deliver
            incoming = session.incoming
            for first, body in packets:
                if first >> 4 != codec.PUBLISH:
                    self._control(first, body)
                    continue
                topic, payload, qos, pid, ids = codec.decode_publish(first, body, self.v5)
                if qos == 0:
                    deliver(Message(topic, payload, 0, bool(first & 1)), ids, None)
                    continue
                rec = incoming.get(pid)
                if rec is None:
                    rec = incoming[pid] = Incoming(pid, qos, session.epoch)
                    deliver(Message(topic, payload, qos, bool(first & 1)), ids, rec)
                    if rec.holders <= 0 and not rec.parked:
                        session.settle(rec)  # nobody wants it: acknowledged and dropped
                elif rec.acked:  # sent again after a reconnect, handled already
                    if qos == 1:
                        del incoming[pid]
                    out += codec.pid_packet(codec.PUBACK if qos == 1 else codec.PUBREC, pid)
                # else: a subscriber still has it; acknowledged once it is handled
        except codec.ProtocolViolation as err:
            self.abort(f"protocol error from the broker: {err}")
            return
        if out:
            self.write(bytes(out))
            out.clear()
        if self.decoder.error is not None:  # after the packets before it
            self.refused_packet = True
            self.abort(
                f"refused {self.decoder.error} from the broker; raise max_packet_bytes to accept it"
            )

    def _control(self, first: int, body: bytes) -> None:
        kind, session = first >> 4, self.session
        if kind == codec.PUBACK or kind == codec.PUBCOMP:
            pid, reason = codec.decode_ack(body, self.v5)
            self._acked(pid, reason)
        elif kind == codec.PUBREC:
            pid, reason = codec.decode_ack(body, self.v5)
            item = session.outgoing.get(pid)
            if reason >= 0x80:
                self._acked(pid, reason)
            elif item is not None:
                item.released = True
                self._out += codec.pid_packet(codec.PUBREL, pid)
        elif kind == codec.PUBREL:
            pid, _ = codec.decode_ack(body, self.v5)
            rec = session.incoming.get(pid)
            if rec is not None and rec.acked:
                del session.incoming[pid]
            self._out += codec.pid_packet(codec.PUBCOMP, pid)
        elif kind == codec.SUBACK or kind == codec.UNSUBACK:
            pid, codes = codec.decode_suback(body, self.v5)
            fut = session.requests.pop(pid, None)
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
        item = self.session.outgoing.pop(pid, None)
        if item is None:
            return
        error: HubError | None = None
        if reason >= 0x80:
            text = codec.reason_text(reason)
            error = (
                AuthenticationFailed(f"{self.label}: broker refused a publish: {text}")
                if reason in codec.AUTH_REASONS
                else TransportError(f"{self.label}: broker refused a publish: {text}")
            )
        item.batch.done_one(error)
        if len(self.session.outgoing) < self.max_inflight:
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

    async def request(
        self, packets_for: Sequence[Callable[[int], bytes]], limit_s: float
    ) -> list[list[int]]:
        """Send SUBSCRIBE packets built by ``packet_for(pid)``; their reason codes."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[list[int]]] = []
        for packet_for in packets_for:
            pid = self.session.next_pid()
            futures.append(loop.create_future())
            self.session.requests[pid] = futures[-1]
            self.write(packet_for(pid))
        self.set_reading(True)
        try:
            async with asyncio.timeout(limit_s):
                return [await fut for fut in futures]
        except TimeoutError:
            self.abort("no SUBACK from the broker")
            raise DeviceUnavailable(f"{self.label}: broker did not answer") from None

    def unsubscribe(self, filters: list[str]) -> None:
        """Send UNSUBSCRIBE; its packet id stays taken until the UNSUBACK."""
        session = self.session
        pid = session.next_pid()
        fut: asyncio.Future[list[int]] = self._loop.create_future()
        session.requests[pid] = fut
        session.stale.update(filters)

        def done(fut: asyncio.Future[list[int]]) -> None:
            if not fut.cancelled() and fut.exception() is None:
                session.stale.difference_update(filters)

        fut.add_done_callback(done)
        self.write(codec.unsubscribe_packet(pid, filters, self.v5))

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
            self.last_rx = time.monotonic()  # silence while paused was ours, not the broker's
            self.transport.resume_reading()
        else:
            self.transport.pause_reading()
