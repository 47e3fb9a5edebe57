"""Frames for simulated devices that send messages: MQTT publishers and HTTP pushers.

A plugin's device subclasses one of them and writes ``run()``: take the payloads
from the plugin's sans-io simulator, pace them (:class:`~hub.simulate.base.Pace`,
:meth:`~hub.simulate.base.Simulator.paced`), stamp them with :func:`now` and
send them through :meth:`link`. Report lines carry counts, never identifiers:
the fake serials, MACs and IPs inside the payloads are not printed.
"""

from __future__ import annotations

__all__ = ["HttpOrMqttSimulator", "HttpSimulator", "MqttSimulator", "delivery", "now"]

from datetime import UTC, datetime
from typing import Any

from .base import Simulator, every, http_auth
from .links import HttpLink, MqttLink


def now() -> datetime:
    """The current time, timezone-aware (what a device stamps its messages with)."""
    return datetime.now(UTC)


def delivery(code: int | None) -> str:
    """What became of one push: ``HTTP 200``, or ``not delivered`` when the hub was away."""
    return "not delivered" if code is None else f"HTTP {code}"


class MqttSimulator(Simulator):
    """A device publishing over MQTT (options: :func:`~hub.simulate.base.add_mqtt`), with
    ``--disconnect-every N`` messages when the device adds that fault."""

    def target(self) -> str:
        return f"MQTT broker {self.args.broker}"

    def link(self) -> MqttLink:
        a = self.args
        return MqttLink(a.broker, self.say, username=a.user, password=a.password, name=self.device)

    async def maybe_disconnect(self, link: MqttLink) -> None:
        """Drop and reopen the connection when ``--disconnect-every`` says so."""
        if every(getattr(self.args, "disconnect_every", 0), self.sent):
            self.say(f"{self.device}: dropping the connection (fault)")
            await link.reconnect()


class HttpSimulator(Simulator):
    """A device pushing over HTTP (options: :func:`~hub.simulate.base.add_http`)."""

    def target(self) -> str:
        return str(self.args.url)

    def link(self) -> HttpLink:
        return HttpLink(self.args.url, self.say, auth=http_auth(self.args), name=self.device)


class HttpOrMqttSimulator(Simulator):
    """Pushes over HTTP, or publishes over MQTT when ``--broker`` is given (options: both
    :func:`~hub.simulate.base.add_http` and ``add_mqtt(p, broker=None, ...)``)."""

    def target(self) -> str:
        return f"MQTT broker {self.args.broker}" if self.args.broker else str(self.args.url)

    async def send(self, link: Any, topic: str, body: bytes) -> str:
        """Publish (QoS 1) or POST ``body``; what became of it, for the report line."""
        if isinstance(link, MqttLink):
            ok = await link.publish(topic, body, qos=1)
            return "published" if ok else "not delivered"
        return delivery(await link.post(body, "application/json"))

    def link(self) -> Any:
        a = self.args
        if a.broker:
            return MqttLink(a.broker, self.say, username=a.user, password=a.password)
        return HttpLink(a.url, self.say, auth=http_auth(a), name=self.device)
