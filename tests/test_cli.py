"""The `hub` command as a user runs it: a subprocess, real signals, real files."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from hub.events import Event
from hub.testing import HubProcess

CONFIG = """
[hub]
data_dir = "data"
status_interval_s = 0.2

[site]
id = "scheveningen"

[[site.zones]]
id = "boulevard"
area_m2 = 1200.0

[[site.lines]]
id = "gate-a"
zone = "boulevard"
width_m = 4.0

[[sources.simulated]]
id = "sim-gate"
line = "gate-a"
interval_s = 0.05
seed = 3

[[sources.simulated]]
id = "sim-zone"
zone = "boulevard"
measurement = "occupancy"
interval_s = 0.05

[[sinks.sqlite]]
id = "store"

[[sinks.jsonl]]
id = "archive"

[[sinks.console]]
id = "console"
format = "json"
"""


def hub_cmd(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", *args], capture_output=True, text=True, timeout=60, cwd=cwd
    )


def test_run_then_sigterm_flushes_and_exits_0(tmp_path: Path) -> None:
    cfg = tmp_path / "hub.toml"
    cfg.write_text(CONFIG)
    printed_to = tmp_path / "stdout.jsonl"
    status_file = tmp_path / "data" / "status.json"
    with HubProcess(cfg, tmp_path / "hub.log", stdout_path=printed_to) as hub:

        def running() -> bool:
            if not status_file.exists():
                return False
            st = json.loads(status_file.read_text())
            return st["state"] == "running" and st["sinks"]["store"]["events_out"] >= 10

        hub.wait_until(running, 20, "status.json: running, 10 events stored")
        st = hub_cmd("status", str(cfg))
        assert st.returncode == 0, st.stderr
        assert "source sim-gate" in st.stdout and "running" in st.stdout
        code = hub.stop(20)
    err = hub.log_text()
    assert code == 0, err
    assert "stopped cleanly" in err
    printed = [Event.model_validate_json(line) for line in printed_to.read_text().splitlines()]
    db = sqlite3.connect(tmp_path / "data" / "events.sqlite")
    try:
        stored = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    finally:
        db.close()
    archived = (tmp_path / "data" / "events.jsonl").read_text().splitlines()
    # everything emitted before the stop reached every output: nothing lost on shutdown
    assert stored == len(printed) == len(archived) >= 10
    final = json.loads(status_file.read_text())
    assert final["state"] == "stopped"


def test_sigint_also_stops_cleanly(tmp_path: Path) -> None:
    cfg = tmp_path / "hub.toml"
    cfg.write_text(CONFIG)
    with HubProcess(cfg, tmp_path / "hub.log", stdout_path=tmp_path / "stdout.jsonl") as hub:
        hub.wait_until(lambda: (tmp_path / "data" / "events.jsonl").exists(), 20, "events.jsonl")
        code = hub.stop(20, signal.SIGINT)
    assert code == 0, hub.log_text()


def test_schema_prints_json_schema() -> None:
    proc = hub_cmd("schema")
    assert proc.returncode == 0
    schema = json.loads(proc.stdout)
    assert schema["title"] == "Event" and "measurement" in schema["properties"]


def test_sample_config_for_each_kind(tmp_path: Path) -> None:
    proc = hub_cmd("sample-config", "simulated")
    assert proc.returncode == 0 and "[[sources.simulated]]" in proc.stdout
    gen = hub_cmd("sample-config", "jsonl")
    assert gen.returncode == 0 and "[[sinks.jsonl]]" in gen.stdout
    assert "# rotate when the file would exceed this" in gen.stdout
    bad = hub_cmd("sample-config", "nosuch")
    assert bad.returncode == 2 and "no table or plugin kind 'nosuch'; known:" in bad.stderr


def test_python_dash_m_and_version() -> None:
    proc = hub_cmd("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("crowdhub ")


@pytest.mark.parametrize("env", [{"HUB_BLOCK_PLUGINS": "output_sqlite"}])
def test_run_with_unknown_kind_exits_2(tmp_path: Path, env: dict[str, str]) -> None:
    cfg = tmp_path / "hub.toml"
    cfg.write_text(CONFIG)
    proc = subprocess.run(
        [sys.executable, "-m", "hub", "run", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )
    assert proc.returncode == 2
    assert "sinks.sqlite: unknown sink kind 'sqlite'" in proc.stderr


def test_demo_runs_without_services(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hub",
            "demo",
            "--duration",
            "6",
            "--data-dir",
            str(tmp_path / "demo"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) >= 3
    named = re.search(r"Config: (\S+) - a starting point for a real site", proc.stderr)
    assert named is not None and Path(named[1]).name == "demo.toml" and Path(named[1]).is_file()
    db = sqlite3.connect(tmp_path / "demo" / "events.sqlite")
    try:
        kinds = {r[0] for r in db.execute("SELECT DISTINCT measurement FROM events")}
    finally:
        db.close()
    assert {"crossing", "occupancy"} <= kinds
