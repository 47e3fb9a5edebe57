"""The hub's MQTT path against a broker-only baseline, measured in the same run.

    .venv/bin/python bench/mqtt_bench.py                 # ~1 min, prints a table
    .venv/bin/python bench/mqtt_bench.py --n 200000 --steady-s 20 --json out.json
    .venv/bin/python bench/mqtt_bench.py --views 0,1,3   # the cost of view stages, same run
    .venv/bin/python bench/mqtt_bench.py --queue durable     # one queue class only

Flow (see README.md): a publisher process sends N crowd-counter JSON readings
(50 sensors, 5 zones) to ``sensors/<id>/raw`` on a private Mosquitto; the hub
(``hub run``: ``generic_json`` source over the MQTT transport, full event
validation, ``mqtt`` sink) republishes normalised events to
``hub/events/<zone>``; a subscriber process counts them and takes the latency
from the send timestamp carried in the payload (``extras.generic_json.ts``).
The baseline is publisher -> broker -> subscriber with no hub. Publisher and
subscriber speak raw MQTT 3.1.1 on blocking sockets (``wire.py``).

``--views 0,1,3`` measures instead what view stages cost: QoS 0 floods through hubs
with 0, 1 and 3 views (``--repeat`` rounds, the counts interleaved so a change in the
machine's load hits all alike). With 0 views the ``mqtt`` sink names ``internal``
(full detail); with N views it names the first, and every other view has an output
whose ``measurements`` filter takes none of these events, so each view's stage runs
on every event while the sinks' work stays the same. The views let everything through
(all five zones listed, ``occupancy``, ``vendor_extras`` kept for the latency stamp):
the stage's filter and its per-event bookkeeping, not a transformation. The outputs
use memory queues (less noise) unless ``--queue durable``.
Reported: hub CPU per message per view count, and per event per view
``(cpu(N) - cpu(0)) / N``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import wire

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
SENSORS, ZONES = 50, 5
PAYLOAD = '{"sensor":"s%02d","zone":"z%d","seq":%d,"count":%d,"battery":3712,"fw":"2.4.1","ts":%d}'
TICK = os.sysconf("SC_CLK_TCK")
BROKER_CONFIG = [
    # a QoS 1 subscriber slower than the publisher must not lose messages in the broker
    "max_queued_messages 0",
    # Mosquitto leaves Nagle on for its clients: ~8 ms p50 on 600-byte events at 1,000/s
    "set_tcp_nodelay true",
]


# -- load generators (run as child processes) ---------------------------------------------


def publisher(port: int, n: int, qos: int, rate: float) -> dict[str, Any]:
    sock = wire.connect("127.0.0.1", port, f"bench-pub-{os.getpid()}")
    topics = [f"sensors/s{i:02d}/raw".encode() for i in range(SENSORS)]
    reader, unacked, window = wire.Reader(), 0, 2000
    pid = 0

    def collect(block: bool) -> None:
        nonlocal unacked
        sock.setblocking(block)
        try:
            data = sock.recv(1 << 16)
        except BlockingIOError:
            return
        finally:
            sock.setblocking(True)
        for first, _ in reader.feed(data):
            if first >> 4 == wire.PUBACK:
                unacked -= 1

    def message(i: int) -> bytes:
        nonlocal pid, unacked
        s = i % SENSORS
        body = PAYLOAD % (s, s % ZONES, i, i % 97, time.time_ns())
        if qos:
            pid = pid % 65535 + 1
            unacked += 1
        return wire.publish(topics[s], body.encode(), qos, pid)

    start = time.time_ns()
    if rate <= 0:  # flood, in chunks of 100
        i = 0
        while i < n:
            chunk = b"".join(message(j) for j in range(i, min(n, i + 100)))
            i += 100
            sock.sendall(chunk)
            if qos:
                collect(False)
                while unacked > window:
                    collect(True)
    else:
        for i in range(n):
            due = start + int(i * 1e9 / rate)
            delay = (due - time.time_ns()) / 1e9
            if delay > 0:
                time.sleep(delay)
            sock.sendall(message(i))
            if qos:
                collect(False)
    while qos and unacked > 0:
        collect(True)
    end = time.time_ns()
    wire.disconnect(sock)
    return {"sent": n, "start_ns": start, "end_ns": end}


def subscriber(port: int, topic_filter: str, qos: int, n: int, idle_s: float) -> dict[str, Any]:
    sock = wire.connect("127.0.0.1", port, f"bench-sub-{os.getpid()}")
    wire.subscribe(sock, [topic_filter], qos)
    print("ready", flush=True)
    reader, lat, first_ts, last_recv = wire.Reader(), [], None, 0
    sock.settimeout(30.0)  # the first message may take a while (hub start)
    while len(lat) < n:
        try:
            data = sock.recv(1 << 20)
        except TimeoutError:
            break
        if not data:
            break
        now = time.time_ns()
        acks = []
        for first, body in reader.feed(data):
            if first >> 4 != wire.PUBLISH:
                continue
            at = body.find(b'"ts":')
            if at < 0:
                continue
            end = at + 5
            while body[end] in b"0123456789":
                end += 1
            ts = int(body[at + 5 : end])
            if first_ts is None or ts < first_ts:
                first_ts = ts
            lat.append(now - ts)
            if (first >> 1) & 3:
                tlen = (body[0] << 8) | body[1]
                acks.append(wire.puback((body[2 + tlen] << 8) | body[3 + tlen]))
        if acks:
            sock.sendall(b"".join(acks))
        last_recv = now
        sock.settimeout(idle_s)
    wire.disconnect(sock)
    lat.sort()

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] / 1e6 if lat else float("nan")

    span = (last_recv - first_ts) / 1e9 if lat and first_ts else float("nan")
    return {
        "received": len(lat),
        "rate": len(lat) / span if lat else 0.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": lat[-1] / 1e6 if lat else float("nan"),
    }


# -- the hub under test ---------------------------------------------------------------------


def view_tables(views: int, queue: str) -> tuple[str, str]:
    """``[[views]]`` tables and the idle outputs of every view but the first."""
    zone_ids = ", ".join(f'"z{i}"' for i in range(ZONES))
    tables, sinks = [], []
    for i in range(1, views + 1):
        tables.append(
            f'[[views]]\nid = "v{i}"\nzones = [{zone_ids}]\nmeasurements = ["occupancy"]\n'
            "vendor_extras = true\n"
        )
        if i > 1:  # its stage runs on every event; its output takes none of them
            sinks.append(
                f'[[sinks.jsonl]]\nid = "idle-v{i}"\npath = "idle-v{i}.jsonl"\nview = "v{i}"\n'
                f'measurements = ["crossing"]\nqueue = "{queue}"\n'
            )
    return "\n".join(tables), "\n".join(sinks)


def hub_config(
    directory: Path,
    port: int,
    qos: int,
    protocol: str,
    overflow: str,
    queue: str = "durable",
    zones_on: bool = True,
    views: int = 0,
) -> Path:
    zones = "\n".join(f'[[site.zones]]\nid = "z{i}"\narea_m2 = 100.0\n' for i in range(ZONES))
    if not zones_on:  # no zone stage (the crowd picture)
        zones += "\n[zones]\nenabled = false\n"
    view_text, idle_sinks = view_tables(views, queue)
    text = f"""
[hub]
data_dir = "{directory}"
log_level = "warning"

[site]
id = "bench"
{zones}
[[transports.mqtt]]
id = "default"
host = "127.0.0.1"
port = {port}
protocol = "{protocol}"

[[sources.generic_json]]
id = "counters"
broker = "default"
topics = ["sensors/+/raw"]
qos = {qos}
measurement = "occupancy"
zone_expr = "zone"
count = "count"
device = "sensor"
extras = ["ts"]

{view_text}
[[sinks.mqtt]]
id = "events"
broker = "default"
topic = "hub/events/{{zone}}"
qos = {qos}
overflow = "{overflow}"
queue = "{queue}"
view = "{"v1" if views else "internal"}"

{idle_sinks}
"""
    zones_name = "on" if zones_on else "off"
    path = directory / f"hub-qos{qos}-{queue}-zones-{zones_name}-views{views}.toml"
    path.write_text(text)
    return path


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_for_hub(port: int, proc: subprocess.Popen[bytes], limit_s: float = 60.0) -> None:
    """Publish a reading every 100 ms until the hub's first event comes back."""
    sub = wire.connect("127.0.0.1", port, "bench-warmup-sub")
    wire.subscribe(sub, ["hub/events/#"], 0)
    pub = wire.connect("127.0.0.1", port, "bench-warmup-pub")
    sub.settimeout(0.1)
    reader = wire.Reader()
    deadline = time.monotonic() + limit_s
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"hub exited with status {proc.returncode}")
            body = PAYLOAD % (99, 0, 0, 1, time.time_ns())
            pub.sendall(wire.publish(b"sensors/warmup/raw", body.encode()))
            try:
                data = sub.recv(1 << 16)
            except TimeoutError:
                continue
            if any(first >> 4 == wire.PUBLISH for first, _ in reader.feed(data)):
                return
        raise SystemExit("the hub did not republish anything within 60 s")
    finally:
        wire.disconnect(sub)
        wire.disconnect(pub)


def start_hub(config: Path, port: int, cpu: int | None) -> subprocess.Popen[bytes]:
    cmd = [PY, "-m", "hub", "run", str(config)]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    proc = subprocess.Popen(cmd, cwd=config.parent, stdin=subprocess.DEVNULL)
    wait_for_hub(port, proc)
    return proc


# -- orchestration --------------------------------------------------------------------------


def child(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PY, __file__, *args], stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL
    )


def measure(
    port: int, topic_filter: str, qos: int, n: int, rate: float, hub_pid: int | None
) -> dict[str, Any]:
    idle = "3"
    sub = child(["_sub", str(port), topic_filter, str(qos), str(n), idle])
    assert sub.stdout is not None
    if sub.stdout.readline().strip() != "ready":
        raise SystemExit("subscriber did not start")
    ticks0 = cpu_ticks(hub_pid) if hub_pid else 0
    pub = child(["_pub", str(port), str(n), str(qos), str(rate)])
    out, _ = pub.communicate()
    sent = json.loads(out)
    result: dict[str, Any] = json.loads(sub.communicate()[0])
    result["sent"] = sent["sent"]
    result["lost"] = sent["sent"] - result["received"]
    if hub_pid:
        ticks = cpu_ticks(hub_pid) - ticks0
        result["hub_cpu_us_per_msg"] = ticks / TICK * 1e6 / max(1, result["received"])
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    from hub.testing.mosquitto import Mosquitto

    queues = ["memory", "durable"] if args.queue == "both" else [args.queue]
    results: dict[str, Any] = {"n": args.n, "steady_rate": 1000, "steady_s": args.steady_s}
    steady_n = int(1000 * args.steady_s)
    with (
        tempfile.TemporaryDirectory(prefix="mqtt-bench-") as tmp,
        Mosquitto(Path(tmp) / "broker", extra_config=BROKER_CONFIG) as broker,
    ):
        port = broker.port
        for qos in (0, 1):
            base = measure(port, "sensors/#", qos, args.n, 0, None)
            base_steady = measure(port, "sensors/#", qos, steady_n, 1000, None)
            results[f"qos{qos}"] = {"baseline": base, "baseline_steady": base_steady}
            for queue in queues:
                data = Path(tmp) / f"data-{qos}-{queue}"
                data.mkdir()
                cfg = hub_config(
                    data, port, qos, args.protocol, args.overflow, queue, args.zones == "on"
                )
                hub = start_hub(cfg, port, args.hub_cpu)
                try:
                    rss = [rss_mb(hub.pid)]  # after warm-up
                    flood = measure(port, "hub/events/#", qos, args.n, 0, hub.pid)
                    rss.append(rss_mb(hub.pid))
                    steady = measure(port, "hub/events/#", qos, steady_n, 1000, hub.pid)
                    rss.append(rss_mb(hub.pid))
                    flood["rss_mb"] = rss
                    flood["peak_rss_mb"] = peak_rss_mb(hub.pid)
                finally:
                    hub.terminate()
                    hub.wait(30)
                flood["ratio"] = flood["rate"] / base["rate"] if base["rate"] else float("nan")
                results[f"qos{qos}"][queue] = {"flood": flood, "steady": steady}
                report_progress(qos, queue, base, flood, steady)
    return results


def compare_zones(args: argparse.Namespace) -> dict[str, Any]:
    """QoS 0 floods through a hub without and with the zone stage, alternating, same broker."""
    from hub.testing.mosquitto import Mosquitto

    queue = "durable" if args.queue == "both" else args.queue
    cpu: dict[str, list[float]] = {"off": [], "on": []}
    rate: dict[str, list[float]] = {"off": [], "on": []}
    with (
        tempfile.TemporaryDirectory(prefix="mqtt-bench-") as tmp,
        Mosquitto(Path(tmp) / "broker", extra_config=BROKER_CONFIG) as broker,
    ):
        for r in range(args.rounds):
            for mode in ("off", "on"):
                data = Path(tmp) / f"data-{r}-{mode}"
                data.mkdir()
                on = mode == "on"
                cfg = hub_config(data, broker.port, 0, args.protocol, args.overflow, queue, on)
                hub = start_hub(cfg, broker.port, args.hub_cpu)
                try:
                    m = measure(broker.port, "hub/events/#", 0, args.n, 0, hub.pid)
                finally:
                    hub.terminate()
                    hub.wait(30)
                cpu[mode].append(m["hub_cpu_us_per_msg"])
                rate[mode].append(m["rate"])
                print(
                    f"round {r + 1} zones {mode}: {m['rate']:,.0f} msg/s, "
                    f"{m['hub_cpu_us_per_msg']:.1f} µs/msg, lost {m['lost']}",
                    file=sys.stderr,
                    flush=True,
                )
    return {"n": args.n, "rounds": args.rounds, "queue": queue, "cpu_us_per_msg": cpu, "rate": rate}


def zones_table(r: dict[str, Any]) -> str:
    def median(xs: list[float]) -> float:
        return sorted(xs)[len(xs) // 2]

    off, on = r["cpu_us_per_msg"]["off"], r["cpu_us_per_msg"]["on"]
    rows = [f"| hub (QoS 0 flood, {r['queue']} queue) | runs, µs/msg | median µs/msg |"]
    rows.append("| --- | --- | --- |")
    for name, xs in (("without zone stage", off), ("with zone stage", on)):
        rows.append(f"| {name} | {' / '.join(f'{x:.1f}' for x in xs)} | {median(xs):.1f} |")
    pairs = [b - a for a, b in zip(off, on, strict=True)]
    rows.append(
        f"\nzone stage: {median(on) - median(off):+.1f} µs/msg (medians); per round "
        + ", ".join(f"{d:+.1f}" for d in pairs)
    )
    return "\n".join(rows)


def run_views(args: argparse.Namespace, counts: list[int]) -> dict[str, Any]:
    """QoS 0 floods through hubs with each number of views, ``--repeat`` interleaved rounds."""
    from hub.testing.mosquitto import Mosquitto

    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in counts}
    queue = "durable" if args.queue == "durable" else "memory"  # memory: less noise
    load = [os.getloadavg()]
    with (
        tempfile.TemporaryDirectory(prefix="mqtt-bench-") as tmp,
        Mosquitto(Path(tmp) / "broker", extra_config=BROKER_CONFIG) as broker,
    ):
        for round_ in range(args.repeat):
            for n in counts:
                directory = Path(tmp) / f"r{round_}-v{n}"
                directory.mkdir()
                cfg = hub_config(
                    directory, broker.port, 0, args.protocol, args.overflow, queue, views=n
                )
                hub = start_hub(cfg, broker.port, args.hub_cpu)
                try:
                    m = measure(broker.port, "hub/events/#", 0, args.n, 0, hub.pid)
                finally:
                    hub.terminate()
                    hub.wait(30)
                runs[n].append(m)
                print(
                    f"round {round_ + 1}, {n} view(s): {m['rate']:,.0f} msg/s, "
                    f"{m['hub_cpu_us_per_msg']:.1f} µs/msg, lost {m['lost']}",
                    file=sys.stderr,
                    flush=True,
                )
    load.append(os.getloadavg())
    return {"n": args.n, "repeat": args.repeat, "queue": queue, "views": runs, "loadavg": load}


def views_table(r: dict[str, Any]) -> str:
    runs: dict[int, list[dict[str, Any]]] = {int(k): v for k, v in r["views"].items()}
    cpu = {n: statistics.median(m["hub_cpu_us_per_msg"] for m in ms) for n, ms in runs.items()}
    rows = [
        "| views | hub CPU µs/msg, each round | median | msg/s (median) | lost | "
        "added µs per event per view |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    base = cpu.get(0)
    for n, ms in runs.items():
        each = " / ".join(f"{m['hub_cpu_us_per_msg']:.1f}" for m in ms)
        rate = statistics.median(m["rate"] for m in ms)
        lost = sum(m["lost"] for m in ms)
        per_view = f"{(cpu[n] - base) / n:+.2f}" if n and base is not None else "—"
        rows.append(f"| {n} | {each} | {cpu[n]:.1f} | {rate:,.0f} | {lost} | {per_view} |")
    (a1, a5, _), (b1, b5, _) = r["loadavg"]
    rows.append(
        f"\nload average (1 / 5 min) at start {a1:.2f} / {a5:.2f}, at end {b1:.2f} / {b5:.2f} "
        f"on {os.cpu_count()} CPUs; {r['n']:,} messages per flood, {r['queue']} queues"
    )
    return "\n".join(rows)


def report_progress(
    qos: int, queue: str, base: dict[str, Any], hub: dict[str, Any], steady: dict[str, Any]
) -> None:
    print(
        f"QoS {qos} {queue}: baseline {base['rate']:,.0f} msg/s, hub {hub['rate']:,.0f} msg/s "
        f"(ratio {hub['ratio']:.3f}), lost {hub['lost']}; steady 1,000/s: "
        f"{steady['hub_cpu_us_per_msg']:.1f} µs CPU/msg, p99 {steady['p99_ms']:.2f} ms",
        file=sys.stderr,
        flush=True,
    )


def table(r: dict[str, Any]) -> str:
    rows = [
        "| path | QoS | queue | msg/s | hub/baseline | p50 ms | p99 ms | lost | hub CPU µs/msg |"
    ]
    rows.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    queues = [q for q in ("memory", "durable") if q in r["qos0"]]
    for qos in (0, 1):
        res = r[f"qos{qos}"]
        for run_name, base_key in (("flood", "baseline"), ("steady", "baseline_steady")):
            m = res[base_key]
            label = "flood" if run_name == "flood" else "steady 1,000 msg/s"
            rows.append(
                f"| baseline {label} | {qos} | n/a | {m['rate']:,.0f} | 1 | {m['p50_ms']:.2f} | "
                f"{m['p99_ms']:.2f} | {m['lost']} | n/a |"
            )
            for queue in queues:
                m = res[queue][run_name]
                ratio = m["rate"] / res[base_key]["rate"] if res[base_key]["rate"] else 0.0
                rows.append(
                    f"| hub {label} | {qos} | {queue} | {m['rate']:,.0f} | {ratio:.3f} | "
                    f"{m['p50_ms']:.2f} | {m['p99_ms']:.2f} | {m['lost']} | "
                    f"{m['hub_cpu_us_per_msg']:.1f} |"
                )
    if len(queues) == 2:
        rows.append("\nhub CPU per event, durable / memory (same run):")
        for qos in (0, 1):
            res = r[f"qos{qos}"]
            for run_name in ("flood", "steady"):
                d = res["durable"][run_name]["hub_cpu_us_per_msg"]
                m = res["memory"][run_name]["hub_cpu_us_per_msg"]
                rows.append(f"- QoS {qos} {run_name}: {d:.1f} / {m:.1f} µs = {d / m:.2f}x")
    for queue in queues:
        rss = r["qos0"][queue]["flood"]["rss_mb"]
        rows.append(
            f"hub RSS (QoS 0, {queue}): {rss[0]:.0f} MB after warm-up, {rss[1]:.0f} MB after "
            f"the flood, {rss[2]:.0f} MB after the steady run; "
            f"peak {r['qos0'][queue]['flood']['peak_rss_mb']:.0f} MB"
        )
    return "\n".join(rows)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_pub":
        port, n, qos, rate = sys.argv[2:6]
        print(json.dumps(publisher(int(port), int(n), int(qos), float(rate))))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_sub":
        port, filt, qos, n, idle = sys.argv[2:7]
        print(json.dumps(subscriber(int(port), filt, int(qos), int(n), float(idle))))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=50_000, help="messages per flood (default 50,000)")
    p.add_argument("--steady-s", type=float, default=5.0, help="seconds at 1,000 msg/s")
    p.add_argument("--protocol", choices=["3.1.1", "5"], default="3.1.1", help="hub's MQTT")
    p.add_argument("--hub-cpu", type=int, default=None, help="pin the hub to this CPU")
    p.add_argument(
        "--overflow",
        choices=["block", "drop_oldest"],
        default="block",
        help="the mqtt sink's overflow policy (default block: a flood waits for the sink and "
        "nothing is lost; drop_oldest, the hub's default, drops what the sink cannot take)",
    )
    p.add_argument(
        "--queue",
        choices=["both", "memory", "durable"],
        default="both",
        help="the outputs' queue class (default both: CPU per event compared in one run)",
    )
    p.add_argument(
        "--zones",
        choices=["on", "off", "compare"],
        default="on",
        help="the zone stage (the crowd picture) in the hub: on (default, as shipped), off, "
        "or compare: only QoS 0 floods, without and with it, alternating --rounds times "
        "(durable queue unless --queue memory)",
    )
    p.add_argument("--rounds", type=int, default=3, help="--zones compare: rounds (default 3)")
    p.add_argument("--json", type=Path, help="also write the raw results here")
    p.add_argument(
        "--views",
        help="compare hubs with these numbers of views (e.g. 0,1,3) instead of the full table",
    )
    p.add_argument("--repeat", type=int, default=3, help="rounds of --views (default 3)")
    args = p.parse_args()
    if not Path("/proc/self/stat").exists():
        raise SystemExit("needs Linux /proc for CPU accounting")
    started = time.monotonic()
    if args.views:
        results = run_views(args, [int(n) for n in args.views.split(",")])
        results["wall_s"] = round(time.monotonic() - started, 1)
        print(views_table(results))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        return
    if args.zones == "compare":
        results = compare_zones(args)
        results["wall_s"] = round(time.monotonic() - started, 1)
        print(zones_table(results))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        return
    results = run(args)
    results["wall_s"] = round(time.monotonic() - started, 1)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
