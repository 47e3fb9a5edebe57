"""The dashboard as aiohttp routes: the page, the login, the JSON API and the live stream.

Every request is bound to a view by its token (``Authorization: Bearer <token>`` or the
cookie the login form sets). No token: the page answers the login form and the API
``401``; a wrong token: ``401`` with one line and nothing else. Every answer and stream
message goes through :func:`hub.dashboard.policy.for_view`; every API request and action
is recorded through the :class:`~hub.dashboard.access.Audit`.

:func:`make_dashboard_app` builds a stand-alone application (to mount with
``root.add_subapp("/dashboard/", app)`` or to serve on its own); :meth:`Dashboard.install`
adds the same routes to an existing application (the hub's server, at ``/``).
"""

from __future__ import annotations

__all__ = ["COOKIE", "Dashboard", "make_dashboard_app"]

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from hub.dashboard.access import Audit, DashboardView, MemoryAudit, ViewAuth
from hub.dashboard.assets import STATIC_DIR, page
from hub.dashboard.coarse import Numbers
from hub.dashboard.openapi import openapi
from hub.dashboard.pictures import Pictures
from hub.dashboard.policy import Kind, for_view, may_see_history
from hub.dashboard.provider import PictureProvider
from hub.dashboard.serialize import site_dict
from hub.dashboard.stream import Streams
from hub.zones.actions import ActionError

log = logging.getLogger("hub.dashboard")

COOKIE = "crowdhub_token"
_MAX_POINTS = 5000
_Handler = Callable[[web.Request, DashboardView], Awaitable[web.StreamResponse]]


class _Problem(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Dashboard:
    """The dashboard of one hub: routes, login, API, streams."""

    def __init__(
        self,
        provider: PictureProvider,
        views: ViewAuth,
        audit: Audit | None = None,
        *,
        plan_dir: Path | None = None,
        heartbeat_s: float = 5.0,
        secure_cookie: bool = False,
    ) -> None:
        self.provider = provider
        self.views = views
        self.audit: Audit = audit if audit is not None else MemoryAudit()
        self.plan_dir = plan_dir or Path.cwd()
        self.secure_cookie = secure_cookie
        self.pictures = Pictures(provider, views.all(), self.snapshot, heartbeat_s=heartbeat_s)
        self.streams: Streams = self.pictures.live.streams
        """The live picture's streams (a delayed view's: ``pictures.for_view(v).streams``)."""
        self._tasks: list[asyncio.Task[None]] = []

    # --- wiring -------------------------------------------------------------------------

    def routes(self) -> list[web.AbstractRouteDef]:
        api = self._api
        return [
            web.get("/", self.index),
            web.post("/login", self.login),
            web.post("/logout", self.logout),
            web.static("/static", STATIC_DIR, append_version=False),
            web.get("/api/v1/openapi.json", self.openapi),
            web.get("/api/v1/site", api("site", self.get_site)),
            web.get("/api/v1/plan", api("plan", self.get_plan)),
            web.get("/api/v1/zones", api("zones", self._listing("zone", "zones"))),
            web.get("/api/v1/lines", api("lines", self._listing("line", "lines"))),
            web.get("/api/v1/sensors", api("sensors", self._listing("sensor", "sensors"))),
            web.get("/api/v1/alerts", api("alerts", self._listing("alert", "alerts"))),
            web.get("/api/v1/log", api("log", self.get_log)),
            web.get("/api/v1/history", api("history", self.get_history)),
            web.post("/api/v1/acknowledge", api("acknowledge", self.acknowledge)),
            web.post("/api/v1/silence", api("silence", self.silence)),
            web.post("/api/v1/measure", api("measure", self.measure)),
            web.get("/api/v1/stream", api("stream", self.stream)),
        ]

    def install(self, app: web.Application) -> None:
        """Add the routes to ``app`` and run the stream pump with it."""
        app.add_routes(self.routes())
        app.cleanup_ctx.append(self._lifetime)
        app.on_shutdown.append(self._on_shutdown)

    async def _lifetime(self, app: web.Application) -> AsyncIterator[None]:
        await self.pictures.seed()  # before the server listens: no gap after a restart
        self._tasks = self.pictures.tasks()
        yield
        self.pictures.close()
        await self.pictures.stop(self._tasks)

    async def _on_shutdown(self, app: web.Application) -> None:
        self.pictures.close()

    # --- who is asking ------------------------------------------------------------------

    def _token(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization")
        if header is not None:
            scheme, _, value = header.partition(" ")
            return value.strip() if scheme.lower() == "bearer" else ""
        return request.cookies.get(COOKIE)

    def _view(self, request: web.Request) -> DashboardView | None:
        token = self._token(request)
        return None if not token else self.views.resolve(token)

    @staticmethod
    def _unauthorized() -> web.Response:
        return web.Response(
            status=401,
            text="unauthorized\n",
            headers={"WWW-Authenticate": 'Bearer realm="crowdhub"', "Cache-Control": "no-store"},
        )

    def _api(self, endpoint: str, handler: _Handler) -> Callable[[web.Request], Awaitable[Any]]:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            view = self._view(request)
            if view is None:
                return self._unauthorized()
            if endpoint == "stream":
                self._access(view, endpoint, 200)
            try:
                resp = await handler(request, view)
            except _Problem as p:
                resp = web.json_response(
                    {"error": p.message}, status=p.status, headers={"Cache-Control": "no-store"}
                )
            if endpoint != "stream":
                self._access(view, endpoint, resp.status)
            return resp

        return wrapped

    def _access(self, view: DashboardView, endpoint: str, status: int) -> None:
        self.audit.access(self.provider.now(), view=view.id, endpoint=endpoint, status=status)

    # --- the page -----------------------------------------------------------------------

    def _csp(self) -> str:
        img = "'self' data: blob:"
        tiles = self.provider.site.tiles
        if tiles and "://" in tiles:
            u = urlsplit(tiles.replace("{", "").replace("}", ""))
            img += f" {u.scheme}://{u.netloc}"
        return (
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            f"img-src {img}; connect-src 'self'; frame-ancestors 'none'; form-action 'self'"
        )

    def _html(self, text: str, status: int = 200) -> web.Response:
        return web.Response(
            text=text,
            status=status,
            content_type="text/html",
            headers={"Content-Security-Policy": self._csp(), "Cache-Control": "no-store"},
        )

    async def index(self, request: web.Request) -> web.Response:
        token = self._token(request)
        if not token:
            return self._html(page("login"))
        if self.views.resolve(token) is None:
            resp = self._html(page("login", error=True), status=401)
            resp.del_cookie(COOKIE)
            return resp
        return self._html(page("app"))

    async def login(self, request: web.Request) -> web.Response:
        form = await request.post()
        token = form.get("token")
        view = self.views.resolve(token) if isinstance(token, str) and token else None
        if view is None:
            return self._html(page("login", error=True), status=401)
        assert isinstance(token, str)
        self._access(view, "login", 303)
        resp = web.Response(status=303, headers={"Location": "./"})
        resp.set_cookie(
            COOKIE,
            token,
            httponly=True,
            samesite="Strict",
            secure=self.secure_cookie or request.secure,
            max_age=12 * 3600,
        )
        return resp

    async def logout(self, request: web.Request) -> web.Response:
        resp = web.Response(status=303, headers={"Location": "./"})
        resp.del_cookie(COOKIE)
        return resp

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(openapi())

    # --- reading ------------------------------------------------------------------------

    def _picture(self, view: DashboardView) -> PictureProvider:
        """What ``view`` reads: the live picture, or the one ``delay_s`` ago."""
        pic = self.pictures.for_view(view)
        if pic.delayed is not None:
            pic.delayed.advance()
        return pic.provider

    def _filter(self, view: DashboardView, kind: Kind, items: list[dict[str, Any]]) -> list[Any]:
        numbers = self.pictures.for_view(view).numbers(view)
        return [d for d in (for_view(view, kind, i, numbers) for i in items) if d is not None]

    async def stream(self, request: web.Request, view: DashboardView) -> web.StreamResponse:
        return await self.pictures.for_view(view).streams.serve(request, view)

    def snapshot(self, view: DashboardView) -> dict[str, Any]:
        """Everything ``view`` may see now (the first message of a stream)."""
        p = self._picture(view)
        return {
            "zones": self._filter(view, "zone", p.zones()),
            "lines": self._filter(view, "line", p.lines()),
            "sensors": self._filter(view, "sensor", p.sensors()),
            "alerts": self._filter(view, "alert", p.alerts()),
            "log": self._filter(view, "log", p.alert_log(limit=200))[-50:],
        }

    def _listing(self, kind: Kind, name: str) -> _Handler:
        async def handler(request: web.Request, view: DashboardView) -> web.Response:
            p = self._picture(view)
            source: Callable[[], list[dict[str, Any]]] = {
                "zone": p.zones,
                "line": p.lines,
                "sensor": p.sensors,
                "alert": p.alerts,
            }[kind]
            return _json({name: self._filter(view, kind, source())})

        return handler

    async def get_site(self, request: web.Request, view: DashboardView) -> web.Response:
        site = self.provider.site
        d = for_view(view, "site", site_dict(site, "api/v1/plan" if site.plan else None))
        assert d is not None
        d["view"] = {
            "id": view.id,
            "name": view.name or view.id,
            "levels_only": view.levels_only,
            "sensor_health": view.sensor_health,
            "actions": sorted(view.actions) if not view.delay_s else [],
            "delay_s": view.delay_s,
            "coarse": None
            if not view.coarsens_counts
            else {
                "round_to": view.round_to,
                "suppress_below": view.suppress_below,
                "noise": view.noise,
                "interval_s": view.resolution_s,
            },
            "sees": {
                "zone_state": view.sees_type("zone_state"),
                "line_flow": view.sees_type("line_flow"),
                "alert": view.sees_type("alert"),
            },
        }
        return _json(d)

    async def get_plan(self, request: web.Request, view: DashboardView) -> web.StreamResponse:
        plan = self.provider.site.plan
        if plan is None:
            raise _Problem(404, "this site has no [site.plan]")
        path = self.plan_dir / plan.image
        if not path.is_file():
            raise _Problem(404, f"site plan image {plan.image!r} not found next to the config")
        return web.FileResponse(path)

    async def get_log(self, request: web.Request, view: DashboardView) -> web.Response:
        q = request.query
        since = _time(q.get("from"), "from")
        until = _time(q.get("to"), "to")
        limit = _int(q.get("limit", "200"), "limit", 1, 10_000)
        records = self._picture(view).alert_log(since=since, until=until, limit=10_000)
        return _json({"log": self._filter(view, "log", records)[-limit:]})

    async def get_history(self, request: web.Request, view: DashboardView) -> web.Response:
        q = request.query
        zone = q.get("zone")
        if not zone:
            raise _Problem(400, "history needs ?zone=<zone id>")
        picture = self._picture(view)
        now = picture.now()
        end = min(_time(q.get("to"), "to") or now, now)
        start = _time(q.get("from"), "from") or end - timedelta(hours=6)
        step = _int(q.get("step", "60"), "step", 60, 86_400)
        if view.holds:  # one value per interval, as the view's outputs: its own step
            step = view.resolution_s
        if start >= end:
            raise _Problem(400, "history: 'from' must be before 'to' (and before now)")
        if (end - start).total_seconds() / step > _MAX_POINTS:
            raise _Problem(400, f"history: more than {_MAX_POINTS} points; use a larger step")
        start = max(start, now - timedelta(days=view.history_days))
        end = max(end, start + timedelta(seconds=step))
        missing = _Problem(404, f"no history of zone {zone!r} for this view")
        if not may_see_history(view, zone):
            raise missing  # checked before the store is asked: nothing is read for it
        if view.holds:  # only completed intervals
            ts = now.timestamp()
            end = min(end, datetime.fromtimestamp(ts - ts % step, UTC))
        try:
            h = await picture.history(zone, start, end, step)
        except KeyError:
            raise missing from None
        d = for_view(view, "history", h, picture_numbers(self, view))
        if d is None:
            raise missing
        return _json(d)

    # --- acting -------------------------------------------------------------------------

    async def _body(self, request: web.Request, view: DashboardView, action: str) -> dict[str, Any]:
        if view.delay_s:
            self._action(view, action, None, allowed=False)
            raise _Problem(
                403,
                f"view {view.id!r} is delayed by {view.delay_s / 60:g} min: it shows the past "
                f"and may not {action.replace('_', ' ')}; use a live view",
            )
        if not view.may(action):
            self._action(view, action, None, allowed=False)
            raise _Problem(403, f"view {view.id!r} may not {action.replace('_', ' ')}")
        if request.content_type != "application/json":
            raise _Problem(415, "send the action as application/json")
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise _Problem(400, "the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise _Problem(400, "the body must be a JSON object")
        return body

    def _action(self, view: DashboardView, action: str, target: str | None, allowed: bool) -> None:
        self.audit.action(
            self.provider.now(),
            view=view.id,
            endpoint=action if action != "log_measure" else "measure",
            action=action,
            target=target,
            allowed=allowed,
        )

    def _subject(self, view: DashboardView, body: dict[str, Any]) -> str:
        subject = body.get("subject")
        if not isinstance(subject, str) or not subject:
            raise _Problem(400, "'subject' must be a zone or line id")
        site = self.provider.site
        ln = site.line(subject)
        visible = (
            view.sees_line(subject, ln.zone) if ln is not None else site.zone(subject) is not None
        ) and view.sees_zone(ln.zone if ln is not None else subject)
        if not visible:
            raise _Problem(404, f"no zone or line {subject!r} in this view")
        return subject

    async def acknowledge(self, request: web.Request, view: DashboardView) -> web.Response:
        body = await self._body(request, view, "acknowledge")
        alert_id = body.get("alert_id")
        note = _text(body.get("note", ""), "note", 0)
        if not isinstance(alert_id, str) or not any(
            a["id"] == alert_id for a in self._filter(view, "alert", self.provider.alerts())
        ):
            raise _Problem(404, "no such open alert in this view")
        try:
            a = self.provider.acknowledge(alert_id, by=view.id, note=note)
        except ActionError as e:
            raise _Problem(e.status, str(e)) from None
        except KeyError as e:
            raise _Problem(404, str(e).strip("'\"")) from None
        except ValueError as e:
            raise _Problem(409, str(e)) from None
        self._action(view, "acknowledge", alert_id, allowed=True)
        return _json({"alert": for_view(view, "alert", a, picture_numbers(self, view))})

    async def silence(self, request: web.Request, view: DashboardView) -> web.Response:
        body = await self._body(request, view, "silence")
        subject = self._subject(view, body)
        rule = body.get("rule")
        if rule is not None and not isinstance(rule, str):
            raise _Problem(400, "'rule' must be a rule id or null")
        minutes = body.get("minutes")
        if not isinstance(minutes, int | float) or not 1 <= minutes <= 24 * 60:
            raise _Problem(400, "'minutes' must be a number from 1 to 1440")
        reason = _text(body.get("reason"), "reason", 1)
        until = self.provider.now() + timedelta(minutes=float(minutes))
        try:
            s = self.provider.silence(
                subject=subject, rule=rule, until=until, reason=reason, by=view.id
            )
        except ActionError as e:
            raise _Problem(e.status, str(e)) from None
        except (KeyError, ValueError) as e:
            raise _Problem(400, str(e).strip("'\"")) from None
        self._action(view, "silence", subject, allowed=True)
        return _json({"silence": s})

    async def measure(self, request: web.Request, view: DashboardView) -> web.Response:
        body = await self._body(request, view, "log_measure")
        subject = self._subject(view, body)
        text = _text(body.get("text"), "text", 1)
        try:
            rec = self.provider.log_measure(subject, text, by=view.id)
        except ActionError as e:
            raise _Problem(e.status, str(e)) from None
        except (KeyError, ValueError) as e:
            raise _Problem(400, str(e).strip("'\"")) from None
        self._action(view, "log_measure", subject, allowed=True)
        return _json({"record": for_view(view, "log", rec, picture_numbers(self, view))})


def picture_numbers(dashboard: Dashboard, view: DashboardView) -> Numbers | None:
    """The coarsening context of ``view`` in ``dashboard`` (None: it coarsens nothing)."""
    return dashboard.pictures.for_view(view).numbers(view)


def _json(data: Any) -> web.Response:
    return web.json_response(data, headers={"Cache-Control": "no-store"})


def _text(value: Any, name: str, least: int) -> str:
    if not isinstance(value, str) or len(value.strip()) < least or len(value) > 500:
        need = "a non-empty text" if least else "a text"
        raise _Problem(400, f"'{name}' must be {need} of at most 500 characters")
    return value.strip()


def _int(raw: str, name: str, lo: int, hi: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise _Problem(400, f"'{name}' must be a whole number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise _Problem(400, f"'{name}' must be from {lo} to {hi}, got {value}")
    return value


def _time(raw: str | None, name: str) -> datetime | None:
    if raw is None or raw == "":
        return None
    try:
        t = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _Problem(
            400, f"'{name}' must be an ISO 8601 time with a zone, e.g. 2026-08-14T18:00:00Z"
        ) from None
    if t.tzinfo is None:
        raise _Problem(400, f"'{name}' needs a time zone (e.g. Z or +02:00)")
    return t


def make_dashboard_app(
    provider: PictureProvider,
    views: ViewAuth,
    audit: Audit | None = None,
    *,
    plan_dir: Path | None = None,
    heartbeat_s: float = 5.0,
) -> web.Application:
    """A stand-alone aiohttp application serving the dashboard at its root."""
    app = web.Application()
    dash = Dashboard(provider, views, audit, plan_dir=plan_dir, heartbeat_s=heartbeat_s)
    dash.install(app)
    app[DASHBOARD] = dash
    return app


DASHBOARD: web.AppKey[Dashboard] = web.AppKey("dashboard", Dashboard)
