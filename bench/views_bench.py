"""CPU per event per view of the view policy stage (budget: 2 µs per event per view).

    .venv/bin/python bench/views_bench.py               # ~10 s, prints a table
    .venv/bin/python bench/views_bench.py --n 200000 --json out.json

The input is what the hub sees in ``bench/mqtt_bench.py``: 50 sensors in 5 zones,
each reading an occupancy with vendor extras once a second, plus a crossing
count per minute on 5 lines and a density per zone. Events are built first;
then each view's :meth:`ViewPolicy.handle` runs over all of them (and ``tick``
once per simulated second), timed with the process CPU clock, minus the cost
of the same loop calling a no-op (the harness). Best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hub import Crossing, Density, Event, Occupancy, Provenance
from hub.site import Line, Site, Zone
from hub.views import FullDetail, View, ViewPolicy

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PROV = Provenance(plugin="generic_json", plugin_version="1", transport="mqtt")
ZONES = [f"z{i}" for i in range(5)]
SITE = Site(
    zones=tuple(Zone(id=z, area_m2=1000) for z in ZONES),
    lines=tuple(Line(id=f"l{i}", zone=z, width_m=4) for i, z in enumerate(ZONES)),
)
VIEWS: dict[str, View | None] = {
    "internal (full detail)": None,
    "police (all zones, raw)": View(id="police"),
    "police-1min (all, 1 min)": View(id="police1", time_resolution="1min"),
    "organiser (2 zones, 15 min, noise, k=5)": View(
        id="organiser",
        zones=("z0", "z1"),
        time_resolution="15min",
        noise=True,
        suppress_below=5,
    ),
    "public (levels only, 15 min, delay)": View(
        id="public", levels_only=True, time_resolution="15min", delay_s=900
    ),
}


def events(n: int) -> list[Event]:
    out: list[Event] = []
    second = 0
    while len(out) < n:
        t = T0 + timedelta(seconds=second)
        for s in range(50):
            out.append(
                Event.create(
                    source=f"s{s:02d}",
                    kind="generic_json",
                    measurement=Occupancy(count=(s * 7 + second) % 90),
                    provenance=PROV,
                    key=f"{s}:{second}",
                    received_at=t,
                    zone=ZONES[s % 5],
                    observed_at=t,
                    extras={"generic_json": {"ts": second, "battery": 3712}},
                )
            )
        if second % 60 == 59:
            for i, z in enumerate(ZONES):
                out.append(
                    Event.create(
                        source=f"gate{i}",
                        kind="generic_json",
                        measurement=Crossing(in_=second % 13, out=second % 7),
                        provenance=PROV,
                        key=f"g{i}:{second}",
                        received_at=t,
                        line=f"l{i}",
                        zone=z,
                        observed_from=t - timedelta(seconds=59),
                        observed_to=t + timedelta(seconds=1),
                    )
                )
                out.append(
                    Event.create(
                        source=f"dens{i}",
                        kind="generic_json",
                        measurement=Density(value=0.3),
                        provenance=PROV,
                        key=f"d{i}:{second}",
                        received_at=t,
                        zone=z,
                        observed_at=t,
                    )
                )
        second += 1
    return out[:n]


def timed(
    handle: Callable[[Event], Sequence[Event]], tick: Callable[[datetime], Any], evs: list[Event]
) -> tuple[float, int]:
    sent = 0
    last = evs[0].received_at
    start = time.process_time()
    for e in evs:
        if e.received_at != last:
            last = e.received_at
            sent += len(tick(last))
        sent += len(handle(e))
    return time.process_time() - start, sent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="events per run")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    evs = events(args.n)

    def noop_handle(e: Event) -> Sequence[Event]:
        return ()

    def noop_tick(now: datetime) -> Sequence[Event]:
        return ()

    harness = min(timed(noop_handle, noop_tick, evs)[0] for _ in range(args.repeat))
    results: dict[str, dict[str, float]] = {}
    print(f"{args.n} events, harness {harness / args.n * 1e6:.2f} µs/event subtracted")
    print(f"{'view':<42} {'µs/event':>9} {'sent':>8}  budget 2 µs")
    for label, view in VIEWS.items():
        best, sent = float("inf"), 0
        for _ in range(args.repeat):
            policy: Any = FullDetail() if view is None else ViewPolicy(view, SITE, b"k" * 32)
            cpu, sent = timed(policy.handle, policy.tick, evs)
            best = min(best, cpu)
        us = max(0.0, best - harness) / args.n * 1e6
        results[label] = {"us_per_event": round(us, 3), "sent": sent}
        print(f"{label:<42} {us:>9.2f} {sent:>8}  {'ok' if us <= 2 else 'OVER'}")
    if args.json:
        args.json.write_text(json.dumps({"n": args.n, "views": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
