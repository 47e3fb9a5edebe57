"""Prometheus exposition of the hub's counters, rendered on scrape.

Counters live in plain attributes on the hot path (no prometheus call per
event); a custom collector reads a status snapshot (``Hub.status()``, passed as
a callable, so this module does not know the runtime) when ``/metrics`` is
scraped.

Label conventions: a label never carries a changing value, so a series lives as
long as its instance. A state is a fixed set of 0/1 series, one per possible
state (``crowdhub_source_state{state="retrying"} 1``, every other state 0),
next to ``crowdhub_source_up`` (1 when running). Counters end in ``_total``;
drop reasons that the bus knows are always present (0 until the first drop).

Zones (when the crowd picture runs): ``crowdhub_zone_occupancy``,
``crowdhub_zone_density_per_m2``, ``crowdhub_zone_capacity_use_ratio`` (absent while
unknown), ``crowdhub_zone_level`` (the level's index, -1 unknown) with
``crowdhub_zone_level_state`` (one 0/1 series per level of the zone's set and
``unknown``), ``crowdhub_zone_stale``, ``crowdhub_line_flow_per_metre_per_minute``
and ``crowdhub_alerts_open`` per zone or line and alert state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from hub.core.bus import SINK_STATES
from hub.core.view_metrics import view_families

__all__ = [
    "ALERT_STATES",
    "SINK_DROP_REASONS",
    "SOURCE_STATES",
    "HubCollector",
    "render_metrics",
]

StatusSnapshot = Callable[[], Mapping[str, Any]]

SOURCE_STATES = ("starting", "running", "retrying", "disabled", "stopped", "failed")
"""Every state of a source supervisor (:mod:`hub.core.supervisor`)."""

SINK_DROP_REASONS = (
    "overflow",
    "rejected",
    "shutdown",
    "expired",
    "unwritten",
    "file_lost",
    "undecodable",
)
"""Why the bus gives events up: queue full, refused by the output, hub stopped (memory
queue); durable queue: held longer than ``queue_max_age_s``, could not be written (not
acknowledged upstream), its file deleted under the hub, no longer valid when read back."""


ALERT_STATES = ("pending", "firing", "acknowledged", "resolved")
"""The states of an open alert (:mod:`hub.zones.alerts`)."""


def _zones(picture: Mapping[str, Any]) -> Iterator[Any]:
    occ = GaugeMetricFamily(
        "crowdhub_zone_occupancy", "People in the zone (by the method in use)", labels=["zone"]
    )
    density = GaugeMetricFamily(
        "crowdhub_zone_density_per_m2", "People per square metre in the zone", labels=["zone"]
    )
    use = GaugeMetricFamily(
        "crowdhub_zone_capacity_use_ratio",
        "Occupancy / capacity of the zone (1 = full)",
        labels=["zone"],
    )
    level = GaugeMetricFamily(
        "crowdhub_zone_level",
        "Index of the zone's level in its level set (0 = green...); -1 while unknown (stale)",
        labels=["zone"],
    )
    level_state = GaugeMetricFamily(
        "crowdhub_zone_level_state",
        "1 for the zone's current level, 0 for every other level of its set and 'unknown'",
        labels=["zone", "level"],
    )
    stale = GaugeMetricFamily(
        "crowdhub_zone_stale",
        "1 when every input of the zone is too old (unknown)",
        labels=["zone"],
    )
    flow = GaugeMetricFamily(
        "crowdhub_line_flow_per_metre_per_minute",
        "Crossings per metre of line width per minute over the window",
        labels=["line", "zone", "direction"],
    )
    alerts = GaugeMetricFamily(
        "crowdhub_alerts_open",
        "Open alerts of a zone or line by state",
        labels=["subject", "state"],
    )
    for zid, z in picture.get("zones", {}).items():
        if z["occupancy"] is not None:
            occ.add_metric([zid], z["occupancy"])
            density.add_metric([zid], z["density"])
        if z["capacity_use"] is not None:
            use.add_metric([zid], z["capacity_use"])
        level.add_metric([zid], z["level_index"])
        _add_level_states(level_state, zid, z["level"], (*z["levels"], "unknown"))
        stale.add_metric([zid], 1.0 if z["stale"] else 0.0)
    for subject, z in (*picture.get("zones", {}).items(), *picture.get("lines", {}).items()):
        for state in ALERT_STATES:
            alerts.add_metric([subject, state], z["alerts"].get(state, 0))
    for lid, ln in picture.get("lines", {}).items():
        flow.add_metric([lid, ln["zone"], "in"], ln["in_per_m_min"])
        flow.add_metric([lid, ln["zone"], "out"], ln["out_per_m_min"])
    yield from (occ, density, use, level, level_state, stale, flow, alerts)


def _add_level_states(
    family: GaugeMetricFamily, zone: str, level: str, known: tuple[str, ...]
) -> None:
    for name in known if level in known else (*known, level):
        family.add_metric([zone, name], 1.0 if name == level else 0.0)


def _states(name: str, what: str, label: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(
        name,
        f"1 for the {what}'s current state, 0 for every other state",
        labels=[label, "kind", "state"],
    )


def _add_states(
    family: GaugeMetricFamily, lbl: list[str], state: str, known: tuple[str, ...]
) -> None:
    """One 0/1 series per known state (and the current one, should it be unknown)."""
    for s in known if state in known else (*known, state):
        family.add_metric([*lbl, s], 1.0 if s == state else 0.0)


class HubCollector(Collector):
    def __init__(self, status: StatusSnapshot) -> None:
        self.status = status

    def collect(self) -> Iterator[Any]:
        status = self.status()
        yield from self._sources(status["sources"])
        yield from self._sinks(status["sinks"])
        yield from view_families(status.get("views", {}), status.get("retention", {}))

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
        if "zones" in status:
            yield from _zones(status["zones"])

    def _sources(self, sources: Mapping[str, Any]) -> Iterator[Any]:
        labels = ["source", "kind"]
        src_in = CounterMetricFamily(
            "crowdhub_source_events", "Events emitted by a source", labels=labels
        )
        src_err = CounterMetricFamily(
            "crowdhub_source_errors", "Source failures (retried)", labels=labels
        )
        src_bad = CounterMetricFamily(
            "crowdhub_source_malformed", "Malformed frames/messages skipped", labels=labels
        )
        src_dl = CounterMetricFamily(
            "crowdhub_source_dead_letters",
            "Events withheld because they carried an identifier",
            labels=labels,
        )
        src_up = GaugeMetricFamily(
            "crowdhub_source_up", "1 when the source is running, else 0", labels=labels
        )
        src_state = _states("crowdhub_source_state", "source", "source")
        src_age = GaugeMetricFamily(
            "crowdhub_source_last_event_age_seconds",
            "Seconds since the source's last event",
            labels=labels,
        )
        detail = CounterMetricFamily(
            "crowdhub_source_detail",
            "Plugin-specific source counters (ignored, duplicates...)",
            labels=["source", "kind", "counter"],
        )
        for sid, s in sources.items():
            lbl = [sid, s["kind"]]
            src_in.add_metric(lbl, s["events_in"])
            src_err.add_metric(lbl, s["errors"])
            src_bad.add_metric(lbl, s["malformed"])
            src_dl.add_metric(lbl, s["dead_letters"])
            src_up.add_metric(lbl, 1.0 if s["state"] == "running" else 0.0)
            _add_states(src_state, lbl, s["state"], SOURCE_STATES)
            if s["last_event_age_s"] is not None:
                src_age.add_metric(lbl, s["last_event_age_s"])
            for name, value in s.get("detail", {}).items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    detail.add_metric([*lbl, name], value)
        yield from (src_in, src_err, src_bad, src_dl, src_up, src_state, src_age, detail)

    def _sinks(self, sinks: Mapping[str, Any]) -> Iterator[Any]:
        labels = ["sink", "kind"]
        out = CounterMetricFamily(
            "crowdhub_sink_events", "Events delivered to an output", labels=labels
        )
        err = CounterMetricFamily("crowdhub_sink_errors", "Failed writes (retried)", labels=labels)
        drop = CounterMetricFamily(
            "crowdhub_sink_dropped",
            "Events given up for an output, by reason (overflow: its queue was full; "
            "rejected: it refused them; shutdown: it still failed when the hub stopped; "
            "expired, unwritten, file_lost, undecodable: see the durable queue)",
            labels=[*labels, "reason"],
        )
        depth = GaugeMetricFamily(
            "crowdhub_sink_queue_depth", "Events waiting for an output", labels=labels
        )
        capacity = GaugeMetricFamily(
            "crowdhub_sink_queue_capacity",
            "Events an output's queue holds before its overflow policy applies",
            labels=labels,
        )
        durable = GaugeMetricFamily(
            "crowdhub_sink_queue_durable",
            "1 when an output's queue survives a restart of the hub",
            labels=labels,
        )
        qbytes = GaugeMetricFamily(
            "crowdhub_sink_queue_bytes",
            "Bytes of event JSON in an output's durable queue",
            labels=labels,
        )
        qdisk = GaugeMetricFamily(
            "crowdhub_sink_queue_disk_bytes",
            "Bytes an output's durable queue files take on disk (database + WAL)",
            labels=labels,
        )
        qmax = GaugeMetricFamily(
            "crowdhub_sink_queue_max_bytes",
            "Bytes on disk an output's durable queue may take before its overflow policy applies",
            labels=labels,
        )
        qage = GaugeMetricFamily(
            "crowdhub_sink_queue_oldest_age_seconds",
            "Seconds since the oldest event waiting in an output's durable queue was queued "
            "(0 when empty)",
            labels=labels,
        )
        qwritable = GaugeMetricFamily(
            "crowdhub_sink_queue_writable",
            "0 while an output's durable queue cannot write its file (full or read-only "
            "disk, file gone: see its queue_error in hub status), else 1",
            labels=labels,
        )
        up = GaugeMetricFamily(
            "crowdhub_sink_up", "1 when the output is running, else 0", labels=labels
        )
        state = _states("crowdhub_sink_state", "output", "sink")
        for sid, s in sinks.items():
            lbl = [sid, s["kind"]]
            out.add_metric(lbl, s["events_out"])
            err.add_metric(lbl, s["errors"])
            depth.add_metric(lbl, s["queued"])
            if "queue_size" in s:
                capacity.add_metric(lbl, s["queue_size"])
            if "durable" in s:
                durable.add_metric(lbl, 1.0 if s["durable"] else 0.0)
            if "queue_bytes" in s:
                qbytes.add_metric(lbl, s["queue_bytes"])
                qdisk.add_metric(lbl, s.get("queue_disk_bytes", 0))
                qmax.add_metric(lbl, s["queue_max_bytes"])
                qage.add_metric(lbl, s.get("oldest_age_s") or 0.0)
                qwritable.add_metric(lbl, 0.0 if s.get("queue_error") else 1.0)
            up.add_metric(lbl, 1.0 if s["state"] == "running" else 0.0)
            _add_states(state, lbl, s["state"], SINK_STATES)
            dropped = s["dropped"]
            for reason in (*SINK_DROP_REASONS, *sorted(set(dropped) - set(SINK_DROP_REASONS))):
                drop.add_metric([*lbl, reason], dropped.get(reason, 0))
        yield from (out, err, drop, depth, capacity, durable, qbytes, qdisk, qmax, qage, qwritable)
        yield from (up, state)


def render_metrics(status: StatusSnapshot) -> bytes:
    """The exposition text of the hub whose status snapshot ``status`` returns."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector(status))
    return generate_latest(registry)
