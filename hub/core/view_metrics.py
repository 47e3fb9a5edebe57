"""Prometheus families of the view stages and of retention (see :mod:`hub.core.metrics`).

Per view (label ``view``; ``internal`` is the full-detail stage of the sinks without a
view): events in and out, filtered (outside the view), late (for an interval already
sent), suppressed (interval counts below ``suppress_below`` reported as 0), and how
many events are held for ``delay_s`` or open in an aggregation interval right now.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

__all__ = ["view_families"]

_COUNTERS = (
    ("events_in", "crowdhub_view_events_received", "Events handed to a view's policy stage"),
    ("events_out", "crowdhub_view_events_sent", "Events a view's stage passed to its outputs"),
    ("filtered", "crowdhub_view_events_filtered", "Events outside a view (zone, line, type)"),
    ("late", "crowdhub_view_events_late", "Readings for an interval the view already sent"),
    (
        "suppressed",
        "crowdhub_view_counts_suppressed",
        "Interval counts below suppress_below reported as 0",
    ),
)
_GAUGES = (
    ("held", "crowdhub_view_events_held", "Events a view holds back for its delay_s"),
    (
        "pending",
        "crowdhub_view_pending",
        "Open aggregation intervals plus held events of a view (dropped by a stop)",
    ),
)


def view_families(views: Mapping[str, Any], retention: Mapping[str, Any]) -> Iterator[Any]:
    families: list[tuple[str, CounterMetricFamily | GaugeMetricFamily]] = [
        (key, CounterMetricFamily(name, doc, labels=["view"])) for key, name, doc in _COUNTERS
    ]
    families += [(key, GaugeMetricFamily(name, doc, labels=["view"])) for key, name, doc in _GAUGES]
    for vid, v in views.items():
        for key, family in families:
            family.add_metric([vid], v[key])
    yield from (family for _, family in families)
    pruned = CounterMetricFamily(
        "crowdhub_retention_pruned",
        "Records removed by retention, by what they were",
        labels=["what"],
    )
    pruned.add_metric(["dead_letters"], retention.get("dead_letters_pruned", 0))
    yield pruned
