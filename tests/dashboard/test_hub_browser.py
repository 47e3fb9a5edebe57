"""The dashboard of a running hub (a process) in headless Chromium.

A simulated Hikvision camera pushes a scripted surge over HTTP to the hub; the hub's
zone driver feeds the dashboard on the same HTTP server. Checked as a control-room user
sees it: every zone on the map, the pier's fill turning red within seconds, an alert
acknowledged by the operator showing as acknowledged for the organiser, a public view
whose page, API answers and stream hold nothing of the pier, and "not live" once the
hub stops. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hub.testing import HubProcess
from hub.testing.mosquitto import free_port
from tests.dashboard.browser import new_driver, quit_driver, screenshot
from tests.dashboard.test_browser import RED, wait

pytestmark = pytest.mark.browser

CONFIG = """
[hub]
data_dir = "data"
shutdown_timeout_s = 5

[site]
id = "wired"
name = "Harbour (browser test)"

[[site.zones]]
id = "pier"
name = "Pier"
area_m2 = 100.0
levels = "quick"
polygon = [[4.2700, 52.1100], [4.2760, 52.1100], [4.2760, 52.1130], [4.2700, 52.1130]]

[[site.zones]]
id = "square"
name = "Square"
area_m2 = 400.0
polygon = [[4.2770, 52.1100], [4.2830, 52.1100], [4.2830, 52.1130], [4.2770, 52.1130]]

[[site.lines]]
id = "pier-gate"
zone = "pier"
width_m = 10.0
path = [[4.2710, 52.1100], [4.2730, 52.1100]]

[zones]
publish_interval_s = 1

[zones.level_sets.quick]
metric = "density"
pending_s = 0
hold_s = 1
levels = [{{ name = "green" }}, {{ name = "red", colour = "red", enter = 2.0 }}]

[[zones.rules]]
id = "level-red"
kind = "level"
level = "red"
hold_s = 2
close_after_s = 600

[dashboard]
enabled = true
heartbeat_s = 1

[[transports.http]]
host = "127.0.0.1"
port = {http_port}

[[sources.camera_aggregate]]
id = "cam"
device = "hikvision"
auth = {{ scheme = "basic", username = "camera", password = "secret" }}
interval_s = 1
grace_s = 0.5

[[sources.camera_aggregate.channels]]
channel = 1
line = "pier-gate"
enter = "in"
occupancy_zone = "pier"

[[sinks.jsonl]]
id = "archive"
path = "events.jsonl"

[[views]]
id = "operator"
name = "Gemeente"
token = "${{BROWSER_OPERATOR_TOKEN}}"
sensor_health = true
actions = ["acknowledge", "log_measure", "silence"]

[[views]]
id = "organiser"
name = "Organisator"
token = "${{BROWSER_ORGANISER_TOKEN}}"
zones = ["pier"]

[[views]]
id = "public"
name = "Publiek"
token = "${{BROWSER_PUBLIC_TOKEN}}"
zones = ["square"]
levels_only = true
"""

TOKENS = {
    "operator": "operator-token-0123456789",
    "organiser": "organiser-token-0123456789",
    "public": "public-token-0123456789",
}
# 300 people on 100 m² (red from 2 p/m²): calm 2 s, rise 4 s, 40 s at the peak, fall 3 s
SURGE = "300:2:4:40:3:600"


@dataclass
class RunningHub:
    url: str
    process: HubProcess
    log: Path

    def api(self, path: str, view: str) -> str:
        req = urllib.request.Request(
            f"{self.url}/api/v1/{path}", headers={"Authorization": f"Bearer {TOKENS[view]}"}
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            return str(r.read().decode())

    def stop(self) -> int:
        return self.process.stop()


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    tmp = tmp_path_factory.mktemp("hub-browser")
    port = free_port()
    (tmp / "hub.toml").write_text(CONFIG.format(http_port=port))
    log = tmp / "hub.log"
    proc = HubProcess("hub.toml", log, env=_env(), cwd=tmp).start()
    hub = RunningHub(f"http://127.0.0.1:{port}", proc, log)
    sim: subprocess.Popen[bytes] | None = None
    try:
        proc.wait_until(lambda: (tmp / "data" / "zones.json").exists(), 30, "the hub runs")
        sim = subprocess.Popen(
            [
                *(sys.executable, "-m", "hub", "simulate", "hikvision"),
                *("--url", f"{hub.url}/ingest/cam", "--rate", "2", "--surge", SURGE),
                *("--user", "camera", "--password", "secret"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        yield hub
    finally:
        if sim is not None:
            sim.terminate()
            sim.wait(10)
        hub.stop()


def _env() -> dict[str, str]:
    """The views' tokens come from the environment, as on a real site."""
    return {f"BROWSER_{view.upper()}_TOKEN": token for view, token in TOKENS.items()}


def login(d: Any, hub: RunningHub, view: str) -> None:
    d.get(hub.url + "/")
    d.find_element("id", "token").send_keys(TOKENS[view])
    d.find_element("css selector", "button[type=submit]").click()
    wait(
        lambda: d.find_element("id", "live").get_attribute("data-state") == "live",
        message=f"the page goes live for {view}",
    )


def level(d: Any, zone: str) -> tuple[str | None, str | None]:
    el = d.find_element("css selector", f"path.zone-{zone}")
    return el.get_attribute("data-level"), el.get_attribute("fill")


def test_the_dashboard_of_a_running_hub(running: RunningHub) -> None:
    operator, organiser, public = new_driver(), new_driver(1024, 1366), new_driver(1280, 800)
    try:
        for d, view in ((operator, "operator"), (organiser, "organiser"), (public, "public")):
            login(d, running, view)

        # the map shows every zone, named, with its level in words
        wait(lambda: len(operator.find_elements("css selector", "path.zone")) == 2)
        labels = [e.text for e in operator.find_elements("css selector", ".zone-label")]
        assert sorted(x.split("\n")[0] for x in labels) == ["Pier", "Square"]

        # the surge: the API says red, and the page's fill follows within seconds
        wait(lambda: '"red"' in running.api("zones", "operator"), 40, "the hub sees red")
        seen_red = time.monotonic()
        wait(lambda: level(operator, "pier") == ("red", RED), 5, "the pier turns red")
        assert time.monotonic() - seen_red < 5
        screenshot(operator, "hub-dashboard-surge")

        # acknowledged by the operator, shown as acknowledged to the organiser
        sel = "li.alert.sev-red"
        firing = sel + ".st-firing button[data-action=acknowledge]"
        wait(lambda: operator.find_element("css selector", firing), 15, "the alert fires")
        wait(lambda: organiser.find_element("css selector", sel + ".st-firing"))
        assert not organiser.find_elements("css selector", sel + " button[data-action]")

        def acknowledge() -> bool:  # the list is redrawn on every change: find, then click
            operator.find_element("css selector", firing).click()
            return True

        wait(acknowledge, 5, "acknowledge clicked")
        operator.find_element("id", "action-text").send_keys("Stewards naar de pier")
        operator.find_element("id", "action-ok").click()
        wait(
            lambda: all(
                x in organiser.find_element("css selector", sel + ".st-acknowledged").text
                for x in ("operator", "Stewards naar de pier")
            ),
            5,
            "acknowledged for the organiser, by whom and with the note",
        )
        screenshot(organiser, "hub-dashboard-organiser")
        screenshot(operator, "hub-dashboard-operator")

        # the public view: page, API answers and stream hold nothing of the pier
        assert "pier" not in public.page_source.lower()
        seen = public.execute_async_script(
            """
            const done = arguments[arguments.length - 1];
            const out = {};
            Promise.all(["site", "zones", "lines", "sensors", "alerts", "log"].map((p) =>
              fetch("api/v1/" + p).then((r) => r.text()).then((t) => { out[p] = t; })))
            .then(() => {
              const es = new EventSource("api/v1/stream");
              const events = [];
              for (const k of ["snapshot", "zone", "line", "sensor", "alert", "log"])
                es.addEventListener(k, (e) => events.push(e.data));
              setTimeout(() => { es.close(); out.stream = events.join("\\n"); done(out); }, 2500);
            });
            """
        )
        assert "square" in seen["zones"] and "square" in seen["stream"]
        for name, text in seen.items():
            assert "pier" not in text.lower(), name
        screenshot(public, "hub-dashboard-public")

        # the hub stops: every page says so
        assert running.stop() == 0, running.log.read_text()[-3000:]
        wait(
            lambda: operator.find_element("id", "live").get_attribute("data-state") == "not-live",
            10,
            "not live",
        )
        assert operator.find_element("id", "live-text").text.upper() == "NIET LIVE"
        screenshot(operator, "hub-dashboard-not-live")
    finally:
        for d in (operator, organiser, public):
            quit_driver(d)
    assert "Traceback" not in running.log.read_text()
