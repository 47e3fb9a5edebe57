"""The ``hub simulate`` devices of the generic_json plugin: a JSON people counter (or Milesight
VS133 TTN uplinks) over HTTP or MQTT.

Registered through the ``register_simulators`` hook (see ``__init__.py``). The
payloads come from this plugin's sans-io :mod:`.simulator`; :mod:`hub.simulate`
paces them in real time and sends them over the real transport. Report lines
carry counts, never identifiers.
"""

from __future__ import annotations

__all__ = ["JsonCounter"]

import argparse
import json

from hub.simulate import (
    FOREVER,
    HttpOrMqttSimulator,
    Pace,
    add_faults,
    add_http,
    add_mqtt,
    now,
)

from . import simulator as gj


class JsonCounter(HttpOrMqttSimulator):
    device = "json"
    aliases = ("generic_json",)
    summary = (
        "a JSON people counter for generic_json: per-interval {sensor, ts, in, out} "
        "readings, or Milesight VS133 TTN uplinks (--format vs133)"
    )
    rate_help = "readings per second"

    @classmethod
    def add_arguments(cls, p: argparse.ArgumentParser) -> None:
        add_http(p, "people-counter")
        add_mqtt(p, broker=None, topic="sensors/s0/raw", credentials=False)
        p.add_argument("--format", choices=["counter", "vs133"], default="counter")
        add_faults(
            p,
            "reading",
            reset="vs133: the totals are cleared every N uplinks",
            gap="vs133: every N-th uplink is lost (an f_cnt gap)",
        )

    async def run(self) -> None:
        a = self.args
        vs133 = gj.VS133Simulator(
            interval_s=1.0 / a.rate,
            start=now(),
            seed=a.seed,
            reset_every=a.reset_every,
            gap_every=a.gap_every,
        )
        uplinks = vs133.uplinks(FOREVER)
        async with self.link() as link:
            pace = Pace()
            while self.more():
                await pace.after(1.0 / a.rate)
                if a.format == "vs133":
                    topic, body = next(uplinks)
                    dec = json.loads(body)["uplink_message"]["decoded_payload"]
                    what = f"VS133 uplink, line 1 totals in={dec['line_1_total_in']} out=" + str(
                        dec["line_1_total_out"]
                    )
                else:
                    now_ms = int(now().timestamp() * 1000)
                    _, body = next(
                        gj.people_counter_readings(
                            1, sensors=1, start_ms=now_ms, seed=self.rng.randrange(1 << 30)
                        )
                    )
                    topic = a.topic
                    doc = json.loads(body)
                    what = f"reading in={doc['in']} out={doc['out']}"
                self.report(f"{what} -> {await self.send(link, topic, body)}")
