"""A coarsening view's numbers on the dashboard: the outputs' coarsening, applied to the picture.

A view with ``noise``, ``suppress_below`` or ``round_to`` (and not ``levels_only``) sees
the dashboard's counts as its outputs see them, through the same function
(:func:`hub.views.coarsen_count`, same key, same labels via
:func:`hub.views.interval_label`):

* **counts** (a zone's occupancy and its normal band p10/p50/p90, a line's in/out counts,
  the history and forecast series) are coarsened: noise, suppression, rounding;
* **held per interval**: with a ``time_resolution`` the counts shown are those at the end
  of the last completed interval (the ``last`` reading of the bucket, as the outputs'
  ``zone_state``/``line_flow`` carry), one value per place x field x interval x view.
  Reloading, the stream and the history all give that one value, so its noise cannot be
  averaged away; colour levels stay live;
* **withheld**, because they would give a count back or quote one: density, capacity
  use, net inflow, time to capacity, time to the next level, a line's flow per metre,
  level thresholds (``enter``; with the area they are counts), the history's thresholds
  in people and the forecast factor, an alert's value, threshold and summary, notes of
  acknowledgements and the measures log (free text that may quote a count).

A suppressed count reads 0; with ``suppress_as = "below"`` the item also carries
``suppressed`` (the fields) and ``suppressed_below`` (k), and the page shows "< k".
"""

from __future__ import annotations

__all__ = ["Numbers", "Sampler", "coarsen"]

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hub.dashboard.access import DashboardView
from hub.views import coarsen_count, interval_label

ZONE_WITHHELD = frozenset(
    {"density", "capacity_use", "net_inflow_per_min", "time_to_capacity_min", "next_level_in_min"}
)
LINE_WITHHELD = frozenset({"in_per_m_min", "out_per_m_min"})
ALERT_WITHHELD = frozenset({"value", "threshold", "summary", "ack_note"})
LOG_WITHHELD = frozenset({"value", "note"})

# dashboard field -> the count field of the output measurement (its noise label)
_ZONE_COUNTS = {"occupancy": "occupancy"}
_BAND = {"p10": "usual_p10", "p50": "usual_p50", "p90": "usual_p90"}
_LINE_COUNTS = {"in_count": "in_", "out_count": "out"}
_TYPE = {"zone": "zone_state", "line": "line_flow"}

Values = dict[str, float | None]


def _counts(kind: str, d: dict[str, Any]) -> Values:
    if kind == "zone":
        out: Values = {k: d.get(k) for k in _ZONE_COUNTS}
        band = d.get("usual") or {}
        out.update({k: band.get(k) for k in _BAND})
        return out
    return {k: d.get(k) for k in _LINE_COUNTS}


class Sampler:
    """The counts of every zone and line at the end of each ``resolution_s`` interval.

    Fed with the full-detail dicts of the picture as they change (:meth:`observe`, in time
    order); :meth:`held` answers the counts as they were at the last interval boundary
    before ``now``, with that interval's start. Two observations per item are kept.
    """

    def __init__(self, resolution_s: int) -> None:
        self.resolution = resolution_s
        self._items: dict[tuple[str, str], tuple[float, Values, tuple[float, Values] | None]] = {}

    def observe(self, kind: str, data: dict[str, Any], t: float) -> None:
        if kind not in _TYPE:
            return
        key = (kind, str(data["id"]))
        values = _counts(kind, data)
        item = self._items.get(key)
        if item is None:
            self._items[key] = (t, values, None)
            return
        last_t, last_values, prev = item
        r = self.resolution
        if t // r > last_t // r:  # the last one closed its bucket
            prev = (last_t, last_values)
        self._items[key] = (t, values, prev)

    def held(self, kind: str, ident: str, now: float) -> tuple[float, Values] | None:
        """``(interval start, counts)`` of the last interval completed by ``now``, or None."""
        item = self._items.get((kind, ident))
        if item is None:
            return None
        boundary = now - now % self.resolution
        t, values, prev = item
        if t < boundary:
            return boundary - self.resolution, values
        if prev is not None and prev[0] < boundary:
            return boundary - self.resolution, prev[1]
        return None

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True, slots=True)
class Numbers:
    """What a coarsening needs besides the view: the picture's time, source and samples."""

    now: float
    """The picture's time (``now - delay_s`` for a delayed view), epoch seconds."""
    source: str = "zones"
    """The zone model's source id (the outputs' ``zone_state`` source): part of the label."""
    sampler: Sampler | None = None
    """The samples at the view's ``time_resolution`` (None: held counts are withheld)."""


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


class _Coarsener:
    def __init__(self, view: DashboardView, numbers: Numbers | None) -> None:
        self.view = view
        self.numbers = numbers
        self.marks: list[str] = []

    def count(
        self, value: float | None, kind: str, d: dict[str, Any], field: str, start: float
    ) -> int | None:
        if value is None:
            return None
        v = self.view
        zone = d["id"] if kind == "zone" else d.get("zone")
        line = d["id"] if kind == "line" else None
        source = self.numbers.source if self.numbers is not None else "zones"
        out, suppressed = coarsen_count(
            value,
            key=v.noise_key if v.noise else None,
            label=interval_label(v.id, _TYPE[kind], source, zone, line, field, start),
            suppress_below=v.suppress_below,
            round_to=v.round_to,
        )
        if suppressed and v.suppress_as == "below":
            self.marks.append(field)
        return out

    def counts(self, kind: str, d: dict[str, Any]) -> tuple[float, Values] | None:
        """The true counts to coarsen and their interval start (None: none to show)."""
        n = self.numbers
        if not self.view.holds:
            return (0.0 if n is None else n.now), _counts(kind, d)
        if n is None or n.sampler is None:
            return None
        return n.sampler.held(kind, str(d["id"]), n.now)

    def item(self, kind: str, d: dict[str, Any]) -> dict[str, Any]:
        withheld = ZONE_WITHHELD if kind == "zone" else LINE_WITHHELD
        out = {k: val for k, val in d.items() if k not in withheld}
        if "levels" in out:
            out["levels"] = [{k: x for k, x in lv.items() if k != "enter"} for lv in out["levels"]]
        if "level_index" not in d:  # no state yet: no counts either
            return out
        found = self.counts(kind, d)
        names = _ZONE_COUNTS if kind == "zone" else _LINE_COUNTS
        if found is None:
            for k in names:
                out[k] = None
            if kind == "zone":
                out["usual"] = None
            return out
        start, values = found
        for k, label in names.items():
            out[k] = self.count(values[k], kind, d, label, start)
        if kind == "zone" and d.get("usual") is not None:
            band = {k: self.count(values[k], kind, d, label, start) for k, label in _BAND.items()}
            out["usual"] = {**band, "weeks": d["usual"].get("weeks")}
        if self.view.holds:
            res = self.view.resolution_s
            out["counts_interval"] = {"from": _iso(start), "to": _iso(start + res)}
        return self.marked(out)

    def marked(self, out: dict[str, Any]) -> dict[str, Any]:
        if self.view.suppress_below and self.view.suppress_as == "below":
            out["suppressed_below"] = self.view.suppress_below
            out["suppressed"] = sorted(set(self.marks))
        return out

    def history(self, h: dict[str, Any]) -> dict[str, Any]:
        d = {"id": h["zone"]}
        out = {**h, "thresholds": []}
        for series, label in (("occupancy", "occupancy"), *((k, v) for k, v in _BAND.items())):
            out[series] = [
                self.count(x, "zone", d, label, t) for t, x in zip(h["t"], h[series], strict=True)
            ]
        fc = dict(h["forecast"])
        fc.pop("factor", None)
        for series, label in (("values", "forecast"), ("p10", "usual_p10"), ("p90", "usual_p90")):
            fc[series] = [
                self.count(x, "zone", d, label, t) for t, x in zip(fc["t"], fc[series], strict=True)
            ]
        out["forecast"] = fc
        return self.marked(out)


def coarsen(
    view: DashboardView, kind: str, data: dict[str, Any], numbers: Numbers | None
) -> dict[str, Any]:
    """``data`` (already filtered for ``view``) with its numbers coarsened as the view's outputs.

    Only for a view with :attr:`DashboardView.coarsens_counts`. ``numbers`` None: counts
    that need the picture's samples (a view with ``time_resolution``) are withheld.
    """
    c = _Coarsener(view, numbers)
    if kind in ("zone", "line"):
        return c.item(kind, data)
    if kind == "alert":
        return {k: v for k, v in data.items() if k not in ALERT_WITHHELD}
    if kind == "log":
        return {k: v for k, v in data.items() if k not in LOG_WITHHELD}
    if kind == "history":
        return c.history(data)
    return data
