"""Operator basics: sample configs for every table, `run --test`, JSON logs, the systemd unit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.core.plugins import load_plugins
from tests.test_cli import CONFIG, hub_cmd

REPO = Path(__file__).resolve().parent.parent


def test_sample_config_without_a_name_lists_tables_and_kinds() -> None:
    proc = hub_cmd("sample-config")
    assert proc.returncode == 0, proc.stderr
    reg = load_plugins()
    lines = proc.stdout.splitlines()
    assert "  tables:     hub, plugins, site, zones, views, dashboard" in lines
    assert f"  sources:    {', '.join(sorted(reg.sources))}" in lines
    assert f"  outputs:    {', '.join(sorted(reg.sinks))}" in lines
    assert f"  transports: {', '.join(sorted(reg.transports))}" in lines


@pytest.mark.parametrize(
    ("name", "header"),
    [
        ("site", "[site]"),
        ("hub", "[hub]"),
        ("plugins", "[plugins]"),
        ("views", "[[views]]"),
        ("transports.mqtt", "[[transports.mqtt]]"),
        ("transports.http", "[[transports.http]]"),
        ("sinks.mqtt", "[[sinks.mqtt]]"),
        ("mqtt", "[[sinks.mqtt]]"),
        ("sources.simulated", "[[sources.simulated]]"),
    ],
)
def test_sample_config_of_a_table(name: str, header: str) -> None:
    proc = hub_cmd("sample-config", name)
    assert proc.returncode == 0, proc.stderr
    assert header in proc.stdout.splitlines()


def test_site_sample_has_a_zone_and_a_line() -> None:
    out = hub_cmd("sample-config", "site").stdout.splitlines()
    assert {"[[site.zones]]", "[[site.lines]]", 'zone = "boulevard"', "area_m2 = 1200.0"} <= set(
        out
    )


def test_sample_config_of_an_unknown_name_exits_2() -> None:
    proc = hub_cmd("sample-config", "transports.nosuch")
    assert proc.returncode == 2
    assert proc.stderr.startswith("hub: no table or plugin kind 'transports.nosuch'; known: hub,")


def test_sample_config_all_passes_check_config(tmp_path: Path) -> None:
    proc = hub_cmd("sample-config", "--all")
    assert proc.returncode == 0, proc.stderr
    path = tmp_path / "hub.toml"
    path.write_text(proc.stdout)
    check = hub_cmd("check-config", str(path))
    assert check.returncode == 0, check.stderr
    assert "1 source(s), 1 output(s)" in check.stdout
    reg = load_plugins()
    text = proc.stdout
    for table, kinds in (("sources", reg.sources), ("sinks", reg.sinks)):
        for kind in kinds:
            assert f"[[{table}.{kind}]]" in text, kind  # every kind, commented out or not
    for kind in reg.transports:
        assert f"# [[transports.{kind}]]" in text, kind


def test_run_test_prints_events_of_every_source_and_writes_nothing(tmp_path: Path) -> None:
    cfg = tmp_path / "hub.toml"
    cfg.write_text(CONFIG)
    proc = hub_cmd("run", "--test", "--test-duration", "30", str(cfg))
    assert proc.returncode == 0, proc.stderr
    sources = {json.loads(line)["source"] for line in proc.stdout.splitlines()}
    assert sources == {"sim-gate", "sim-zone"}
    assert "--test: source sim-gate: " in proc.stderr
    # no output was opened and the data dir (status.json of a live hub) is left alone
    assert not (tmp_path / "data").exists()


def test_run_test_names_a_silent_source_and_exits_1(tmp_path: Path) -> None:
    cfg = tmp_path / "hub.toml"
    slow = CONFIG.replace(
        'measurement = "occupancy"\ninterval_s = 0.05',
        'measurement = "occupancy"\ninterval_s = 3600',
    )
    assert slow != CONFIG
    cfg.write_text(slow)
    proc = hub_cmd("run", "--test", "--test-duration", "2", str(cfg))
    assert proc.returncode == 1
    assert "--test: source sim-zone: no event within 2 s" in proc.stderr
    assert "sim-gate" in proc.stdout and "sim-zone" not in proc.stdout


def test_log_format_json_one_object_per_line_without_secrets(tmp_path: Path) -> None:
    secret = "s3cret-token-value-42"
    cfg = tmp_path / "hub.toml"
    # an output that fails (nothing listens on port 9) logs errors about a request that
    # carries the token: the token must not reach the log
    cfg.write_text(
        CONFIG
        + '\n[[sinks.http]]\nid = "hook"\nurl = "http://127.0.0.1:9/in"\ntimeout_s = 0.5\n'
        + 'view = "internal"\n'
        + 'auth = { scheme = "bearer", token = "${CROWDHUB_TEST_TOKEN}" }\n'
        + 'queue = "memory"\n'
    )
    proc = subprocess.run(
        [sys.executable, "-m", "hub", "run", "--log-format", "json", "--duration", "3", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CROWDHUB_TEST_TOKEN": secret},
    )
    # the dead output's memory queue loses its events at the stop: exit 1, said in JSON too
    assert proc.returncode == 1, proc.stderr
    records = [json.loads(line) for line in proc.stderr.splitlines()]
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r["message"].startswith("stopped, but ") for r in records)
    assert any("hook" in r["message"] and r["level"] in ("WARNING", "ERROR") for r in records)
    assert secret not in proc.stderr


def test_systemd_unit_is_hardened_and_runs_the_checked_config() -> None:
    unit = (REPO / "contrib" / "systemd" / "crowdhub.service").read_text()
    lines = {ln.strip() for ln in unit.splitlines()}
    assert "ExecStart=/opt/crowdhub/bin/hub run --log-format json /etc/crowdhub/hub.toml" in lines
    assert "ExecStartPre=/opt/crowdhub/bin/hub check-config /etc/crowdhub/hub.toml" in lines
    assert "RestartPreventExitStatus=2" in lines  # a bad config is not retried forever
    for option in (
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/crowdhub",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
    ):
        assert option in lines, option
    assert "contrib/systemd/crowdhub.service" in (REPO / "README.md").read_text()


def test_a_reader_that_leaves_early_gets_no_traceback() -> None:
    """`hub zones | head`: the pipe closes while the hub still writes. Here the reading end
    is closed before the command starts, so its first write fails for certain."""
    r, w = os.pipe()
    os.close(r)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "hub", "schema"],
            stdout=w,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(w)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr == ""
    assert proc.returncode == 0
