"""Prometheus exposition of the hub's counters, rendered on scrape.

Counters live in plain attributes on the hot path (no prometheus call per
event); a custom collector reads them when ``/metrics`` is scraped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from hub.core.runtime import Hub


class HubCollector(Collector):
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def collect(self) -> Iterator[Any]:
        status = self.hub.status()
        src_in = CounterMetricFamily(
            "crowdhub_source_events", "Events emitted by a source", labels=["source", "kind"]
        )
        src_err = CounterMetricFamily(
            "crowdhub_source_errors", "Source failures (retried)", labels=["source", "kind"]
        )
        src_bad = CounterMetricFamily(
            "crowdhub_source_malformed",
            "Malformed frames/messages skipped",
            labels=["source", "kind"],
        )
        src_dl = CounterMetricFamily(
            "crowdhub_source_dead_letters",
            "Events withheld because they carried an identifier",
            labels=["source", "kind"],
        )
        src_up = GaugeMetricFamily(
            "crowdhub_source_up", "1 when the source is running", labels=["source", "kind", "state"]
        )
        src_age = GaugeMetricFamily(
            "crowdhub_source_last_event_age_seconds",
            "Seconds since the source's last event",
            labels=["source", "kind"],
        )
        for sid, s in status["sources"].items():
            lbl = [sid, s["kind"]]
            src_in.add_metric(lbl, s["events_in"])
            src_err.add_metric(lbl, s["errors"])
            src_bad.add_metric(lbl, s["malformed"])
            src_dl.add_metric(lbl, s["dead_letters"])
            src_up.add_metric([*lbl, s["state"]], 1.0 if s["state"] == "running" else 0.0)
            if s["last_event_age_s"] is not None:
                src_age.add_metric(lbl, s["last_event_age_s"])
        detail = CounterMetricFamily(
            "crowdhub_source_detail",
            "Plugin-specific source counters (ignored, duplicates...)",
            labels=["source", "kind", "counter"],
        )
        for sid, s in status["sources"].items():
            for name, value in s.get("detail", {}).items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    detail.add_metric([sid, s["kind"], name], value)
        yield from (src_in, src_err, src_bad, src_dl, src_up, src_age, detail)

        out = CounterMetricFamily(
            "crowdhub_sink_events", "Events delivered to an output", labels=["sink", "kind"]
        )
        err = CounterMetricFamily(
            "crowdhub_sink_errors", "Failed writes (retried)", labels=["sink", "kind"]
        )
        drop = CounterMetricFamily(
            "crowdhub_sink_dropped", "Events dropped, by reason", labels=["sink", "kind", "reason"]
        )
        depth = GaugeMetricFamily(
            "crowdhub_sink_queue_depth", "Events waiting for an output", labels=["sink", "kind"]
        )
        for sid, s in status["sinks"].items():
            lbl = [sid, s["kind"]]
            out.add_metric(lbl, s["events_out"])
            err.add_metric(lbl, s["errors"])
            depth.add_metric(lbl, s["queued"])
            for reason, n in s["dropped"].items():
                drop.add_metric([*lbl, reason], n)
        yield from (out, err, drop, depth)

        dl = CounterMetricFamily(
            "crowdhub_dead_letters",
            "Dead-lettered events by identifier type",
            labels=["identifier"],
        )
        for kind, n in status["dead_letters"].items():
            dl.add_metric([kind], n)
        yield dl

        rec = CounterMetricFamily(
            "crowdhub_transport_reconnects", "Transport reconnections", labels=["transport"]
        )
        for name, health in status["transports"].items():
            if "reconnects" in health:
                rec.add_metric([name], health["reconnects"])
        yield rec


def render_metrics(hub: Hub) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector(hub))
    return generate_latest(registry)
