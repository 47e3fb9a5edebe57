"""An output outage under a steady load: what the durable queue costs and keeps.

    .venv/bin/python bench/outage_bench.py               # a 10-minute outage (~11 min)
    .venv/bin/python bench/outage_bench.py --minutes 2 --json out.json

A publisher process sends crowd-counter readings at ``--rate`` msg/s (QoS 1)
to a private Mosquitto; ``hub run`` (``generic_json`` source, sequence numbers,
so stable ``event_id`` s) feeds a ``sqlite`` output and a webhook (``http``
output) to a receiver in this process. 10 s into the run the receiver answers
``503`` for ``--minutes``; then it is back and the bench measures how long the
webhook takes to catch up. Reported: events lost per output (sent minus
distinct ``event_id`` s received) and dropped by each output's queue bounds,
the hub's RSS at the start, middle and end of the outage and after the drain,
the disk used by ``data_dir/queues`` (before the outage, at its end, once
drained, after the hub stopped), the time to drain (until the webhook's queue is
empty), and every ``--sample-s`` during the outage RSS, disk, the webhook's
queue depth and drops and the load average. The webhook's queue may take
``--queue-max-mb`` (default 1 GiB: a 10-minute backlog of these events is
~340 MB; with the hub's default 256 MiB it drops the oldest, counted, after
~7 minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mqtt_bench import BROKER_CONFIG, ZONES, child, rss_mb

LEAD_S = 10.0  # receiver up before the outage
TAIL_S = 10.0  # publishing goes on this long after the receiver is back


def hub_config(directory: Path, port: int, hook_port: int, queue_max_mb: int) -> Path:
    zones = "\n".join(f'[[site.zones]]\nid = "z{i}"\narea_m2 = 100.0\n' for i in range(ZONES))
    text = f"""
[hub]
data_dir = "{directory / "data"}"
log_level = "warning"
status_interval_s = 0.5

[site]
id = "bench"
{zones}
[[transports.mqtt]]
id = "default"
host = "127.0.0.1"
port = {port}

[[sources.generic_json]]
id = "counters"
broker = "default"
topics = ["sensors/+/raw"]
qos = 1
measurement = "occupancy"
zone_expr = "zone"
count = "count"
device = "sensor"
sequence = "seq"

[[sinks.sqlite]]
id = "store"

[[sinks.http]]
id = "hook"
url = "http://127.0.0.1:{hook_port}/hook"
view = "internal"
retry_initial_s = 0.5
retry_max_s = 2
batch_size = 1000
queue_max_bytes = {queue_max_mb * 2**20}
"""
    path = directory / "hub.toml"
    path.write_text(text)
    return path


def sinks_of(status_file: Path) -> dict[str, Any]:
    """The outputs in the hub's status.json ({} while it is being replaced)."""
    try:
        sinks: dict[str, Any] = json.loads(status_file.read_text())["sinks"]
    except (OSError, ValueError, KeyError):
        return {}
    return sinks


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    from hub.testing import HubProcess
    from hub.testing.mosquitto import Mosquitto

    got: set[str] = set()
    state = {"down": False}

    async def hook(request: web.Request) -> web.Response:
        if state["down"]:
            return web.Response(status=503, text="down for the bench")
        body = await request.json()
        # the counters' events only (the zone model adds its own)
        got.update(e["event_id"] for e in body["events"] if e["source"] == "counters")
        return web.Response(status=204)

    app = web.Application(client_max_size=64 * 2**20)
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hook_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    outage_s = args.minutes * 60
    total_s = LEAD_S + outage_s + TAIL_S
    n = int(args.rate * total_s)
    out: dict[str, Any] = {
        "rate": args.rate,
        "outage_s": outage_s,
        "sent": n,
        "queue_max_mb": args.queue_max_mb,
    }
    with (
        tempfile.TemporaryDirectory(prefix="outage-bench-") as tmp,
        Mosquitto(Path(tmp) / "broker", extra_config=BROKER_CONFIG) as broker,
    ):
        cfg = hub_config(Path(tmp), broker.port, hook_port, args.queue_max_mb)
        status_file = Path(tmp) / "data" / "status.json"
        proc = HubProcess(cfg, Path(tmp) / "hub.log", cwd=Path(tmp)).start()
        await asyncio.sleep(3)  # started and subscribed
        proc.check_alive()
        pub = child(["_pub", str(broker.port), str(n), "1", str(args.rate)])
        t0 = time.monotonic()
        rss: dict[str, float] = {}
        await asyncio.sleep(LEAD_S)
        queues = Path(tmp) / "data" / "queues"
        disk = {"before_outage": du(queues)}
        state["down"] = True
        down_at = time.monotonic()
        rss["start"] = rss_mb(proc.pid)
        samples: list[dict[str, float]] = []
        middle_done = False
        while (left := down_at + outage_s - time.monotonic()) > 0:
            await asyncio.sleep(min(left, args.sample_s))
            elapsed = time.monotonic() - down_at
            if not middle_done and elapsed >= outage_s / 2 - 0.5:
                rss["middle"] = rss_mb(proc.pid)
                middle_done = True
            hook = sinks_of(status_file).get("hook", {})
            samples.append(
                {
                    "t_s": round(elapsed),
                    "rss_mb": round(rss_mb(proc.pid), 1),
                    "queues_mb": round(du(queues) / 2**20, 1),
                    "webhook_queued": hook.get("queued"),
                    "webhook_dropped": sum(hook.get("dropped", {}).values()),
                    "load1": round(os.getloadavg()[0], 2),
                }
            )
            print(f"outage {samples[-1]}", file=sys.stderr)
        rss.setdefault("middle", rss_mb(proc.pid))
        rss["end"] = rss_mb(proc.pid)
        disk["end_of_outage"] = du(queues)
        out["samples"] = samples
        state["down"] = False
        back = time.monotonic()
        print(f"receiver back after {back - t0:.0f} s; draining", file=sys.stderr)
        await asyncio.to_thread(pub.communicate)
        sent = n
        deadline = time.monotonic() + max(120.0, outage_s)
        # drained: the webhook's queue is empty (what its bound dropped never comes)
        while time.monotonic() < deadline:
            if len(got) >= sent or sinks_of(status_file).get("hook", {}).get("queued") == 0:
                break
            await asyncio.sleep(0.05)
        out["drain_s"] = round(time.monotonic() - back, 1)
        await asyncio.sleep(2)  # the queue compacts once drained
        disk["drained"] = du(queues)
        out["rss_mb"] = {k: round(v, 1) for k, v in rss.items()}
        out["rss_mb"]["after_drain"] = round(rss_mb(proc.pid), 1)
        out["dropped"] = {sid: s["dropped"] for sid, s in sinks_of(status_file).items()}
        hub_exit = await proc.stop_async(300)
        with sqlite3.connect(Path(tmp) / "data" / "events.sqlite") as db:
            stored = db.execute(
                "SELECT count(DISTINCT event_id) FROM events WHERE source = 'counters'"
            ).fetchone()[0]
        disk["stopped"] = du(queues)
        out["queue_disk_mb"] = {k: round(v / 2**20, 1) for k, v in disk.items()}
        out["lost_webhook"] = sent - len(got)
        out["lost_sqlite"] = sent - stored
        out["hub_exit"] = hub_exit
        out["load_avg_1_5_15_at_end"] = [round(x, 2) for x in os.getloadavg()]
    await runner.cleanup()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="outage length (default 10)")
    p.add_argument("--rate", type=float, default=1000.0, help="messages per second")
    p.add_argument(
        "--queue-max-mb",
        type=int,
        default=1024,
        help="the webhook's queue_max_bytes in MiB (default 1024: a 10-minute outage at "
        "1,000 msg/s fits; with the hub's default 256 the oldest are dropped, counted)",
    )
    p.add_argument(
        "--sample-s", type=float, default=60.0, help="RSS/disk/load sample interval (default 60)"
    )
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args()
    result = asyncio.run(bench(args))
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
