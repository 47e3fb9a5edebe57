"""The one place where a view filters what the dashboard shows.

:func:`for_view` is applied to every API answer and every stream message: an item the
view may not see becomes ``None`` (left out), an item it may see loses the fields it
may not have. Rules:

* zones, lines: only those of the view (a line also needs its zone); their state only
  with the ``zone_state`` / ``line_flow`` measurement type;
* sensors: only with ``sensor_health``, only those of the view's zones;
* alerts and the measures log: with the ``alert`` type, only for the view's zones (a
  record about no zone only for views that see every zone);
* history: with ``zone_state``, never for a levels-only view;
* ``levels_only``: no number about people or places is left (counts, densities, rates,
  capacities, thresholds, alert values, operators' notes): colour levels and names only;
* ``noise``, ``suppress_below``, ``round_to``: counts coarsened as the view's outputs are,
  what would give them back withheld (:mod:`hub.dashboard.coarse`, with the picture's
  :class:`~hub.dashboard.coarse.Numbers`).
"""

from __future__ import annotations

__all__ = ["Kind", "for_view", "may_see_history"]

from typing import Any, Literal

from hub.dashboard.access import DashboardView
from hub.dashboard.coarse import Numbers, coarsen

Kind = Literal["site", "zone", "line", "sensor", "alert", "log", "history"]

_ZONE_NUMBERS = frozenset(
    {
        "area_m2",
        "capacity",
        "occupancy",
        "density",
        "capacity_use",
        "net_inflow_per_min",
        "time_to_capacity_min",
        "next_level_in_min",
        "usual",
        "forecast_weeks",
        "level_index",
        "metric",
    }
)
_LINE_NUMBERS = frozenset(
    {"width_m", "in_count", "out_count", "in_per_m_min", "out_per_m_min", "window_s", "level_index"}
)
_ALERT_DETAIL = frozenset({"value", "threshold", "summary", "ack_note", "acked_by"})
_LOG_DETAIL = frozenset({"value", "note", "by"})
_SENSOR_NUMBERS = frozenset({"age_s"})


def _without(d: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in keys}


def _zone(view: DashboardView, d: dict[str, Any]) -> dict[str, Any] | None:
    if not view.sees_zone(d["id"]):
        return None
    if not view.sees_type("zone_state"):
        return {
            "id": d["id"],
            "name": d["name"],
            "level": "unknown",
            "colour": "grey",
            "fresh": False,
            "hidden": True,
        }
    out = d
    if not view.sensor_health and "problems" in d:
        out = {**out, "problems": [p for p in d["problems"] if ":" not in p]}
    if view.levels_only:
        out = _without(out, _ZONE_NUMBERS)
        if "levels" in out:
            out["levels"] = [{k: v for k, v in lv.items() if k != "enter"} for lv in out["levels"]]
        out.pop("problems", None)
    return out


def _line(view: DashboardView, d: dict[str, Any]) -> dict[str, Any] | None:
    if not view.sees_line(d["id"], d["zone"]):
        return None
    if not view.sees_type("line_flow"):
        return {
            "id": d["id"],
            "zone": d["zone"],
            "level": "unknown",
            "colour": "grey",
            "fresh": False,
            "hidden": True,
        }
    return _without(d, _LINE_NUMBERS) if view.levels_only else d


def _sensor(view: DashboardView, d: dict[str, Any]) -> dict[str, Any] | None:
    zone = d.get("zone")
    if not view.sensor_health or not (view.zones is None or view.sees_zone(zone)):
        return None
    return _without(d, _SENSOR_NUMBERS) if view.levels_only else d


def _alert(view: DashboardView, d: dict[str, Any]) -> dict[str, Any] | None:
    if not view.sees_type("alert") or not view.sees_zone(d.get("zone")):
        return None
    line = d.get("line")
    if line is not None and not view.sees_line(line, d["zone"]):
        return None
    return _without(d, _ALERT_DETAIL) if view.levels_only else d


def _log(view: DashboardView, d: dict[str, Any]) -> dict[str, Any] | None:
    if not view.sees_type("alert"):
        return None
    zone = d.get("zone")
    if zone is None:
        if view.zones is not None:
            return None
    elif not view.sees_zone(zone):
        return None
    subject = d.get("subject")
    if zone is not None and subject not in (None, zone) and not view.sees_line(subject, zone):
        return None
    return _without(d, _LOG_DETAIL) if view.levels_only else d


def may_see_history(view: DashboardView, zone: str) -> bool:
    """Whether ``view`` gets any history of ``zone`` (asked before the store is read)."""
    return not view.levels_only and view.sees_type("zone_state") and view.sees_zone(zone)


def _history(view: DashboardView, d: dict[str, Any]) -> dict[str, Any] | None:
    return d if may_see_history(view, d["zone"]) else None


def _site(view: DashboardView, d: dict[str, Any]) -> dict[str, Any]:
    zones = [z for z in d["zones"] if view.sees_zone(z["id"])]
    lines = [ln for ln in d["lines"] if view.sees_line(ln["id"], ln["zone"])]
    sensors = [s for s in d["sensors"] if _sensor(view, s) is not None]
    if view.levels_only:
        zones = [_without(z, frozenset({"area_m2", "capacity"})) for z in zones]
        lines = [_without(ln, frozenset({"width_m"})) for ln in lines]
    return {**d, "zones": zones, "lines": lines, "sensors": sensors}


def for_view(
    view: DashboardView, kind: Kind, data: dict[str, Any], numbers: Numbers | None = None
) -> dict[str, Any] | None:
    """``data`` as ``view`` may see it, or ``None`` when it may not see it at all.

    ``numbers``: the picture's time and samples, for a view that coarsens counts (without
    them such a view's held counts are withheld, never shown exact)."""
    out = _filter(view, kind, data)
    if out is None or not view.coarsens_counts or out.get("hidden"):
        return out
    return coarsen(view, kind, out, numbers)


def _filter(view: DashboardView, kind: Kind, data: dict[str, Any]) -> dict[str, Any] | None:
    if kind == "zone":
        return _zone(view, data)
    if kind == "line":
        return _line(view, data)
    if kind == "sensor":
        return _sensor(view, data)
    if kind == "alert":
        return _alert(view, data)
    if kind == "log":
        return _log(view, data)
    if kind == "history":
        return _history(view, data)
    return _site(view, data)
