"""What a view may do to each measurement type: one table, one row per type.

The policy (:mod:`hub.views.policy`) never names a measurement type in its code;
it reads this table. A new measurement type becomes visible to views by adding
one :class:`MeasurementRule` here (a type without a row is dropped by every
restricted view, so forgetting the row cannot leak).

Every numeric field of a measurement is one of:

``count``
    People or devices counted: coarsened (noise, suppression, rounding) and
    removed by ``levels_only``. Crossing ``in``/``out``, device counts,
    occupancy, a zone state's occupancy and its normal band, a line flow's
    ``in``/``out``.
``rate``
    A value derived from counts that gives the count back (density x area =
    occupancy; flow per metre x width x window = crossings). A view that
    coarsens counts does not get it: an optional rate is set to ``None``, and a
    measurement whose rate is required (``density``, ``line_flow``) is dropped
    (the view still gets the counts behind it, coarsened).
``meta``
    Not about people (a window length, a level's ordinal, battery voltage):
    passed as is, but removed by ``levels_only`` when the field is optional.

Besides numbers: ``health`` fields (sensor ids in data-quality problems) are
cleared unless the view may see sensor health, and ``text`` fields that may
quote a number (an alert summary) are cleared when the view coarsens counts.

Aggregation to the view's time resolution (per source x zone x line x bucket):
``sum`` adds the count fields of interval measurements (crossings), ``max``
takes the largest (distinct devices: two 5-minute distinct counts cannot be
added), ``last`` keeps the last reading of the bucket (states and gauges).
"""

from __future__ import annotations

__all__ = ["RULES", "FieldRule", "MeasurementRule", "rule_for"]

from dataclasses import dataclass, field
from typing import Literal

FieldKind = Literal["count", "rate", "meta", "health", "text"]
Combine = Literal["sum", "max", "last"]


@dataclass(frozen=True, slots=True)
class FieldRule:
    """One field of a measurement model, by attribute name."""

    name: str
    kind: FieldKind
    required: bool = False
    """A required field cannot be set to None: a view that must remove it drops the event."""


@dataclass(frozen=True, slots=True)
class MeasurementRule:
    """How views treat one measurement type."""

    type: str
    combine: Combine
    fields: tuple[FieldRule, ...] = ()
    health: bool = False
    """Sensor health (device status): visible only to views with ``sensor_health = true``."""
    level: str | None = None
    """Attribute holding the level name: a ``levels_only`` view projects onto ``Level``."""
    colour: str | None = None
    fresh: str | None = None
    levels_only_as_is: bool = False
    """Already carries no number (``level``): passes a ``levels_only`` view unchanged."""
    _by_kind: dict[str, tuple[FieldRule, ...]] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        kinds = ("count", "rate", "meta", "health", "text")
        by_kind = {k: tuple(f for f in self.fields if f.kind == k) for k in kinds}
        object.__setattr__(self, "_by_kind", by_kind)

    def of_kind(self, kind: FieldKind) -> tuple[FieldRule, ...]:
        """The fields of one kind, in table order (precomputed: used per event)."""
        return self._by_kind[kind]


def _f(name: str, kind: FieldKind, required: bool = False) -> FieldRule:
    return FieldRule(name, kind, required)


RULES: dict[str, MeasurementRule] = {
    r.type: r
    for r in (
        MeasurementRule("crossing", "sum", (_f("in_", "count", True), _f("out", "count", True))),
        MeasurementRule(
            "devices",
            "max",
            (_f("count", "count", True), _f("wifi", "count"), _f("ble", "count")),
        ),
        MeasurementRule("occupancy", "last", (_f("count", "count", True),)),
        MeasurementRule("density", "last", (_f("value", "rate", True),)),
        MeasurementRule(
            "status",
            "last",
            (
                _f("battery_mv", "meta"),
                _f("uptime_s", "meta"),
                _f("temperature_c", "meta"),
                _f("free_memory_bytes", "meta"),
                _f("restarts", "meta"),
                _f("reset_reason", "meta"),
            ),
            health=True,
        ),
        MeasurementRule("level", "last", levels_only_as_is=True),
        # Derived by the zone model (hub.zones); the rows apply as soon as the types exist.
        MeasurementRule(
            "zone_state",
            "last",
            (
                _f("occupancy", "count"),
                _f("usual_p10", "count"),
                _f("usual_p50", "count"),
                _f("usual_p90", "count"),
                _f("density", "rate"),
                _f("capacity_use", "rate"),
                _f("net_inflow_per_min", "rate"),
                _f("time_to_capacity_min", "rate"),
                _f("next_level_in_min", "rate"),
                _f("age_s", "meta"),
                _f("level_index", "meta", True),
                _f("usual_weeks", "meta", True),
                _f("problems", "health"),
            ),
            level="level",
            colour="colour",
            fresh="fresh",
        ),
        MeasurementRule(
            "line_flow",
            "last",
            (
                _f("in_", "count", True),
                _f("out", "count", True),
                _f("in_per_m_min", "rate", True),
                _f("out_per_m_min", "rate", True),
                _f("window_s", "meta", True),
                _f("level_index", "meta", True),
            ),
            level="level",
            colour="colour",
            fresh="fresh",
        ),
        MeasurementRule(
            "alert",
            "last",
            (
                _f("value", "rate"),
                _f("threshold", "rate"),
                _f("severity_rank", "meta", True),
                _f("summary", "text"),
            ),
        ),
    )
}
"""Every measurement type a view can pass, by ``measurement.type``."""


def rule_for(measurement_type: str) -> MeasurementRule | None:
    """The row for a type, or None (then no restricted view passes it)."""
    return RULES.get(measurement_type)
