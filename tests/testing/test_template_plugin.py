"""contrib/plugin-template is a real, installable plugin: pip installs it, `hub plugins`
finds it through its entry point, the conformance kit passes on it and its own tests pass."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hub.testing import HubProcess

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "contrib" / "plugin-template"


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site-milesight")
    # setuptools builds in the source folder: install from a copy to keep contrib/ clean
    source = tmp_path_factory.mktemp("src") / "plugin-template"
    shutil.copytree(TEMPLATE, source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
            "--no-build-isolation", "--target", str(target), str(source),
        ],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return target


def run(*args: str, path: Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(path))
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=120, env=env, cwd=cwd
    )


def test_hub_plugins_discovers_it(site_dir: Path) -> None:
    assert (site_dir / "crowdhub_milesight" / "sample.toml").exists()
    proc = run("-m", "hub", "plugins", "--json", path=site_dir)
    assert proc.returncode == 0, proc.stderr
    row = next(r for r in json.loads(proc.stdout) if r["name"] == "milesight")
    assert row["distribution"] == "crowdhub-milesight"
    assert row["version"] == "0.1.0"
    assert row["sources"] == ["milesight"] and not row["builtin"]


def test_conformance_kit_passes_on_it(site_dir: Path, tmp_path: Path) -> None:
    md, js = tmp_path / "report.md", tmp_path / "report.json"
    proc = run(
        "-m", "hub", "conformance", "milesight",
        "--cases", str(TEMPLATE / "conformance"), "--report", str(md), "--json", str(js),
        path=site_dir,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "RESULT: PASS" in proc.stdout
    report = json.loads(js.read_text())
    ids = {c["id"] for c in report["checks"]}
    assert {"config.sample", "case:line_totals", "fault.disconnect", "privacy"} <= ids
    assert "**PASS" in md.read_text()


def test_its_own_tests_pass(site_dir: Path) -> None:
    proc = run("-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", path=site_dir, cwd=TEMPLATE)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout


def test_readme_embeds_the_sample_config() -> None:
    package = TEMPLATE / "crowdhub_milesight"
    assert (package / "sample.toml").read_text().strip() in (package / "README.md").read_text()


def test_hub_simulate_runs_its_device_against_a_hub(site_dir: Path, tmp_path: Path) -> None:
    """The template's simulated VS133 (register_simulators) feeds the template's own source
    through the embedded broker: a third-party device end to end, in two processes."""
    listed = run("-m", "hub", "simulate", "--help", path=site_dir)
    assert "(plugin milesight)" in listed.stdout, listed.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "hub.toml"
    config.write_text(
        f'[hub]\ndata_dir = "{tmp_path / "data"}"\n\n'
        '[site]\nid = "s"\ntimezone = "UTC"\n\n'
        '[[site.zones]]\nid = "hall"\narea_m2 = 100.0\n\n'
        '[[site.lines]]\nid = "gate-a"\nzone = "hall"\nwidth_m = 2.0\n\n'
        f'[[transports.mqtt_broker]]\nid = "embedded"\nport = {port}\n\n'
        f'[[transports.mqtt]]\nid = "local"\nport = {port}\nprotocol = "3.1.1"\n'
        "reconnect_initial_s = 0.1\n\n"
        '[[sources.milesight]]\nid = "vs133"\nbroker = "local"\nline = "gate-a"\n\n'
        f'[[sinks.jsonl]]\nid = "out"\npath = "{tmp_path / "events.jsonl"}"\n'
        "linger_s = 0.1\n"
    )
    with HubProcess(
        config,
        tmp_path / "hub.log",
        env={"PYTHONPATH": str(site_dir)},
        extra_args=["--duration", "20"],
    ) as hub:
        device = run(
            "-m", "hub", "simulate", "milesight", "--broker", f"127.0.0.1:{port}",
            "--count", "40", "--rate", "20",
            path=site_dir,
        )  # fmt: skip
        assert device.returncode == 0, device.stderr
        assert "milesight: stopped after 40 sent" in device.stdout
        events = tmp_path / "events.jsonl"
        hub.wait_until(lambda: events.exists() and events.read_text(), 15, "events.jsonl")
        hub.stop(30)
    err = hub.log_text()
    rows = [json.loads(line) for line in events.read_text().splitlines()]
    crossings = [
        r for r in rows if r["source"] == "vs133" and r["measurement"]["type"] == "crossing"
    ]
    assert crossings, err[-2000:]
    assert all(r["source"] == "vs133" and r["line"] == "gate-a" for r in crossings)
