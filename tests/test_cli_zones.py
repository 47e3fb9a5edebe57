"""``[zones]`` in check-config and sample-config; ``hub zones`` and ``hub alerts`` without a
running hub (the running hub: tests/test_e2e_zones.py and tests/core/test_zone_driver.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.cli.main import main

SITE = """
[site]
id = "s"
[[site.zones]]
id = "pier"
area_m2 = 100.0
[[site.lines]]
id = "gate"
zone = "pier"
width_m = 2.0
"""


def check(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "hub.toml"
    path.write_text(SITE + text)
    code = main(["check-config", str(path)])
    out = capsys.readouterr()
    return code, (out.out + out.err).replace(f"{path}: ", "")


def test_a_valid_zones_table_passes_check_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = """
[zones]
reset_at = 06:00:00
[zones.level_sets.pier-set]
levels = [{ name = "green" }, { name = "red", enter = 2.0 }]
[[zones.rules]]
id = "red"
kind = "level"
level = "red"
subjects = ["pier"]
"""
    code, out = check(tmp_path, text, capsys)
    assert code == 0, out
    assert "OK (1 zone(s), 1 line(s)" in out


def test_zones_problems_are_one_line_each_named_by_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = """
[zones]
stale_after = 60
[[zones.rules]]
id = "red"
kind = "level"
levle = "red"
[[zones.rules]]
id = "purple"
kind = "level"
level = "purple"
subjects = ["pire"]
"""
    code, out = check(tmp_path, text, capsys)
    assert code == 2
    lines = sorted(out.splitlines()[:2])
    assert lines[0].startswith("zones.rules[red].levle: unknown field; did you mean 'level'?")
    assert lines[1].startswith("zones.stale_after: unknown field; did you mean 'stale_after_s'?")
    assert out.splitlines()[-1] == "hub: 2 problem(s) in the configuration; nothing was started"
    # the site checks need a valid table: fix the spelling and they are reported
    code, out = check(
        tmp_path, text.replace("stale_after =", "stale_after_s =").replace("levle", "level"), capsys
    )
    assert code == 2
    assert out.splitlines()[:2] == [
        "zones.rules[purple].subjects: unknown zone or line pire; add it under [site] or remove it",
        "zones.rules[purple].level: no level set has a level 'purple'; use a level name such "
        "as 'orange'",
    ]


def test_a_misspelt_zones_table_gets_a_suggestion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = check(tmp_path, "[zone]\nenabled = false\n", capsys)
    assert code == 2
    assert out.splitlines()[0].startswith("zone: unknown top-level table; did you mean 'zones'?")


def test_sample_config_zones_and_all_are_valid_as_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sample-config", "zones"]) == 0
    zones = capsys.readouterr().out
    assert zones.startswith("# [zones]: the crowd picture")
    code, out = check(tmp_path, zones, capsys)
    assert code == 0, out
    assert main(["sample-config", "--all"]) == 0
    whole = capsys.readouterr().out
    assert "\n[zones]\n" in whole
    path = tmp_path / "all.toml"
    path.write_text(whole)
    assert main(["check-config", str(path)]) == 0, capsys.readouterr().err


def hub_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "USER": "tester"}
    return subprocess.run(
        [sys.executable, "-m", "hub", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=env,
    )


def test_without_a_hub_zones_and_alerts_say_so_and_exit_1(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    zones = hub_cli("zones", "--data-dir", str(data), cwd=tmp_path)
    assert zones.returncode == 1 and zones.stdout == ""
    assert zones.stderr.startswith(f"hub: no zone picture at {data / 'zones.json'}")
    ack = hub_cli("alerts", "--data-dir", str(data), "ack", "level-red/pier", cwd=tmp_path)
    assert ack.returncode == 1
    assert ack.stderr == (
        f"hub: no running hub at {data} (no control socket {data / 'control.sock'}); start it "
        "with `hub run FILE`, or give its config file or --data-dir\n"
    )
    bad = hub_cli("alerts", "--data-dir", str(data), "silence", "--for", "1h", cwd=tmp_path)
    assert bad.returncode == 2 and "--reason" in bad.stderr


def test_a_stopped_hub_shows_its_last_picture_and_log(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    picture = {
        "state": "stopped",
        "time": "2026-06-01T12:00:00+00:00",
        "pid": os.getpid(),
        "heartbeat_interval_s": 1.0,
        "site": "s",
        "zones": [
            {
                "zone": "pier",
                "level": "red",
                "level_index": 3,
                "colour": "red",
                "measures": "close the entrances",
                "method": "counted",
                "occupancy": 250.0,
                "density": 2.5,
                "capacity_use": None,
                "fresh": True,
                "age_s": 2.0,
                "problems": [],
            }
        ],
        "lines": [],
        "alerts": [],
        "silences": [],
    }
    (data / "zones.json").write_text(json.dumps(picture))
    (data / "alerts.jsonl").write_text(
        '{"seq": 1, "at": "2026-06-01T12:00:00+00:00", "event": "measure", "subject": "pier", '
        '"by": "ops", "note": "closed entrance B"}\n'
    )
    zones = hub_cli("zones", "--data-dir", str(data), cwd=tmp_path)
    assert zones.returncode == 1
    first, *rest = zones.stdout.splitlines()
    assert first.startswith("hub not running (last seen 2026-06-01T12:00:00+00:00, ")
    assert first.endswith("; it stopped); last known picture:")
    assert rest == [
        "zone pier             RED      occupancy 250 (counted), 2.50 p/m², fresh (2 s old)",
        "  measures: close the entrances",
        "no open alerts",
    ]
    log = hub_cli("alerts", "--data-dir", str(data), "log", "--csv", cwd=tmp_path)
    assert log.returncode == 0
    assert log.stdout.splitlines()[1].startswith("1,2026-06-01T12:00:00+00:00,measure,,,pier")
