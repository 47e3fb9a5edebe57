"""`hub audit` (show and filter, --json) and `hub privacy-report`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.cli.views import parse_when
from hub.core.config import load_config
from hub.core.plugins import load_plugins
from hub.views.audit import AuditLog
from hub.views.report import privacy_report

T = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

CONFIG = """\
[hub]
data_dir = "state"

[site]
id = "fair"
name = "Summer fair"
[[site.zones]]
id = "beach"
area_m2 = 5000.0

[[sources.simulated]]
id = "sim"
zone = "beach"
measurement = "occupancy"

[[views]]
id = "public"
name = "Public"
levels_only = true
time_resolution = "15min"
delay_s = 900

[[sinks.mqtt]]
id = "public-feed"
view = "public"

[[sinks.sqlite]]
id = "store"
keep_raw_days = 14
"""


def hub_cmd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TZ": "UTC"},
    )


def audit_log(data: Path) -> None:
    log = AuditLog(data / "audit.jsonl")
    fields = {"from": T.isoformat(), "to": (T + timedelta(minutes=15)).isoformat()}
    log.sent(T, view="police", sink="hook", policy="abc", events=12, zones=["beach"], **fields)
    log.sent(T, view="public", sink="feed", policy="def", events=3, zones=["beach"], **fields)
    log.access(T + timedelta(hours=1), view="police", endpoint="/api/zones", status=200)
    log.action(
        T + timedelta(hours=2),
        view="police",
        endpoint="/api/alerts/a1/ack",
        action="acknowledge",
        target="a1",
    )


def test_audit_filters_by_view_sink_kind_and_time(tmp_path: Path) -> None:
    audit_log(tmp_path)
    d = ("--data-dir", str(tmp_path))

    def seqs(*args: str) -> list[int]:
        proc = hub_cmd("audit", *d, "--json", *args)
        assert proc.returncode == 0, proc.stderr
        return [json.loads(line)["seq"] for line in proc.stdout.splitlines()]

    assert seqs() == [1, 2, 3, 4]
    assert seqs("--view", "police") == [1, 3, 4]
    assert seqs("--sink", "feed") == [2]
    assert seqs("--kind", "action") == [4]
    assert seqs("--since", "2026-06-01T13:00") == [3, 4]
    assert seqs("--until", "2026-06-01T13:00:00+00:00") == [1, 2]
    assert seqs("--view", "police", "--kind", "sent", "--until", "2026-06-01T14:00") == [1]
    text = hub_cmd("audit", *d, "--kind", "access").stdout
    assert text == (
        "#3 2026-06-01T13:00:00+00:00 access view=police endpoint=/api/zones status=200\n"
    )


def test_audit_rejects_a_bad_time_and_says_when_there_is_no_log(tmp_path: Path) -> None:
    bad = hub_cmd("audit", "--data-dir", str(tmp_path), "--since", "yesterday")
    assert bad.returncode == 2
    assert bad.stderr.startswith("hub: --since/--until: Invalid isoformat string: 'yesterday'")
    none = hub_cmd("audit", "--data-dir", str(tmp_path))
    assert none.returncode == 0
    assert none.stderr == (
        f"hub: no audit log at {tmp_path / 'audit.jsonl'}: nothing has been sent yet\n"
    )


def test_ages_count_back_from_now() -> None:
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert parse_when("15m", now) == now - timedelta(minutes=15)
    assert parse_when("2h", now) == now - timedelta(hours=2)
    assert parse_when("7d", now) == now - timedelta(days=7)
    assert parse_when("2026-06-01T10:00") == datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def test_privacy_report_prints_the_report_of_the_config(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(CONFIG)
    proc = hub_cmd("privacy-report", str(path))
    assert proc.returncode == 0, proc.stderr
    registry = load_plugins()
    cfg = load_config(path, registry)
    want = privacy_report(
        site=cfg.site,
        views=cfg.views,
        sinks=cfg.sinks,
        sources=cfg.sources,
        data_dir=cfg.data_dir,
        sink_classes={kind: entry[0] for kind, entry in registry.sinks.items()},
        source_descriptions={k: e[0].description for k, e in registry.sources.items()},
        config_file=str(path),
    )
    assert proc.stdout == want
    assert proc.stdout.startswith("# Privacy report: Summer fair\n")
    assert "public" in proc.stdout and "14" in proc.stdout  # the view, the raw retention


def test_privacy_report_of_a_bad_config_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(CONFIG.replace('view = "public"\n', ""))
    proc = hub_cmd("privacy-report", str(path))
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[0] == (
        f"{path}: sinks.mqtt[public-feed]: this output leaves the machine but names no view; "
        'add view = "internal" for full detail or a restricted view id'
    )


def test_status_shows_the_views_outputs_name(tmp_path: Path) -> None:
    view = {"events_in": 120, "events_out": 8, "filtered": 70, "suppressed": 2, "held": 1}
    status = {
        "state": "running",
        "time": datetime.now(UTC).isoformat(),
        "pid": os.getpid(),
        "heartbeat_interval_s": 2.0,
        "uptime_s": 3.0,
        "sources": {},
        "sinks": {},
        "views": {
            "public": {**view, "sinks": ["public-feed", "public-hook"]},
            "unused": {**view, "sinks": []},
        },
    }
    (tmp_path / "status.json").write_text(json.dumps(status))
    proc = hub_cmd("status", "--data-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1:] == [
        "  view   public               2 output(s)     in=120 out=8 filtered=70 suppressed=2 held=1"
    ]
