"""Simulated devices that send messages: MQTT publishers and HTTP pushers.

Payloads come from the plugins' sans-io simulators (``hub.plugins.*.simulator``);
this module only paces them in real time, stamps them with the current time and
sends them through a link. Report lines carry counts, never identifiers: the
fake serials, MACs and IPs inside the payloads are not printed.
"""

from __future__ import annotations

__all__ = ["MESSAGE_DEVICES"]

import argparse
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.plugins.camera_aggregate import simulator as cam
from hub.plugins.generic_json import simulator as gj
from hub.plugins.lidar import simulator as lid
from hub.plugins.wifi_counter import simulator as pax

from .simulate_base import (
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
from .simulate_links import HttpLink, MqttLink


def _now() -> datetime:
    return datetime.now(UTC)


def _status(code: int | None) -> str:
    return "not delivered" if code is None else f"HTTP {code}"


class _MqttDevice(Simulator):
    """A device publishing over MQTT, with ``--disconnect-every N`` messages."""

    def target(self) -> str:
        return f"MQTT broker {self.args.broker}"

    def link(self) -> MqttLink:
        a = self.args
        return MqttLink(a.broker, self.say, username=a.user, password=a.password, name=self.device)

    async def maybe_disconnect(self, link: MqttLink) -> None:
        if every(getattr(self.args, "disconnect_every", 0), self.sent):
            self.say(f"{self.device}: dropping the connection (fault)")
            await link.reconnect()


class Paxcounter(_MqttDevice):
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
            start=_now(),
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
                            received_at=_now(),
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


class Axis(_MqttDevice):
    device = "axis"
    summary = "AXIS Object Analytics crossline counting over MQTT (cumulative totals)"
    rate_help = "crossings per second (random arrivals)"

    @classmethod
    def add_arguments(cls, p: argparse.ArgumentParser) -> None:
        add_mqtt(p)
        p.add_argument("--prefix", default="axis/<SERIAL>", help="topic prefix on the camera")
        p.add_argument("--scenario", type=int, default=1, help="AOA scenario number")
        add_faults(p, "crossing", reset=None, gap="every N-th message is lost", disconnect=None)

    async def run(self) -> None:
        a = self.args
        start = _now()
        stream = cam.axis_crossline(
            crossings=FOREVER,
            rate_per_min=a.rate * 60,
            scenario=a.scenario,
            prefix=a.prefix,
            start=start,
            reset_at=forever(a.reset_every),
            drop=forever(a.gap_every),
            seed=a.seed,
        )
        async with self.link() as link:
            async for msg in self.paced(stream, start):
                data = json.loads(msg.body)["message"]["data"]
                ok = await link.publish(msg.topic or "", msg.body, qos=1)
                self.report(
                    f"crossing ({data['reason']}), totals human={data['totalHuman']} "
                    f"all={data['total']}" + ("" if ok else " (not delivered)")
                )
                await self.maybe_disconnect(link)


class _HttpDevice(Simulator):
    path = "device"

    def target(self) -> str:
        return str(self.args.url)

    def link(self) -> HttpLink:
        return HttpLink(self.args.url, self.say, auth=http_auth(self.args), name=self.device)


_ENTER = re.compile(rb"<enter>(\d+)</enter>.*<exit>(\d+)</exit>", re.S)


class Hikvision(_HttpDevice):
    device = "hikvision"
    summary = "Hikvision ISAPI people counting: XML alerts pushed over HTTP"
    rate_help = "pushes per second"

    @classmethod
    def add_arguments(cls, p: argparse.ArgumentParser) -> None:
        add_http(p, "hikvision", bearer=False)
        p.add_argument("--mode", choices=["realtime", "timerange"], default="realtime")
        p.add_argument("--namespace", choices=["1.0", "2.0"], default="1.0", help="ISAPI XML")
        p.add_argument("--multipart", action="store_true", help="multipart/form-data with a JPEG")
        p.add_argument("--channel", type=int, default=1)
        add_faults(
            p,
            "push",
            gap="every N-th push skips an activePostCount number",
            reset="realtime: the running totals restart every N pushes",
            retransmit="timerange: every N-th bin is sent again, flagged as a retransmission",
        )

    async def run(self) -> None:
        a = self.args
        start = _now()
        stream: Iterator[cam.WireMessage]
        if a.mode == "realtime":
            stream = cam.hikvision_realtime(
                pushes=FOREVER,
                every_s=1.0 / a.rate,
                channel=a.channel,
                namespace=a.namespace,
                start=start,
                reset_at=forever(a.reset_every),
                gaps_after=forever(a.gap_every),
                seed=a.seed,
            )
        else:
            stream = cam.hikvision_timerange(
                bins=FOREVER,
                bin_s=max(1, round(1.0 / a.rate)),
                channel=a.channel,
                namespace=a.namespace,
                start=start,
                gaps_after=forever(a.gap_every),
                retransmit=forever(a.retransmit_every),
                seed=a.seed,
            )
        async with self.link() as link:
            async for msg in self.paced(stream, start):
                ctype, body = msg.content_type, msg.body
                if a.multipart:
                    ctype, body = cam.hikvision_multipart(body)
                m = _ENTER.search(msg.body)
                counts = f"enter={m[1].decode()} exit={m[2].decode()}" if m else "no counts"
                kind = "running totals" if a.mode == "realtime" else "bin"
                retrans = " (retransmission)" if b"<isDataRetransmission>true" in msg.body else ""
                status = await link.post(body, ctype)
                self.report(f"{a.mode} push, {kind} {counts}{retrans} -> {_status(status)}")


class Vivotek(_HttpDevice):
    device = "vivotek"
    summary = "VIVOTEK counting reports (JSON) pushed over HTTP"
    rate_help = "reports per second (each covers 1/rate seconds, at least 1 s)"

    @classmethod
    def add_arguments(cls, p: argparse.ArgumentParser) -> None:
        add_http(p, "vivotek")
        p.add_argument("--rule", action="append", help="counting rule name (repeatable)")
        add_faults(p, "report", duplicate="every N-th report is sent twice")

    async def run(self) -> None:
        a = self.args
        start = _now()
        stream = cam.vivotek_reports(
            reports=FOREVER,
            interval_s=max(1, round(1.0 / a.rate)),
            rules=a.rule or ["Entrance"],
            start=start,
            duplicate=forever(a.duplicate_every),
            seed=a.seed,
        )
        async with self.link() as link:
            async for msg in self.paced(stream, start):
                infos = json.loads(msg.body)["Data"][0]["CountingInfo"]
                counts = ", ".join(f"{c['RuleName']} in={c['In']} out={c['Out']}" for c in infos)
                status = await link.post(msg.body, msg.content_type)
                self.report(f"report {counts} -> {_status(status)}")


class Meraki(_HttpDevice):
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
            self.say(f"{self.device}: validator request -> {_status(status)}")
            pace = Pace()
            while self.more():
                await pace.after(1.0 / a.rate)
                seen = self.rng.sample(pool, k=self.rng.randint(len(pool) // 2, len(pool)))
                seed = self.rng.randrange(1 << 30)
                if a.api == "2":
                    body = pax.meraki_v2_body(
                        a.secret, aps[0], seen, radio=a.radio, when=_now(), seed=seed
                    )
                else:
                    pairs = [(m, self.rng.choice(aps)) for m in seen]
                    body = pax.meraki_v3_body(
                        a.secret, pairs, radio=a.radio, when=_now(), seed=seed
                    )
                status = await link.post(body, "application/json")
                self.report(
                    f"v{a.api} {a.radio} POST, {len(seen)} devices seen -> {_status(status)}"
                )


class _EitherDevice(Simulator):
    """Pushes over HTTP, or publishes over MQTT when ``--broker`` is given."""

    def target(self) -> str:
        return f"MQTT broker {self.args.broker}" if self.args.broker else str(self.args.url)

    async def send(self, link: Any, topic: str, body: bytes) -> str:
        if isinstance(link, MqttLink):
            ok = await link.publish(topic, body, qos=1)
            return "published" if ok else "not delivered"
        return _status(await link.post(body, "application/json"))

    def link(self) -> Any:
        a = self.args
        if a.broker:
            return MqttLink(a.broker, self.say, username=a.user, password=a.password)
        return HttpLink(a.url, self.say, auth=http_auth(a), name=self.device)


class Xovis(_EitherDevice):
    device = "xovis"
    summary = "Xovis logics push (JSON 5.0): HTTP push, or MQTT with --broker"
    rate_help = "pushes per second (each a bin of 1/rate seconds, at least 1 s)"

    @classmethod
    def add_arguments(cls, p: argparse.ArgumentParser) -> None:
        add_http(p, "xovis")
        add_mqtt(p, broker=None, topic="xovis/sensor-1/logics", credentials=False)
        p.add_argument("--line-logic", type=int, default=1008, help="LINE logic id")
        p.add_argument("--zone-logic", type=int, default=1009, help="ZONE logic id (0: none)")
        add_faults(
            p,
            "push",
            gap="every N-th package is lost (a package id gap)",
            repeat="every N-th package is sent twice",
        )

    async def run(self) -> None:
        a = self.args
        bin_s = max(1, round(1.0 / a.rate))
        t = _now().replace(microsecond=0)
        package, k = 1000, 0
        async with self.link() as link:
            pace = Pace()
            while self.more():
                await pace.after(bin_s)
                k += 1
                fw, bw = self.rng.randrange(0, 12), self.rng.randrange(0, 12)
                zones = {a.zone_logic: self.rng.randrange(0, 60)} if a.zone_logic else None
                doc = lid.xovis_logics_push(
                    package, start=t, bin_s=bin_s, lines={a.line_logic: (fw, bw)}, zones=zones
                )
                body = json.dumps(doc).encode()
                if every(a.gap_every, k):
                    package += 1  # this package is lost; the next id jumps
                    self.say(f"{self.device}: package lost on the way (fault)")
                else:
                    for _ in range(2 if every(a.repeat_every, k) else 1):
                        status = await self.send(link, a.topic, body)
                        zone = f", zone balance={zones[a.zone_logic]}" if zones else ""
                        self.report(f"package {package}: line fw={fw} bw={bw}{zone} -> {status}")
                package += 1
                t += timedelta(seconds=bin_s)


class JsonCounter(_EitherDevice):
    device = "json"
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
            start=_now(),
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
                    now_ms = int(_now().timestamp() * 1000)
                    _, body = next(
                        gj.people_counter_readings(
                            1, sensors=1, start_ms=now_ms, seed=self.rng.randrange(1 << 30)
                        )
                    )
                    topic = a.topic
                    doc = json.loads(body)
                    what = f"reading in={doc['in']} out={doc['out']}"
                self.report(f"{what} -> {await self.send(link, topic, body)}")


MESSAGE_DEVICES: tuple[type[Simulator], ...] = (
    Paxcounter,
    Meraki,
    Xovis,
    Axis,
    Hikvision,
    Vivotek,
    JsonCounter,
)
