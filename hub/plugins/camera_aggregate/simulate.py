"""The ``hub simulate`` devices of the camera_aggregate plugin: AXIS crossline counting over MQTT,
Hikvision ISAPI and VIVOTEK reports pushed over HTTP.

Registered through the ``register_simulators`` hook (see ``__init__.py``). The
payloads come from this plugin's sans-io :mod:`.simulator`; :mod:`hub.simulate`
paces them in real time and sends them over the real transport. Report lines
carry counts, never identifiers.
"""

from __future__ import annotations

__all__ = ["Axis", "Hikvision", "Vivotek"]

import argparse
import json
import re
from collections.abc import Iterator

from hub.simulate import (
    FOREVER,
    HttpSimulator,
    MqttSimulator,
    add_faults,
    add_http,
    add_mqtt,
    delivery,
    forever,
    now,
)
from hub.simulate.surge import add_surge

from . import simulator as cam


class Axis(MqttSimulator):
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
        start = now()
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


_ENTER = re.compile(rb"<enter>(\d+)</enter>.*<exit>(\d+)</exit>", re.S)


class Hikvision(HttpSimulator):
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
        add_surge(p)  # realtime: the people in the area follow a scripted surge
        add_faults(
            p,
            "push",
            gap="every N-th push skips an activePostCount number",
            reset="realtime: the running totals restart every N pushes",
            retransmit="timerange: every N-th bin is sent again, flagged as a retransmission",
        )

    async def run(self) -> None:
        a = self.args
        start = now()
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
                surge=a.surge,
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
                self.report(f"{a.mode} push, {kind} {counts}{retrans} -> {delivery(status)}")


class Vivotek(HttpSimulator):
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
        start = now()
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
                self.report(f"report {counts} -> {delivery(status)}")
