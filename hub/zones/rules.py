"""Alert rules evaluated on the views of one tick: one :class:`Condition` per (rule, subject).

A stale zone gives *unknown* (``active=None``) for rules on its numbers, so an
alert neither fires nor resolves on data nobody can trust. Data-quality rules
(sensor silent, counter reset, implausible jump) are evaluated on stale zones too:
they are about the data itself.
"""

from __future__ import annotations

__all__ = ["conditions"]

from collections.abc import Iterable

from hub.zones.alerts import Condition
from hub.zones.config import AlertRule
from hub.zones.views import LineView, ZoneView


def conditions(
    rules: Iterable[AlertRule],
    zones: dict[str, ZoneView],
    lines: dict[str, LineView],
    silent_s: dict[str, float],
) -> dict[tuple[str, str], Condition]:
    """Every applicable (rule id, subject) with its condition.

    ``silent_s`` is, per zone, the longest silence of any source feeding it (seconds).
    """
    out: dict[tuple[str, str], Condition] = {}
    for rule in rules:
        if rule.kind == "level":
            targets: list[ZoneView | LineView] = [*zones.values(), *lines.values()]
        else:
            targets = list(zones.values())
        for view in targets:
            subject = view.zone if isinstance(view, ZoneView) else view.line
            if rule.subjects and subject not in rule.subjects:
                continue
            if isinstance(view, LineView) and rule.kind != "level":
                continue
            c = _condition(rule, view, subject, silent_s.get(subject, 0.0))
            if c is not None:
                out[(rule.id, subject)] = c
    return out


def _condition(
    rule: AlertRule, view: ZoneView | LineView, subject: str, silent: float
) -> Condition | None:
    kind = rule.kind
    if kind == "level":
        assert rule.level is not None
        floor = view.levels.index(rule.level)
        if floor is None:
            return None  # this subject's levels have no such level
        threshold = view.levels.levels[floor].enter
        if not view.fresh:
            return Condition(active=None, floor=floor, threshold=threshold)
        value = view.metric_value
        shown = "?" if value is None else f"{value:.2f}"
        return Condition(
            active=view.level_index >= floor,
            rank=view.level_index,
            severity=view.level,
            value=value,
            threshold=threshold,
            summary=f"{subject}: level {view.level} ({view.levels.metric} {shown})",
            floor=floor,
        )
    assert isinstance(view, ZoneView)
    if kind == "sensor_silent":
        assert rule.after_s is not None
        return Condition(
            active=silent > rule.after_s,
            severity=rule.severity,
            value=round(silent, 1),
            threshold=rule.after_s,
            summary=f"{subject}: a sensor silent for {silent / 60:.0f} min",
        )
    if kind in ("counter_reset", "implausible_jump"):
        hits = sorted(p for p in view.problems if p.startswith(kind + ":"))
        return Condition(
            active=bool(hits),
            severity=rule.severity,
            value=float(len(hits)),
            summary=f"{subject}: {kind.replace('_', ' ')} ({', '.join(hits)})" if hits else "",
        )
    if not view.fresh or view.occupancy is None:
        return Condition(active=None, severity=rule.severity)
    occ = view.occupancy
    if kind == "time_to_capacity":
        assert rule.minutes is not None
        ttc = view.time_to_capacity_min
        return Condition(
            active=ttc is not None and ttc < rule.minutes,
            severity=rule.severity,
            value=ttc,
            threshold=rule.minutes,
            summary=f"{subject}: capacity in {ttc:.0f} min" if ttc is not None else "",
        )
    assert rule.factor is not None
    band = view.band
    if band is None or band.weeks < rule.min_weeks:
        return Condition(active=False, severity=rule.severity)
    if kind == "busier_than_usual":
        limit = rule.factor * max(band.p90, 1.0)
        return Condition(
            active=occ >= limit,
            severity=rule.severity,
            value=occ,
            threshold=limit,
            summary=f"{subject}: {occ:.0f} people, usually at most {band.p90:.0f}",
        )
    limit = rule.factor * band.p10
    return Condition(
        active=band.p10 > 0 and occ <= limit,
        severity=rule.severity,
        value=occ,
        threshold=limit,
        summary=f"{subject}: {occ:.0f} people, usually at least {band.p10:.0f}",
    )
