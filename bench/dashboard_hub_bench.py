"""What live viewers cost a whole ``hub run``: its CPU and RSS with 50 dashboard streams
against none, at a steady 1,000 events/s over MQTT, alternating in the same run.

    .venv/bin/python bench/dashboard_hub_bench.py              # 3 rounds x 2 x 20 s, ~2.5 min
    .venv/bin/python bench/dashboard_hub_bench.py --rounds 5 --window-s 30 --json out.json

Flow: a private Mosquitto (``hub.testing.mosquitto``); ``hub run`` as a process with 20
zones, each with 3 counting cameras and a counting line (two ``generic_json`` sources over
the MQTT transport: occupancy, and crossings in/out: one reading in four), the
bundled ``sqlite`` output (as the demo has it), its HTTP server on 127.0.0.1 and two
``[[views]]`` with tokens: ``full`` (everything) and ``part`` (5 zones). A publisher
process sends ``--rate`` readings per second (10 ms batches, raw MQTT 3.1.1 on a
blocking socket, ``wire.py``) for the whole run; every reading moves, so every zone and
line changes every second and is streamed.

Rounds alternate ``0`` and ``--streams`` open streams (``/api/v1/stream``, half on each
view, opened by a separate aiohttp client process whose CPU is not counted). After
``--settle-s`` a window of ``--window-s`` measures the hub process's CPU (utime + stime
of all its threads from ``/proc/<pid>/stat``) and its RSS, and its ingest rate from
``/metrics`` (``crowdhub_source_events_total``), so a window where the hub fell behind
shows. The client reports, per stream, the messages it read in the window; every stream
must have received zone updates, else the run fails. Reported: hub CPU % of one core and
RSS per window, the medians, their ratio and the difference per stream.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import wire

if TYPE_CHECKING:
    from hub.testing import HubProcess

PY = sys.executable
ZONES, CAMERAS_PER_ZONE = 20, 3
TICK = os.sysconf("SC_CLK_TCK")
TOKENS = {"full": "bench-full-token-0123456789", "part": "bench-part-token-0123456789"}


# -- load generators (child processes) ------------------------------------------------------


def publisher(port: int, rate: int, seconds: float) -> dict[str, Any]:
    """``rate`` readings per second (3 camera counts, then a gate's crossings) in 10 ms
    batches for ``seconds``."""
    sock = wire.connect("127.0.0.1", port, f"bench-pub-{os.getpid()}")
    rnd = random.Random(7)
    cams = [(f"c{z:02d}{k}", f"z{z}") for z in range(ZONES) for k in range(CAMERAS_PER_ZONE)]
    topics = {c: f"sensors/{c}/raw".encode() for c, _ in cams}
    gate_topics = [f"gates/gate{z:02d}/raw".encode() for z in range(ZONES)]
    counts = {c: 300 + 10 * i for i, (c, _) in enumerate(cams)}  # 0.15-0.45 p/m², green
    per_batch = max(1, rate // 100)
    start = time.monotonic()
    sent = b = 0
    while time.monotonic() - start < seconds:
        chunk = []
        for _ in range(per_batch):
            if sent % 4 == 3:
                z = (sent // 4) % ZONES
                # ~1.25 people/s each way over a 6 m line: ~25 p/m/min, calm (Fruin A-B)
                cin, cout = int(rnd.random() < 0.1), int(rnd.random() < 0.1)
                body = f'{{"gate":"gate{z:02d}","line":"g{z}","in":{cin},"out":{cout}}}'
                chunk.append(wire.publish(gate_topics[z], body.encode()))
            else:
                cam, zone = cams[sent % len(cams)]
                counts[cam] = max(0, counts[cam] + rnd.randint(-15, 15))
                body = f'{{"sensor":"{cam}","zone":"{zone}","count":{counts[cam]}}}'
                chunk.append(wire.publish(topics[cam], body.encode()))
            sent += 1
        sock.sendall(b"".join(chunk))
        b += 1
        delay = start + b * 0.01 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    elapsed = time.monotonic() - start
    wire.disconnect(sock)
    return {"sent": sent, "seconds": round(elapsed, 2), "rate": round(sent / elapsed)}


async def streams(url: str, n: int, settle_s: float, window_s: float) -> dict[str, Any]:
    """``n`` SSE streams: ``ready`` once each has its snapshot; counts each one's messages
    by type during the window (``settle_s`` after ready, for ``window_s``)."""
    from aiohttp import ClientSession, ClientTimeout

    counting = asyncio.Event()
    done = asyncio.Event()
    got: list[dict[str, int]] = [{} for _ in range(n)]
    snapshots = 0
    all_ready = asyncio.Event()

    async def one(i: int, s: ClientSession) -> None:
        nonlocal snapshots
        token = TOKENS["full" if i % 2 == 0 else "part"]
        async with s.get(url, headers={"Authorization": f"Bearer {token}"}) as r:
            if r.status != 200:
                raise SystemExit(f"stream {i}: HTTP {r.status}")
            seen_snapshot = False
            while not done.is_set():
                line = await r.content.readline()
                if not line:
                    raise SystemExit(f"stream {i} ended early")
                if not line.startswith(b"event:"):
                    continue
                kind = line[6:].strip().decode()
                if kind == "snapshot" and not seen_snapshot:
                    seen_snapshot = True
                    snapshots += 1
                    if snapshots == n:
                        all_ready.set()
                if counting.is_set():
                    got[i][kind] = got[i].get(kind, 0) + 1

    async with ClientSession(timeout=ClientTimeout(total=None, sock_read=30)) as s:
        tasks = [asyncio.create_task(one(i, s)) for i in range(n)]
        await asyncio.wait_for(all_ready.wait(), 60)
        print("ready", flush=True)
        await asyncio.sleep(settle_s)
        counting.set()
        await asyncio.sleep(window_s)
        done.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    zone_msgs = [g.get("zone", 0) for g in got]
    return {
        "streams": n,
        "messages": sum(sum(g.values()) for g in got),
        "zone_msgs_min": min(zone_msgs),
        "zone_msgs_max": max(zone_msgs),
        "without_zone_updates": sum(1 for z in zone_msgs if z == 0),
        "by_type": {k: sum(g.get(k, 0) for g in got) for k in sorted({k for g in got for k in g})},
    }


# -- the hub ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hub_config(directory: Path, mqtt_port: int, http_port: int) -> Path:
    zones = "\n".join(
        f'[[site.zones]]\nid = "z{i}"\narea_m2 = 2000.0\ncapacity = 5000\n'
        f'[[site.lines]]\nid = "g{i}"\nzone = "z{i}"\nwidth_m = 6.0\n'
        for i in range(ZONES)
    )
    part = ", ".join(f'"z{i}"' for i in range(5))
    text = f"""
[hub]
data_dir = "data"
log_level = "warning"

[site]
id = "bench"
{zones}

[[transports.mqtt]]
id = "default"
host = "127.0.0.1"
port = {mqtt_port}

[[transports.http]]
id = "default"
host = "127.0.0.1"
port = {http_port}

[[sources.generic_json]]
id = "cameras"
broker = "default"
topics = ["sensors/+/raw"]
measurement = "occupancy"
zone_expr = "zone"
count = "count"
device = "sensor"

[[sources.generic_json]]
id = "gates"
broker = "default"
topics = ["gates/+/raw"]
measurement = "crossing"
line_expr = "line"
in = "in"
out = "out"
device = "gate"

[[sinks.sqlite]]
id = "store"
path = "events.sqlite"

[[views]]
id = "full"
token = "${{BENCH_FULL_TOKEN}}"

[[views]]
id = "part"
token = "${{BENCH_PART_TOKEN}}"
zones = [{part}]
"""
    path = directory / "hub.toml"
    path.write_text(text)
    return path


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime of every thread


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ingested(http_port: int) -> float:
    """``crowdhub_source_events_total`` over every source, from the hub's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("crowdhub_source_events_total")
    )


def zones_filled(http_port: int) -> bool:
    """Every zone has an occupancy on the dashboard API (the pipeline is warm)."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{http_port}/api/v1/zones",
        headers={"Authorization": f"Bearer {TOKENS['full']}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            zones = json.loads(r.read())["zones"]
    except OSError:
        return False
    return len(zones) == ZONES and all(z.get("occupancy") is not None for z in zones)


def child(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PY, __file__, *args], stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL
    )


def window(hub: HubProcess, http_port: int, n: int, args: argparse.Namespace) -> dict[str, Any]:
    """One measured window with ``n`` open streams."""
    client = None
    if n:
        url = f"http://127.0.0.1:{http_port}/api/v1/stream"
        client = child(["_streams", url, str(n), str(args.settle_s), str(args.window_s)])
        assert client.stdout is not None
        if client.stdout.readline().strip() != "ready":
            raise SystemExit("the stream client did not get its snapshots")
    time.sleep(args.settle_s)
    ev0, t0, w0 = ingested(http_port), cpu_ticks(hub.pid), time.monotonic()
    time.sleep(args.window_s)
    ev1, t1, w1 = ingested(http_port), cpu_ticks(hub.pid), time.monotonic()
    wall = w1 - w0
    row: dict[str, Any] = {
        "streams": n,
        "hub_cpu_pct": round(100 * (t1 - t0) / TICK / wall, 1),
        "rss_mb": round(rss_mb(hub.pid), 1),
        "events_per_s": round((ev1 - ev0) / wall),
    }
    if client is not None:
        out, _ = client.communicate(timeout=60)
        seen = json.loads(out)
        if seen["without_zone_updates"]:
            raise SystemExit(f"{seen['without_zone_updates']} stream(s) got no zone update")
        row["stream_msgs_per_s"] = round(seen["messages"] / args.window_s)
        row["zone_msgs_per_stream"] = [seen["zone_msgs_min"], seen["zone_msgs_max"]]
        row["msgs_per_s_by_type"] = {
            k: round(v / args.window_s) for k, v in seen["by_type"].items()
        }
    print(row, flush=True)
    return row


def run(args: argparse.Namespace) -> dict[str, Any]:
    from hub.testing import HubProcess
    from hub.testing.mosquitto import Mosquitto

    rows: list[dict[str, Any]] = []
    load_start = os.getloadavg()
    per_window = args.settle_s + args.window_s + 3
    total_s = 30 + 2 * args.rounds * per_window + 30  # warm-up, windows, slack
    with (
        tempfile.TemporaryDirectory(prefix="dashboard-hub-bench-") as tmp,
        Mosquitto(Path(tmp) / "broker", extra_config=["set_tcp_nodelay true"]) as broker,
    ):
        http_port = free_port()
        config = hub_config(Path(tmp), broker.port, http_port)
        env = {"BENCH_FULL_TOKEN": TOKENS["full"], "BENCH_PART_TOKEN": TOKENS["part"]}
        hub = HubProcess(config, Path(tmp) / "hub.log", env=env, cwd=Path(tmp)).start()
        pub = child(["_pub", str(broker.port), str(args.rate), str(total_s)])
        try:
            hub.wait_until(lambda: zones_filled(http_port), 60, "every zone's occupancy")
            time.sleep(args.settle_s)
            for r in range(args.rounds):
                order = (0, args.streams) if r % 2 == 0 else (args.streams, 0)
                for n in order:
                    rows.append(window(hub, http_port, n, args))
        finally:
            pub.terminate()
            pub.wait(10)
            hub.stop(30)
    idle = [w for w in rows if w["streams"] == 0]
    busy = [w for w in rows if w["streams"] == args.streams]
    cpu0 = statistics.median(w["hub_cpu_pct"] for w in idle)
    cpu1 = statistics.median(w["hub_cpu_pct"] for w in busy)
    return {
        "rate": args.rate,
        "zones": ZONES,
        "streams": args.streams,
        "window_s": args.window_s,
        "windows": rows,
        "median_cpu_pct": {"0": cpu0, str(args.streams): cpu1},
        "cpu_ratio": round(cpu1 / cpu0, 2) if cpu0 else None,
        "extra_cpu_pct": round(cpu1 - cpu0, 1),
        "extra_cpu_pct_per_stream": round((cpu1 - cpu0) / max(1, args.streams), 3),
        "median_rss_mb": {
            "0": statistics.median(w["rss_mb"] for w in idle),
            str(args.streams): statistics.median(w["rss_mb"] for w in busy),
        },
        "load_avg_start": load_start,
        "load_avg": os.getloadavg(),
        "cpus": os.cpu_count(),
    }


def table(r: dict[str, Any]) -> str:
    s = r["streams"]
    lines = [
        f"hub run, {r['zones']} zones, {r['rate']} events/s over MQTT, windows of "
        f"{r['window_s']} s, alternating 0 and {s} streams",
        "",
        "| streams | hub CPU % of one core | RSS MB | events/s in | stream msgs/s |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for w in r["windows"]:
        msgs = w.get("stream_msgs_per_s", 0)
        lines.append(
            f"| {w['streams']} | {w['hub_cpu_pct']} | {w['rss_mb']} | {w['events_per_s']} "
            f"| {msgs} |"
        )
    m = r["median_cpu_pct"]
    lines += [
        "",
        f"median CPU: {m['0']} % (0 streams) vs {m[str(s)]} % ({s} streams): ratio "
        f"{r['cpu_ratio']}, +{r['extra_cpu_pct']} % of one core, "
        f"{r['extra_cpu_pct_per_stream']} % per stream",
        f"median RSS: {r['median_rss_mb']['0']:.1f} MB vs {r['median_rss_mb'][str(s)]:.1f} MB; "
        f"load average {r['load_avg_start'][0]:.2f} at the start, "
        f"{', '.join(f'{x:.2f}' for x in r['load_avg'])} at the end "
        f"on {r['cpus']} CPUs",
    ]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_pub":
        port, rate, seconds = sys.argv[2:5]
        print(json.dumps(publisher(int(port), int(rate), float(seconds))))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_streams":
        url, n, settle, win = sys.argv[2:6]
        print(json.dumps(asyncio.run(streams(url, int(n), float(settle), float(win)))))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=int, default=1000, help="events per second (default 1,000)")
    p.add_argument("--streams", type=int, default=50, help="open streams (default 50)")
    p.add_argument("--rounds", type=int, default=3, help="rounds of 0 / N streams (default 3)")
    p.add_argument("--window-s", type=float, default=20.0, help="measured seconds per window")
    p.add_argument("--settle-s", type=float, default=3.0, help="unmeasured seconds before one")
    p.add_argument("--json", type=Path, help="also write the raw results here")
    args = p.parse_args()
    if not Path("/proc/self/stat").exists():
        raise SystemExit("needs Linux /proc for CPU accounting")
    result = run(args)
    print()
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
