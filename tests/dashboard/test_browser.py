"""The dashboard in a real browser (Debian's headless chromium via selenium).

A real ZoneModel runs behind the real dashboard app on a loopback aiohttp server, fed
with occupancy events in real time (the end-to-end version through ``hub run`` comes
when the runtime drives the zone model). Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.dashboard.browser import new_driver, quit_driver, screenshot
from tests.dashboard.harness import TOKENS, LiveHub

pytestmark = pytest.mark.browser
RED = "#e5484d"
GREEN = "#2f9e55"
CALM = {"plein": 1800, "boulevard": 900, "strand": 2500, "palace": 700}


def wait(what: Callable[[], Any], timeout: float = 10.0, message: str = "") -> Any:
    end = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < end:
        try:
            last = what()
            if last:
                return last
        except Exception as e:  # the page is still building
            last = e
        time.sleep(0.1)
    raise AssertionError(f"timed out: {message} (last: {last!r})")


def login(d: Any, hub: LiveHub, view: str) -> None:
    d.get(hub.url)
    d.find_element("id", "token").send_keys(TOKENS[view])
    d.find_element("css selector", "button[type=submit]").click()
    wait(
        lambda: d.find_element("id", "live").get_attribute("data-state") == "live",
        message="the page goes live",
    )


def fill(d: Any, zone: str) -> tuple[str | None, str | None]:
    el = d.find_element("css selector", f"path.zone-{zone}")
    return el.get_attribute("data-level"), el.get_attribute("fill")


@pytest.fixture(scope="module")
def hub() -> Iterator[LiveHub]:
    h = LiveHub()
    h.backfill()  # three weeks of history for the normal band, the last hours per minute
    h.start()
    h.set_counts(**CALM)
    try:
        yield h
    finally:
        h.stop()


@pytest.fixture(scope="module")
def operator(hub: LiveHub) -> Iterator[Any]:
    d = new_driver()
    try:
        login(d, hub, "municipality")
        yield d
    finally:
        quit_driver(d)


@pytest.fixture(scope="module")
def organiser(hub: LiveHub) -> Iterator[Any]:
    d = new_driver(1024, 1366)  # a tablet in portrait
    try:
        login(d, hub, "organiser")
        yield d
    finally:
        quit_driver(d)


def test_the_map_shows_every_zone_with_its_level_as_text(operator: Any, hub: LiveHub) -> None:
    for z in hub.site.zones:
        wait(lambda z=z: fill(operator, z.id)[0] == "green", message=f"{z.id} green")
        assert fill(operator, z.id)[1] == GREEN
    labels = [e.text for e in operator.find_elements("css selector", ".zone-label")]
    assert sorted(label.split("\n")[0] for label in labels) == sorted(
        z.name for z in hub.site.zones
    )
    assert all("GROEN" in label.upper() for label in labels)  # not colour alone
    assert len(operator.find_elements("css selector", "path.line")) == 2
    assert len(operator.find_elements("css selector", ".line-arrow")) == 2
    assert len(operator.find_elements("css selector", "path.sensor")) == 4
    assert not operator.get_log("browser")  # no script errors, no failed loads


def test_a_surge_turns_the_zone_red_within_seconds(operator: Any, hub: LiveHub) -> None:
    hub.set_counts(plein=7500)  # 5 p/m² on 1500 m²: above red (4.7) for a standing crowd
    started = time.monotonic()
    wait(lambda: fill(operator, "plein") == ("red", RED), timeout=5, message="plein red")
    assert time.monotonic() - started < 5
    alert = wait(
        lambda: operator.find_element("css selector", "li.alert.st-firing.sev-red"),
        message="the red alert is listed",
    )
    assert "Plein" in alert.text
    pill = operator.find_element("css selector", ".zone-pill[data-zone=plein]")
    assert "ROOD" in pill.text.upper()
    pill.click()
    wait(lambda: "Ingangen sluiten" in operator.find_element("id", "zone-measures").text)
    wait(lambda: operator.find_element("css selector", "#chart canvas"), message="trend chart")
    # this site has no sqlite store: the trend says it comes from the hub's memory
    wait(lambda: operator.find_element("id", "chart-source").text == "uit geheugen")
    time.sleep(0.5)
    screenshot(operator, "dashboard-surge")


def test_an_alert_acknowledged_in_one_view_shows_in_another(
    operator: Any, organiser: Any, hub: LiveHub
) -> None:
    hub.set_counts(plein=7500)
    sel = "li.alert.sev-red"
    wait(lambda: organiser.find_element("css selector", sel + ".st-firing"))
    assert not organiser.find_elements("css selector", sel + " button[data-action=silence]")
    card = wait(lambda: operator.find_element("css selector", sel + ".st-firing"))
    card.find_element("css selector", "button[data-action=acknowledge]").click()
    operator.find_element("id", "action-text").send_keys("Stewards naar ingang Noord")
    operator.find_element("id", "action-ok").click()
    acked = wait(
        lambda: organiser.find_element("css selector", sel + ".st-acknowledged"),
        timeout=5,
        message="acknowledged for the organiser",
    )
    assert "municipality" in acked.text and "Stewards naar ingang Noord" in acked.text
    wait(lambda: "Stewards naar ingang Noord" in organiser.find_element("id", "log").text)
    screenshot(organiser, "dashboard-organiser-tablet")
    width = organiser.execute_script("return document.documentElement.scrollWidth")
    assert width <= organiser.execute_script("return window.innerWidth")  # no sideways scroll


def test_a_restricted_view_shows_nothing_of_other_zones(organiser: Any, hub: LiveHub) -> None:
    hub.set_counts(boulevard=6000, strand=30000)
    time.sleep(1.5)
    html = organiser.page_source
    for other in ("Boulevard", "boulevard", "Strand", "strand", "Palaceplein", "palace"):
        assert other not in html.replace("Scheveningen", ""), other
    seen = organiser.execute_async_script(
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
    assert json.loads(seen["zones"])["zones"][0]["id"] == "plein"
    assert "plein" in seen["stream"]
    for name, text in seen.items():
        for other in ("boulevard", "strand", "palace"):
            assert other not in text.replace("Scheveningen", "").lower(), (name, other)
    hub.set_counts(**CALM)


def test_the_language_switch(operator: Any) -> None:
    from selenium.webdriver.support.ui import Select

    Select(operator.find_element("id", "lang")).select_by_value("en")
    wait(lambda: operator.find_element("css selector", "#alerts-panel h2").text == "Alerts")
    assert operator.find_element("id", "live-text").text.upper() == "LIVE"
    Select(operator.find_element("id", "lang")).select_by_value("nl")
    wait(lambda: operator.find_element("css selector", "#alerts-panel h2").text == "Meldingen")


def test_the_page_says_not_live_when_the_hub_stops() -> None:
    h = LiveHub().start()
    h.set_counts(**CALM)
    d = new_driver(1280, 800)
    try:
        login(d, h, "municipality")
        h.stop()
        wait(
            lambda: d.find_element("id", "live").get_attribute("data-state") == "not-live",
            timeout=5,
            message="not live",
        )
        assert d.find_element("id", "live-text").text.upper() == "NIET LIVE"
        assert d.find_element("id", "not-live-banner").is_displayed()
        screenshot(d, "dashboard-not-live")
    finally:
        quit_driver(d)
