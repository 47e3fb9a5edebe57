"""The live paths of bench/fuzz.py: mutated pushes and MQTT messages through a running hub.

One in-process :class:`hub.core.runtime.Hub` per path, configured from a
conformance case of a bundled plugin (its ``[source]`` table and site, auth off),
with the real aiohttp ingest server on 127.0.0.1 and the real MQTT transport on a
Mosquitto started here (``hub.testing.mosquitto``). Events reach an in-process
collector sink and the sqlite output (which must never block).

HTTP: each request's answer is classified (2xx accepted, 4xx refused, 5xx or a
dropped connection a crash). MQTT: messages go out in batches over a raw
socket (``bench/wire.py``); after each batch the hub is let settle, and a
source that died (its supervisor counted an error) is a crash, pinned to one
message by replaying the batch one by one. Events with a count beyond 64 bits, a
non-finite value or an ``ok`` time outside [2000, 2100) are ``impossible``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import socket
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import wire
from fuzz_mutate import Mutator
from fuzz_report import Finding, TargetStats, record, save
from fuzz_targets import CASES, FIX, impossible

import hub
from hub.events import Event, Quality
from hub.quality import EARLIEST, LATEST

COLLECTED: list[Event] = []
BATCH = 25


class CollectorConfig(hub.SinkConfig):
    pass


class CollectorSink(hub.Sink[CollectorConfig]):
    """Keeps every event in ``COLLECTED`` (this script's in-process output)."""

    kind = "fuzz_collector"
    config_model = CollectorConfig

    async def write(self, batch: Sequence[Event]) -> None:
        COLLECTED.extend(batch)


class _Plugin:
    @hub.hookimpl
    def register_sinks(self, register: Any) -> None:
        register(CollectorSink)


@dataclass
class LivePath:
    name: str
    transport: str
    kind: str
    config: dict[str, Any]
    site: dict[str, Any]
    seeds: list[tuple[bytes, str, str, dict[str, str], dict[str, str]]]
    """(payload, MQTT topic, content type, headers, query) per seed input."""
    inputs: list[tuple[bytes, int]] = field(default_factory=list)


def _paths() -> list[LivePath]:
    from hub.core.plugins import load_plugins
    from hub.testing.conformance import load_cases

    kinds = load_plugins(entrypoints=False).sources
    out: list[LivePath] = []
    for folder in sorted(p for p in CASES.iterdir() if p.is_dir() and p.name in kinds):
        for case in load_cases(folder):
            if case.transport not in ("http", "mqtt"):
                continue
            seeds = [
                (i.payload, i.topic or "", i.content_type, dict(i.headers), dict(i.query))
                for i in case.inputs
                if i.payload is not None
            ]
            if not seeds:
                continue
            site = case.site.model_dump(mode="json", by_alias=True, exclude_none=True)
            out.append(
                LivePath(
                    f"live:{folder.name}[{case.name}]",
                    case.transport,
                    folder.name,
                    dict(case.config),
                    site,
                    seeds,
                )
            )
    meraki = sorted((FIX / "wifi_counter" / "fixtures").glob("meraki_*.json"))
    secret = json.loads(meraki[0].read_bytes()).get("secret", "s3cret")
    out.append(
        LivePath(
            "live:wifi_counter[meraki_http]",
            "http",
            "wifi_counter",
            {
                "id": "meraki-fuzz",
                "device": "meraki",
                "validator": "v4l1d",
                "secret": secret,
                "zone": "hall",
                "interval_s": 60,
            },
            {
                "id": "fuzz",
                "timezone": "Europe/Amsterdam",
                "zones": [{"id": "hall", "area_m2": 100.0}],
            },
            [(p.read_bytes(), "", "application/json", {}, {}) for p in meraki],
        )
    )
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _event_problem(e: Event) -> str | None:
    m = e.measurement.model_dump()
    for name, value in m.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            found = impossible(value, f"event {e.type}.{name}")
            if found:
                return found
    if e.quality is Quality.OK:
        for name in ("observed_at", "observed_from", "observed_to"):
            t = getattr(e, name)
            if t is not None and not EARLIEST <= t < LATEST:
                return f"event {e.type}.{name} = {t.isoformat()} with quality ok"
    return None


class _ErrorLines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


async def _run_path(
    path: LivePath, n: int, rng: random.Random, broker_port: int, out: Path | None
) -> TargetStats:
    from hub.core.config import run_configure_hooks
    from hub.core.plugins import load_plugins
    from hub.core.runtime import Hub

    stats = TargetStats(path.name)
    registry = load_plugins(entrypoints=False, extra=[("fuzz", _Plugin())])
    http_port = _free_port()
    cfg = dict(path.config)
    model = registry.sources[path.kind][0].config_model
    if "auth" in model.model_fields and path.transport == "http":
        cfg["auth"] = {"scheme": "none"}
    cfg.update(retry_initial_s=0.02, retry_max_s=0.2)
    source_id = str(cfg.get("id", "conformance"))
    cfg["id"] = source_id
    with tempfile.TemporaryDirectory(prefix="fuzz-hub-") as tmp:
        raw: dict[str, Any] = {
            "hub": {"data_dir": tmp, "log_level": "error"},
            "site": path.site,
            "transports": {"http": [{"host": "127.0.0.1", "port": http_port}]},
            "sources": {path.kind: [cfg]},
            "sinks": {"fuzz_collector": [{"id": "collect"}], "sqlite": [{"id": "store"}]},
        }
        if path.transport == "mqtt":
            broker_id = str(cfg.get("broker") or "default")
            raw["transports"]["mqtt"] = [
                {"id": broker_id, "host": "127.0.0.1", "port": broker_port}
            ]
        config, problems = _validate(raw, registry)
        if config is None or problems:
            raise SystemExit(f"{path.name}: config: {'; '.join(map(str, problems))}")
        run_configure_hooks(config, registry)
        the_hub = Hub(config, registry)
        stop = asyncio.Event()
        COLLECTED.clear()
        errors = _ErrorLines()
        logging.getLogger().addHandler(errors)
        task = asyncio.create_task(the_hub.run(stop), name="fuzz-hub")
        try:
            await _wait_running(the_hub, source_id)
            mutator = Mutator([s[0] for s in path.seeds], rng)
            windows: list[tuple[float, float, bytes]] = []
            if path.transport == "http":
                await _fuzz_http(the_hub, path, n, rng, mutator, stats, http_port, windows, out)
            else:
                await _fuzz_mqtt(the_hub, path, n, rng, mutator, stats, broker_port, windows, out)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
            logging.getLogger().removeHandler(errors)
        for e in COLLECTED:
            problem = _event_problem(e)
            if problem:
                stats.impossible += 1
                at = e.received_at.timestamp()
                data = next((d for t0, t1, d in windows if t0 <= at <= t1), b"")
                record(stats, "impossible", problem.split(" =", 1)[0], problem, data, out)
        for sink_id, s in the_hub.status()["sinks"].items():
            if s["errors"]:
                f = Finding("crash", f"sink {sink_id} failed", s["errors"], b"", s["last_error"])
                stats.findings[f"sink:{sink_id}"] = f
                stats.crashed += 1
        stats.error_logs = errors.count
    save(stats, out)
    return stats


def _validate(raw: dict[str, Any], registry: Any) -> tuple[Any, list[Any]]:
    """Validate; zones and lines a case's config names but its site lacks are added (the
    kit does not check references, the hub does)."""
    from hub.core.config import validate_config

    for _ in range(3):
        problems: list[Any] = []
        config = validate_config(raw, registry, problems)
        missing = [re.search(r"unknown (line|zone) '([^']+)'", str(p)) for p in problems]
        if (config is not None and not problems) or not all(missing):
            return config, problems
        site = raw["site"]
        zones = site.setdefault("zones", [])
        if not zones:
            zones.append({"id": "fuzz-zone", "area_m2": 100.0})
        for m in missing:
            assert m is not None
            if m.group(1) == "zone":
                zones.append({"id": m.group(2), "area_m2": 100.0})
            else:
                site.setdefault("lines", []).append(
                    {"id": m.group(2), "zone": zones[0]["id"], "width_m": 2.0}
                )
    return None, problems


async def _wait_running(the_hub: Any, source_id: str) -> None:
    for _ in range(500):
        state = the_hub.status()["sources"].get(source_id, {}).get("state")
        if the_hub.state == "running" and state == "running":
            await asyncio.sleep(0.05)
            return
        await asyncio.sleep(0.01)
    raise SystemExit(f"the hub did not start the source {source_id}: {the_hub.status()}")


def _source(the_hub: Any, path: LivePath) -> dict[str, Any]:
    return dict(next(iter(the_hub.status()["sources"].values())))


async def _fuzz_http(
    the_hub: Any,
    path: LivePath,
    n: int,
    rng: random.Random,
    mutator: Mutator,
    stats: TargetStats,
    port: int,
    windows: list[tuple[float, float, bytes]],
    out: Path | None,
) -> None:
    url = f"http://127.0.0.1:{port}/ingest/{path.config.get('id', 'conformance')}"
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for i in range(n):
            seed = path.seeds[rng.randrange(len(path.seeds))]
            data = seed[0] if i < len(path.seeds) else mutator.next()
            headers = {"Content-Type": seed[2], **seed[3]}
            before = _source(the_hub, path)["errors"]
            t0 = datetime.now(UTC).timestamp()
            try:
                async with session.post(url, data=data, headers=headers, params=seed[4]) as r:
                    status, body = r.status, (await r.read())[:160]
            except aiohttp.ClientError as err:
                status, body = 599, type(err).__name__.encode()
            windows.append((t0, datetime.now(UTC).timestamp(), data))
            stats.inputs += 1
            died = _source(the_hub, path)["errors"] > before
            if status == 503 and not died:  # the outputs are behind: the device retries later
                stats.refused += 1
                stats.refusals["HTTP 503"] += 1
            elif status >= 500 or died:
                stats.crashed += 1
                why = (
                    _source(the_hub, path)["last_error"]
                    if died
                    else body.decode("utf-8", "replace")
                )
                record(
                    stats,
                    "crash",
                    f"HTTP {status}" + (" (source died)" if died else ""),
                    str(why)[:200],
                    data,
                    out,
                )
                if died:
                    await _wait_running(the_hub, str(path.config.get("id")))
            elif status >= 400:
                stats.refused += 1
                stats.refusals[f"HTTP {status}"] += 1
            else:
                stats.accepted += 1


async def _settle(the_hub: Any, path: LivePath, max_s: float = 2.0) -> None:
    """Until the source's status stops changing (it has read what was sent)."""
    last, quiet, t_end = "", 0, time.monotonic() + max_s
    while quiet < 4 and time.monotonic() < t_end:
        s = _source(the_hub, path)
        s.pop("last_event_age_s", None)
        now = json.dumps(s, sort_keys=True, default=str)
        quiet = quiet + 1 if now == last else 0
        last = now
        await asyncio.sleep(0.01)


async def _fuzz_mqtt(
    the_hub: Any,
    path: LivePath,
    n: int,
    rng: random.Random,
    mutator: Mutator,
    stats: TargetStats,
    broker_port: int,
    windows: list[tuple[float, float, bytes]],
    out: Path | None,
) -> None:
    sock = await asyncio.to_thread(wire.connect, "127.0.0.1", broker_port, "fuzz-pub")
    source_id = str(path.config.get("id"))
    try:
        sent = 0
        while sent < n:
            batch: list[tuple[str, bytes]] = []
            for _ in range(min(BATCH, n - sent)):
                seed = path.seeds[rng.randrange(len(path.seeds))]
                data = seed[0] if sent < len(path.seeds) else mutator.next()
                batch.append((seed[1], data))
                sent += 1
            before = _source(the_hub, path)
            t0 = datetime.now(UTC).timestamp()
            await _publish(sock, batch)
            await _settle(the_hub, path)
            after = _source(the_hub, path)
            windows.append((t0, datetime.now(UTC).timestamp(), _batch_bytes(batch)))
            stats.inputs += len(batch)
            delta = after["errors"] - before["errors"]
            malformed = after["malformed"] - before["malformed"]
            stats.refused += min(malformed, len(batch))
            stats.refusals["MalformedInput"] += min(malformed, len(batch))
            if not delta:
                stats.accepted += len(batch) - min(malformed, len(batch))
                continue
            stats.crashed += delta
            stats.accepted += max(0, len(batch) - delta - malformed)
            culprit = await _pin(the_hub, path, sock, batch, source_id)
            data = culprit if culprit is not None else _batch_bytes(batch)
            why = str(_source(the_hub, path)["last_error"])
            record(stats, "crash", "source died: " + why.split(":", 1)[0], why[:200], data, out)
            await _wait_running(the_hub, source_id)
    finally:
        wire.disconnect(sock)


async def _publish(sock: socket.socket, batch: list[tuple[str, bytes]]) -> None:
    frames = b"".join(wire.publish(t.encode(), d) for t, d in batch)
    await asyncio.to_thread(sock.sendall, frames)


def _batch_bytes(batch: list[tuple[str, bytes]]) -> bytes:
    """Several MQTT messages as JSON lines ``{"topic", "payload_hex"}`` (a reproducer)."""
    return b"\n".join(json.dumps({"topic": t, "payload_hex": d.hex()}).encode() for t, d in batch)


async def _pin(
    the_hub: Any, path: LivePath, sock: socket.socket, batch: list[tuple[str, bytes]], sid: str
) -> bytes | None:
    """The one message of ``batch`` that kills the source on its own, if there is one."""
    for topic, data in batch:
        await _wait_running(the_hub, sid)
        before = _source(the_hub, path)["errors"]
        await _publish(sock, [(topic, data)])
        await _settle(the_hub, path)
        if _source(the_hub, path)["errors"] > before:
            return _batch_bytes([(topic, data)])
    return None


def fuzz_live(n: int, seed: int, out: Path | None, wanted: list[str] | None) -> list[TargetStats]:
    """``n`` inputs through every live path (each on its own hub)."""
    from hub.testing.mosquitto import Mosquitto

    rows: list[TargetStats] = []
    paths = [p for p in _paths() if not wanted or any(p.name.startswith(w) for w in wanted)]
    if not paths:
        return rows
    with Mosquitto(extra_config=["max_queued_messages 0"]) as broker:
        for path in paths:
            rng = random.Random(f"{seed}:{path.name}")
            rows.append(asyncio.run(_run_path(path, n, rng, broker.port, out)))
    return rows
