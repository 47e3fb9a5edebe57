"""``hub simulate``: every simulated device against a running hub, through the real
transports (ptys + serial transport, the embedded broker or Mosquitto + the MQTT
transport, the HTTP ingest server), producing events through the real plugin sources."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from hub.core.config import validate_config
from hub.core.plugins import load_plugins
from hub.core.runtime import Hub
from hub.errors import ConfigError
from hub.events import Event
from hub.plugin import Sink, SinkConfig
from hub.plugins.lidar.simulate import RplidarCommands
from hub.privacy import classify_text
from hub.simulate.cli import build_simulator
from hub.testing.mosquitto import Mosquitto, free_port

SITE = {
    "id": "test-site",
    "timezone": "Europe/Amsterdam",
    "zones": [{"id": "boulevard", "area_m2": 100.0}, {"id": "beach", "area_m2": 100.0}],
    "lines": [
        {"id": "gate-a", "zone": "boulevard", "width_m": 2.0},
        {"id": "gate-b", "zone": "boulevard", "width_m": 2.0},
    ],
}


class Collect(Sink[SinkConfig]):
    """Test sink: keeps what it is given and wakes up waiters."""

    kind = "collect"
    config_model = SinkConfig
    events: list[Event] = []
    arrived: asyncio.Event | None = None

    async def write(self, batch: Sequence[Event]) -> None:
        Collect.events.extend(batch)
        if Collect.arrived is not None:
            Collect.arrived.set()


async def wait_for(check: Callable[[list[Event]], bool], within_s: float = 20.0) -> list[Event]:
    """Wait until ``check(events)`` holds (event-driven: woken by each batch written)."""
    assert Collect.arrived is not None
    async with asyncio.timeout(within_s):
        while not check(Collect.events):
            Collect.arrived.clear()
            await Collect.arrived.wait()
    return Collect.events


@contextlib.asynccontextmanager
async def hub_running(tmp_path: Path, **tables: Any) -> AsyncIterator[Hub]:
    registry = load_plugins()
    registry.sinks["collect"] = (Collect, registry.sinks["jsonl"][1])
    raw = {
        "hub": {"data_dir": str(tmp_path / "data")},
        "site": SITE,
        "sinks": {"collect": [{"id": "collect"}]},
        "zones": {"enabled": False},  # the devices' events only (zones: tests/core/test_zone_*)
        **tables,
    }
    problems: list[Any] = []
    config = validate_config(raw, registry, problems)
    if problems or config is None:
        raise ConfigError(problems)
    Collect.events, Collect.arrived = [], asyncio.Event()
    the_hub = Hub(config, registry)
    stop = asyncio.Event()
    task = asyncio.create_task(the_hub.run(stop), name="test-hub")
    try:
        yield the_hub
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


@contextlib.asynccontextmanager
async def simulating(argv: list[str]) -> AsyncIterator[list[str]]:
    """Run ``hub simulate <argv>`` in-process; yields the lines it says."""
    lines: list[str] = []
    sim = build_simulator(argv, lines.append)
    task = asyncio.create_task(sim.run(), name=f"test-simulator:{argv[0]}")
    try:
        yield lines
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    for line in lines:  # what a simulator prints never carries an identifier
        if "127.0.0.1" not in line:  # the configured target, said once when unreachable
            assert classify_text(line) is None, line


def of(source: str, measurement: str) -> Callable[[list[Event]], list[Event]]:
    def pick(events: list[Event]) -> list[Event]:
        return [e for e in events if e.source == source and e.measurement.type == measurement]

    return pick


def crossings(events: list[Event]) -> int:
    return sum(e.measurement.in_ + e.measurement.out for e in events)  # type: ignore[union-attr]


def broker_tables(port: int) -> dict[str, Any]:
    return {
        "mqtt_broker": [{"id": "embedded", "port": port}],
        "mqtt": [{"id": "local", "port": port, "protocol": "3.1.1", "reconnect_initial_s": 0.1}],
    }


# -- MQTT devices ------------------------------------------------------------------------


@pytest.mark.parametrize("ttn", [False, True], ids=["paxout", "ttn"])
async def test_paxcounter_through_the_embedded_broker(tmp_path: Path, ttn: bool) -> None:
    port = free_port()
    source = {"id": "pax", "device": "paxcounter", "broker": "local", "zone": "beach"}
    source |= {"input": "ttn", "ttn_application": "crowd-demo"} if ttn else {"input": "mqtt"}
    argv = ["paxcounter", "--broker", f"127.0.0.1:{port}", "--rate", "10", "--gap-every", "3"]
    async with (
        hub_running(
            tmp_path, transports=broker_tables(port), sources={"wifi_counter": [source]}
        ) as the_hub,
        simulating([*argv, "--ttn"] if ttn else argv) as lines,
    ):
        events = of("pax", "devices")(await wait_for(lambda ev: len(of("pax", "devices")(ev)) >= 4))
        assert all(e.zone == "beach" and e.measurement.count > 0 for e in events)  # type: ignore[union-attr]
        if ttn:  # every third uplink is lost: the next one carries sequence_gap
            await wait_for(lambda ev: any(e.quality_reasons for e in of("pax", "devices")(ev)))
        assert the_hub.status()["transports"]["mqtt_broker[embedded]"]["messages_in"] >= 4
    assert any("lost on the way (fault)" in line for line in lines)
    assert any(line.startswith("paxcounter: ") and "wifi=" in line for line in lines)


@pytest.mark.mosquitto
async def test_axis_through_mosquitto(tmp_path: Path, mosquitto: Mosquitto) -> None:
    source = {
        "id": "axis-gate",
        "device": "axis",
        "broker": "local",
        "interval_s": 1,
        "grace_s": 0,
        "scenarios": [{"scenario": 1, "line": "gate-a", "direction": "in", "classes": ["all"]}],
    }
    mqtt = {"id": "local", "port": mosquitto.port, "reconnect_initial_s": 0.1}
    async with (
        hub_running(tmp_path, transports={"mqtt": [mqtt]}, sources={"camera_aggregate": [source]}),
        simulating(["axis", "--broker", f"127.0.0.1:{mosquitto.port}", "--rate", "8"]) as lines,
    ):
        await wait_for(lambda ev: crossings(of("axis-gate", "crossing")(ev)) >= 3)
    assert any("crossing (" in line and "totals human=" in line for line in lines)


async def test_json_counter_for_generic_json(tmp_path: Path) -> None:
    port = free_port()
    source = {
        "id": "counter",
        "transport": "mqtt",
        "broker": "local",
        "topics": ["sensors/+/raw"],
        "measurement": "crossing",
        "line": "gate-b",
        "in": "in",
        "out": "out",
        "time": "ts",
        "time_format": "epoch_ms",
    }
    async with (
        hub_running(tmp_path, transports=broker_tables(port), sources={"generic_json": [source]}),
        simulating(["json", "--broker", f"127.0.0.1:{port}", "--rate", "10"]),
    ):
        events = await wait_for(lambda ev: len(of("counter", "crossing")(ev)) >= 3)
    assert all(e.line == "gate-b" for e in events)


# -- HTTP push devices ---------------------------------------------------------------------


def http_tables(port: int) -> dict[str, Any]:
    return {"http": [{"port": port}]}


@pytest.mark.parametrize(
    "extra", [["--mode", "realtime"], ["--mode", "timerange", "--namespace", "2.0", "--multipart"]]
)
async def test_hikvision_push(tmp_path: Path, extra: list[str]) -> None:
    port = free_port()
    source = {
        "id": "hik",
        "device": "hikvision",
        "auth": {"scheme": "basic", "username": "cam", "password": "pw"},
        "interval_s": 1,
        "grace_s": 0,
        "channels": [{"channel": 1, "line": "gate-b"}],
    }
    url = f"http://127.0.0.1:{port}/ingest/hik"
    argv = ["hikvision", "--url", url, "--user", "cam", "--password", "pw", "--rate", "4"]
    async with (
        hub_running(tmp_path, transports=http_tables(port), sources={"camera_aggregate": [source]}),
        simulating([*argv, "--gap-every", "2", *extra]) as lines,
    ):
        events = await wait_for(lambda ev: len(of("hik", "crossing")(ev)) >= 2)
    assert all(e.line == "gate-b" for e in events)
    assert any(line.endswith("-> HTTP 200") for line in lines)


async def test_vivotek_push(tmp_path: Path) -> None:
    port = free_port()
    source = {
        "id": "viv",
        "device": "vivotek",
        "auth": {"scheme": "bearer", "token": "t0ken"},
        "rules": [{"rule": "Entrance", "line": "gate-a"}],
    }
    url = f"http://127.0.0.1:{port}/ingest/viv"
    async with (
        hub_running(tmp_path, transports=http_tables(port), sources={"camera_aggregate": [source]}),
        simulating(["vivotek", "--url", url, "--token", "t0ken", "--rate", "1"]),
    ):
        events = await wait_for(lambda ev: len(of("viv", "crossing")(ev)) >= 2)
    assert events[0].line == "gate-a"


@pytest.mark.parametrize("api", ["2", "3"])
async def test_meraki_push_never_prints_macs(tmp_path: Path, api: str) -> None:
    port = free_port()
    source = {
        "id": "meraki",
        "device": "meraki",
        "validator": "v4l1dat0r",
        "secret": "s3cret",
        "interval_s": 1,
        "late_grace_s": 0.5,  # a 1 s interval goes out 0.5 s after its end
        "zone": "boulevard",
    }
    url = f"http://127.0.0.1:{port}/ingest/meraki"
    argv = ["meraki", "--url", url, "--secret", "s3cret", "--api", api, "--rate", "5"]
    async with (
        hub_running(tmp_path, transports=http_tables(port), sources={"wifi_counter": [source]}),
        simulating([*argv, "--devices", "12"]) as lines,
    ):
        events = await wait_for(
            lambda ev: any(e.measurement.count > 0 for e in of("meraki", "devices")(ev))  # type: ignore[union-attr]
        )
    assert max(e.measurement.count for e in events) <= 12  # type: ignore[union-attr]
    assert any("devices seen -> HTTP 200" in line for line in lines)


async def test_xovis_push(tmp_path: Path) -> None:
    port = free_port()
    source = {
        "id": "xovis",
        "auth": {"scheme": "bearer", "token": "tok"},
        "line": "gate-a",
        "zone": "boulevard",
    }
    url = f"http://127.0.0.1:{port}/ingest/xovis"
    argv = ["xovis", "--url", url, "--token", "tok", "--rate", "1", "--gap-every", "2"]
    async with (
        hub_running(tmp_path, transports=http_tables(port), sources={"xovis": [source]}),
        simulating(argv),
    ):
        events = await wait_for(lambda ev: len(of("xovis", "crossing")(ev)) >= 2)
        await wait_for(lambda ev: len(of("xovis", "occupancy")(ev)) >= 1)
    assert any(e.quality_reasons for e in of("xovis", "crossing")(events))  # the package gap


# -- serial devices on ptys -------------------------------------------------------------------


async def test_tfluna_pair_on_ptys(tmp_path: Path) -> None:
    links = [tmp_path / "beam-a", tmp_path / "beam-b"]
    source = {
        "id": "beams",
        "line": "gate-a",
        "beams": [{"serial": {"port": str(p)}} for p in links],
        "interval_s": 1,
        "pair_window_ms": 600,
    }
    argv = ["tfluna", "--beams", "2", "--rate", "90", "--bad-checksum-every", "40"]
    async with simulating([*argv, "--link", str(links[0]), "--link", str(links[1])]) as lines:
        while not all(p.exists() for p in links):
            await asyncio.sleep(0.01)  # the simulator's first step creates the ptys
        async with hub_running(tmp_path, sources={"tfluna": [source]}) as the_hub:
            events = await wait_for(
                lambda ev: (
                    crossings(of("beams", "crossing")(ev)) >= 2
                    and any(e.measurement.in_ for e in of("beams", "crossing")(ev))  # type: ignore[union-attr]
                    and any(e.measurement.out for e in of("beams", "crossing")(ev))  # type: ignore[union-attr]
                )
            )
            assert the_hub.status()["sources"]["beams"]["malformed"] > 0  # bad checksums
    assert any("passage A then B (a_to_b)" in line for line in lines)
    assert all(e.line == "gate-a" for e in events)
    assert not any(p.exists() for p in links)  # the simulator removed its links


async def test_rplidar_answers_the_scan_request(tmp_path: Path) -> None:
    link = tmp_path / "rplidar"
    source = {
        "id": "scan",
        "zone": "boulevard",
        "serial": {"port": str(link)},
        "polygon": [[0.0, -4.0], [6.0, -4.0], [6.0, 4.0], [0.0, 4.0]],
        "emit_interval_s": 1,
    }
    async with simulating(
        ["rplidar", "--link", str(link), "--people", "2", "--rate", "10"]
    ) as lines:
        while not link.exists():
            await asyncio.sleep(0.01)
        async with hub_running(tmp_path, sources={"rplidar": [source]}):
            events = await wait_for(lambda ev: len(of("scan", "occupancy")(ev)) >= 2)
    assert any(e.measurement.count >= 1 for e in events)  # type: ignore[union-attr]
    assert any("SCAN request; scanning" in line for line in lines)
    assert any("GET_HEALTH answered" in line for line in lines)


def test_rplidar_command_parser() -> None:
    parser = RplidarCommands()
    # STOP, GET_HEALTH, then an express scan with a 5-byte payload split across reads
    assert parser.feed(b"\x00\xa5\x25\xa5\x52\xa5\x82\x05\x00\x00") == [0x25, 0x52]
    assert parser.feed(b"\x00\x00\x00\x22\xa5") == [0x82]
    assert parser.feed(b"\x20") == [0x20]


# -- the command line --------------------------------------------------------------------------


def test_cli_prints_the_pty_path_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    link = tmp_path / "tty-beam"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub", "simulate", "tfluna", "--link", str(link), "--rate", "600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert str(link) in first
        for line in iter(proc.stdout.readline, ""):
            if "passage" in line:
                break
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "tfluna: stopped after" in out
    assert not os.path.lexists(link)


def test_cli_refuses_a_link_over_a_real_file(tmp_path: Path) -> None:
    precious = tmp_path / "notes.txt"
    precious.write_text("keep me")
    proc = subprocess.run(
        [sys.executable, "-m", "hub", "simulate", "rplidar", "--link", str(precious)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "exists and is not a symlink" in proc.stderr
    assert precious.read_text() == "keep me"
