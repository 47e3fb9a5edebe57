"""CPU per event through the zone model (hub.zones), without I/O.

    .venv/bin/python bench/zones_bench.py                # ~20 s, prints a table
    .venv/bin/python bench/zones_bench.py --rate 1000 --seconds 60 --runs 5 --json out.json

The workload mirrors bench/mqtt_bench.py's: 50 sensors over 5 zones (each zone has
two counting lines, a camera and a WiFi counter), events arriving at ``--rate`` per
second of simulated time, the model ticked once per simulated second as the zone
stage would. Events are built before the clock starts (building them is the
source's cost, measured by mqtt_bench). Reported per event, CPU time
(``time.process_time``), median of ``--runs``:

* ``ingest``: ``ZoneModel.ingest`` alone (the per-event path);
* ``ingest + ticks``: the same plus one ``tick`` per simulated second, spread over
  the events of that second (what the stage adds to the hub per event at that rate);
* ``tick``: one tick of the whole site, in µs.

The issue's budget is 3 µs of hub CPU per event. Compare figures of one run only.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hub import Crossing, Devices, Event, Line, Occupancy, Provenance, Site, Zone
from hub.zones import ZoneModel

ZONES = 5
PROV = Provenance(plugin="bench", plugin_version="1", transport="mqtt")
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def site() -> Site:
    zones = tuple(Zone(id=f"z{i}", area_m2=2000, capacity=4000) for i in range(ZONES))
    lines = tuple(
        Line(id=f"z{i}-gate{g}", zone=f"z{i}", width_m=4.0) for i in range(ZONES) for g in range(2)
    )
    return Site(zones=zones, lines=lines)


def workload(rate: int, seconds: int) -> list[list[Event]]:
    """Events per simulated second: 50 sensors (per zone 6 line counters, 3 cameras, 1 WiFi)."""
    per_second: list[list[Event]] = []
    n = 0
    for s in range(seconds):
        batch = []
        t = T0 + timedelta(seconds=s)
        for k in range(rate):
            z = (n // 10) % ZONES
            role = n % 10
            src = f"z{z}-s{role}"
            if role < 6:
                e = Event.create(
                    source=src,
                    kind="lidar",
                    measurement=Crossing(in_=k % 3, out=k % 2),
                    provenance=PROV,
                    line=f"z{z}-gate{role % 2}",
                    observed_from=t - timedelta(seconds=1),
                    observed_to=t,
                    received_at=t,
                    key=n,
                )
            elif role < 9:
                e = Event.create(
                    source=src,
                    kind="camera",
                    measurement=Occupancy(count=300 + k % 50),
                    provenance=PROV,
                    zone=f"z{z}",
                    observed_at=t,
                    received_at=t,
                    key=n,
                )
            else:
                e = Event.create(
                    source=src,
                    kind="wifi_counter",
                    measurement=Devices(count=500 + k % 20),
                    provenance=PROV,
                    zone=f"z{z}",
                    observed_from=t - timedelta(minutes=1),
                    observed_to=t,
                    received_at=t,
                    key=n,
                )
            batch.append(e)
            n += 1
        per_second.append(batch)
    return per_second


def run(events: list[list[Event]], ticks: bool) -> tuple[float, float, int]:
    """(CPU seconds, CPU seconds spent in ticks, events)."""
    model = ZoneModel(site())
    count = 0
    tick_cpu = 0.0
    gc.collect()
    start = time.process_time()
    for s, batch in enumerate(events):
        ingest = model.ingest
        for e in batch:
            ingest(e)
        count += len(batch)
        if ticks:
            t0 = time.process_time()
            model.tick(T0 + timedelta(seconds=s))
            tick_cpu += time.process_time() - t0
    return time.process_time() - start, tick_cpu, count


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=int, default=1000, help="events per simulated second")
    p.add_argument("--seconds", type=int, default=60, help="simulated seconds per run")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--json", type=Path, help="also write the figures here")
    a = p.parse_args()
    events = workload(a.rate, a.seconds)
    ingest, full, tick = [], [], []
    for _ in range(a.runs):
        cpu, _, n = run(events, ticks=False)
        ingest.append(cpu / n * 1e6)
        cpu, tcpu, n = run(events, ticks=True)
        full.append(cpu / n * 1e6)
        tick.append(tcpu / a.seconds * 1e6)
    result: dict[str, Any] = {
        "rate": a.rate,
        "seconds": a.seconds,
        "runs": a.runs,
        "ingest_us_per_event": round(statistics.median(ingest), 3),
        "with_ticks_us_per_event": round(statistics.median(full), 3),
        "tick_us": round(statistics.median(tick), 1),
        "budget_us_per_event": 3.0,
    }
    print(f"zone model, {a.rate} events/s, {ZONES} zones, median of {a.runs} runs")
    print(f"  ingest           {result['ingest_us_per_event']:7.3f} µs/event")
    print(f"  ingest + ticks   {result['with_ticks_us_per_event']:7.3f} µs/event (budget 3)")
    print(f"  one tick         {result['tick_us']:7.1f} µs")
    if a.json:
        a.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
