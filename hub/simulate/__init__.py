"""Simulated devices: real wire formats over real transports, for demos, tests and vendors.

``hub simulate DEVICE ...`` runs one device against a running hub: serial bytes
on a pseudo-terminal, MQTT publishes, HTTP pushes. The devices are not built
into the command: every plugin contributes its own through the
``register_simulators`` hook, a third-party plugin exactly like a bundled one::

    from hub.simulate import MqttSimulator, Pace, add_mqtt, now

    class MyCounter(MqttSimulator):
        device = "my_counter"
        summary = "My counter: JSON totals over MQTT"

        @classmethod
        def add_arguments(cls, p):
            add_mqtt(p, topic="counters/1/up")

        async def run(self):
            async with self.link() as link:
                pace = Pace()
                while self.more():
                    await pace.after(1.0 / self.args.rate)
                    await link.publish(self.args.topic, my_payload(now()))
                    self.report("totals sent")

    @hub.hookimpl
    def register_simulators(register):
        register(MyCounter)

This module is the kit for writing a device: the :class:`Simulator` frame and
its option groups (:mod:`hub.simulate.base`), the MQTT/HTTP frames
(:mod:`hub.simulate.devices`), the links (:mod:`hub.simulate.links`), the
pseudo-terminal (:mod:`hub.simulate.pty`) and a scripted crowd surge
(:mod:`hub.simulate.surge`, ``--surge``). The machinery that finds and runs
devices is :mod:`hub.simulate.registry` and :mod:`hub.simulate.cli`.
"""

from __future__ import annotations

__all__ = [
    "FOREVER",
    "HttpLink",
    "HttpOrMqttSimulator",
    "HttpSimulator",
    "MqttLink",
    "MqttSimulator",
    "Pace",
    "PtyDevice",
    "PtyLink",
    "Say",
    "Simulator",
    "Surge",
    "add_faults",
    "add_http",
    "add_mqtt",
    "add_surge",
    "default_link",
    "delivery",
    "every",
    "forever",
    "http_auth",
    "now",
    "parse_hostport",
]

from hub.simulate.base import (
    FOREVER,
    Pace,
    Simulator,
    add_faults,
    add_http,
    add_mqtt,
    every,
    forever,
    http_auth,
)
from hub.simulate.devices import HttpOrMqttSimulator, HttpSimulator, MqttSimulator, delivery, now
from hub.simulate.links import HttpLink, MqttLink, PtyLink, Say, default_link, parse_hostport
from hub.simulate.pty import PtyDevice
from hub.simulate.surge import Surge, add_surge
