"""Issue 3 end to end: real Mosquitto, real `hub run` processes, real HTTP scrapes.

- the broker restarts mid-stream: the hub reconnects, resubscribes and keeps delivering;
- two hub processes share one `$share/...` subscription at QoS 1: together they receive
  every message exactly once;
- /healthz and /metrics of a running hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hub.clock import SystemClock
from hub.core.transports.mqtt import MqttTransport, MqttTransportConfig
from hub.errors import DeviceUnavailable
from hub.plugin import TransportContext
from hub.testing import HubProcess
from hub.testing.mosquitto import Mosquitto, free_port

pytestmark = pytest.mark.mosquitto

CONFIG = """
[hub]
data_dir = "data"
status_interval_s = 0.2
shutdown_timeout_s = 5

[site]
id = "e2e"
[[site.zones]]
id = "z1"
area_m2 = 100.0

[[transports.mqtt]]
id = "default"
host = "127.0.0.1"
port = {port}
protocol = "5"
reconnect_initial_s = 0.05
reconnect_max_s = 0.5

{http}

[[sources.generic_json]]
id = "counters"
broker = "default"
topics = ["{topic}"]
qos = 1
measurement = "occupancy"
zone_expr = "zone"
count = "count"
key = "seq"
extras = {{ seq = "seq" }}

[[sinks.jsonl]]
id = "archive"
path = "events.jsonl"
measurements = ["occupancy"]   # the counters' readings, not the zone states derived from them
"""


def write_config(directory: Path, port: int, topic: str, http_port: int | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    http = f'[[transports.http]]\nhost = "127.0.0.1"\nport = {http_port}\n' if http_port else ""
    path = directory / "hub.toml"
    path.write_text(CONFIG.format(port=port, topic=topic, http=http))
    return path


def seqs(directory: Path) -> list[int]:
    path = directory / "data" / "events.jsonl"
    if not path.exists():
        return []
    out = []
    # the hub may be writing: only whole lines (ended by a newline) are read
    for line in path.read_text().split("\n")[:-1]:
        if line.strip():
            out.append(int(json.loads(line)["extras"]["generic_json"]["seq"]))
    return out


async def wait_until(cond: Any, limit_s: float = 20.0) -> None:
    deadline = time.monotonic() + limit_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def publisher(broker: Mosquitto) -> AsyncIterator[MqttTransport]:
    cfg = MqttTransportConfig(
        host=broker.host, port=broker.port, reconnect_initial_s=0.05, reconnect_max_s=0.5
    )
    t = MqttTransport(
        cfg,
        TransportContext(
            instance="pub", kind="mqtt", clock=SystemClock(), log=logging.getLogger("test.pub")
        ),
    )
    task = asyncio.create_task(t.run(), name="publisher")
    try:
        yield t
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def publish(t: MqttTransport, seq: int, limit_s: float = 20.0) -> None:
    body = json.dumps({"sensor": "s1", "zone": "z1", "seq": seq, "count": seq % 50}).encode()
    deadline = time.monotonic() + limit_s
    while True:
        try:
            await t.publish(f"sensors/s{seq % 7}/raw", body, qos=1)
            return
        except DeviceUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def until_flowing(t: MqttTransport, directory: Path, start_seq: int) -> int:
    """Publish probe messages until one comes out of the hub; return the next free seq."""
    seq = start_seq
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        await publish(t, seq)
        seq += 1
        with contextlib.suppress(AssertionError):
            await wait_until(lambda: any(s >= start_seq for s in seqs(directory)), 0.3)
            return seq
    raise AssertionError("the hub did not deliver within 30 s")


def http_get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


async def test_broker_restart_mid_stream_hub_keeps_delivering(tmp_path: Path) -> None:
    with Mosquitto(tmp_path / "broker") as broker:
        http_port = free_port()
        cfg = write_config(tmp_path / "hub", broker.port, "sensors/+/raw", http_port)
        with HubProcess(cfg, tmp_path / "hub.log") as proc:
            async with publisher(broker) as pub:
                await until_flowing(pub, tmp_path / "hub", 1000)
                for i in range(50):
                    await publish(pub, i)
                await proc.wait_until_async(
                    lambda: set(range(50)) <= set(seqs(tmp_path / "hub")), 20, "seqs 0-49"
                )

                broker.restart()  # same port: every client sees its connection drop
                await until_flowing(pub, tmp_path / "hub", 2000)
                for i in range(100, 150):
                    await publish(pub, i)
                await proc.wait_until_async(
                    lambda: set(range(100, 150)) <= set(seqs(tmp_path / "hub")), 20, "seqs 100-149"
                )

            assert proc.alive(), "the hub must survive a broker restart"
            status, body = http_get(http_port, "/healthz")
            health = json.loads(body)
            assert status == 200, body
            assert health["sources"]["counters"]["state"] == "running"
            assert health["transports"]["mqtt[default]"]["reconnects"] >= 1
            status, metrics = http_get(http_port, "/metrics")
            assert status == 200
            assert 'crowdhub_source_events_total{kind="generic_json",source="counters"}' in metrics
            assert 'crowdhub_transport_reconnects_total{transport="mqtt[default]"}' in metrics
            assert 'crowdhub_sink_events_total{kind="jsonl",sink="archive"}' in metrics
            assert await proc.stop_async(20) == 0, proc.log_tail()
        got = seqs(tmp_path / "hub")
        assert len(got) == len(set(got)), "no duplicates in the output"


async def test_two_hub_processes_share_a_subscription_exactly_once(tmp_path: Path) -> None:
    n = 300
    with Mosquitto(tmp_path / "broker") as broker:
        a = write_config(tmp_path / "a", broker.port, "$share/crowdhub/sensors/+/raw")
        b = write_config(tmp_path / "b", broker.port, "$share/crowdhub/sensors/+/raw")
        with HubProcess(a, a.parent / "hub.log"), HubProcess(b, b.parent / "hub.log"):
            async with publisher(broker) as pub:
                # both hubs subscribed: each has delivered a probe
                seq = 10_000
                deadline = time.monotonic() + 30
                while not (
                    any(s >= 10_000 for s in seqs(tmp_path / "a"))
                    and any(s >= 10_000 for s in seqs(tmp_path / "b"))
                ):
                    assert time.monotonic() < deadline, "both hubs should receive probes"
                    await publish(pub, seq)
                    seq += 1
                    await asyncio.sleep(0.05)
                for i in range(n):
                    await publish(pub, i)

                def all_in() -> bool:
                    got = [s for s in seqs(tmp_path / "a") + seqs(tmp_path / "b") if s < n]
                    return len(got) >= n

                await wait_until(all_in, 30)
        got_a = [s for s in seqs(tmp_path / "a") if s < n]
        got_b = [s for s in seqs(tmp_path / "b") if s < n]
        assert sorted(got_a + got_b) == list(range(n)), "every message exactly once"
        assert got_a and got_b, "the stream is split between the two hubs"
