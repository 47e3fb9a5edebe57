"""The model's output: plain Events in the one schema, published on change and at a heartbeat."""

from __future__ import annotations

import json

from hub import SCHEMA_VERSION, Event, Site, Zone
from hub.events import event_json_schema
from hub.outputs.console import describe
from hub.outputs.sqlite import row
from hub.privacy import check_event
from hub.zones import AlertRule, ZonesConfig
from tests.zones.harness import Harness

SITE = Site(id="coast", zones=(Zone(id="beach", area_m2=1000, capacity=2000),))


def test_derived_events_round_trip_and_carry_counts_only() -> None:
    conf = ZonesConfig(rules=(AlertRule(id="busy", kind="level", level="yellow"),))
    site = Site(
        id="coast",
        zones=SITE.zones,
        lines=({"id": "gate", "zone": "beach", "width_m": 3.0},),  # type: ignore[arg-type]
    )
    h = Harness(site, conf)
    h.occupancy("beach", 900)
    h.crossing("gate", 30, 3)
    h.advance(40)
    kinds = {e.measurement.type for e in h.out}
    assert kinds == {"zone_state", "line_flow", "alert"}
    for e in h.out:
        check_event(e)  # no identifiers: the hub's privacy check passes
        data = json.loads(e.model_dump_json())
        assert data["schema_version"] == SCHEMA_VERSION == 2
        assert Event.model_validate_json(e.model_dump_json()) == e
        assert (e.source, e.kind, e.site) == ("zones", "zones", "coast")
        describe(e)  # the console sink prints every kind
    state = next(e for e in h.out if e.type == "zone_state")
    assert row(state)[11:13] == (900.0, 0.9)  # sqlite: count, value
    flow = next(e for e in h.out if e.type == "line_flow")
    assert json.loads(flow.model_dump_json())["measurement"]["in"] == 30
    assert row(flow)[9:11] == (30, 3)


def test_version_1_events_still_parse() -> None:
    h = Harness(SITE)
    h.occupancy("beach", 1)
    h.tick()
    data = json.loads(h.out[0].model_dump_json())
    data["schema_version"] = 1
    assert Event.model_validate(data).schema_version == 1


def test_json_schema_lists_the_new_measurements() -> None:
    schema = event_json_schema()
    defs = schema["$defs"]
    assert {"ZoneState", "LineFlow", "Alert"} <= set(defs)
    assert "level" in defs["ZoneState"]["required"]


def test_published_on_change_and_at_the_heartbeat() -> None:
    conf = ZonesConfig(heartbeat_s=60, publish_interval_s=10, rules=())
    h = Harness(SITE, conf)
    for _ in range(121):  # same figure every second for two minutes
        h.occupancy("beach", 100)
        h.advance(1)
    states = h.of("zone_state")
    assert len(states) == 3  # first tick, then one heartbeat a minute
    h.out.clear()
    for i in range(20):  # a changing number: at most every 10 s
        h.occupancy("beach", 100 + i)
        h.advance(1)
    assert len(h.of("zone_state")) == 2
    h.out.clear()
    h.occupancy("beach", 2500)  # a level change: at once (pending 30 s, then immediately)
    h.advance(31)
    levels = [e.measurement.level for e in h.of("zone_state")]
    assert levels[-1] == "red"
    red = next(e for e in h.of("zone_state") if e.measurement.level == "red")
    assert red.observed_at == h.now
