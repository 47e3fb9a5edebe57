"""`hub status` tells the truth about a dead hub, and SIGHUP does not kill a running one."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.testing import HubProcess
from tests.test_cli import CONFIG, hub_cmd


def start_hub(cfg: Path) -> HubProcess:
    return HubProcess(cfg, cfg.parent / "hub.log").start()


def running_status(status_file: Path) -> bool:
    if not status_file.exists():
        return False
    try:
        st = json.loads(status_file.read_text())
    except ValueError:  # replaced while read
        return False
    return bool(st["state"] == "running" and st["sinks"]["store"]["events_out"] >= 3)


def test_status_of_a_killed_hub_says_not_running_and_exits_1(tmp_path: Path) -> None:
    cfg = tmp_path / "hub.toml"
    cfg.write_text(CONFIG)
    status_file = tmp_path / "data" / "status.json"
    with start_hub(cfg) as proc:
        proc.wait_until(lambda: running_status(status_file), 20, "status.json: running")
        alive = hub_cmd("status", str(cfg))
        assert alive.returncode == 0, alive.stderr
        assert alive.stdout.startswith(f"hub running (pid {proc.pid},")
        proc.stop(20, signal.SIGKILL)
    dead = hub_cmd("status", str(cfg))
    assert dead.returncode == 1
    first = dead.stdout.splitlines()[0]
    assert first.startswith("hub not running (last seen "), dead.stdout
    assert f"; process {proc.pid} is gone); last known state ({status_file}):" in first
    assert "source sim-gate" in dead.stdout  # the last known picture is still shown
    as_json = hub_cmd("status", str(cfg), "--json")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["running"] is False


def write_status(data_dir: Path, *, pid: int, age_s: float, state: str = "running") -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    seen = datetime.now(UTC) - timedelta(seconds=age_s)
    status = {
        "state": state,
        "time": seen.isoformat(),
        "pid": pid,
        "heartbeat_interval_s": 2.0,
        "uptime_s": 12.0,
        "sources": {},
        "sinks": {},
    }
    (data_dir / "status.json").write_text(json.dumps(status))


def test_stale_heartbeat_of_a_live_pid_is_not_running(tmp_path: Path) -> None:
    write_status(tmp_path / "d", pid=os.getpid(), age_s=120)
    proc = hub_cmd("status", "--data-dir", str(tmp_path / "d"))
    assert proc.returncode == 1
    assert "no heartbeat for over 11 s although process" in proc.stdout
    assert proc.stdout.startswith("hub not running (last seen ")


def test_status_without_the_configs_secrets(tmp_path: Path) -> None:
    # the hub's secrets live in its service environment, not in the operator's shell
    cfg = tmp_path / "hub.toml"
    cfg.write_text(
        CONFIG.replace('id = "store"', 'id = "store"\npath = "${CROWDHUB_TEST_NOT_SET}.sqlite"')
        + '\n[[transports.mqtt]]\nhost = "127.0.0.1"\npassword = "${CROWDHUB_TEST_NOT_SET}"\n'
    )
    write_status(tmp_path / "data", pid=os.getpid(), age_s=0.5)
    proc = hub_cmd("status", str(cfg))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"hub running (pid {os.getpid()}, up 12.0 s")


def test_status_without_arguments_finds_the_demo(tmp_path: Path) -> None:
    nothing = hub_cmd("status", cwd=tmp_path)
    assert nothing.returncode == 1
    assert nothing.stderr.strip() == (
        "hub: no status.json in ./data/ or ./demo-data/; give the config file the hub runs "
        "with (`hub status hub.toml`) or its data_dir (`hub status --data-dir DIR`)"
    )
    write_status(tmp_path / "demo-data", pid=os.getpid(), age_s=0.5)
    found = hub_cmd("status", cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    assert found.stdout.startswith("hub running")


def test_a_cleanly_stopped_hub_is_not_running(tmp_path: Path) -> None:
    write_status(tmp_path / "data", pid=os.getpid(), age_s=3, state="stopped")
    proc = hub_cmd("status", cwd=tmp_path)
    assert proc.returncode == 1
    assert "; it stopped); last known state" in proc.stdout


def test_sighup_is_ignored_with_a_log_line(tmp_path: Path) -> None:
    cfg = tmp_path / "hub.toml"
    cfg.write_text(CONFIG)
    status_file = tmp_path / "data" / "status.json"
    with start_hub(cfg) as proc:
        proc.wait_until(lambda: running_status(status_file), 20, "status.json: running")
        proc.popen.send_signal(signal.SIGHUP)
        hup_at = time.time()
        # still alive and still writing its heartbeat after the SIGHUP
        proc.wait_until(lambda: status_file.stat().st_mtime > hup_at + 0.5, 20, "a heartbeat")
        assert proc.alive()
        assert hub_cmd("status", str(cfg)).returncode == 0
        code = proc.stop(20)
    err = proc.log_text()
    assert code == 0, err
    assert "SIGHUP ignored: restart to apply config changes" in err
    assert "stopped cleanly" in err
