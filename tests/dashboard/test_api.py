"""The dashboard's HTTP side on a real aiohttp server: login, tokens, API, actions, audit."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from hub.dashboard import COOKIE, DASHBOARD, Dashboard
from hub.dashboard.openapi import openapi
from tests.dashboard.conftest import Served
from tests.dashboard.harness import TOKENS

API = ["site", "zones", "lines", "sensors", "alerts", "log", "history?zone=plein"]


async def test_no_token_gets_the_login_page_and_never_data(served: Served) -> None:
    r = await served.client.get("/")
    assert r.status == 200
    html = await r.text()
    assert 'name="token"' in html and "plein" not in html.lower()
    for path in API:
        r = await served.client.get(f"/api/v1/{path}")
        assert r.status == 401, path
        assert await r.text() == "unauthorized\n"


async def test_a_wrong_token_gets_401_with_nothing_else(served: Served) -> None:
    for path in API:
        r = await served.client.get(f"/api/v1/{path}", headers={"Authorization": "Bearer nope"})
        assert r.status == 401
        assert await r.text() == "unauthorized\n"
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = await served.client.get("/", cookies={COOKIE: "nope"})
    assert r.status == 401
    assert "Plein" not in await r.text()
    r = await served.client.post("/login", data={"token": "nope"})
    assert r.status == 401
    assert "Onbekende toegangscode" in await r.text()


async def test_login_sets_a_cookie_that_serves_the_page_and_the_api(served: Served) -> None:
    c = served.client
    r = await c.post("/login", data={"token": TOKENS["police"]}, allow_redirects=False)
    assert r.status == 303
    cookie = r.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    r = await c.get("/")
    assert r.status == 200
    html = await r.text()
    assert 'id="map"' in html
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    r = await c.get("/api/v1/zones")
    assert r.status == 200
    assert {z["id"] for z in (await r.json())["zones"]} == {
        "plein",
        "boulevard",
        "strand",
        "palace",
    }
    await c.post("/logout", allow_redirects=False)
    c.session.cookie_jar.clear()
    assert (await c.get("/api/v1/zones")).status == 401


async def test_api_answers_state_with_the_level_and_its_measures(served: Served) -> None:
    served.surge()
    r = await served.client.get("/api/v1/zones", headers=served.auth("municipality"))
    zones = {z["id"]: z for z in (await r.json())["zones"]}
    plein = zones["plein"]
    assert plein["level"] == "red" and plein["colour"] == "red" and plein["fresh"]
    assert plein["occupancy"] == 7500 and plein["density"] == 5.0
    assert plein["method"] == "counted" and "Ingangen sluiten" in plein["measures"]
    r = await served.client.get("/api/v1/alerts", headers=served.auth("municipality"))
    alerts = (await r.json())["alerts"]
    assert any(a["rule"] == "level-red" and a["zone"] == "plein" for a in alerts)
    r = await served.client.get("/api/v1/sensors", headers=served.auth("municipality"))
    sensors = {s["id"]: s for s in (await r.json())["sensors"]}
    assert sensors["cam-plein"]["health"] == "ok"


async def test_a_zone_without_fresh_data_is_unknown_grey(served: Served) -> None:
    served.tick(30)  # stale_after_s = 20
    r = await served.client.get("/api/v1/zones", headers=served.auth("municipality"))
    for z in (await r.json())["zones"]:
        assert (z["level"], z["colour"], z["fresh"]) == ("unknown", "grey", False)
    r = await served.client.get("/api/v1/sensors", headers=served.auth("municipality"))
    assert {s["health"] for s in (await r.json())["sensors"]} == {"silent"}


async def test_site_geometry_is_on_the_plan(served: Served) -> None:
    r = await served.client.get("/api/v1/site", headers=served.auth("municipality"))
    site = await r.json()
    assert site["mode"] == "plan" and site["plan"]["url"] == "api/v1/plan"
    assert site["zones"][0]["shape"][0] == [380, 430]
    assert site["view"]["actions"] == ["acknowledge", "log_measure", "silence"]
    r = await served.client.get("/api/v1/plan", headers=served.auth("municipality"))
    assert r.status == 200 and (await r.read()).startswith(b"<svg")
    assert (await served.client.get("/api/v1/plan")).status == 401


async def test_history_with_from_to_step(served: Served) -> None:
    for _ in range(180):
        served.feed(plein=1200)
        served.tick(10)
    start = served.clock.now().replace(microsecond=0)
    q = {"zone": "plein", "step": "300"}
    r = await served.client.get("/api/v1/history", params=q, headers=served.auth("municipality"))
    h = await r.json()
    assert r.status == 200 and h["step_s"] == 300
    assert len(h["t"]) == 6 * 12 + 1 or len(h["t"]) == 6 * 12
    assert h["occupancy"][-2] == 1200.0
    assert {th["level"] for th in h["thresholds"]} == {"yellow", "orange", "red"}
    bad = [
        ({"zone": "plein", "step": "5"}, "'step' must be from 60"),
        ({"zone": "plein", "from": "yesterday"}, "ISO 8601"),
        ({"zone": "plein", "from": "2026-08-14T10:00:00"}, "time zone"),
        ({"zone": "plein", "from": start.isoformat(), "to": start.isoformat()}, "before"),
        ({}, "?zone="),
    ]
    for params, text in bad:
        r = await served.client.get(
            "/api/v1/history", params=params, headers=served.auth("municipality")
        )
        assert r.status == 400, params
        assert text in (await r.json())["error"]
    r = await served.client.get(
        "/api/v1/history", params={"zone": "nowhere"}, headers=served.auth("municipality")
    )
    assert r.status == 404


async def test_actions_are_checked_against_the_view_and_audited(served: Served) -> None:
    served.surge()
    c, auth = served.client, served.auth
    alert = next(a for a in served.provider.alerts() if a["rule"] == "level-red")
    body = {"alert_id": alert["id"], "note": "stewards sent"}
    r = await c.post("/api/v1/acknowledge", json=body, headers=auth("police"))
    assert r.status == 403
    assert (await r.json())["error"] == "view 'police' may not acknowledge"
    r = await c.post("/api/v1/acknowledge", data=json.dumps(body), headers=auth("municipality"))
    assert r.status == 415  # a form post from another site cannot act
    r = await c.post("/api/v1/acknowledge", json=body, headers=auth("municipality"))
    assert r.status == 200
    assert (await r.json())["alert"]["state"] == "acknowledged"
    r = await c.post("/api/v1/acknowledge", json=body, headers=auth("municipality"))
    assert r.status == 200  # acknowledging again keeps it acknowledged
    r = await c.post(
        "/api/v1/measure",
        json={"subject": "plein", "text": "ingang Noord dicht"},
        headers=auth("police"),
    )
    assert r.status == 200 and (await r.json())["record"]["by"] == "police"
    r = await c.post(
        "/api/v1/silence",
        json={"subject": "plein", "minutes": 30, "reason": "drill"},
        headers=auth("municipality"),
    )
    assert r.status == 200 and (await r.json())["silence"]["silence_id"].startswith("silence-")
    r = await c.post(
        "/api/v1/silence",
        json={"subject": "plein", "minutes": 0, "reason": "x"},
        headers=auth("municipality"),
    )
    assert r.status == 400
    actions = [
        (a["view"], a["action"], a["target"], a["allowed"])
        for a in served.audit.records
        if a["kind"] == "action"
    ]
    assert actions == [
        ("police", "acknowledge", None, False),
        ("municipality", "acknowledge", alert["id"], True),
        ("municipality", "acknowledge", alert["id"], True),
        ("police", "log_measure", "plein", True),
        ("municipality", "silence", "plein", True),
    ]
    access = {
        (a["view"], a["endpoint"], a["status"])
        for a in served.audit.records
        if a["kind"] == "access"
    }
    assert ("police", "acknowledge", 403) in access
    r = await c.get("/api/v1/log", headers=auth("municipality"))
    events = [rec["event"] for rec in (await r.json())["log"]]
    assert {"fired", "acknowledged", "measure", "silenced"} <= set(events)


async def test_a_restricted_view_answers_nothing_of_other_zones(served: Served) -> None:
    for _ in range(3):
        served.feed(plein=7500, boulevard=6000, strand=900, palace=200)
        served.tick()
    c, auth = served.client, served.auth
    for path in API:
        r = await c.get(f"/api/v1/{path}", headers=auth("organiser"))
        text = await r.text()
        for other in ("boulevard", "strand", "palace", "Boulevard", "Strand", "Palaceplein"):
            assert other not in text, (path, other)
    r = await c.get("/api/v1/history?zone=strand", headers=auth("organiser"))
    assert r.status == 404
    boulevard = next(a for a in served.provider.alerts() if a["zone"] == "boulevard")
    r = await c.post(
        "/api/v1/acknowledge", json={"alert_id": boulevard["id"]}, headers=auth("organiser")
    )
    assert r.status == 404  # not "forbidden": the view does not learn that it exists
    assert "boulevard" not in await r.text()
    plein = next(a for a in served.provider.alerts() if a["zone"] == "plein")
    r = await c.post(
        "/api/v1/acknowledge", json={"alert_id": plein["id"]}, headers=auth("organiser")
    )
    assert r.status == 200


async def test_a_levels_only_view_gets_no_number_about_people(served: Served) -> None:
    served.surge()
    for path in ["zones", "lines", "alerts", "log", "sensors"]:
        r = await served.client.get(f"/api/v1/{path}", headers=served.auth("public"))
        payload = await r.json()
        assert not _numbers(payload), (path, payload)
    r = await served.client.get("/api/v1/zones", headers=served.auth("public"))
    (zone,) = (await r.json())["zones"]
    assert zone["id"] == "boulevard" and zone["level"] == "green"
    r = await served.client.get("/api/v1/history?zone=boulevard", headers=served.auth("public"))
    assert r.status == 404


def _numbers(data: object) -> list[object]:
    if isinstance(data, bool):
        return []
    if isinstance(data, int | float):
        return [data]
    if isinstance(data, dict):
        return [n for v in data.values() for n in _numbers(v)]
    if isinstance(data, list):
        return [n for v in data for n in _numbers(v)]
    return []


async def test_openapi_describes_every_route(served: Served) -> None:
    r = await served.client.get("/api/v1/openapi.json")
    spec = await r.json()
    assert spec["openapi"].startswith("3.")
    routes = set()
    for route in served.client.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if path and route.method != "HEAD" and not path.startswith("/static"):
            routes.add((path, route.method.lower()))
    described = {(p, m) for p, ops in spec["paths"].items() for m in ops}
    assert routes and routes <= described, routes - described
    assert described <= routes, described - routes
    assert openapi() == spec


async def test_install_adds_the_routes_to_an_existing_application(served: Served) -> None:
    app = web.Application()
    dash = Dashboard(served.provider, served.client.app[DASHBOARD].views)
    dash.install(app)
    paths = {r.resource.canonical for r in app.router.routes() if r.resource}
    assert {"/", "/api/v1/stream", "/api/v1/zones"} <= paths


def test_the_views_of_the_config_are_the_dashboards_views() -> None:
    from hub.dashboard import PolicyViewAuth
    from hub.views import View

    views = [
        View(id="police", token="p-0123456789", zones=("plein",), actions=("acknowledge",)),
        View(id="org", token="o-0123456789", noise=True, time_resolution="15min"),
        View(
            id="public",
            token="x-0123456789",
            levels_only=True,
            measurements=("zone_state",),
            delay_s=900,
        ),
        View(id="feed"),
    ]
    with pytest.raises(ValueError, match="org add noise: pass the hub's noise key"):
        PolicyViewAuth(views)
    auth = PolicyViewAuth(views, noise_key=b"k" * 32)
    police = auth.resolve("p-0123456789")
    assert police is not None and police.zones == frozenset({"plein"})
    assert police.actions == frozenset({"acknowledge"}) and not police.levels_only
    org = auth.resolve("o-0123456789")
    assert org is not None and not org.levels_only and org.coarsens_counts  # coarsened numbers
    assert org.noise_key == b"k" * 32 and org.holds and org.resolution_s == 900
    public = auth.resolve("x-0123456789")
    assert public is not None and public.delay_s == 900 and public.levels_only  # served late
    assert police.noise_key is None  # only a noisy view carries the key
    assert auth.resolve("") is None and auth.resolve("p-012345678") is None
