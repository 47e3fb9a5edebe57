"""CPU per event of the bus's queues: the memory queue against the durable queue.

Each variant runs in its own child process (clean RSS) and pushes the same
pre-built events (about 600 bytes of JSON, like ``mqtt_bench.py``'s) through
``put_nowait`` -> ``peek_batch`` -> ``ack`` the way the sink runner drives a
queue. CPU is user + system of the whole process (the durable queue's worker
thread included), divided by the events moved. Ratios are against the memory
queue measured in the same run. Nothing here is a test.

Workloads:

* ``flood``   100 puts per loop turn, the consumer takes batches of 500:
              one commit per 100 events.
* ``turn``    one put per loop turn (what 1,000 msg/s looks like: each
              message arrives in its own turn), consumer keeps up: one commit
              per event.
* ``paced``   one event every 1 ms on the loop's timer for ``--paced-s``
              seconds (CPU includes the loop's own wake-ups, as in the hub).
* ``backlog`` the consumer is down while ``--n`` events are queued, then
              drains them (the durable queue reads and decodes them back).

Also measured: the JSON round trip alone (serialise + validate one event) and
the SQLite write path of the two layouts considered (one file per output
against one shared log with a cursor per output) for three outputs.

    .venv/bin/python bench/queue_bench.py               # ~1 minute
    .venv/bin/python bench/queue_bench.py --n 100000 --paced-s 10 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.core.bus.durable import DurableQueue, DurableQueueSettings
from hub.events import Event, Occupancy, Provenance

try:
    from hub.core.bus import MemoryQueue as _BusMemoryQueue
except ImportError:  # the bus became a package; keep measuring the same algorithm
    _BusMemoryQueue = None  # type: ignore[assignment,misc]

VARIANTS = {
    "memory": {},
    "durable-normal": {"synchronous": "normal"},
    "durable-normal-thread": {"synchronous": "normal", "writer_thread": True},
    "durable-full": {"synchronous": "full"},
    "durable-normal-2ms": {"synchronous": "normal", "commit_interval_s": 0.002},
}


class CopiedMemoryQueue:
    """main's ``MemoryQueue`` algorithm (a deque with ``put / peek_batch / ack``)."""

    durable = False

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: deque[Event] = deque()
        self._nonempty = asyncio.Event()
        self.dropped: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._items)

    def put_nowait(self, event: Event) -> bool:
        if len(self._items) >= self.maxsize:
            return False
        self._items.append(event)
        self._nonempty.set()
        return True

    def peek_batch(self, n: int) -> list[Event]:
        items = self._items
        if len(items) <= n:
            return list(items)
        return [items[i] for i in range(n)]

    def ack(self, n: int) -> None:
        for _ in range(min(n, len(self._items))):
            self._items.popleft()

    async def flush(self) -> None:
        return None

    def close(self) -> None:
        return None


class BusMemoryQueue(CopiedMemoryQueue):
    """main's ``hub.core.bus.MemoryQueue`` itself, with a non-blocking put for the loop."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize)
        assert _BusMemoryQueue is not None
        self.q = _BusMemoryQueue(maxsize)

    def __len__(self) -> int:
        return len(self.q)

    def put_nowait(self, event: Event) -> bool:
        q = self.q
        if len(q) >= q.maxsize:
            return False
        q._items.append(event)  # what its put() does without waiting
        q._nonempty.set()
        return True

    def peek_batch(self, n: int) -> list[Event]:
        return self.q.peek_batch(n)

    def ack(self, n: int) -> None:
        self.q.ack(n)


def make_events(n: int, start: int = 0) -> list[Event]:
    prov = Provenance(plugin="crowdhub-generic-json", plugin_version="0.1.0", transport="mqtt")
    t0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    return [
        Event.create(
            source="sensors",
            kind="generic_json",
            measurement=Occupancy(count=i % 500),
            provenance=prov,
            key=i,
            site="scheveningen",
            zone=f"z{i % 5}",
            observed_at=t0,
            received_at=t0,
            sequence=i,
            extras={
                "generic_json": {
                    "sensor": f"s{i % 50}",
                    "battery": 3.7,
                    "fw": "1.4.2",
                    "ts": 1_764_000_000_000_000_000 + i,
                }
            },
        )
        for i in range(start, start + n)
    ]


def open_queue(variant: str, path: Path) -> Any:
    if variant == "memory":
        return BusMemoryQueue(10**9) if _BusMemoryQueue is not None else CopiedMemoryQueue(10**9)
    opts = dict(VARIANTS[variant])
    settings = DurableQueueSettings(
        synchronous=opts.pop("synchronous"),
        commit_interval_s=opts.pop("commit_interval_s", 0.0),
        max_bytes=2**40,
        max_age_s=None,
    )
    return DurableQueue(path, output="bench[q]", settings=settings, **opts)


def cpu() -> float:
    """User + system CPU of the whole process, every thread (CLOCK_PROCESS_CPUTIME_ID)."""
    return time.process_time()


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def run_variant(variant: str, workload: str, n: int, paced_s: float) -> dict[str, Any]:
    # the backlog run builds its events as it goes, so RSS shows what the queue keeps
    count = {"paced": int(paced_s * 1000) + 10, "backlog": 0}.get(workload, n)
    events = make_events(count)
    with tempfile.TemporaryDirectory() as tmp:
        q = open_queue(variant, Path(tmp) / "q.sqlite")
        rss0 = rss_kib()
        c0, w0 = cpu(), time.perf_counter()
        moved = 0
        if workload == "flood":
            for i in range(0, n, 100):
                for e in events[i : i + 100]:
                    q.put_nowait(e)
                if len(q) >= 500:
                    moved += len(b := q.peek_batch(500))
                    q.ack(len(b))
                await asyncio.sleep(0)
        elif workload == "turn":
            for e in events:
                q.put_nowait(e)
                await asyncio.sleep(0)
                moved += len(b := q.peek_batch(500))
                q.ack(len(b))
        elif workload == "paced":
            loop = asyncio.get_running_loop()
            start = loop.time()
            for i, e in enumerate(events[: int(paced_s * 1000)]):
                delay = start + i / 1000 - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                q.put_nowait(e)
                await asyncio.sleep(0)
                moved += len(b := q.peek_batch(500))
                q.ack(len(b))
        elif workload == "backlog":
            for i in range(0, n, 100):
                for e in make_events(100, i):
                    q.put_nowait(e)
                await asyncio.sleep(0)
            await q.flush()
            rss_mid = rss_kib()
        while len(q):
            moved += len(b := q.peek_batch(500))
            q.ack(len(b))
        await q.flush()
        await asyncio.sleep(0)
        c1, w1 = cpu(), time.perf_counter()
        rss1 = rss_kib()
        disk = sum(f.stat().st_size for f in Path(tmp).iterdir())
        q.close()
    out = {
        "variant": variant,
        "workload": workload,
        "events": moved,
        "cpu_us_per_event": (c1 - c0) / moved * 1e6,
        "events_per_s": moved / (w1 - w0),
        "rss_kib_start": rss0,
        "rss_kib_end": rss1,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "disk_bytes_at_end": disk,
    }
    if workload == "backlog":
        out["rss_kib_full_backlog"] = rss_mid
    return out


def json_cost(n: int) -> dict[str, float]:
    events = make_events(n)
    c0 = cpu()
    bodies = [e.model_dump_json().encode() for e in events]
    c1 = cpu()
    for b in bodies:
        Event.model_validate_json(b)
    c2 = cpu()
    return {
        "serialise_us": (c1 - c0) / n * 1e6,
        "validate_us": (c2 - c1) / n * 1e6,
        "json_bytes": sum(map(len, bodies)) / n,
    }


def layout_cost(n: int, outputs: int = 3) -> dict[str, float]:
    """SQLite write path only: N files (insert+delete each) vs one log + cursor table."""
    body = make_events(1)[0].model_dump_json().encode()
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        cons = []
        for k in range(outputs):
            con = sqlite3.connect(Path(tmp) / f"o{k}.sqlite", isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("CREATE TABLE queue (seq INTEGER PRIMARY KEY, t REAL, body BLOB)")
            cons.append(con)
        c0 = cpu()
        for i in range(1, n + 1):
            for con in cons:
                con.execute("BEGIN")
                con.execute("INSERT INTO queue VALUES (?,?,?)", (i, 0.0, body))
                con.execute("DELETE FROM queue WHERE seq < ?", (i,))
                con.execute("COMMIT")
        result["per_file_us_per_event"] = (cpu() - c0) / n * 1e6
        shared = sqlite3.connect(Path(tmp) / "log.sqlite", isolation_level=None)
        shared.execute("PRAGMA journal_mode=WAL")
        shared.execute("PRAGMA synchronous=NORMAL")
        shared.execute("CREATE TABLE log (seq INTEGER PRIMARY KEY, t REAL, body BLOB)")
        shared.execute("CREATE TABLE cursor (output TEXT PRIMARY KEY, seq INTEGER)")
        names = [(f"o{k}",) for k in range(outputs)]
        shared.executemany("INSERT INTO cursor VALUES (?, 0)", names)
        c0 = cpu()
        for i in range(1, n + 1):
            shared.execute("BEGIN")
            shared.execute("INSERT INTO log VALUES (?,?,?)", (i, 0.0, body))
            shared.executemany(
                "UPDATE cursor SET seq = ? WHERE output = ?", [(i, f"o{k}") for k in range(outputs)]
            )
            shared.execute("DELETE FROM log WHERE seq < ?", (i,))
            shared.execute("COMMIT")
        result["shared_log_us_per_event"] = (cpu() - c0) / n * 1e6
        for con in [*cons, shared]:
            con.close()
    return result


def child(args: argparse.Namespace) -> None:
    if args.variant == "json":
        print(json.dumps(json_cost(args.n)))
    elif args.variant == "layout":
        print(json.dumps(layout_cost(min(args.n, 20_000))))
    else:
        run = run_variant(args.variant, args.workload, args.n, args.paced_s)
        print(json.dumps(asyncio.run(run)))


def spawn(args: argparse.Namespace, variant: str, workload: str = "-") -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", "--variant", variant, "--workload", workload]
    cmd += ["--n", str(args.n), "--paced-s", str(args.paced_s)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=50_000, help="events per flood/turn/backlog run")
    ap.add_argument("--paced-s", type=float, default=5.0, help="seconds of the 1,000/s run")
    ap.add_argument("--json", help="also write every figure to this file")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--variant", default="memory", help=argparse.SUPPRESS)
    ap.add_argument("--workload", default="flood", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    results: list[dict[str, Any]] = []
    print(f"python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}, n={args.n}")
    hdr = f"{'workload':8} {'queue':22} {'µs/event':>9} {'x memory':>9} {'events/s':>10}"
    print(hdr + f" {'RSS MiB':>8} {'peak MiB':>8}")
    for workload in ("flood", "turn", "paced", "backlog"):
        base = None
        for variant in VARIANTS:
            r = spawn(args, variant, workload)
            results.append(r)
            base = base or r["cpu_us_per_event"]
            r["ratio_vs_memory"] = r["cpu_us_per_event"] / max(base, 1e-9)
            print(
                f"{workload:8} {variant:22} {r['cpu_us_per_event']:9.1f} "
                f"{r['ratio_vs_memory']:9.2f} {r['events_per_s']:10.0f} "
                f"{r['rss_kib_end'] / 1024:8.1f} {r['peak_rss_kib'] / 1024:8.1f}"
                + (
                    f"  (backlog RSS {r['rss_kib_full_backlog'] / 1024:.1f} MiB)"
                    if "rss_kib_full_backlog" in r
                    else ""
                )
            )
    js = spawn(args, "json")
    print(
        f"JSON per event: serialise {js['serialise_us']:.1f} µs, validate back "
        f"{js['validate_us']:.1f} µs, {js['json_bytes']:.0f} bytes"
    )
    lay = spawn(args, "layout")
    print(
        "SQLite write path, 3 outputs, one commit per event: one file per output "
        f"{lay['per_file_us_per_event']:.1f} µs, shared log + cursors "
        f"{lay['shared_log_us_per_event']:.1f} µs"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"runs": results, "json": js, "layout": lay}, indent=2)
        )


if __name__ == "__main__":
    main()
