"""The ``hub simulate`` devices of the lidar plugin: TF-Luna beams and an RPLIDAR A1 on
pseudo-terminals, and a Xovis sensor pushing logics over HTTP or MQTT.

Registered through the ``register_simulators`` hook (see ``__init__.py``). Each
serial device gets a pty behind a stable symlink (``--link``), printed when it
starts: point the hub's ``serial.port`` at it. The bytes are this plugin's
sans-io :mod:`.simulator`'s, written in real time by :mod:`hub.simulate`.
"""

from __future__ import annotations

__all__ = ["Rplidar", "RplidarCommands", "TfLuna", "Xovis"]

import argparse
import asyncio
import contextlib
import json
import math
from datetime import timedelta
from typing import Literal

from hub.simulate import (
    HttpOrMqttSimulator,
    Pace,
    PtyLink,
    Say,
    Simulator,
    add_faults,
    add_http,
    add_mqtt,
    default_link,
    every,
    now,
)

from . import simulator as lid
from .protocol import RPLIDAR_SCAN_DESCRIPTOR

_SLICE_S = 0.05


class TfLuna(Simulator):
    device = "tfluna"
    aliases = ("tf-luna",)
    start_before_hub = True
    summary = "Benewake TF-Luna beam(s) on ptys; --beams 2 is a direction pair (A, B)"
    rate_help = "passages per minute"
    default_rate = 30.0

    @classmethod
    def add_arguments(cls, p: argparse.ArgumentParser) -> None:
        p.add_argument("--beams", type=int, choices=[1, 2], default=1)
        p.add_argument(
            "--link",
            action="append",
            metavar="PATH",
            help="stable path of a beam's pty (repeat for beam B; default: "
            f"{default_link('tfluna-a')}, ...-b)",
        )
        p.add_argument(
            "--direction",
            choices=["a_to_b", "b_to_a", "both"],
            default="both",
            help="two beams: which beam people pass first",
        )
        p.add_argument("--format", choices=["cm", "mm", "pix"], default="cm", help="frames")
        p.add_argument("--frame-rate", type=float, default=100.0, help="frames per second")
        p.add_argument("--floor-cm", type=float, default=250.0, help="distance to the floor")
        p.add_argument("--noise-cm", type=float, default=2.0, help="distance noise")
        add_faults(
            p,
            "passage",
            bad_checksum="every N-th frame (counted from each passage) has a bad checksum",
            disconnect="unplug and replug the pty(s) every N passages",
        )

    def __init__(self, args: argparse.Namespace, say: Say) -> None:
        super().__init__(args, say)
        links = list(args.link or [])
        names = ["tfluna-a", "tfluna-b"][: args.beams]
        while len(links) < args.beams:
            links.append(str(default_link(names[len(links)])))
        if len(links) > args.beams:
            raise ValueError(f"--link given {len(links)} times for {args.beams} beam(s)")
        self.ptys = [
            PtyLink(path, self.say, f"tfluna beam {'AB'[i]}") for i, path in enumerate(links)
        ]

    def target(self) -> str:
        return ", ".join(f"beam {'AB'[i]} on {p.path}" for i, p in enumerate(self.ptys))

    def _segment(self) -> tuple[list[bytes], str, float]:
        """One passage at the start of a quiet stretch of 60/rate seconds."""
        a = self.args
        gap = 60.0 / a.rate
        frames = round(max(gap * self.rng.uniform(0.7, 1.3), 0.9) * a.frame_rate)
        duration = frames / a.frame_rate
        stream = {
            "rate_hz": a.frame_rate,
            "floor_cm": a.floor_cm,
            "noise_cm": a.noise_cm,
            "fmt": a.format,
            "corrupt_every": a.bad_checksum_every,
            "seed": self.rng.randrange(1 << 30),
        }
        if len(self.ptys) == 1:
            data = lid.tf_beam_stream([(0.05, 0.3)], duration_s=duration, **stream)
            return [data], "passage under the beam", duration
        both: list[Literal["a_to_b", "b_to_a"]] = ["a_to_b", "b_to_a"]
        direction = self.rng.choice(both) if a.direction == "both" else a.direction
        streams = lid.tf_pair_streams([(0.05, direction)], duration_s=duration, **stream)
        arrow = "A then B" if direction == "a_to_b" else "B then A"
        return list(streams), f"passage {arrow} ({direction})", duration

    async def run(self) -> None:
        with contextlib.ExitStack() as stack:
            for pty in self.ptys:
                stack.enter_context(pty)
            self.say(f"{self.device}: {self.target()}: ready")
            pace = Pace()
            while self.more():
                streams, what, duration = self._segment()
                self.report(what)
                slices = max(1, math.ceil(duration / _SLICE_S))
                for i in range(slices):
                    for pty, data in zip(self.ptys, streams, strict=True):
                        n = len(data)
                        pty.write(data[i * n // slices : (i + 1) * n // slices])
                    await pace.after(duration / slices)
                if every(self.args.disconnect_every, self.sent):
                    self.say(f"{self.device}: unplugging and replugging (fault)")
                    for pty in self.ptys:
                        pty.replug()


class RplidarCommands:
    """Sans-io: splits what the host writes into RPLIDAR requests (``A5 cmd [size payload
    checksum]``); returns the command bytes (0x20 SCAN, 0x25 STOP, 0x52 GET_HEALTH...)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[int]:
        self._buf += data
        out: list[int] = []
        while True:
            start = self._buf.find(0xA5)
            if start < 0:
                self._buf.clear()
                return out
            del self._buf[:start]
            if len(self._buf) < 2:
                return out
            cmd = self._buf[1]
            need = 2
            if cmd & 0x80:  # with payload: size, payload, checksum
                if len(self._buf) < 3:
                    return out
                need = 3 + self._buf[2] + 1
            if len(self._buf) < need:
                return out
            del self._buf[:need]
            out.append(cmd)


class Rplidar(Simulator):
    device = "rplidar"
    start_before_hub = True
    summary = "Slamtec RPLIDAR A1 on a pty: answers GET_HEALTH and SCAN, streams revolutions"
    rate_help = "revolutions per second"
    default_rate = 5.0

    @classmethod
    def add_arguments(cls, p: argparse.ArgumentParser) -> None:
        p.add_argument("--link", metavar="PATH", help=f"default {default_link('rplidar')}")
        p.add_argument("--people", type=int, default=3, help="people walking in view")
        p.add_argument("--nodes", type=int, default=360, help="measurements per revolution")
        add_faults(
            p,
            "revolution",
            bad_checksum="every N-th node has its check bit cleared",
            disconnect="unplug and replug the pty every N revolutions",
        )

    def __init__(self, args: argparse.Namespace, say: Say) -> None:
        super().__init__(args, say)
        self.pty = PtyLink(args.link or default_link("rplidar"), self.say, "rplidar")
        self.people = [
            (self.rng.uniform(1.0, 5.0), self.rng.uniform(-2.5, 2.5)) for _ in range(args.people)
        ]
        self.scanning = asyncio.Event()

    def target(self) -> str:
        return f"pty {self.pty.path}"

    def _walk(self) -> None:
        step = 0.6 / self.args.rate  # about 0.6 m/s
        self.people = [
            (
                min(5.5, max(0.8, x + self.rng.uniform(-step, step))),
                min(3.0, max(-3.0, y + self.rng.uniform(-step, step))),
            )
            for x, y in self.people
        ]

    async def _commands(self) -> None:
        parser = RplidarCommands()
        while True:
            for cmd in parser.feed(await self.pty.read(3600.0)):
                if cmd == 0x52:
                    self.pty.write(lid.rplidar_health())
                    self.say(f"{self.device}: GET_HEALTH answered (good)")
                elif cmd in (0x20, 0x21):
                    self.pty.write(RPLIDAR_SCAN_DESCRIPTOR)
                    self.say(f"{self.device}: SCAN request; scanning")
                    self.scanning.set()
                elif cmd in (0x25, 0x40):
                    if self.scanning.is_set():
                        self.say(f"{self.device}: STOP request; idle")
                    self.scanning.clear()

    async def _scan(self) -> None:
        pace = Pace()
        while self.more():
            if not self.scanning.is_set():
                await self.scanning.wait()
                pace = Pace()
            await pace.after(1.0 / self.args.rate)
            if not self.scanning.is_set():
                continue
            self._walk()
            nodes = lid.rplidar_scan(
                self.people,
                revolutions=1,
                nodes_per_revolution=self.args.nodes,
                descriptor=False,
                corrupt_every=self.args.bad_checksum_every,
                seed=self.rng.randrange(1 << 30),
            )
            self.pty.write(nodes[:-5])  # the last node only closes a recording's last turn
            self.report(f"revolution, {len(self.people)} people in view")
            if every(self.args.disconnect_every, self.sent):
                return

    async def run(self) -> None:
        with self.pty:
            self.say(f"{self.device}: {self.target()}: ready")
            while self.more():
                async with asyncio.TaskGroup() as tg:
                    reader = tg.create_task(self._commands(), name="simulator:rplidar-commands")
                    await tg.create_task(self._scan(), name="simulator:rplidar-scan")
                    reader.cancel()
                if self.more():
                    self.say(f"{self.device}: unplugging and replugging (fault)")
                    self.scanning.clear()
                    self.pty.replug()


class Xovis(HttpOrMqttSimulator):
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
        t = now().replace(microsecond=0)
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
