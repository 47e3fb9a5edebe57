"""The dashboard inside a running hub: on its one HTTP server, fed by its zone driver,
acting through the driver's actions (the ones ``hub alerts`` uses), bound to views by
token and audited; and when it is not served, one line says what to add."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hub import Event, Occupancy, Provenance
from hub.core.config import load_config
from hub.core.plugins import load_plugins
from hub.core.runtime import Hub
from hub.core.transports.http_server import HttpIngestServer
from hub.views.audit import verify

CONFIG = """
[hub]
data_dir = "data"
shutdown_timeout_s = 5

[site]
id = "wired"

[[site.zones]]
id = "pier"
area_m2 = 100.0
levels = "quick"
polygon = [[4.27, 52.11], [4.28, 52.11], [4.28, 52.12]]

[[site.zones]]
id = "square"
area_m2 = 100.0
polygon = [[4.29, 52.11], [4.30, 52.11], [4.30, 52.12]]

[zones.level_sets.quick]
metric = "density"
pending_s = 0
hold_s = 1
levels = [{ name = "green" }, { name = "red", colour = "red", enter = 2.0 }]

[[zones.rules]]
id = "level-red"
kind = "level"
level = "red"
hold_s = 2
close_after_s = 600

[[transports.http]]
host = "127.0.0.1"
port = 0
%s
"""

VIEWS = """
[[views]]
id = "operator"
token = "${WIRING_OPERATOR_TOKEN:-operator-token-0123456789}"
actions = ["acknowledge", "log_measure", "silence"]
sensor_health = true

[[views]]
id = "public"
token = "${WIRING_PUBLIC_TOKEN:-public-token-0123456789}"
zones = ["square"]
levels_only = true
"""
PROV = Provenance(plugin="test", plugin_version="1", transport="simulated")


def bearer(view: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {view}-token-0123456789"}


def make_hub(tmp_path: Path, extra: str = "", views: str = "") -> Hub:
    """A hub on ``CONFIG`` with ``extra`` tables and ``[[views]]`` tables (real config load)."""
    (tmp_path / "hub.toml").write_text(CONFIG % (extra + views))
    registry = load_plugins()
    config = load_config(tmp_path / "hub.toml", registry)
    return Hub(config, registry)


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[Hub, str]]:
    hub = make_hub(tmp_path, views=VIEWS)
    stop = asyncio.Event()
    task = asyncio.create_task(hub.run(stop), name="hub-under-test")
    server = hub.transports[("http", "default")]
    assert isinstance(server, HttpIngestServer)
    await asyncio.wait_for(server.started.wait(), 10)
    try:
        yield hub, server.url
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def until(check: Callable[[], Any], within_s: float = 10.0) -> Any:
    async with asyncio.timeout(within_s):
        while not (got := await check()):
            await asyncio.sleep(0.1)
        return got


async def test_the_running_hub_serves_the_dashboard_by_view(
    running: tuple[Hub, str], tmp_path: Path
) -> None:
    hub, url = running
    assert hub.zones is not None and hub.dashboard is not None
    assert hub.dashboard.audit is hub.views.audit  # one writer per audit.jsonl
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/") as r:  # no token: the login form, no data
            page = await r.text()
            assert r.status == 200 and "pier" not in page and "square" not in page
        async with http.get(f"{url}/api/v1/zones") as r:
            assert r.status == 401 and await r.text() == "unauthorized\n"
        async with http.get(f"{url}/healthz") as r:  # the hub's own routes stay
            assert r.status in (200, 503)

        for _ in range(3):  # 300 people on 100 m²: red from 2 p/m²
            now = hub.clock.now()
            hub.zones.model.ingest(
                Event.create(
                    source="cam",
                    kind="camera",
                    measurement=Occupancy(count=300),
                    provenance=PROV,
                    zone="pier",
                    observed_at=now,
                    received_at=now,
                )
            )
            await asyncio.sleep(0.4)

        async def firing() -> list[dict[str, Any]]:
            async with http.get(f"{url}/api/v1/alerts", headers=bearer("operator")) as r:
                return [a for a in (await r.json())["alerts"] if a["state"] == "firing"]

        [alert] = await until(firing)
        async with http.get(f"{url}/api/v1/zones", headers=bearer("operator")) as r:
            zones = {z["id"]: z for z in (await r.json())["zones"]}
        assert zones["pier"]["level"] == "red" and set(zones) == {"pier", "square"}

        async with http.get(f"{url}/api/v1/zones", headers=bearer("public")) as r:
            body = await r.text()
        assert r.status == 200 and "pier" not in body and "square" in body
        async with http.get(f"{url}/api/v1/alerts", headers=bearer("public")) as r:
            assert "pier" not in await r.text()
        async with http.get(f"{url}/api/v1/stream", headers=bearer("public")) as r:
            await asyncio.wait_for(r.content.readuntil(b"\n\n"), 5)  # retry: ...
            first = await asyncio.wait_for(r.content.readuntil(b"\n\n"), 5)
        assert b"snapshot" in first and b"square" in first and b"pier" not in first

        ack = {"alert_id": alert["id"], "note": "stewards sent"}
        async with http.post(f"{url}/api/v1/acknowledge", json=ack, headers=bearer("public")) as r:
            assert r.status in (403, 404)  # not its zone, not its action
        async with http.post(
            f"{url}/api/v1/acknowledge", json=ack, headers=bearer("operator")
        ) as r:
            assert r.status == 200, await r.text()
            assert (await r.json())["alert"]["state"] == "acknowledged"

    # the driver's own actions did it (as `hub alerts ack`): picture and log show it
    picture = hub.zones.actions.picture()
    [open_alert] = picture["alerts"]
    assert open_alert["state"] == "acknowledged" and open_alert["acknowledged_by"] == "operator"

    def logged() -> bool:
        path = tmp_path / "data" / "alerts.jsonl"
        return path.exists() and '"acknowledged"' in path.read_text()

    await until(lambda: asyncio.sleep(0, logged()))
    audit = [json.loads(x) for x in (tmp_path / "data" / "audit.jsonl").read_text().splitlines()]
    actions = [a for a in audit if a["kind"] == "action"]
    assert [(a["view"], a["action"], a["allowed"]) for a in actions][-1] == (
        "operator",
        "acknowledge",
        True,
    )
    assert any(a["kind"] == "access" and a["view"] == "public" for a in audit)
    assert "token-0123456789" not in json.dumps(audit)
    assert verify(tmp_path / "data" / "audit.jsonl").ok


def test_without_views_nothing_is_served_and_the_log_says_what_to_add(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="hub.dashboard"):
        hub = make_hub(tmp_path)
    assert hub.dashboard is None
    assert hub.transports[("http", "default")].extensions == []  # type: ignore[attr-defined]
    [line] = [r.getMessage() for r in caplog.records if "dashboard" in r.getMessage()]
    assert line.startswith("dashboard not served: no [[views]] view with a token")


def test_enabled_without_what_it_needs_is_one_config_line(tmp_path: Path) -> None:
    from hub.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        make_hub(tmp_path, '[dashboard]\nenabled = true\ntransport = "web"\n')
    [problem] = err.value.problems
    assert str(problem) == (
        "dashboard.enabled: true, but no [[transports.http]] server with id = 'web' "
        "(have: default); add one (host, port) or set [dashboard] transport to the id of yours"
    )


def test_enabled_with_no_view_to_log_in_with_is_one_config_line(tmp_path: Path) -> None:
    """check-config counts the real views: a view without a token (outputs only) cannot
    log in."""
    from hub.errors import ConfigError

    views = '[[views]]\nid = "feed"\n'
    with pytest.raises(ConfigError) as err:
        make_hub(tmp_path, "[dashboard]\nenabled = true\n", views=views)
    [problem] = err.value.problems
    assert str(problem).startswith(
        "dashboard.enabled: true, but no [[views]] view with a token to log in with"
    )


def test_a_delayed_or_noisy_view_is_served_with_the_outputs_noise_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A view with delay_s is served that late (the start line says so); a view with
    noise gets the key the views' outputs use (data_dir/views.key)."""
    views = '[[views]]\nid = "late"\ntoken = "${WIRING_LATE_TOKEN:-late-0123456789}"\n'
    views += "delay_s = 600\nlevels_only = true\n"
    views += '[[views]]\nid = "noisy"\ntoken = "${WIRING_NOISY_TOKEN:-noisy-0123456789}"\n'
    views += 'noise = true\ntime_resolution = "15min"\n'
    with caplog.at_level(logging.INFO, logger="hub.dashboard"):
        hub = make_hub(tmp_path, "[dashboard]\nenabled = true\n", views=views)
    assert hub.dashboard is not None
    late = hub.dashboard.views.resolve("late-0123456789")
    noisy = hub.dashboard.views.resolve("noisy-0123456789")
    assert late is not None and late.delay_s == 600
    assert noisy is not None and noisy.noise_key == (tmp_path / "data" / "views.key").read_bytes()
    [line] = [r.getMessage() for r in caplog.records if "dashboard on" in r.getMessage()]
    assert line.endswith("for 2 view(s): late (10 min late), noisy")


def test_disabled_is_not_served(tmp_path: Path) -> None:
    hub = make_hub(tmp_path, "[dashboard]\nenabled = false\n", views=VIEWS)
    assert hub.dashboard is None
