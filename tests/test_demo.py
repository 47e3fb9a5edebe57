"""``hub demo``: all three plugin families fed by simulated devices over real transports
(embedded MQTT broker, ptys, HTTP push), no external service."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

WANTED = {
    ("wifi_counter", "devices", None),  # Paxcounter -> embedded broker -> MQTT transport
    ("tfluna", "crossing", "gate-a"),  # TF-Luna pair -> ptys -> serial transport
    ("camera_aggregate", "crossing", "gate-b"),  # Hikvision -> HTTP push -> ingest server
    ("camera_aggregate", "occupancy", None),
    ("zones", "zone_state", None),  # the crowd picture, derived in the hub
    ("zones", "line_flow", "gate-b"),
}


def _stored(db: Path) -> set[tuple[str, str, str | None]]:
    if not db.exists():
        return set()
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        rows = con.execute("SELECT DISTINCT kind, measurement, line FROM events").fetchall()
    except sqlite3.OperationalError:  # the table is being created
        return set()
    finally:
        con.close()
    return {(k, m, line) for k, m, line in rows}


def test_demo_feeds_every_plugin_family_into_sqlite(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub", "demo", "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    found: set[tuple[str, str, str | None]] = set()
    try:
        deadline = time.monotonic() + 45  # generous on a loaded machine; ~5 s when idle
        while time.monotonic() < deadline and proc.poll() is None:
            found = _stored(data / "events.sqlite")
            if found >= WANTED:
                break
            time.sleep(0.2)  # another process writes the file: nothing to wait on but time
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert found >= WANTED, (found, err[-3000:])
    assert proc.returncode == 0, err[-3000:]
    assert "embedded broker" in err and "ptys" in err and "HTTP push" in err  # the banner
    assert f"hub alerts --data-dir {data} ack level-red/boulevard --by operator" in err
    dashboard = re.search(
        r"^Dashboard: http://127\.0\.0\.1:(\d+)/ - log in with a demo token "
        r"\(operator: demo-operator, public: demo-public\)",
        err,
        re.M,
    )
    assert dashboard is not None, err[:3000]  # the banner: the URL and the demo tokens
    assert f"HTTP push to http://127.0.0.1:{dashboard[1]}/ingest/" in err  # the hub's server
    assert "dashboard on http[default] at / for 2 view(s): operator, public" in err
    assert "gate-b-camera" in out and "gate-a-beams" in out and "beach-pax" in out
    assert "Traceback" not in err and " WARNING " not in err, err[-3000:]
    ptys = re.search(r"ptys (\S+)/tfluna-a and", err)
    assert ptys is not None and not Path(ptys[1]).exists()  # the pty directory is removed


def test_bundled_demo_config_is_valid_as_a_starting_point() -> None:
    demo = resources.files("hub.demo").joinpath("demo.toml")
    with resources.as_file(demo) as path:
        proc = subprocess.run(
            [sys.executable, "-m", "hub", "check-config", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 0, proc.stderr
    assert "2 zone(s), 2 line(s), 3 source(s), 3 output(s)" in proc.stdout
