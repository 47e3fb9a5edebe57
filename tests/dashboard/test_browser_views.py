"""Coarsened and delayed views in a real browser (Debian's headless chromium via selenium).

A round_to view shows rounded counts on the page; a delayed view says so plainly (Dutch
and English) and its map turns red ``delay_s`` after the operator's did, not before.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.support.ui import Select

from tests.dashboard.browser import new_driver, quit_driver, screenshot
from tests.dashboard.harness import OPERATOR, DashboardView, LiveHub
from tests.dashboard.test_browser import fill, wait

pytestmark = pytest.mark.browser
DELAY = 8.0
VIEWS = {
    "municipality": ("tok-op-0123456789", OPERATOR),
    "rounded": ("tok-rounded-0123456789", DashboardView(id="rounded", name="Pers", round_to=10)),
    "late": ("tok-late-0123456789", DashboardView(id="late", name="Publiek", delay_s=DELAY)),
}
CALM = {"plein": 1803, "boulevard": 907, "strand": 2503, "palace": 703}


def login(d: Any, hub: LiveHub, view: str) -> None:
    d.get(hub.url)
    d.find_element("id", "token").send_keys(hub.tokens[view])
    d.find_element("css selector", "button[type=submit]").click()
    wait(
        lambda: d.find_element("id", "live").get_attribute("data-state") == "live",
        message="the page goes live",
    )


@pytest.fixture(scope="module")
def hub() -> Iterator[LiveHub]:
    h = LiveHub(views=VIEWS)
    h.start()
    h.set_counts(**CALM)
    try:
        yield h
    finally:
        h.stop()


def test_a_round_to_view_shows_rounded_counts(hub: LiveHub) -> None:
    d = new_driver()
    try:
        login(d, hub, "rounded")
        wait(lambda: fill(d, "plein")[0] == "green", message="plein green")
        d.find_element("css selector", ".zone-pill[data-zone=plein]").click()
        shown = wait(
            lambda: d.find_element("css selector", "[data-count=occupancy]").text,
            message="the occupancy card",
        )
        assert shown in ("1.800", "1,800"), shown  # 1803, rounded to 10
        kpis = d.find_element("id", "zone-kpis").text
        assert "1.803" not in kpis and "1803" not in kpis
        assert "Dichtheid" not in kpis  # density gives the count back: withheld
        assert "afgerond op 10" in d.find_element("id", "view-name").text
        assert "1803" not in d.page_source and "1.803" not in d.page_source
        screenshot(d, "dashboard-rounded")
    finally:
        quit_driver(d)


def test_a_delayed_view_lags_and_says_so(hub: LiveHub) -> None:
    op, late = new_driver(1280, 800), new_driver(1280, 800)
    try:
        login(op, hub, "municipality")
        login(late, hub, "late")
        banner = late.find_element("id", "delay-banner")
        assert banner.is_displayed() and "8 s vertraagd" in banner.text
        assert not late.find_elements("css selector", "button[data-action]")
        wait(lambda: fill(late, "plein")[0] == "green", timeout=DELAY + 5, message="late green")
        hub.set_counts(plein=7500)
        wait(lambda: fill(op, "plein")[0] == "red", timeout=5, message="operator red")
        red_at = time.monotonic()
        time.sleep(DELAY / 2)
        assert fill(late, "plein")[0] == "green"  # not yet: it shows the past
        wait(lambda: fill(late, "plein")[0] == "red", timeout=DELAY + 5, message="late red")
        assert time.monotonic() - red_at >= DELAY - 2  # about delay_s after the operator
        Select(late.find_element("id", "lang")).select_by_value("en")
        wait(lambda: "delayed 8 s" in late.find_element("id", "delay-banner").text)
        screenshot(late, "dashboard-delayed")
        Select(late.find_element("id", "lang")).select_by_value("nl")
    finally:
        quit_driver(op)
        quit_driver(late)
        hub.set_counts(**CALM)
