"""The ``hub simulate`` devices of the wifi_counter plugin: an ESP32-Paxcounter on MQTT (or
TTN) and Cisco Meraki Scanning API pushes.

Registered through the ``register_simulators`` hook (see ``__init__.py``). The
payloads come from this plugin's sans-io :mod:`.simulator`; :mod:`hub.simulate`
paces them in real time and sends them over the real transport. Report lines
carry counts, never identifiers.
"""

from __future__ import annotations

__all__ = ["Meraki", "Paxcounter"]

import argparse

from hub.simulate import (
    HttpSimulator,
    MqttSimulator,
    Pace,
    add_faults,
    add_http,
    add_mqtt,
    delivery,
    every,
    now,
)

from . import simulator as pax


class Paxcounter(MqttSimulator):
    device = "paxcounter"
    summary = "ESP32-Paxcounter: MQTT paxout/<port> (base64), or TTN v3 uplinks with --ttn"
    rate_help = "send cycles per second (a real device: one per 60 s)"
    default_rate = 0.5

    @classmethod
    def add_arguments(cls, p: argparse.ArgumentParser) -> None:
        add_mqtt(p)
        p.add_argument("--prefix", default="paxout", help="MQTT_OUTTOPIC (default paxout)")
        p.add_argument("--ttn", action="store_true", help="publish The Things Stack v3 uplinks")
        p.add_argument("--app", default="crowd-demo", help="TTN application id")
        p.add_argument("--tenant", default="ttn", help="TTN tenant id")
        p.add_argument("--device-id", default="paxcounter-01", help="TTN device id")
        p.add_argument("--encoding", choices=["packed", "plain"], default="packed")
        p.add_argument("--wifi", type=float, default=40.0, help="mean WiFi devices per cycle")
        p.add_argument("--ble", type=float, default=25.0, help="mean BLE devices per cycle")
        p.add_argument("--status-every", type=int, default=0, metavar="N", help="status frames")
        add_faults(
            p,
            "cycle",
            gap="every N-th uplink is lost (TTN: an f_cnt gap)",
            reset="cumulative counter mode, totals reset every N cycles",
            disconnect=None,
        )

    async def run(self) -> None:
        a = self.args
        sim = pax.PaxcounterSimulator(
            seed=a.seed,
            encoding=a.encoding,
            cycle_s=1.0 / a.rate,
            mean_wifi=a.wifi,
            mean_ble=a.ble,
            start=now(),
            cumulative=bool(a.reset_every),
            reset_every=a.reset_every,
            status_every=a.status_every,
        )
        counters = 0
        async with self.link() as link:
            pace = Pace()
            while self.more():
                await pace.after(1.0 / a.rate)
                for frame in sim.frames(1):
                    if frame.port == 1:
                        counters += 1
                        if every(a.gap_every, counters):
                            self.say(f"{self.device}: cycle {counters} lost on the way (fault)")
                            continue
                    what = (
                        f"wifi={frame.wifi} ble={frame.ble}" if frame.port == 1 else "status frame"
                    )
                    if a.ttn:
                        topic, body = pax.ttn_uplink(
                            frame.payload,
                            f_port=frame.port,
                            f_cnt=frame.f_cnt,
                            received_at=now(),
                            device_id=a.device_id,
                            application=a.app,
                            tenant=a.tenant,
                        )
                        where = f"TTN uplink f_cnt={frame.f_cnt}"
                    else:
                        topic, body = pax.mqtt_message(frame.port, frame.payload, a.prefix)
                        where = f"{a.prefix}/{frame.port}"
                    ok = await link.publish(topic, body)
                    self.report(f"{where} {what}" + ("" if ok else " (not delivered)"))
                await self.maybe_disconnect(link)


class Meraki(HttpSimulator):
    device = "meraki"
    summary = "Cisco Meraki Scanning API v2/v3 POSTs (fake client MACs, never printed)"
    rate_help = "POSTs per second"

    @classmethod
    def add_arguments(cls, p: argparse.ArgumentParser) -> None:
        add_http(p, "meraki", basic=False, bearer=False)
        p.add_argument("--secret", default="", help="the shared secret set in the dashboard")
        p.add_argument("--api", choices=["2", "3"], default="2", help="Scanning API version")
        p.add_argument("--radio", choices=["wifi", "ble"], default="wifi")
        p.add_argument("--devices", type=int, default=30, help="devices around (pool size)")

    async def run(self) -> None:
        a = self.args
        pool = [pax.fake_mac(self.rng) for _ in range(max(1, a.devices))]
        aps = [pax.fake_mac(self.rng, randomised=False) for _ in range(2)]
        async with self.link() as link:
            status = await link.post(b"", "", method="GET")
            self.say(f"{self.device}: validator request -> {delivery(status)}")
            pace = Pace()
            while self.more():
                await pace.after(1.0 / a.rate)
                seen = self.rng.sample(pool, k=self.rng.randint(len(pool) // 2, len(pool)))
                seed = self.rng.randrange(1 << 30)
                if a.api == "2":
                    body = pax.meraki_v2_body(
                        a.secret, aps[0], seen, radio=a.radio, when=now(), seed=seed
                    )
                else:
                    pairs = [(m, self.rng.choice(aps)) for m in seen]
                    body = pax.meraki_v3_body(a.secret, pairs, radio=a.radio, when=now(), seed=seed)
                status = await link.post(body, "application/json")
                self.report(
                    f"v{a.api} {a.radio} POST, {len(seen)} devices seen -> {delivery(status)}"
                )
