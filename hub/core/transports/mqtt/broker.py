"""An embedded MQTT broker (transport kind ``mqtt_broker``): for demos and small sites.

**For demos and small sites; use Mosquitto for anything real.** A Python broker
costs tens of times Mosquitto's CPU per message (measured for the MQTT benchmark:
a Python broker manages a few thousand messages per second, at ~46x Mosquitto's
CPU), keeps nothing on disk and has no ACLs, bridges or TLS. It is enough for a
handful of devices and a hub on one machine, with nothing to install::

    [[transports.mqtt_broker]]      # listens on 127.0.0.1:1883
    id = "embedded"

    [[transports.mqtt]]             # the hub's own client connects to it like to any broker
    id = "local"
    port = 1883

Protocol: MQTT 3.1.1 (and the basics of 5.0 for clients that ask for it):
CONNECT/CONNACK with optional user name and password, SUBSCRIBE/UNSUBSCRIBE with
``+``/``#`` wildcards (no shared subscriptions), PUBLISH at QoS 0 and 1 (QoS 2
publishes are accepted and delivered at most at QoS 1), retained messages
(``retain = false`` turns them off), last will, PINGREQ, DISCONNECT. Sessions
are always clean: nothing survives a disconnect.

Each client has a bounded queue: QoS 1 messages not yet acknowledged plus
messages waiting behind the client's receive window (``max_queued``), and the
bytes its socket has not taken yet (``max_buffer_bytes``). A client that falls
behind either bound is disconnected and the event is logged (without the
client's id or address): a slow subscriber never slows down the others.
Packets are encoded and decoded with :mod:`.codec`; the server-side packets
(CONNECT, SUBSCRIBE, UNSUBSCRIBE and their answers) are in :mod:`.broker_packets`.
"""

from __future__ import annotations

__all__ = ["MqttBroker", "MqttBrokerConfig"]

import asyncio
import contextlib
import hmac
import ipaddress
import secrets
import socket
import time
from collections import deque
from collections.abc import Callable
from typing import Any, cast

from pydantic import Field, SecretStr, model_validator

import hub
from hub.core.backoff import Backoff
from hub.plugin import Transport, TransportConfig, TransportContext

from . import codec
from .broker_packets import (
    ConnectInfo,
    ack_packet,
    connack_packet,
    decode_connect,
    decode_subscribe,
    decode_unsubscribe,
)
from .codec import ProtocolViolation


class MqttBrokerConfig(TransportConfig):
    """``[[transports.mqtt_broker]]``: an embedded broker for demos and small sites."""

    host: str = Field(
        default="127.0.0.1", description="address to listen on (0.0.0.0: every interface)"
    )
    port: int = Field(default=1883, ge=0, le=65535, description="TCP port; 0 picks a free port")
    username: str | None = Field(
        default=None, description="clients must log in with this user name (default: anonymous)"
    )
    password: SecretStr | None = Field(
        default=None, description='password of `username`; write password = "${MQTT_PASSWORD}"'
    )
    retain: bool = Field(default=True, description="keep retained messages (in memory only)")
    max_clients: int = Field(default=100, ge=1, description="connections accepted at most")
    max_queued: int = Field(
        default=1000,
        ge=1,
        description="messages queued for one client (unacknowledged QoS 1 + waiting); a client "
        "falling further behind is disconnected",
    )
    max_buffer_bytes: int = Field(
        default=4 << 20,
        ge=4096,
        description="bytes written to one client's socket but not taken yet; beyond this the "
        "client is too slow and disconnected",
    )
    max_packet_bytes: int = Field(
        default=1 << 20, ge=1024, description="largest packet accepted from a client"
    )
    connect_timeout_s: float = Field(
        default=10.0, gt=0, description="a new connection must send CONNECT within this time"
    )

    @model_validator(mode="after")
    def _credentials(self) -> MqttBrokerConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("set both username and password, or neither")
        return self


# -- one client connection ------------------------------------------------------------------------


class _Client(asyncio.Protocol):
    def __init__(self, broker: MqttBroker, number: int) -> None:
        self.broker = broker
        self.number = number
        self.decoder = codec.StreamDecoder(broker.config.max_packet_bytes)
        self.transport: asyncio.Transport | None = None
        self.info: ConnectInfo | None = None
        self.v5 = False
        self.subs: dict[str, tuple[int, bool]] = {}
        """filter -> (granted QoS, no-local)."""
        self.inflight: set[int] = set()
        self.pending: deque[tuple[bytes, bytes, int, bool]] = deque()
        self.receive_max = 65_535
        self.qos2_in: set[int] = set()
        self.last_rx = time.monotonic()
        self.opened = self.last_rx
        self.graceful = False
        self.closed = False
        self._next_pid = 0
        self._wbuf: list[bytes] = []

    @property
    def name(self) -> str:
        return f"{self.broker.label}: client #{self.number}"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if len(self.broker.conns) >= self.broker.config.max_clients:
            self.broker.ctx.log.warning(
                "%s: refused, %d clients already connected (max_clients)",
                self.name,
                len(self.broker.conns),
            )
            self.transport.abort()
            return
        self.broker.conns.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.broker.detach(self)

    def data_received(self, data: bytes) -> None:
        self.last_rx = time.monotonic()
        try:
            for first, body in self.decoder.feed(data):
                if self.closed:
                    return
                self._packet(first, body)
        except ProtocolViolation as err:
            self.broker.ctx.log.info("%s: protocol error (%s); disconnected", self.name, err)
            self.close()

    def _packet(self, first: int, body: bytes) -> None:
        kind = first >> 4
        if self.info is None:
            if kind != codec.CONNECT:
                raise ProtocolViolation("the first packet must be CONNECT")
            self.broker.connect(self, decode_connect(body))
            return
        b = self.broker
        if kind == codec.PUBLISH:
            topic, payload, qos, pid, _ = codec.decode_publish(first, body, self.v5)
            if not topic or "+" in topic or "#" in topic:
                raise ProtocolViolation("PUBLISH to an invalid topic")
            if qos == 2:
                if pid not in self.qos2_in:
                    self.qos2_in.add(pid)
                    b.route(self, topic, payload, 1, bool(first & 1))
                self.write(codec.pid_packet(codec.PUBREC, pid))
                return
            b.route(self, topic, payload, qos, bool(first & 1))
            if qos == 1:
                self.write(codec.pid_packet(codec.PUBACK, pid))
        elif kind == codec.PUBACK:
            pid, _ = codec.decode_ack(body, self.v5)
            self.inflight.discard(pid)
            while self.pending and len(self.inflight) < self.receive_max:
                self.send(*self.pending.popleft())
        elif kind == codec.PUBREL:
            pid, _ = codec.decode_ack(body, self.v5)
            self.qos2_in.discard(pid)
            self.write(codec.pid_packet(codec.PUBCOMP, pid))
        elif kind == codec.SUBSCRIBE:
            b.subscribe(self, *decode_subscribe(body, self.v5))
        elif kind == codec.UNSUBSCRIBE:
            pid, filters = decode_unsubscribe(body, self.v5)
            codes = [0 if self.subs.pop(f, None) else 0x11 for f in filters]
            self.write(ack_packet(codec.UNSUBACK, pid, codes, self.v5))
        elif kind == codec.PINGREQ:
            self.write(b"\xd0\x00")
        elif kind == codec.DISCONNECT:
            reason = body[0] if self.v5 and body else 0
            self.graceful = reason != 0x04  # 0x04: disconnect *with* the will message
            self.close()
        elif kind not in (codec.PUBREC, codec.PUBCOMP):
            raise ProtocolViolation(f"unexpected packet type {kind}")

    # -- writing -------------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self.closed or self.transport is None:
            return
        if not self._wbuf:
            asyncio.get_running_loop().call_soon(self._flush)
        self._wbuf.append(data)

    def _flush(self) -> None:
        chunks, self._wbuf = self._wbuf, []
        if self.closed or self.transport is None or not chunks:
            return
        self.transport.write(b"".join(chunks))
        if self.transport.get_write_buffer_size() > self.broker.config.max_buffer_bytes:
            self.too_slow("its socket does not take what is written")

    def send(self, topic: bytes, payload: bytes, qos: int, retain: bool) -> None:
        """Deliver one message: at once, or queued behind the receive window."""
        if qos and len(self.inflight) >= self.receive_max:
            self.pending.append((topic, payload, qos, retain))
        else:
            pid = 0
            if qos:
                pid = self._pid()
                self.inflight.add(pid)
            self.write(codec.encode_publish(topic, payload, qos, retain, pid, self.v5))
            self.broker.messages_out += 1
        if len(self.inflight) + len(self.pending) > self.broker.config.max_queued:
            self.too_slow(f"more than {self.broker.config.max_queued} messages queued")

    def _pid(self) -> int:
        for _ in range(65_535):
            self._next_pid = self._next_pid % 65_535 + 1
            if self._next_pid not in self.inflight:
                return self._next_pid
        raise ProtocolViolation("no free packet id")  # unreachable below max_queued

    def too_slow(self, why: str) -> None:
        if self.closed:
            return
        self.broker.slow_disconnects += 1
        self.broker.ctx.log.warning("%s is too slow (%s); disconnected", self.name, why)
        self.close(reason=0x97)

    def close(self, reason: int | None = None) -> None:
        """Close the connection (MQTT 5: with a DISCONNECT carrying ``reason`` first)."""
        if self.closed or self.transport is None:
            return
        if reason is not None and self.v5 and self.info is not None:
            self._wbuf.append(bytes((codec.DISCONNECT << 4, 1, reason)))
        self._flush()
        self.closed = True
        self.broker.detach(self)
        if reason == 0x97:  # too slow: what is still buffered would never arrive anyway
            self.transport.abort()
        else:
            self.transport.close()


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


# -- the broker --------------------------------------------------------------------------------


class MqttBroker(Transport[MqttBrokerConfig]):
    """``kind = "mqtt_broker"`` (see the module docstring). ``port`` holds the bound port
    once ``started`` is set (useful with ``port = 0``)."""

    kind = "mqtt_broker"
    config_model = MqttBrokerConfig
    description = "embedded MQTT 3.1.1 broker for demos and small sites (use Mosquitto for more)"

    def __init__(self, config: MqttBrokerConfig, ctx: TransportContext) -> None:
        super().__init__(config, ctx)
        self.label = f"mqtt_broker[{ctx.instance}]"
        self.started = asyncio.Event()
        self.port: int | None = None
        self.conns: set[_Client] = set()
        self.clients: dict[str, _Client] = {}
        self.retained: dict[str, tuple[bytes, int]] = {}
        self.messages_in = 0
        self.messages_out = 0
        self.slow_disconnects = 0
        self.refused = 0
        self._numbers = 0

    def health(self) -> dict[str, Any]:
        return {
            "listening": self.port is not None,
            "port": self.port,
            "clients": len(self.clients),
            "messages_in": self.messages_in,
            "messages_out": self.messages_out,
            "retained": len(self.retained),
            "slow_disconnects": self.slow_disconnects,
            "refused": self.refused,
        }

    def _client(self) -> _Client:
        self._numbers += 1
        return _Client(self, self._numbers)

    async def run(self) -> None:
        cfg, log = self.config, self.ctx.log
        loop = asyncio.get_running_loop()
        retry = Backoff(initial_s=1.0, max_s=30.0)
        while True:
            try:
                if _is_address(cfg.host):  # bound before the first await: clients started
                    sock = socket.create_server((cfg.host, cfg.port), family=_family(cfg.host))
                    server = await loop.create_server(self._client, sock=sock)
                else:  # a host name is resolved first
                    server = await loop.create_server(self._client, cfg.host, cfg.port)
                break
            except OSError as err:
                log.warning(
                    "%s: cannot listen on %s:%s (%s); retrying. Free the port or change "
                    "[[transports.mqtt_broker]] host/port",
                    self.label,
                    cfg.host,
                    cfg.port,
                    err.strerror or err,
                )
                await asyncio.sleep(retry.next_delay())
        self.port = int(server.sockets[0].getsockname()[1])
        log.info("%s: listening on %s:%d (embedded broker)", self.label, cfg.host, self.port)
        self.started.set()
        try:
            while True:
                await asyncio.sleep(1.0)
                self._sweep()
        finally:
            server.close()
            for conn in list(self.conns):
                conn.graceful = True
                conn.close(reason=0x8B)
            self.port = None
            self.started.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 2.0)

    def _sweep(self) -> None:
        now = time.monotonic()
        for conn in list(self.conns):
            info = conn.info
            if info is None:
                if now - conn.opened > self.config.connect_timeout_s:
                    conn.close()
            elif info.keepalive and now - conn.last_rx > 1.5 * info.keepalive:
                self.ctx.log.info("%s: keep-alive timeout; disconnected", conn.name)
                conn.close(reason=0x8D)

    # -- called by connections -------------------------------------------------------------------
    def connect(self, conn: _Client, info: ConnectInfo) -> None:
        v5 = info.level == 5
        conn.v5 = v5
        if info.level not in (4, 5):
            self.refused += 1
            conn.write(connack_packet(1, False))
            conn.close()
            return
        cfg = self.config
        if cfg.username is not None and cfg.password is not None:
            ok_user = hmac.compare_digest((info.username or "").encode(), cfg.username.encode())
            ok_pass = hmac.compare_digest(
                info.password or b"", cfg.password.get_secret_value().encode()
            )
            if not (ok_user and ok_pass):
                self.refused += 1
                self.ctx.log.warning("%s: bad user name or password; refused", conn.name)
                conn.info = info
                conn.write(connack_packet(0x86 if v5 else 4, v5))
                conn.close()
                return
        props: list[tuple[int, bytes]] = [
            (0x24, b"\x01"),  # maximum QoS 1
            (0x25, b"\x01" if cfg.retain else b"\x00"),
            (0x29, b"\x00"),  # no subscription identifiers
            (0x2A, b"\x00"),  # no shared subscriptions
        ]
        if not info.client_id:
            if not v5 and not info.clean:
                self.refused += 1
                conn.write(connack_packet(2, False))  # 3.1.1: empty id needs a clean session
                conn.close()
                return
            info.client_id = f"auto-{secrets.token_hex(8)}"
            props.append((0x12, codec.encode_str(info.client_id.encode())))
        conn.info = info
        conn.receive_max = int(info.props.get(0x21, 65_535)) or 65_535
        old = self.clients.get(info.client_id)
        if old is not None and old is not conn:
            old.graceful = True
            old.close(reason=0x8E)  # session taken over
        self.clients[info.client_id] = conn
        conn.write(connack_packet(0, v5, props))

    def detach(self, conn: _Client) -> None:
        self.conns.discard(conn)
        info = conn.info
        if info is None or self.clients.get(info.client_id) is not conn:
            return
        del self.clients[info.client_id]
        if info.will is not None and not conn.graceful:
            topic, payload, qos, retain = info.will
            self.route(None, topic, payload, qos, retain)

    def subscribe(self, conn: _Client, pid: int, filters: list[tuple[str, int]]) -> None:
        codes = []
        granted = []
        for topic_filter, opts in filters:
            qos = opts & 3
            if topic_filter.startswith("$share/"):
                codes.append(0x9E if conn.v5 else 0x80)
            elif codec.check_filter(topic_filter) is not None or qos == 3:
                codes.append(0x8F if conn.v5 else 0x80)
            else:
                q = min(qos, 1)
                conn.subs[topic_filter] = (q, bool(conn.v5 and opts & 0x04))
                codes.append(q)
                granted.append((topic_filter, q))
        conn.write(ack_packet(codec.SUBACK, pid, codes, conn.v5))
        for topic_filter, q in granted:  # retained messages after the SUBACK
            for topic, (payload, rq) in self.retained.items():
                if codec.topic_matches(topic_filter, topic):
                    conn.send(topic.encode(), payload, min(q, rq), True)

    def route(
        self, sender: _Client | None, topic: str, payload: bytes, qos: int, retain: bool
    ) -> None:
        """Deliver a message to every matching subscription (once per client, highest QoS)."""
        self.messages_in += 1
        if retain and self.config.retain:
            if payload:
                self.retained[topic] = (payload, qos)
            else:
                self.retained.pop(topic, None)
        raw = topic.encode()
        matches = codec.topic_matches
        for conn in list(self.clients.values()):
            best = -1
            for topic_filter, (q, no_local) in conn.subs.items():
                if (no_local and conn is sender) or not matches(topic_filter, topic):
                    continue
                best = max(best, q)
            if best >= 0 and not conn.closed:
                conn.send(raw, payload, min(best, qos), False)


@hub.hookimpl
def register_transports(register: Callable[[type[Transport[Any]]], None]) -> None:
    """Register the ``mqtt_broker`` transport."""
    register(MqttBroker)
