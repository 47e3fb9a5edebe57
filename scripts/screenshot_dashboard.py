"""Take the README's dashboard screenshot from the real demo, with its surge running.

    .venv/bin/python scripts/screenshot_dashboard.py                  # -> docs/dashboard.png
    .venv/bin/python scripts/screenshot_dashboard.py --out /tmp/d.png --no-ack

Runs ``hub demo`` (the bundled config and simulators, exactly as ``make demo``) with a
throwaway data dir, reads the dashboard URL from its banner, waits (up to ``--wait-s``)
until the scripted surge has turned the boulevard red and its alert fires, opens the page
in headless Debian Chromium (selenium + chromium-driver, ``--no-sandbox``, loopback only;
the browser tests' driver, installed when missing) logged in as the demo's operator view,
acknowledges the alert with a note (unless ``--no-ack``), selects the boulevard so its
trend chart shows, and saves the screenshot. The demo is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.dashboard.browser import new_driver, quit_driver  # noqa: E402

TOKEN = "demo-operator"  # the demo's operator view (DEMO_OPERATOR_TOKEN unset)
ZONE = "boulevard"


def wait(what: Callable[[], Any], timeout: float, message: str) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            got = what()
            if got:
                return got
        except Exception:  # the page redraws between find and read
            pass
        time.sleep(0.25)
    raise SystemExit(f"timed out after {timeout:.0f} s: {message}")


def start_demo(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    """``hub demo``; returns the process and the dashboard URL from its banner."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub", "demo", "--data-dir", str(data_dir)],
        cwd=data_dir.parent,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    found: list[str] = []
    ready = threading.Event()

    def read() -> None:  # keep reading, so the demo never blocks on a full pipe
        assert proc.stderr is not None
        for line in proc.stderr:
            m = re.search(r"Dashboard: (http://127\.0\.0\.1:\d+/)", line)
            if m and not found:
                found.append(m.group(1))
                ready.set()

    threading.Thread(target=read, name="demo-stderr", daemon=True).start()
    if not ready.wait(60):
        proc.terminate()
        raise SystemExit("the demo printed no Dashboard: line within 60 s")
    return proc, found[0]


def api(url: str, path: str) -> Any:
    req = urllib.request.Request(
        f"{url}api/v1/{path}", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    p.add_argument("--wait-s", type=float, default=300, help="longest wait for the surge")
    p.add_argument("--no-ack", action="store_true", help="leave the alert firing")
    p.add_argument("--width", type=int, default=1440)
    p.add_argument("--height", type=int, default=1050)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="crowdhub-screenshot-") as tmp:
        demo, url = start_demo(Path(tmp) / "demo-data")
        driver = None
        try:
            print(f"demo dashboard at {url}; waiting for the surge ...", flush=True)

            def red() -> bool:
                zones = {z["id"]: z for z in api(url, "zones")["zones"]}
                return zones[ZONE]["level"] == "red"

            def firing() -> bool:
                return any(a["state"] == "firing" for a in api(url, "alerts")["alerts"])

            wait(red, args.wait_s, f"the {ZONE} turns red")
            wait(firing, 60, "the red alert fires")
            driver = new_driver(args.width, args.height)
            driver.get(url)
            driver.find_element("id", "token").send_keys(TOKEN)
            driver.find_element("css selector", "button[type=submit]").click()
            wait(
                lambda: driver.find_element("id", "live").get_attribute("data-state") == "live",
                15,
                "the page goes live",
            )
            wait(
                lambda: (
                    driver.find_element("css selector", f"path.zone-{ZONE}").get_attribute(
                        "data-level"
                    )
                    == "red"
                ),
                10,
                f"the map shows the {ZONE} red",
            )
            if not args.no_ack:
                button = "li.alert.st-firing button[data-action=acknowledge]"

                def acknowledge() -> bool:  # the list is redrawn on change: find, then click
                    driver.find_element("css selector", button).click()
                    return True

                wait(acknowledge, 10, "acknowledge clicked")
                driver.find_element("id", "action-text").send_keys("Stewards naar de boulevard")
                driver.find_element("id", "action-ok").click()
                wait(
                    lambda: driver.find_element("css selector", "li.alert.st-acknowledged"),
                    10,
                    "the alert shows as acknowledged",
                )
            pill = f".zone-pill[data-zone={ZONE}]"
            wait(lambda: driver.find_element("css selector", pill).click() or True, 10, "pill")
            wait(lambda: driver.find_element("css selector", "#chart canvas"), 10, "trend chart")
            time.sleep(1.0)  # let the chart and map settle
            driver.execute_script(  # the zone panel from its top, not where a click left it
                "for (const el of document.querySelectorAll('*'))"
                " if (el.scrollTop > 0) el.scrollTop = 0;"
            )
            time.sleep(0.3)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(args.out))
            print(f"saved {args.out}", flush=True)
        finally:
            if driver is not None:
                quit_driver(driver)
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(30)
            except subprocess.TimeoutExpired:
                demo.kill()


if __name__ == "__main__":
    main()
