"""State survives a restart (snapshot) and a config change (levels kept by name)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from hub import Line, Site, Zone
from hub.zones import AlertRule, Level, LevelSet, ZoneModel, ZonesConfig
from hub.zones.config import BUILTIN_LEVEL_SETS
from tests.zones.harness import Harness

SITE = Site(
    zones=(Zone(id="plaza", area_m2=1000, capacity=3000),),
    lines=(Line(id="gate", zone="plaza", width_m=5),),
)
RULES = (AlertRule(id="orange", kind="level", level="orange", hold_s=60),)


def busy_harness() -> Harness:
    h = Harness(SITE, ZonesConfig(rules=RULES))
    for _ in range(10):
        h.clock.advance(60)
        h.crossing("gate", 150, 20)
        h.tick()
    return h


def restart(h: Harness, config: ZonesConfig, minutes: float = 2) -> Harness:
    data = json.loads(json.dumps(h.model.to_dict()))  # what the driver writes and reads back
    model = ZoneModel.from_dict(SITE, config, data)
    h2 = Harness(SITE, model=model, start=h.now + timedelta(minutes=minutes))
    return h2


def test_a_restart_keeps_occupancy_level_and_alerts() -> None:
    h = busy_harness()
    v = h.zone("plaza")
    assert (v.occupancy, v.level) == (1300, "orange")
    (a,) = h.model.open_alerts()
    h.model.acknowledge(a.alert_id, by="op", note="", now=h.now)
    h.tick()
    h2 = restart(h, ZonesConfig(rules=RULES))
    h2.crossing("gate", 10, 0)
    h2.tick()
    v2 = h2.zone("plaza")
    assert (v2.occupancy, v2.level, v2.method) == (1310, "orange", "flow")
    (a2,) = h2.model.open_alerts()
    assert (a2.alert_id, a2.state, a2.acked_by) == (a.alert_id, "acknowledged", "op")
    assert not h2.of("alert")  # nothing re-notified after the restart
    # the log numbering continues
    h2.model.log_measure("plaza", "stewards at the gate", by="op", now=h2.now)
    assert h2.model.alerts.log.records[-1]["seq"] == h.model.alerts.log.seq + 1


def test_new_thresholds_do_not_reset_the_level() -> None:
    h = busy_harness()
    # the site edits the moving levels: orange now from 1.2 p/m², with 60 s pending
    levels = list(BUILTIN_LEVEL_SETS["moving"].levels)
    levels[2] = Level(name="orange", colour="orange", enter=1.2, exit=1.0)
    conf = ZonesConfig(
        rules=RULES, level_sets={"moving": LevelSet(levels=tuple(levels), pending_s=60)}
    )
    h2 = restart(h, conf)
    h2.crossing("gate", 0, 0)
    h2.tick()
    # 1.3 p/m² is still orange under the new thresholds; the level was never reset to green
    assert h2.zone("plaza").level == "orange"
    (state,) = h2.of("zone_state")
    assert state.measurement.level == "orange"


def test_a_zone_removed_from_the_config_is_dropped_and_its_alerts_close() -> None:
    h = busy_harness()
    site = Site(zones=(Zone(id="other", area_m2=10),))
    data = json.loads(json.dumps(h.model.to_dict()))
    model = ZoneModel.from_dict(site, ZonesConfig(rules=RULES), data)
    h2 = Harness(site, model=model, start=h.now + timedelta(minutes=1))
    h2.advance(61, step=61)
    assert h2.model.open_alerts() == [] or all(
        a.state == "resolved" for a in h2.model.open_alerts()
    )
    assert set(h2.model.zones()) == {"other"}


def test_an_unknown_snapshot_version_is_refused() -> None:
    with pytest.raises(ValueError, match="version 99"):
        ZoneModel.from_dict(SITE, None, {"version": 99})


def test_history_and_next_reset_survive() -> None:
    h = busy_harness()
    h2 = restart(h, ZonesConfig(rules=RULES))
    assert h2.model.history.bins == h.model.history.bins
    assert h2.model.next_reset == h.model.next_reset
