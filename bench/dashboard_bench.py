"""What live viewers cost: hub CPU with 50 open dashboard streams against none, same run.

    .venv/bin/python bench/dashboard_bench.py                 # 2 x 20 s, ~50 s in all
    .venv/bin/python bench/dashboard_bench.py --streams 50 --rate 1000 --seconds 60 --json out.json

One process plays the hub's side: a ZoneModel (20 zones, each with a counting line, a
camera and a WiFi counter) fed ``--rate`` events per second in 10 ms batches, ticked
once a second with ``ZoneModelProvider.update`` as the zone stage will, and the
dashboard served by aiohttp on 127.0.0.1. Events are built before the clock starts
(building them is the source's cost, measured by mqtt_bench). Every reading moves a
little, so every zone and line changes every second and is streamed.

Phase 1 measures that process's CPU (``time.process_time``) with no viewer; phase 2
with ``--streams`` server-sent-event streams opened by a separate client process (its
CPU is not counted): half on a full-detail view, half on a view of 5 zones. Reported:
hub CPU in % of one core per phase, the difference, per stream, and the messages sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

from hub import Crossing, Devices, Event, Line, Occupancy, Provenance, Site, Zone
from hub.dashboard import (
    DASHBOARD,
    DashboardView,
    StaticViewAuth,
    ZoneModelProvider,
    make_dashboard_app,
)
from hub.zones import ZoneModel

ZONES = 20
PROV = Provenance(plugin="bench", plugin_version="1", transport="mqtt")
TOKENS = {"full": "bench-full-token-0123456789", "part": "bench-part-token-0123456789"}


def site() -> Site:
    zones = [Zone(id=f"z{i}", area_m2=2000, capacity=5000) for i in range(ZONES)]
    lines = [Line(id=f"g{i}", zone=f"z{i}", width_m=6) for i in range(ZONES)]
    return Site(id="bench", zones=tuple(zones), lines=tuple(lines))


def events(rate: int, seconds: int, start: datetime) -> list[list[Event]]:
    """Per 10 ms batch, the events of that batch (camera, WiFi and gate readings in turn)."""
    rnd = random.Random(7)
    per_batch = max(1, rate // 100)
    out = []
    for b in range(seconds * 100):
        at = start + timedelta(milliseconds=10 * b)
        batch = []
        for k in range(per_batch):
            n = b * per_batch + k
            z = n % ZONES
            kind = (n // ZONES) % 3
            if kind == 0:
                m: Any = Occupancy(count=1500 + rnd.randint(-200, 200))
                kw: dict[str, Any] = {"zone": f"z{z}", "observed_at": at}
                src = f"cam-{z}"
            elif kind == 1:
                m = Devices(count=900 + rnd.randint(-50, 50))
                kw = {
                    "zone": f"z{z}",
                    "observed_from": at - timedelta(seconds=60),
                    "observed_to": at,
                }
                src = f"wifi-{z}"
            else:
                m = Crossing(in_=rnd.randint(0, 3), out=rnd.randint(0, 3))
                kw = {
                    "line": f"g{z}",
                    "observed_from": at - timedelta(seconds=1),
                    "observed_to": at,
                }
                src = f"gate-{z}"
            batch.append(
                Event.create(
                    source=src, kind="bench", measurement=m, provenance=PROV, received_at=at, **kw
                )
            )
        out.append(batch)
    return out


async def clients(url: str, n: int, ready: Path) -> None:
    """The viewer side (its own process): ``n`` streams, read and discarded."""
    async with ClientSession(timeout=ClientTimeout(total=None, sock_read=None)) as s:

        async def one(i: int) -> None:
            token = TOKENS["full" if i % 2 == 0 else "part"]
            async with s.get(url, headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 200, r.status
                await r.content.readline()
                if i == n - 1:
                    ready.write_text("ok")
                async for _ in r.content.iter_any():
                    pass

        await asyncio.gather(*(one(i) for i in range(n)))


async def hub_side(args: argparse.Namespace) -> dict[str, Any]:
    start = datetime.now(UTC)
    phase_s = args.seconds
    total_s = 2 * (phase_s + args.warmup_s) + 5
    print(f"building {args.rate * total_s:,} events ...", flush=True)
    batches = events(args.rate, total_s, start)
    model = ZoneModel(site())
    provider = ZoneModelProvider(model)
    views = [
        (TOKENS["full"], DashboardView(id="full")),
        (TOKENS["part"], DashboardView(id="part", zones=frozenset(f"z{i}" for i in range(5)))),
    ]
    app = make_dashboard_app(provider, StaticViewAuth(views))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    port = tcp._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    streams = app[DASHBOARD].streams
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    i = 0
    next_tick = 1.0

    async def feed_until(deadline: float) -> None:
        nonlocal i, next_tick
        while loop.time() - t0 < deadline:
            model_now = start + timedelta(seconds=loop.time() - t0)
            for e in batches[i % len(batches)]:
                model.ingest(e)
            i += 1
            if loop.time() - t0 >= next_tick:
                model.tick(model_now)
                provider.update(model_now)
                next_tick += 1.0
            await asyncio.sleep(max(0.0, t0 + i * 0.01 - loop.time()))

    async def measure(label: str) -> dict[str, Any]:
        await feed_until(loop.time() - t0 + args.warmup_s)
        sent0, c0, w0, i0 = streams.sent, time.process_time(), time.perf_counter(), i
        await feed_until(loop.time() - t0 + phase_s)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        rate = (i - i0) * max(1, args.rate // 100) / wall
        row = {
            "phase": label,
            "streams": len(streams),
            "events_per_s": round(rate),
            "hub_cpu_pct": round(100 * cpu / wall, 1),
            "stream_msgs_per_s": round((streams.sent - sent0) / wall),
        }
        print(row, flush=True)
        return row

    idle = await measure("no viewers")
    ready = Path(f"/tmp/dashboard_bench_ready_{port}")
    ready.unlink(missing_ok=True)
    proc = await asyncio.create_subprocess_exec(
        *[
            sys.executable,
            __file__,
            "--clients",
            str(args.streams),
            "--url",
            f"http://127.0.0.1:{port}/api/v1/stream",
            "--ready",
            str(ready),
        ]
    )
    try:
        while not ready.exists():
            await feed_until(loop.time() - t0 + 0.1)
            if proc.returncode is not None:
                raise RuntimeError("the client process ended early")
        viewers = await measure(f"{args.streams} viewers")
    finally:
        proc.terminate()
        await proc.wait()
        ready.unlink(missing_ok=True)
        await runner.cleanup()
    extra = viewers["hub_cpu_pct"] - idle["hub_cpu_pct"]
    result = {
        "rate": args.rate,
        "zones": ZONES,
        "phases": [idle, viewers],
        "extra_cpu_pct": round(extra, 1),
        "extra_cpu_pct_per_stream": round(extra / max(1, args.streams), 3),
    }
    print(
        f"\n{args.streams} streams add {extra:.1f} % of one core "
        f"({extra / max(1, args.streams):.3f} % per stream) at {args.rate} events/s"
    )
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rate", type=int, default=1000, help="events per second into the model")
    p.add_argument("--streams", type=int, default=50, help="open dashboard streams in phase 2")
    p.add_argument("--seconds", type=int, default=20, help="measured seconds per phase")
    p.add_argument("--warmup-s", type=int, default=3, help="unmeasured seconds before a phase")
    p.add_argument("--json", type=Path, help="write the result here")
    p.add_argument("--clients", type=int, help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--ready", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.clients:
        asyncio.run(clients(args.url, args.clients, args.ready))
        return
    result = asyncio.run(hub_side(args))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
