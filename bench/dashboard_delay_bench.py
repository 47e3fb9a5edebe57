"""Memory and CPU of a delayed view's delay line (``hub.dashboard.delay.DelayedPicture``).

    .venv/bin/python bench/dashboard_delay_bench.py                  # 20 zones, 900 s delay
    .venv/bin/python bench/dashboard_delay_bench.py --zones 50 --delay 3600

A ZoneModel of ``--zones`` zones (each with a counting line and a camera) is ticked once
a (simulated) second for ``delay + 300`` seconds with every count moving, so every zone,
line and sensor changes every second, as in a busy hub. Its changes
(``ZoneModelProvider.subscribe``) go into one DelayedPicture, advanced every second.
Reported: the changes the line holds at the end (the bound is about 300 per item plus
alert and log changes), the memory it holds (tracemalloc, the line alone, after the
model's own memory is subtracted), and the CPU per recorded change.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import tracemalloc
from datetime import UTC, datetime

from hub import Event, Occupancy, Provenance, Site
from hub.dashboard import ZoneModelProvider
from hub.dashboard.delay import DelayedPicture
from hub.testing import FakeClock
from hub.zones import ZoneModel

PROV = Provenance(plugin="bench", plugin_version="1", transport="simulated")


def site(n: int) -> Site:
    zones = [
        {"id": f"z{i}", "area_m2": 1000, "polygon": [[4 + i, 52], [4.1 + i, 52], [4 + i, 52.1]]}
        for i in range(n)
    ]
    lines = [{"id": f"l{i}", "zone": f"z{i}", "width_m": 10} for i in range(n)]
    sensors = [{"id": f"cam-z{i}", "zone": f"z{i}"} for i in range(n)]
    return Site.model_validate({"id": "bench", "zones": zones, "lines": lines, "sensors": sensors})


async def run(zones: int, delay: float, extra: float) -> None:
    clock = FakeClock(datetime(2026, 8, 14, 18, 0, tzinfo=UTC))
    model = ZoneModel(site(zones))
    provider = ZoneModelProvider(model, clock=clock)
    line = DelayedPicture(provider, delay)
    rng = random.Random(1)
    changes = 0
    cpu = 0.0

    async def drain() -> None:
        nonlocal changes, cpu
        async for change in provider.subscribe():
            t0 = time.process_time()
            line.record(change, clock.now().timestamp())
            cpu += time.process_time() - t0
            changes += 1

    task = asyncio.create_task(drain())
    await asyncio.sleep(0)
    tracemalloc.start()
    base = None
    seconds = int(delay + extra)
    for s in range(seconds):
        clock.advance(1)
        now = clock.now()
        for i in range(zones):
            model.ingest(
                Event.create(
                    source=f"cam-z{i}",
                    kind="camera",
                    measurement=Occupancy(count=500 + rng.randint(-50, 50)),
                    provenance=PROV,
                    zone=f"z{i}",
                    observed_at=now,
                    received_at=now,
                )
            )
        model.tick(now)
        provider.update(now)
        await asyncio.sleep(0)
        t0 = time.process_time()
        line.advance(now)
        cpu += time.process_time() - t0
        if s == 5:
            base = tracemalloc.get_traced_memory()[0]
    held = tracemalloc.get_traced_memory()[0] - (base or 0)
    tracemalloc.stop()
    task.cancel()
    items = 3 * zones
    print(
        f"zones={zones} (items {items}), delay={delay:g} s, step={line.step_s:g} s, "
        f"{seconds} s simulated, {changes} changes recorded ({changes / seconds:.0f}/s)"
    )
    per_item = delay / line.step_s + 1
    print(
        f"held at the end: {line.pending()} changes "
        f"(bound ~{items} x {per_item:.0f} = {items * per_item:.0f})"
        f"; memory {held / 1e6:.1f} MB ({held / max(1, line.pending()):.0f} B per change)"
    )
    print(
        f"CPU in the delay line: {cpu * 1e6 / max(1, changes):.1f} µs per change "
        f"({cpu / seconds * 100:.3f} % of one core)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--zones", type=int, default=20)
    p.add_argument("--delay", type=float, default=900.0)
    p.add_argument("--extra", type=float, default=300.0, help="seconds past the delay")
    a = p.parse_args()
    asyncio.run(run(a.zones, a.delay, a.extra))


if __name__ == "__main__":
    main()
