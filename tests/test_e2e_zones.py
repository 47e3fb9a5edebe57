"""End to end: a simulated Hikvision camera with a scripted surge pushes over HTTP to
``hub run`` (a subprocess); the zone goes red and back, its alert fires, is acknowledged
with ``hub alerts ack`` and resolves; zone states and alerts reach the sqlite output and
MQTT (a real Mosquitto), and ``hub zones --json`` reads the running hub."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from hub.clock import SystemClock
from hub.core.transports.mqtt import MqttTransport, MqttTransportConfig
from hub.plugin import TransportContext
from hub.testing import HubProcess
from hub.testing.mosquitto import Mosquitto, free_port
from hub.transports import Message

pytestmark = pytest.mark.mosquitto

CONFIG = """
[hub]
data_dir = "data"
status_interval_s = 0.5
shutdown_timeout_s = 5

[site]
id = "e2e"
timezone = "Europe/Amsterdam"

[[site.zones]]
id = "pier"
area_m2 = 100.0
capacity = 400
levels = "quick"

[[site.lines]]
id = "pier-gate"
zone = "pier"
width_m = 10.0

[zones]
publish_interval_s = 1

[zones.level_sets.quick]
metric = "density"
pending_s = 0
hold_s = 1
levels = [{{ name = "green" }}, {{ name = "red", colour = "red", enter = 2.0 }}]

[[zones.rules]]
id = "level-red"
kind = "level"
level = "red"
hold_s = 2
close_after_s = 600

[[transports.http]]
host = "127.0.0.1"
port = {http_port}

[[transports.mqtt]]
id = "local"
host = "127.0.0.1"
port = {mqtt_port}
reconnect_initial_s = 0.1

[[sources.camera_aggregate]]
id = "cam"
device = "hikvision"
auth = {{ scheme = "basic", username = "camera", password = "secret" }}
interval_s = 1
grace_s = 0.5

[[sources.camera_aggregate.channels]]
channel = 1
line = "pier-gate"
enter = "in"
occupancy_zone = "pier"

[[sinks.sqlite]]
id = "store"
path = "events.sqlite"

[[sinks.mqtt]]
id = "bus"
broker = "local"
topic = "crowd/{{zone}}/{{measurement}}"
qos = 1
measurements = ["zone_state", "alert"]
view = "internal"
"""

# 300 people on 100 m² (red from 2 p/m²): calm 2 s, rise 4 s, 25 s at the peak, fall 3 s
SURGE = "300:2:4:25:3:600"


def hub_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", *args], capture_output=True, text=True, timeout=timeout
    )


async def zones_json(data: Path) -> tuple[int, dict[str, Any]]:
    proc = await asyncio.to_thread(hub_cli, "zones", "--json", "--data-dir", str(data))
    return proc.returncode, json.loads(proc.stdout) if proc.stdout else {}


async def until(
    check: Callable[[], Any], what: str, within_s: float = 60.0, every_s: float = 0.2
) -> Any:
    async with asyncio.timeout(within_s):
        while True:
            got = await check() if asyncio.iscoroutinefunction(check) else check()
            if got:
                return got
            await asyncio.sleep(every_s)  # another process changes the files: poll
    raise AssertionError(what)  # pragma: no cover - the timeout raises first


@contextlib.asynccontextmanager
async def subscribed(broker: Mosquitto, topics: list[str]) -> AsyncIterator[list[Message]]:
    cfg = MqttTransportConfig(host=broker.host, port=broker.port, reconnect_initial_s=0.05)
    t = MqttTransport(
        cfg, TransportContext("test", "mqtt", SystemClock(), logging.getLogger("test.mqtt"))
    )
    got: list[Message] = []

    async def collect() -> None:
        async with t.subscribe(topics, qos=1) as messages:
            async for msg in messages:
                got.append(msg)

    runner = asyncio.create_task(t.run(), name="test-mqtt")
    reader = asyncio.create_task(collect(), name="test-mqtt-reader")
    try:
        yield got
    finally:
        for task in (reader, runner):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def stored(db: Path) -> list[dict[str, Any]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        rows = con.execute("SELECT event FROM events WHERE source = 'zones'").fetchall()
    finally:
        con.close()
    return [json.loads(r[0]) for r in rows]


async def test_a_surge_turns_a_zone_red_alerts_and_is_acknowledged(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    http_port = free_port()
    config = tmp_path / "hub.toml"
    config.write_text(CONFIG.format(http_port=http_port, mqtt_port=mosquitto.port))
    data = tmp_path / "data"
    hub = HubProcess(config, tmp_path / "hub.log", cwd=tmp_path)
    async with subscribed(mosquitto, ["crowd/#"]) as messages, hub:
        sim: asyncio.subprocess.Process | None = None
        try:
            await hub.wait_until_async(
                lambda: (data / "zones.json").exists(), 60, "the zone driver runs"
            )
            url = f"http://127.0.0.1:{http_port}/ingest/cam"
            sim = await asyncio.create_subprocess_exec(
                *[sys.executable, "-m", "hub", "simulate", "hikvision", "--url", url],
                *["--rate", "2", "--surge", SURGE, "--user", "camera", "--password", "secret"],
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )

            async def red() -> dict[str, Any] | None:
                code, doc = await zones_json(data)
                assert code == 0, doc  # the hub runs
                [pier] = doc["zones"]
                return doc if pier["level"] == "red" and doc["alerts"] else None

            doc = await until(red, "the pier turns red with an alert")
            [alert] = doc["alerts"]
            assert alert["alert_id"] == "level-red/pier/1" and alert["state"] == "firing"
            assert doc["zones"][0]["method"] == "counted" and doc["zones"][0]["fresh"]

            async def status_red() -> str | None:
                # status.json is rewritten on its own interval: it catches up with zones.json
                status = await asyncio.to_thread(hub_cli, "status", "--data-dir", str(data))
                lines = [ln for ln in status.stdout.splitlines() if ln.startswith("  zone   pier")]
                return lines[0] if lines and " red " in lines[0] else None

            line = await until(status_red, "hub status shows the pier red", within_s=10)
            assert "(counted)" in line, line

            wrong = await asyncio.to_thread(
                hub_cli, "alerts", "--data-dir", str(data), "ack", "level-red/beach"
            )
            assert wrong.returncode == 1 and wrong.stdout == ""
            assert wrong.stderr == (
                "hub: no open alert 'level-red/beach' (open: level-red/pier/1); "
                "`hub alerts` lists them\n"
            )
            ack = await asyncio.to_thread(
                hub_cli,
                "alerts",
                "--data-dir",
                str(data),
                "ack",
                "level-red/pier",
                "--by",
                "control room",
                "--note",
                "stewards sent",
            )
            assert ack.returncode == 0, ack.stderr
            assert ack.stdout == "acknowledged level-red/pier/1 (pier) by control room\n"

            async def resolved() -> dict[str, Any] | None:
                _, doc = await zones_json(data)
                states = [a["state"] for a in doc["alerts"]]
                return (
                    doc if doc["zones"][0]["level"] == "green" and states == ["resolved"] else None
                )

            doc = await until(resolved, "the surge passes and the alert resolves")
            assert doc["alerts"][0]["acknowledged_by"] == "control room"

            def published() -> set[tuple[str, str]]:
                seen = set()
                for m in messages:
                    ev = json.loads(m.payload)
                    meas = ev["measurement"]
                    seen.add((m.topic, meas.get("state") or meas.get("level")))
                return seen

            want = {
                ("crowd/pier/zone_state", "red"),
                ("crowd/pier/zone_state", "green"),
                ("crowd/pier/alert", "firing"),
                ("crowd/pier/alert", "acknowledged"),
                ("crowd/pier/alert", "resolved"),
            }
            await until(lambda: want <= published(), f"MQTT gets {want}", within_s=20)
        finally:
            if sim is not None:
                sim.terminate()
                await asyncio.wait_for(sim.wait(), 10)
            code = await hub.stop_async()
    hub_log = hub.log_text()
    assert code == 0, hub_log[-3000:]
    assert "Traceback" not in hub_log
    assert "alert level-red/pier/1 firing" in hub_log

    events = stored(data / "events.sqlite")
    levels = [e["measurement"]["level"] for e in events if e["measurement"]["type"] == "zone_state"]
    assert "red" in levels and levels[-1] == "green"
    alerts = [e["measurement"] for e in events if e["measurement"]["type"] == "alert"]
    assert [a["state"] for a in alerts] == ["firing", "acknowledged", "resolved"]
    assert all(a["alert_id"] == "level-red/pier/1" for a in alerts)
    # who acknowledged stays in the hub's measures log, not in the published events
    assert "control room" not in json.dumps(events)
    records = [json.loads(x) for x in (data / "alerts.jsonl").read_text().splitlines()]
    assert [r["event"] for r in records] == ["fired", "acknowledged", "resolved"]
    assert records[1]["by"] == "control room" and records[1]["note"] == "stewards sent"

    after = await asyncio.to_thread(hub_cli, "zones", "--json", "--data-dir", str(data))
    assert after.returncode == 1 and json.loads(after.stdout)["running"] is False
    assert json.loads((data / "zones-state.json").read_text())["zones"]["pier"]
