"""``/api/v1/openapi.json``: the dashboard's API described as OpenAPI 3.1."""

from __future__ import annotations

__all__ = ["openapi"]

from typing import Any

_OBJ: dict[str, Any] = {"type": "object"}
_ERR = {
    "description": "one line: what is wrong",
    "content": {
        "application/json": {
            "schema": {"type": "object", "properties": {"error": {"type": "string"}}}
        }
    },
}
_401 = {"description": "no token or a wrong token (nothing else is said)"}


def _list(name: str, item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}}},
    }


def _get(
    summary: str,
    schema: dict[str, Any],
    params: list[dict[str, Any]] | None = None,
    content: str = "application/json",
) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "parameters": params or [],
            "responses": {
                "200": {"description": "OK", "content": {content: {"schema": schema}}},
                "400": _ERR,
                "401": _401,
                "404": _ERR,
            },
        }
    }


def _post(summary: str, body: dict[str, Any], action: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": f"{summary} (needs the view's '{action}' action and a view without "
            "delay_s; recorded in the audit)",
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {
                "200": {"description": "done", "content": {"application/json": {"schema": _OBJ}}},
                "400": _ERR,
                "401": _401,
                "403": _ERR,
                "404": _ERR,
                "409": _ERR,
                "415": _ERR,
            },
        }
    }


def _q(
    name: str,
    description: str,
    required: bool = False,
    kind: str = "string",
    fmt: str | None = None,
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": kind}
    if fmt:
        schema["format"] = fmt
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


def _s(**props: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {k: ({"type": v} if isinstance(v, str) else v) for k, v in props.items()},
    }


_NUM = ["number", "null"]
_SCHEMAS = {
    "Zone": _s(
        id="string",
        name="string",
        level="string",
        colour="string",
        fresh="boolean",
        measures="string",
        method={"type": ["string", "null"]},
        occupancy={"type": _NUM},
        density={"type": _NUM},
        capacity_use={"type": _NUM},
        time_to_capacity_min={"type": _NUM},
        data_at={"type": ["string", "null"]},
        problems={"type": "array", "items": {"type": "string"}},
        counts_interval={
            "type": "object",
            "description": "a coarsening view with a time_resolution: the interval its counts "
            "are of (from, to); noise, suppression and rounding as the view's outputs",
        },
        suppressed={"type": "array", "items": {"type": "string"}},
        suppressed_below={"type": "integer", "description": "counts below it read 0 ('< k')"},
    ),
    "Line": _s(
        id="string",
        zone="string",
        level="string",
        colour="string",
        fresh="boolean",
        in_count="integer",
        out_count="integer",
        in_per_m_min="number",
        out_per_m_min="number",
    ),
    "Sensor": _s(
        id="string",
        name="string",
        zone={"type": ["string", "null"]},
        health={"enum": ["ok", "problem", "silent", "unknown"]},
        last_seen={"type": ["string", "null"]},
    ),
    "Alert": _s(
        id="string",
        rule="string",
        subject="string",
        zone="string",
        state={"enum": ["firing", "acknowledged", "resolved", "closed"]},
        severity="string",
        since="string",
        acked_by={"type": ["string", "null"]},
        silenced="boolean",
        summary="string",
    ),
    "LogRecord": _s(
        seq="integer",
        at="string",
        event="string",
        subject="string",
        alert_id="string",
        by="string",
        note="string",
    ),
}

_PATHS: dict[str, Any] = {
    "/": _get(
        "the dashboard page, or the login form without a valid token",
        {"type": "string"},
        content="text/html",
    ),
    "/login": {
        "post": {
            "summary": "log in with a view's token (form field 'token'); sets a cookie",
            "requestBody": {
                "content": {"application/x-www-form-urlencoded": {"schema": _s(token="string")}}
            },
            "responses": {"303": {"description": "logged in"}, "401": _401},
        }
    },
    "/logout": {
        "post": {
            "summary": "forget the cookie",
            "responses": {"303": {"description": "logged out"}},
        }
    },
    "/api/v1/openapi.json": _get("this description", _OBJ),
    "/api/v1/site": _get("site geometry (WGS84 or site-plan pixels) and the caller's view", _OBJ),
    "/api/v1/plan": _get(
        "the site-plan image", {"type": "string", "format": "binary"}, content="image/*"
    ),
    "/api/v1/zones": _get("zone states", _list("zones", "Zone")),
    "/api/v1/lines": _get("line flows", _list("lines", "Line")),
    "/api/v1/sensors": _get(
        "sensors and their health (views with sensor_health)", _list("sensors", "Sensor")
    ),
    "/api/v1/alerts": _get("open alerts", _list("alerts", "Alert")),
    "/api/v1/log": _get(
        "the alert and measures log, oldest first",
        _list("log", "LogRecord"),
        [
            _q("from", "ISO 8601 time with zone", fmt="date-time"),
            _q("to", "ISO 8601 time with zone (exclusive)", fmt="date-time"),
            _q("limit", "newest records to return (default 200)", kind="integer"),
        ],
    ),
    "/api/v1/history": _get(
        "a zone's mean occupancy per step with the normal band (p10/p50/p90) and the forecast; "
        "the occupancy is read from the embedded store (the sqlite output [dashboard] history "
        "names: raw zone states, quarter-hour aggregates past its raw retention) or, without "
        "one, from the zone model's memory; 'source' says which. A zone outside the caller's "
        "view, or a levels-only view, answers 404",
        _s(
            zone="string",
            step_s="integer",
            source={
                "type": "string",
                "enum": ["store", "memory"],
                "description": "where the occupancy came from",
            },
            t={"type": "array", "items": {"type": "number"}},
            occupancy={"type": "array"},
            p10={"type": "array"},
            p50={"type": "array"},
            p90={"type": "array"},
            forecast=_OBJ,
            thresholds={"type": "array"},
        ),
        [
            _q("zone", "zone id", required=True),
            _q("from", "ISO 8601 start (default: 6 h before 'to')", fmt="date-time"),
            _q("to", "ISO 8601 end (default: now)", fmt="date-time"),
            _q(
                "step",
                "seconds per point, 60..86400 (default 60); at most 5000 points",
                kind="integer",
            ),
        ],
    ),
    "/api/v1/acknowledge": _post(
        "acknowledge a firing alert", _s(alert_id="string", note="string"), "acknowledge"
    ),
    "/api/v1/silence": _post(
        "silence a zone's or line's alerts for some minutes",
        _s(subject="string", rule={"type": ["string", "null"]}, minutes="number", reason="string"),
        "silence",
    ),
    "/api/v1/measure": _post(
        "write a measure taken into the measures log",
        _s(subject="string", text="string"),
        "log_measure",
    ),
    "/api/v1/stream": _get(
        "server-sent events: 'snapshot' first, then 'zone', 'line', 'sensor', 'alert', 'log' "
        "on change and 'heartbeat' every few seconds",
        {"type": "string"},
        content="text/event-stream",
    ),
}


def openapi() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "crowdhub dashboard API",
            "version": "1",
            "description": "The live crowd picture, filtered by the caller's view. "
            "Authenticate with 'Authorization: Bearer <view token>' or the login cookie.",
        },
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "crowdhub_token"},
            },
        },
        "security": [{"bearer": []}, {"cookie": []}],
        "paths": _PATHS,
    }
