"""What operators read and do with the crowd picture: one interface for every front end.

:class:`ZoneActions` wraps a :class:`~hub.zones.model.ZoneModel`: :meth:`~ZoneActions.picture`
is the JSON-ready picture (zones, lines, open alerts, silences) that ``hub zones``, the
control socket and the dashboard show; the actions (acknowledge, close, silence,
unsilence, log a measure) take effect on the model's next tick, and ``changed()`` tells
the driver to tick and persist at once. Every refusal is an :class:`ActionError` with one
line that says what is wrong and what to do, and an HTTP-like ``status`` (400 bad input,
404 unknown alert/zone/silence, 409 not possible in the alert's state).

:meth:`ZoneActions.perform` runs an action by name with JSON parameters, for
transports (the hub's control socket, the dashboard's API). Sans-io: the caller passes
the clock.
"""

from __future__ import annotations

__all__ = ["ACTIONS", "ActionError", "ZoneActions", "alert_json", "line_json", "zone_json"]

import inspect
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.zones.alerts import AlertRecord
from hub.zones.model import ZoneModel
from hub.zones.views import LineView, ZoneView

ACTIONS = ("acknowledge", "close", "silence", "unsilence", "log_measure")
"""The actions :meth:`ZoneActions.perform` accepts by name."""

_MAX_BY = 64
_MAX_TEXT = 500
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ActionError(Exception):
    """An action that cannot be done; ``status`` is 400, 404 or 409 (as in HTTP)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def parse_duration(text: str) -> float:
    """``"30m"`` -> 1800.0; a number with a unit s, m, h or d."""
    m = _DURATION.match(text)
    if m is None or float(m[1]) <= 0:
        raise ActionError(f"duration {text!r}: give a number with a unit, like 30m, 2h or 90s")
    return float(m[1]) * _UNITS[m[2]]


def _iso(t: float | datetime | None) -> str | None:
    if t is None:
        return None
    if isinstance(t, datetime):
        return t.isoformat()
    return datetime.fromtimestamp(t, UTC).isoformat()


def _r(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(x, digits)


def zone_json(v: ZoneView, alerts: list[str]) -> dict[str, Any]:
    band = v.band
    return {
        "zone": v.zone,
        "level": v.level,
        "level_index": v.level_index,
        "colour": v.colour,
        "measures": v.measures,
        "level_set": v.level_set,
        "levels": [lv.name for lv in v.levels.levels],
        "profile": v.profile,
        "method": v.method,
        "occupancy": _r(v.occupancy, 1),
        "density": _r(v.density),
        "capacity_use": _r(v.capacity_use),
        "net_inflow_per_min": _r(v.net_inflow_per_min, 2),
        "time_to_capacity_min": _r(v.time_to_capacity_min, 1),
        "fresh": v.fresh,
        "age_s": _r(v.age_s, 1),
        "problems": list(v.problems),
        "usual": None
        if band is None
        else {"p10": band.p10, "p50": band.p50, "p90": band.p90, "weeks": band.weeks},
        "next_level_in_min": _r(v.next_level_in_min, 1),
        "alerts": alerts,
        "at": _iso(v.at),
    }


def line_json(v: LineView, alerts: list[str]) -> dict[str, Any]:
    return {
        "line": v.line,
        "zone": v.zone,
        "level": v.level,
        "level_index": v.level_index,
        "colour": v.colour,
        "in": v.in_count,
        "out": v.out_count,
        "in_per_m_min": round(v.in_per_m_min, 2),
        "out_per_m_min": round(v.out_per_m_min, 2),
        "window_s": v.window_s,
        "fresh": v.fresh,
        "age_s": _r(v.age_s, 1),
        "alerts": alerts,
    }


def alert_json(a: AlertRecord) -> dict[str, Any]:
    """An alert as operators see it (who acknowledged included: it stays in the hub)."""
    return {
        "alert_id": a.alert_id,
        "ref": f"{a.rule}/{a.subject}",
        "rule": a.rule,
        "subject": a.subject,
        "state": a.state,
        "severity": a.severity,
        "value": _r(a.value),
        "threshold": a.threshold,
        "summary": a.summary,
        "since": _iso(a.fired_at or a.since),
        "acknowledged_at": _iso(a.acked_at),
        "acknowledged_by": a.acked_by,
        "note": a.ack_note,
        "resolved_at": _iso(a.resolved_at),
        "escalated": a.escalated,
        "silenced": a.silenced,
        "inhibited": a.inhibited,
    }


def _text(name: str, value: Any, *, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ActionError(f"{name}: must be text")
    text = value.strip()
    if required and not text:
        raise ActionError(f"{name}: required; say who you are, e.g. --by 'control room'")
    limit = _MAX_BY if name == "by" else _MAX_TEXT
    if len(text) > limit:
        raise ActionError(f"{name}: at most {limit} characters")
    return text


class ZoneActions:
    """The picture and the operator actions of one :class:`ZoneModel`."""

    def __init__(
        self,
        model: ZoneModel,
        now: Callable[[], datetime],
        changed: Callable[[], None] = lambda: None,
    ) -> None:
        self.model = model
        self.now = now
        self.changed = changed

    # --- reading --------------------------------------------------------------------------

    def picture(self) -> dict[str, Any]:
        """Zones, lines, open alerts and silences as of the last tick (JSON-ready)."""
        m = self.model
        alerts = m.open_alerts()
        by_subject: dict[str, list[str]] = {}
        for a in alerts:
            by_subject.setdefault(a.subject, []).append(a.alert_id)
        return {
            "site": m.site.id,
            "zones": [zone_json(v, by_subject.get(k, [])) for k, v in m.zones().items()],
            "lines": [line_json(v, by_subject.get(k, [])) for k, v in m.lines().items()],
            "alerts": [alert_json(a) for a in alerts],
            "silences": [
                {
                    "silence_id": s.silence_id,
                    "rule": s.rule,
                    "subject": s.subject,
                    "until": _iso(s.until),
                    "reason": s.reason,
                    "by": s.by,
                }
                for s in m.alerts.silences.values()
            ],
        }

    def find(self, ref: str) -> AlertRecord:
        """An open alert by id (``level-red/pier/3``) or by rule and subject (``level-red/pier``:
        there is at most one open alert per rule and zone)."""
        if not isinstance(ref, str) or not ref.strip():
            raise ActionError("alert: give an alert id, e.g. level-red/boulevard")
        ref = ref.strip()
        for a in self.model.alerts.open.values():
            if ref in (a.alert_id, f"{a.rule}/{a.subject}"):
                return a
        ids = ", ".join(self.model.alerts.ids()) or "none"
        raise ActionError(
            f"no open alert {ref!r} (open: {ids}); `hub alerts` lists them", status=404
        )

    # --- acting ---------------------------------------------------------------------------

    def acknowledge(self, alert: str, by: str, note: str = "") -> dict[str, Any]:
        """Acknowledge a firing alert; notified with the next tick."""
        a = self.find(alert)
        by_, note_ = _text("by", by, required=True), _text("note", note, required=False)
        if a.state not in ("firing", "acknowledged"):
            raise ActionError(
                f"alert {a.alert_id} is {a.state}: only a firing alert can be acknowledged",
                status=409,
            )
        done = self.model.acknowledge(a.alert_id, by=by_, note=note_, now=self.now())
        self.changed()
        return alert_json(done)

    def close(self, alert: str, by: str, note: str = "") -> dict[str, Any]:
        """Close a resolved alert before ``close_after_s``."""
        a = self.find(alert)
        by_, note_ = _text("by", by, required=True), _text("note", note, required=False)
        if a.state != "resolved":
            raise ActionError(
                f"alert {a.alert_id} is {a.state}: only a resolved alert can be closed",
                status=409,
            )
        done = self.model.close(a.alert_id, by=by_, note=note_, now=self.now())
        self.changed()
        return alert_json(done)

    def silence(
        self,
        reason: str,
        by: str,
        duration: str | float,
        alert: str | None = None,
        rule: str | None = None,
        subject: str | None = None,
    ) -> dict[str, Any]:
        """Mute notifications of an alert (its rule and zone), a rule, a zone, or both,
        for ``duration`` (seconds, or text like ``30m``)."""
        by_, reason_ = _text("by", by, required=True), _text("reason", reason, required=False)
        if not reason_:
            raise ActionError("reason: required; say why, e.g. --reason 'sensor being replaced'")
        seconds = parse_duration(duration) if isinstance(duration, str) else float(duration)
        if seconds <= 0:
            raise ActionError("duration: must be positive, like 30m")
        if alert is not None:
            a = self.find(alert)
            rule, subject = a.rule, a.subject
        if rule is None and subject is None:
            raise ActionError("give an alert, a rule or a zone to silence")
        now = self.now()
        try:
            sid = self.model.silence(
                until=now + timedelta(seconds=seconds),
                reason=reason_,
                by=by_,
                now=now,
                rule=rule,
                subject=subject,
            )
        except KeyError as err:
            raise ActionError(str(err.args[0]), status=404) from None
        except ValueError as err:
            raise ActionError(str(err)) from None
        self.changed()
        s = self.model.alerts.silences[sid]
        return {"silence_id": sid, "rule": rule, "subject": subject, "until": _iso(s.until)}

    def unsilence(self, silence: str, by: str) -> dict[str, Any]:
        by_ = _text("by", by, required=True)
        try:
            self.model.unsilence(silence, by=by_, now=self.now())
        except KeyError:
            known = ", ".join(self.model.alerts.silences) or "none"
            raise ActionError(f"no silence {silence!r} (active: {known})", status=404) from None
        self.changed()
        return {"silence_id": silence}

    def log_measure(self, subject: str, text: str, by: str) -> dict[str, Any]:
        """Record a measure taken (``closed entrance B``) in the measures log."""
        by_, text_ = _text("by", by, required=True), _text("text", text, required=False)
        if not text_:
            raise ActionError("text: describe the measure taken, e.g. 'closed entrance B'")
        try:
            rec = self.model.log_measure(subject, text_, by=by_, now=self.now())
        except KeyError as err:
            raise ActionError(str(err.args[0]), status=404) from None
        self.changed()
        return dict(rec)

    def perform(self, action: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Run ``action`` (one of :data:`ACTIONS`) with JSON parameters."""
        if action not in ACTIONS:
            raise ActionError(f"unknown action {action!r}; known: {', '.join(ACTIONS)}", 404)
        fn: Callable[..., dict[str, Any]] = getattr(self, action)
        try:
            inspect.signature(fn).bind(**params)
        except TypeError as err:  # a missing or unexpected parameter
            raise ActionError(f"{action}: {err}") from None
        return fn(**params)
