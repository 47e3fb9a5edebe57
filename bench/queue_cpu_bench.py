"""Hub CPU per event with the durable queue against the memory queue (issue 10's budget).

    .venv/bin/python bench/queue_cpu_bench.py                      # 5 rounds, ~6 min
    .venv/bin/python bench/queue_cpu_bench.py --rounds 3 --steady-s 5 --n 10000 --json out.json

The whole ``hub run`` of ``mqtt_bench.py`` (``generic_json`` over MQTT from a
private Mosquitto, the zone stage, an ``mqtt`` output republishing every event),
once with ``queue = "memory"`` and once with ``queue = "durable"`` (the default),
for QoS 0 and QoS 1. Each round starts a fresh hub per queue class and measures a
steady 1,000 msg/s run (the operating point the budget is stated for: CPU per
event, throughput, p99 latency) and then a flood of ``--n`` messages as fast as
the publisher can (the worst case: everything arrives at once). The queue classes
alternate within each round, so a change in the machine's load hits both alike;
the figures are medians over the rounds, each ratio from the same run. CPU is the
hub process's user + system time (every thread) from ``/proc``, per message
received by the subscriber. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mqtt_bench as mb

QUEUES = ("memory", "durable")


def one_round(port: int, tmp: Path, qos: int, r: int, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for queue in QUEUES if r % 2 == 0 else tuple(reversed(QUEUES)):
        data = tmp / f"data-{qos}-{queue}-{r}"
        data.mkdir()
        cfg = mb.hub_config(data, port, qos, args.protocol, "block", queue, True)
        hub = mb.start_hub(cfg, port, None)
        try:
            steady = mb.measure(port, "hub/events/#", qos, int(1000 * args.steady_s), 1000, hub.pid)
            flood = mb.measure(port, "hub/events/#", qos, args.n, 0, hub.pid)
            rss = mb.rss_mb(hub.pid)
        finally:
            hub.terminate()
            hub.wait(30)
        out[queue] = {"steady": steady, "flood": flood, "rss_mb": rss}
        print(
            f"QoS {qos} round {r + 1} {queue}: steady {steady['hub_cpu_us_per_msg']:.1f} µs/msg "
            f"(p99 {steady['p99_ms']:.2f} ms), flood {flood['hub_cpu_us_per_msg']:.1f} µs/msg "
            f"({flood['rate']:,.0f} msg/s), lost {steady['lost'] + flood['lost']}",
            file=sys.stderr,
            flush=True,
        )
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    from hub.testing.mosquitto import Mosquitto

    results: dict[str, Any] = {"rounds": args.rounds, "n": args.n, "steady_s": args.steady_s}
    with (
        tempfile.TemporaryDirectory(prefix="queue-cpu-") as tmp,
        Mosquitto(Path(tmp) / "broker", extra_config=mb.BROKER_CONFIG) as broker,
    ):
        for qos in (0, 1):
            results[f"qos{qos}"] = [
                one_round(broker.port, Path(tmp), qos, r, args) for r in range(args.rounds)
            ]
    return results


def median(rounds: list[dict[str, Any]], queue: str, run_name: str, key: str) -> float:
    return statistics.median(r[queue][run_name][key] for r in rounds)


def table(res: dict[str, Any]) -> str:
    rows = [
        f"medians of {res['rounds']} rounds; load average at the end "
        f"{os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)",
        "",
        "| QoS | run | memory µs/msg | durable µs/msg | durable / memory | rounds (ratio) "
        "| msg/s memory / durable | p99 ms memory / durable | lost |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for qos in (0, 1):
        rounds = res[f"qos{qos}"]
        for run_name, label in (("steady", "steady 1,000 msg/s"), ("flood", "flood")):
            m = median(rounds, "memory", run_name, "hub_cpu_us_per_msg")
            d = median(rounds, "durable", run_name, "hub_cpu_us_per_msg")
            cpu = "hub_cpu_us_per_msg"
            each = ", ".join(
                f"{r['durable'][run_name][cpu] / r['memory'][run_name][cpu]:.2f}" for r in rounds
            )
            rm, rd = (median(rounds, q, run_name, "rate") for q in QUEUES)
            pm, pd = (median(rounds, q, run_name, "p99_ms") for q in QUEUES)
            rate, p99 = f"{rm:,.0f} / {rd:,.0f}", f"{pm:.2f} / {pd:.2f}"
            lost = sum(r[q][run_name]["lost"] for r in rounds for q in QUEUES)
            rows.append(
                f"| {qos} | {label} | {m:.1f} | {d:.1f} | **{d / m:.2f}x** | {each} | {rate} "
                f"| {p99} | {lost} |"
            )
    for queue in QUEUES:
        rss = [r[queue]["rss_mb"] for q in (0, 1) for r in res[f"qos{q}"]]
        rows.append(f"\nhub RSS after each run, {queue}: {min(rss):.0f}-{max(rss):.0f} MB")
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5, help="rounds per QoS (default 5)")
    p.add_argument("--steady-s", type=float, default=10.0, help="seconds at 1,000 msg/s")
    p.add_argument("--n", type=int, default=20_000, help="messages per flood (default 20,000)")
    p.add_argument("--protocol", choices=["3.1.1", "5"], default="3.1.1", help="hub's MQTT")
    p.add_argument("--json", type=Path, help="also write the raw results here")
    args = p.parse_args()
    started = time.monotonic()
    results = run(args)
    results["wall_s"] = round(time.monotonic() - started, 1)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
