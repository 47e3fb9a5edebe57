"""``hub simulate milesight``: a VS133 publishing The Things Stack v3 uplinks over MQTT.

Registered through the ``register_simulators`` hook in ``__init__.py``; the
payloads are :mod:`.simulator`'s, so the simulated device and the tests send the
same bytes. Point ``--broker`` at the hub's broker (e.g. an ``mqtt_broker``
transport) and configure ``[[sources.milesight]]`` with the same topic.
"""

from __future__ import annotations

import argparse

from hub.simulate import MqttSimulator, Pace, add_faults, add_mqtt, every, now

from .simulator import encode_payload, ttn_uplink_json

TOPIC = "v3/crowd-counters@ttn/devices/vs133-gate-a/up"


class Vs133(MqttSimulator):
    device = "milesight"
    summary = "Milesight VS133: line 1 totals as The Things Stack v3 uplinks over MQTT"
    rate_help = "uplinks per second (a real device: one per report interval)"

    @classmethod
    def add_arguments(cls, p: argparse.ArgumentParser) -> None:
        add_mqtt(p, topic=TOPIC)
        p.add_argument("--mean", type=float, default=6.0, help="mean people per uplink and way")
        add_faults(p, "uplink", reset="the device clears its totals every N uplinks")

    async def run(self) -> None:
        a = self.args
        totals_in = totals_out = 0
        async with self.link() as link:
            pace = Pace()
            while self.more():
                await pace.after(1.0 / a.rate)
                if every(a.reset_every, self.sent):
                    totals_in = totals_out = 0
                    self.say(f"{self.device}: totals cleared (fault)")
                got_in = self.rng.randint(0, round(2 * a.mean))
                got_out = self.rng.randint(0, round(2 * a.mean))
                totals_in, totals_out = totals_in + got_in, totals_out + got_out
                payload = encode_payload(
                    totals={1: (totals_in, totals_out)}, periods={1: (got_in, got_out)}
                )
                body = ttn_uplink_json(payload, f_cnt=self.sent + 1, received_at=now())
                ok = await link.publish(a.topic, body)
                self.report(
                    f"uplink, line 1 totals in={totals_in} out={totals_out}"
                    + ("" if ok else " (not delivered)")
                )
