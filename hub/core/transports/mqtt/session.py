"""The MQTT session of one transport: the state that outlives a connection.

Private to :mod:`.client`. With a persistent session (``clean_start = false``)
the broker keeps our subscriptions and the messages in flight while we are
away; this object keeps our side of it, so a reconnect that finds the session
present (CONNACK ``session present``) picks up where the last connection ended:

* **outgoing** QoS 1/2 publishes not yet acknowledged are re-sent with DUP (or
  their PUBREL, once PUBREC came), under their original packet ids;
* **incoming** QoS 1/2 messages are acknowledged only when every subscriber
  that got one has handled it (:meth:`Session.release`); a message the broker
  sends again after a reconnect (same packet id) is not delivered twice, and a
  QoS 2 message whose PUBREC was sent waits for its PUBREL across reconnects
  (exactly once);
* the filters the broker holds for us, so that only missing ones are
  subscribed again.

When the broker did not keep the session (or ``clean_start = true``), all of
it starts afresh: :attr:`Session.epoch` moves on, so acknowledgements for
messages of the old session are not sent on the new one.
"""

from __future__ import annotations

__all__ = ["Batch", "Incoming", "Link", "Outgoing", "Session", "consume"]

import asyncio
from typing import Any, Protocol

from hub.errors import DeviceUnavailable, HubError, TransportError

from . import codec


class Link(Protocol):
    """What the session needs of a connection (:class:`.connection.Connection`)."""

    closed: bool

    def write(self, data: bytes) -> None: ...


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


class Outgoing:
    """One QoS 1/2 publish of ours, until the broker acknowledged it."""

    __slots__ = ("batch", "packet", "released")

    def __init__(self, batch: Batch, packet: bytes) -> None:
        self.batch = batch
        self.packet = packet
        self.released = False
        """QoS 2: PUBREC came, PUBREL sent; waiting for PUBCOMP."""


class Incoming:
    """One received QoS 1/2 message, until the broker has our acknowledgement."""

    __slots__ = ("acked", "epoch", "holders", "parked", "pid", "qos")

    def __init__(self, pid: int, qos: int, epoch: int) -> None:
        self.pid = pid
        self.qos = qos
        self.epoch = epoch
        self.holders = 0
        """Subscribers that have the message and have not handled it yet."""
        self.parked = False
        """Held by the router for a subscriber that is not there yet."""
        self.acked = False
        """PUBACK/PUBREC written (or due at the broker's resend, when handled offline)."""


class Session:
    """Our half of the MQTT session (see the module docstring)."""

    def __init__(self, label: str, *, persistent: bool) -> None:
        self.label = label
        self.persistent = persistent
        self.epoch = 0
        self.conn: Link | None = None
        self.outgoing: dict[int, Outgoing] = {}
        self.incoming: dict[int, Incoming] = {}
        self.requests: dict[int, asyncio.Future[list[int]]] = {}
        """SUBSCRIBE / UNSUBSCRIBE packet ids waiting for their SUBACK / UNSUBACK."""
        self.subscribed: dict[str, int] = {}
        """Filters (with granted QoS asked) the broker holds for this session."""
        self.filter_of_id: dict[int, str] = {}
        """MQTT 5 subscription identifier -> filter: routes overlapping subscriptions."""
        self.stale: set[str] = set()
        """Filters to unsubscribe whose UNSUBACK has not come yet."""
        self._next_pid = 0
        self._next_sub_id = 0

    # -- identifiers ---------------------------------------------------------------------
    def next_pid(self) -> int:
        """A packet id no publish or request of ours is using."""
        outgoing, requests = self.outgoing, self.requests
        for _ in range(65_535):
            self._next_pid = self._next_pid % 65_535 + 1
            pid = self._next_pid
            if pid not in outgoing and pid not in requests:
                return pid
        raise TransportError(f"{self.label}: no free MQTT packet id")

    def new_sub_id(self, topic_filter: str) -> int:
        self._next_sub_id += 1
        self.filter_of_id[self._next_sub_id] = topic_filter
        return self._next_sub_id

    # -- connections ---------------------------------------------------------------------
    def resume(self, conn: Link, present: bool) -> int:
        """A new connection is up; ``present``: the broker kept our session.

        Returns how many publishes were re-sent. Without the session, publishes
        still waiting fail (the caller publishes again) and received messages
        are no longer acknowledged.
        """
        self.conn = conn
        if not present:
            self._forget(DeviceUnavailable(f"{self.label}: the broker did not keep our session"))
            return 0
        resend = []
        for pid in sorted(self.outgoing):
            item = self.outgoing[pid]
            if item.released:
                resend.append(codec.pid_packet(codec.PUBREL, pid))
            else:
                resend.append(bytes((item.packet[0] | 0x08,)) + item.packet[1:])  # DUP
        if resend:
            conn.write(b"".join(resend))
        return len(resend)

    def lost(self, conn: Link, error: DeviceUnavailable) -> None:
        """``conn`` is gone: requests fail; without a persistent session, publishes too."""
        if self.conn is conn:
            self.conn = None
        for fut in self.requests.values():
            if not fut.done():
                fut.set_exception(error)
                fut.exception()
        self.requests.clear()
        if not self.persistent:
            self._forget(error)

    def stop(self, error: DeviceUnavailable) -> None:
        """The transport stops: nothing more will be acknowledged."""
        self._fail_outgoing(error)

    def _forget(self, error: DeviceUnavailable) -> None:
        self.epoch += 1
        self.incoming.clear()
        self.subscribed.clear()
        self.filter_of_id.clear()
        self._fail_outgoing(error)

    def _fail_outgoing(self, error: DeviceUnavailable) -> None:
        for batch in {item.batch for item in self.outgoing.values()}:
            if not batch.future.done():
                batch.future.set_exception(error)
        self.outgoing.clear()

    # -- received messages ---------------------------------------------------------------
    def release(self, rec: Incoming) -> None:
        """A subscriber has handled (or given back) ``rec``; acknowledge it once nobody
        holds it any more."""
        rec.holders -= 1
        if rec.holders <= 0 and not rec.parked:
            self.settle(rec)

    def settle(self, rec: Incoming) -> None:
        """Acknowledge ``rec`` to the broker now, or at its resend if we are offline."""
        if rec.acked or rec.epoch != self.epoch or self.incoming.get(rec.pid) is not rec:
            return
        rec.acked = True
        conn = self.conn
        if conn is None or conn.closed:
            return  # answered when the broker sends it again (session present)
        if rec.qos == 1:
            del self.incoming[rec.pid]
            conn.write(codec.pid_packet(codec.PUBACK, rec.pid))
        else:  # QoS 2: kept until PUBREL
            conn.write(codec.pid_packet(codec.PUBREC, rec.pid))
