"""/metrics: Prometheus conventions (no label whose value changes), read from a status snapshot."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from hub.core.metrics import SINK_DROP_REASONS, SOURCE_STATES, render_metrics


def snapshot(source_state: str, sink_state: str, dropped: dict[str, int]) -> dict[str, Any]:
    return {
        "sources": {
            "gate-a": {
                "kind": "lidar",
                "state": source_state,
                "events_in": 12,
                "malformed": 1,
                "errors": 2,
                "dead_letters": 0,
                "last_event_age_s": 0.5,
                "detail": {"ignored": 3},
            }
        },
        "sinks": {
            "hook": {
                "kind": "http",
                "state": sink_state,
                "events_out": 10,
                "errors": 1,
                "queued": 4,
                "queue_size": 100,
                "durable": False,
                "dropped": dropped,
            }
        },
        "transports": {"mqtt[default]": {"reconnects": 1}},
        "dead_letters": {},
    }


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_a_state_change_changes_values_never_the_set_of_series() -> None:
    running = samples(render_metrics(lambda: snapshot("running", "running", {})))
    retrying = samples(render_metrics(lambda: snapshot("retrying", "retrying", {"overflow": 7})))
    assert running.keys() == retrying.keys()
    src = (("kind", "lidar"), ("source", "gate-a"))
    assert running[("crowdhub_source_up", src)] == 1
    assert retrying[("crowdhub_source_up", src)] == 0
    for state in SOURCE_STATES:
        key = ("crowdhub_source_state", tuple(sorted((*src, ("state", state)))))
        assert retrying[key] == (1 if state == "retrying" else 0)
    sink = (("kind", "http"), ("sink", "hook"))
    assert retrying[("crowdhub_sink_up", sink)] == 0
    assert retrying[("crowdhub_sink_state", tuple(sorted((*sink, ("state", "retrying")))))] == 1
    for reason in SINK_DROP_REASONS:
        key = ("crowdhub_sink_dropped_total", tuple(sorted((*sink, ("reason", reason)))))
        assert running[key] == 0
    overflow = ("crowdhub_sink_dropped_total", tuple(sorted((*sink, ("reason", "overflow")))))
    assert retrying[overflow] == 7
    assert running[("crowdhub_sink_queue_capacity", sink)] == 100
    assert running[("crowdhub_sink_queue_durable", sink)] == 0
    assert running[("crowdhub_source_events_total", src)] == 12


def test_an_unknown_state_is_shown_not_hidden() -> None:
    got = samples(render_metrics(lambda: snapshot("paused", "running", {})))
    key = ("crowdhub_source_state", (("kind", "lidar"), ("source", "gate-a"), ("state", "paused")))
    assert got[key] == 1


def test_metrics_does_not_import_the_runtime() -> None:
    code = "import sys, hub.core.metrics; print('hub.core.runtime' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
