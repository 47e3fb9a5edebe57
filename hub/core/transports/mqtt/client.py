"""MQTT for sources and sinks: one connection per ``[[transports.mqtt]]`` broker.

This package is the only code that speaks MQTT; this module implements
:class:`hub.transports.MessageTransport` on a small asyncio-native client (the
packets are in :mod:`.codec`, sans-io; one connection in :mod:`.connection`,
subscriptions and flow control in :mod:`.routing`). Why not aiomqtt, the client named
in the design: driven through paho it costs about 150 µs of CPU per relayed
message on this machine class, gmqtt about 13 µs, this client about 4 µs (see
``bench/README.md``); the hub's whole budget is 29 µs. Swapping the client
means changing this package only.

Behaviour:

* **one connection** per transport instance, shared by every subscription and
  publisher; ``TCP_NODELAY`` on, writes batched per call (``publish_many`` is
  one ``write``), acknowledgements sent once per received chunk;
* **subscriptions** (``+``, ``#``, ``$share/<group>/<filter>``) are routed by
  matching the topic against each subscriber's filters; each subscriber has a
  bounded buffer, and a full buffer pauses reading the socket (backpressure to
  the broker) instead of dropping. A QoS 1/2 message is acknowledged to the
  broker only once its subscriber has handled it (asked for the next message,
  see :mod:`.routing`); QoS 2 is delivered once, also across reconnects;
* **sessions** (:mod:`.session`): with a fixed ``client_id`` the session is
  persistent by default (``clean_start = false``, MQTT 5 session expiry one
  day), so the broker queues what is published while the hub is away; messages
  that arrive before their source subscribed are held, not dropped. When the
  broker kept the session (``session present``) nothing is subscribed again and
  unacknowledged publishes are re-sent with DUP; else everything is subscribed
  again and waiting publishes fail (the caller publishes again);
* **the broker's limits** (MQTT 5 CONNACK): Server Keep Alive replaces
  ``keepalive_s``; publishes above Maximum QoS are sent at that QoS, retain is
  left off when Retain Available is 0 (each logged once); a publish larger than
  the broker's Maximum Packet Size raises :class:`~hub.errors.TransportError`.
  We accept packets up to ``max_packet_bytes`` (MQTT 5 tells the broker; a larger
  one closes the connection, logged once, and it is retried);
* **reconnects** with jittered exponential backoff (:mod:`hub.core.backoff`),
  resubscribing what the broker does not hold; subscribers just wait meanwhile.
  Logged once when lost, once when back;
* **publishing** raises :class:`~hub.errors.DeviceUnavailable` while
  disconnected and :class:`~hub.errors.AuthenticationFailed` while the broker
  refuses our credentials. QoS 1/2 publishes in flight are bounded by
  ``max_queued`` (and the broker's Receive Maximum): publishers wait for
  acknowledgements instead of queueing without limit.
"""

from __future__ import annotations

__all__ = ["MqttTransport", "MqttTransportConfig"]

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import hub
from hub.core.backoff import Backoff, backoff_delay
from hub.errors import AuthenticationFailed, DeviceUnavailable, HubError, TransportError
from hub.plugin import Transport, TransportContext
from hub.transports import Message

from . import codec
from .config import MqttTransportConfig
from .connection import Connection
from .dial import dial
from .routing import Router, Subscription
from .session import Batch, Outgoing, Session, consume


def _describe(host: str) -> str:
    """The broker as named in messages: host names as they are, addresses masked."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    return host if ip.is_loopback else "<address>"


class MqttTransport(Transport[MqttTransportConfig]):
    """The shared connection to one MQTT broker (see the module docstring)."""

    kind = "mqtt"
    config_model = MqttTransportConfig
    description = "MQTT 3.1.1/5 broker connection (asyncio-native client), shared"

    def __init__(self, config: MqttTransportConfig, ctx: TransportContext) -> None:
        super().__init__(config, ctx)
        self.label = f"mqtt[{ctx.instance}] ({_describe(config.host)}:{config.effective_port})"
        self._conn: Connection | None = None
        self._connected = asyncio.Event()
        self._changed = asyncio.Event()
        """Set (and replaced) whenever a connection attempt ends or a connection is lost."""
        self.session = Session(self.label, persistent=config.persistent)
        self._router = Router(self.label, ctx.log, self.session, config.unrouted_hold_s)
        self._failure: HubError | None = None
        self._stopped = False
        self._warned: set[str] = set()
        self._refusing = False
        """The last connection ended because we refused an oversized packet."""
        self.connects = 0
        self.published = 0
        self.down_since: float | None = None

    # -- health --------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.closed

    @property
    def received(self) -> int:
        """Messages received from the broker since start."""
        return self._router.received

    def health(self) -> dict[str, Any]:
        conn, router = self._conn, self._router
        return {
            "connected": self.connected,
            "reconnects": max(0, self.connects - 1),
            "protocol": self.config.protocol,
            "subscriptions": len(router.subs),
            "received": router.received,
            "unrouted": router.unrouted,
            "published": self.published,
            "persistent_session": self.session.persistent,
            "inflight": len(self.session.outgoing),
            "unacknowledged": len(self.session.incoming),
            "held": len(router.held),
            "backlogged": router.backlogged,
            "paused": bool(conn and conn.paused),
            "dropped": router.dropped,
            "last_error": str(self._failure) if self._failure else None,
        }

    # -- connection management -----------------------------------------------------------
    async def _open(self) -> Connection:
        return await dial(self.config, self.label, self._router, self.session)

    async def run(self) -> None:
        cfg, log = self.config, self.ctx.log
        retry = Backoff(initial_s=cfg.reconnect_initial_s, max_s=cfg.reconnect_max_s)
        try:
            while True:
                try:
                    conn = await self._open()
                except (DeviceUnavailable, AuthenticationFailed) as err:
                    first = self._failure is None or type(err) is not type(self._failure)
                    self._failure = err
                    if self.down_since is None:
                        self.down_since = time.monotonic()
                    self._signal()
                    if first:
                        log.warning("%s; retrying", err)
                    else:
                        log.debug("%s", err)
                    refused = isinstance(err, AuthenticationFailed)
                    wait = retry.slowest() if refused else retry.next_delay()
                else:
                    if not self._refusing:
                        retry.reset()
                    await self._serve(conn)
                    self._refusing = conn.refused_packet
                    wait = (
                        retry.next_delay()
                        if conn.refused_packet
                        else backoff_delay(0, cfg.reconnect_initial_s, cfg.reconnect_max_s)
                    )
                await asyncio.sleep(wait)
        finally:
            self._shutdown()

    async def _serve(self, conn: Connection) -> None:
        """Run one connection: resubscribe, keep alive, return once it is lost."""
        log, cfg = self.ctx.log, self.config
        self._conn = conn
        self._router.attach(conn)
        self.connects += 1
        resent = self.session.resume(conn, conn.session_present)
        quiet = self._refusing  # refused a packet again: said so the first time
        if self.down_since is not None and self.connects > 1:
            log.log(
                logging.DEBUG if quiet else logging.WARNING,
                "%s: connected again after %.1f s%s",
                self.label,
                time.monotonic() - self.down_since,
                self._session_note(conn, resent),
            )
        elif self.connects == 1:
            log.info(
                "%s: connected (MQTT %s)%s", self.label, cfg.protocol, self._session_note(conn, 0)
            )
        self._failure = None
        self.down_since = None
        try:
            with contextlib.suppress(DeviceUnavailable):  # lost again: seen below
                await self._resubscribe(conn)
            self._connected.set()
            self._signal()
            await self._keepalive(conn)
        finally:
            self._connected.clear()
            self._conn = None
            self._router.attach(None)
            if not conn.lost.done():  # cancelled: say goodbye and close
                self._stopped = True
                conn.write(codec.DISCONNECT_BYTES)
                conn.flush()
                if conn.transport is not None:
                    conn.transport.close()
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(conn.lost), 2.0)
            elif not self._stopped:
                self.down_since = time.monotonic()
                self._failure = DeviceUnavailable(
                    f"{self.label}: connection lost ({conn.close_reason})"
                )
                again = conn.refused_packet and self._refusing
                log.log(
                    logging.DEBUG if again else logging.WARNING, "%s; reconnecting", self._failure
                )

    def _session_note(self, conn: Connection, resent: int) -> str:
        if not self.session.persistent:
            return ""
        if not conn.session_present:
            return "; new session"
        return f"; session resumed ({resent} unacknowledged publish(es) re-sent)"

    async def _keepalive(self, conn: Connection) -> None:
        """Ping when we have sent nothing for half the keep-alive (the broker's Server Keep
        Alive when it sets one); give up when the broker is silent for 1.5 times it
        (not while we have paused reading ourselves)."""
        ka = conn.keepalive
        while not conn.lost.done():
            if not ka:
                await conn.lost
                return
            await asyncio.wait({conn.lost}, timeout=ka / 2)
            now = time.monotonic()
            if now - conn.last_rx > 1.5 * ka and not conn.paused:
                conn.abort(f"no packet from the broker for {1.5 * ka:g} s")
            elif now - conn.last_tx >= ka / 2 - 0.05:
                conn.write(codec.PINGREQ_BYTES)

    def _signal(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _shutdown(self) -> None:
        self._stopped = True
        self._signal()
        stopped = DeviceUnavailable(f"{self.label}: transport stopped")
        self._router.fail_all(stopped)
        self.session.stop(stopped)

    # -- subscriptions -------------------------------------------------------------------
    async def _ensure(self, conn: Connection, wanted: dict[str, int]) -> None:
        session = self.session
        missing = [(f, q) for f, q in wanted.items() if session.subscribed.get(f, -1) < q]
        if not missing:
            return
        limit = self.config.connect_timeout_s
        if conn.v5 and conn.sub_ids:  # one SUBSCRIBE per filter, each with its own id
            builders = [
                partial(
                    codec.subscribe_packet, filters=[fq], v5=True, sub_id=session.new_sub_id(fq[0])
                )
                for fq in missing
            ]
            codes = [c[0] if c else 0x80 for c in await conn.request(builders, limit)]
        else:
            builders = [partial(codec.subscribe_packet, filters=missing, v5=conn.v5)]
            codes = (await conn.request(builders, limit))[0]
        refused = []
        for (f, q), code in zip(missing, codes, strict=False):
            if code >= 0x80:
                refused.append((f, code))
            else:
                session.subscribed[f] = q
        if refused:
            f, code = refused[0]
            text = codec.reason_text(code, True)
            cls = AuthenticationFailed if code == 0x87 else TransportError
            raise cls(f"{self.label}: broker refused the subscription to {f!r} ({text})")

    async def _resubscribe(self, conn: Connection) -> None:
        wanted = self._router.wanted()
        stale = [f for f in self.session.stale if f not in wanted]
        if stale:  # an UNSUBSCRIBE the last connection did not see answered
            conn.unsubscribe(stale)
        try:
            await self._ensure(conn, wanted)
        except (AuthenticationFailed, TransportError) as err:
            for sub in self._router.subs:
                if any(self.session.subscribed.get(f, -1) < sub.qos for f in sub.filters):
                    sub.fail(err)

    async def _wait_subscribed(self, sub: Subscription) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.connect_timeout_s
        while True:
            if self._stopped:
                raise DeviceUnavailable(f"{self.label}: transport stopped")
            conn = self._conn
            if conn is None or conn.closed or not self._connected.is_set():
                if isinstance(self._failure, AuthenticationFailed):
                    raise self._failure
                changed = self._changed
                try:
                    async with asyncio.timeout_at(deadline):
                        await changed.wait()
                except TimeoutError:
                    raise DeviceUnavailable(
                        f"{self.label}: not connected to the broker "
                        f"({self._failure or 'connecting'}); retrying"
                    ) from None
                continue
            try:
                await self._ensure(conn, dict.fromkeys(sub.filters, sub.qos))
                return
            except DeviceUnavailable:
                continue  # lost while subscribing: wait for the next connection

    @asynccontextmanager
    async def _subscription(
        self, filters: Sequence[str], qos: int, queue_size: int
    ) -> AsyncIterator[AsyncIterator[Message]]:
        if isinstance(filters, str):
            filters = [filters]
        for f in filters:
            problem = codec.check_filter(f)
            if problem:
                raise TransportError(f"{self.label}: bad topic filter {f!r}: {problem}")
        if qos not in (0, 1, 2):
            raise TransportError(f"{self.label}: QoS must be 0, 1 or 2, not {qos}")
        if not filters:
            raise TransportError(f"{self.label}: subscribe() needs at least one topic filter")
        router = self._router
        sub = Subscription(router, tuple(dict.fromkeys(filters)), qos, max(1, queue_size))
        router.add(sub)
        handled = False
        try:
            await self._wait_subscribed(sub)
            yield sub
            handled = True  # left normally: the message last taken is handled
        finally:
            router.remove(sub, handled)
            conn, still = self._conn, router.wanted()
            unused = [f for f in sub.filters if f not in still]
            # Left by an exception (the hub stops, the source crashed): the broker keeps
            # the subscription, so what comes meanwhile is held for a restarted source
            # or, once the hub is gone, queued in a persistent session.
            if handled and unused:
                for f in unused:
                    self.session.subscribed.pop(f, None)
                if conn is not None and not conn.closed:
                    conn.unsubscribe(unused)  # its packet id stays taken until the UNSUBACK

    def subscribe(
        self, filters: Sequence[str], *, qos: int = 0, queue_size: int = 10_000
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[Message]]:
        """See :meth:`hub.transports.MessageTransport.subscribe`."""
        return self._subscription(filters, qos, queue_size)

    # -- publishing ----------------------------------------------------------------------
    def _require(self) -> Connection:
        conn = self._conn
        if conn is None or conn.closed:
            if isinstance(self._failure, AuthenticationFailed):
                raise self._failure
            raise DeviceUnavailable(f"{self.label}: not connected to the broker; retry later")
        return conn

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False
    ) -> None:
        """Publish one message; see :meth:`publish_many`."""
        await self.publish_many(((topic, payload),), qos=qos, retain=retain)

    async def publish_many(
        self, messages: Sequence[tuple[str, bytes]], *, qos: int = 0, retain: bool = False
    ) -> None:
        """Publish a batch in one write; return when written (QoS 0) or acknowledged."""
        if qos not in (0, 1, 2):
            raise TransportError(f"{self.label}: QoS must be 0, 1 or 2, not {qos}")
        if not messages:
            return
        conn = self._conn
        if conn is None and self.connects == 0 and self._failure is None and not self._stopped:
            # starting up: wait for the first connection attempt instead of failing at once
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.connect_timeout_s):
                    await changed.wait()
        conn = self._require()
        v5, encode = conn.v5, codec.encode_publish
        for topic, payload in messages:
            if not topic or "+" in topic or "#" in topic:
                raise TransportError(f"{self.label}: {topic!r} is not a valid topic to publish to")
            if len(payload) + len(topic) + 16 > conn.max_out_packet:
                size = len(encode(topic.encode(), payload, qos, retain, 1, v5))
                if size > conn.max_out_packet:
                    raise TransportError(
                        f"{self.label}: a message of {size:,} bytes to {topic!r} exceeds the "
                        f"broker's maximum packet size ({conn.max_out_packet:,} bytes)"
                    )
        if qos > conn.max_qos:
            self._warn_once(
                "qos", f"the broker allows QoS {conn.max_qos} at most; publishing at it"
            )
            qos = conn.max_qos
        if retain and not conn.retain_ok:
            self._warn_once("retain", "the broker does not keep retained messages; retain is off")
            retain = False
        if qos == 0:
            conn.write(b"".join([encode(t.encode(), p, 0, retain, 0, v5) for t, p in messages]))
            self.published += len(messages)
            if not conn.writable.is_set():
                await conn.writable.wait()
                self._require()
            return
        loop = asyncio.get_running_loop()
        batch = Batch(len(messages), loop.create_future())
        batch.future.add_done_callback(consume)
        chunk: list[bytes] = []
        session = self.session
        outgoing = session.outgoing
        for topic, payload in messages:
            while len(outgoing) >= conn.max_inflight:
                if chunk:
                    conn.write(b"".join(chunk))
                    chunk.clear()
                conn.has_room.clear()
                await conn.has_room.wait()
                if conn.closed:
                    break
            if conn.closed:
                break
            pid = session.next_pid()
            packet = encode(topic.encode(), payload, qos, retain, pid, v5)
            outgoing[pid] = Outgoing(batch, packet)
            if conn.paused:
                conn.set_reading(True)
            chunk.append(packet)
        if chunk:
            conn.write(b"".join(chunk))
        if conn.closed and not batch.future.done():
            # the rest was not sent; what was is re-sent if the session resumes
            batch.future.set_exception(
                DeviceUnavailable(f"{self.label}: connection lost while publishing")
            )
        await batch.future
        self.published += len(messages)

    def _warn_once(self, key: str, text: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.ctx.log.warning("%s: %s", self.label, text)


@hub.hookimpl
def register_transports(register: Callable[[type[Transport[Any]]], None]) -> None:
    """Register the ``mqtt`` transport."""
    register(MqttTransport)
