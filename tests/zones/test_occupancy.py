"""Occupancy by method (counted / flow / devices), fusion, re-anchoring, daily reset, staleness."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from hub import Line, QualityReason, Site, Zone
from hub.zones import ZonesConfig
from tests.zones.harness import Harness


def plaza(**zone: object) -> Site:
    return Site(
        id="site",
        zones=(Zone(id="plaza", area_m2=1000, capacity=2000, **zone),),  # type: ignore[arg-type]
        lines=(
            Line(id="gate-a", zone="plaza", width_m=4.0),
            Line(id="gate-b", zone="plaza", width_m=2.0),
        ),
    )


def test_two_gates_fuse_into_one_zone_balance() -> None:
    h = Harness(plaza())
    for _ in range(5):
        h.clock.advance(60)
        h.crossing("gate-a", 40, 10)
        h.crossing("gate-b", 25, 5)
        h.tick()
    v = h.zone("plaza")
    assert v.method == "flow"
    assert v.occupancy == 5 * (30 + 20)
    assert v.density == pytest.approx(0.25)
    assert v.capacity_use == pytest.approx(0.125)
    # net inflow over the 5-minute window: (150 + 100) / 5 min
    assert v.net_inflow_per_min == pytest.approx(50.0)
    assert v.time_to_capacity_min == pytest.approx((2000 - 250) / 50.0)
    lines = h.model.lines()
    assert (lines["gate-a"].in_count, lines["gate-a"].out_count) == (200, 50)
    # 200 in over 5 min through 4 m: 10 p/m/min
    assert lines["gate-a"].in_per_m_min == pytest.approx(10.0)
    assert lines["gate-b"].in_per_m_min == pytest.approx(125 / 5 / 2.0)
    flows = h.of("line_flow")
    assert {e.line for e in flows} == {"gate-a", "gate-b"}
    assert all(e.zone == "plaza" for e in flows)


def test_flow_balance_is_clamped_at_zero_and_says_so() -> None:
    h = Harness(plaza())
    h.clock.advance(60)
    h.crossing("gate-a", 5, 20)
    h.crossing("gate-b", 0, 0)
    h.tick()
    v = h.zone("plaza")
    assert v.occupancy == 0 and v.clamped and "flow_clamped" in v.problems
    (state,) = h.of("zone_state")
    assert QualityReason.CLAMPED in state.quality_reasons


def test_a_fresh_counted_reading_re_anchors_the_flow_balance() -> None:
    h = Harness(plaza(stale_after_s=120))
    h.clock.advance(60)
    h.crossing("gate-a", 100, 0)
    h.crossing("gate-b", 0, 0)
    h.tick()
    assert h.zone("plaza").occupancy == 100  # flow: gates drifted
    h.clock.advance(1)
    h.occupancy("plaza", 80)  # the camera sees 80
    h.tick()
    v = h.zone("plaza")
    assert (v.method, v.occupancy) == ("counted", 80)
    assert h.model._zones["plaza"].inputs.flow == 80  # the balance follows the count
    # a crossing observed before the anchor is already in the count: not added again
    h.crossing("gate-a", 7, 0, end=h.now - timedelta(seconds=30))
    # the camera goes silent; the gates carry on from the anchor
    for _ in range(3):
        h.clock.advance(60)
        h.crossing("gate-a", 10, 0)
        h.crossing("gate-b", 0, 0)
    h.tick()
    v = h.zone("plaza")
    assert v.method == "flow"
    assert v.occupancy == 80 + 30
    assert "sensor_silent:cam-1" in v.problems


def test_counted_sensors_over_parts_of_a_zone_are_summed_and_all_must_be_fresh() -> None:
    h = Harness(plaza(stale_after_s=60))
    h.occupancy("plaza", 30, source="cam-north")
    h.occupancy("plaza", 45, source="cam-south")
    h.tick()
    assert (h.zone("plaza").method, h.zone("plaza").occupancy) == ("counted", 75)
    h.clock.advance(61)
    h.occupancy("plaza", 40, source="cam-north")  # south is now stale
    h.tick()
    v = h.zone("plaza")
    assert v.method is None and v.level == "unknown"  # not half a zone: unknown
    assert v.problems == ("sensor_silent:cam-south",)


def test_same_area_sensors_combine_as_configured() -> None:
    h = Harness(plaza(counted_combine="max"))
    h.occupancy("plaza", 30, source="cam-1")
    h.occupancy("plaza", 45, source="cam-2")
    h.tick()
    assert h.zone("plaza").occupancy == 45


def test_devices_times_calibration_is_an_estimate() -> None:
    site = Site(zones=(Zone(id="square", area_m2=500, device_calibration=0.5),))
    h = Harness(site)
    h.devices("square", 300)
    (state,) = h.of("zone_state", h.tick())
    assert state.measurement.method == "devices"
    assert state.measurement.occupancy == 150
    assert state.quality == "estimated"


def test_preferred_method_is_overridable() -> None:
    h = Harness(plaza(occupancy_methods=("flow", "counted")))
    h.occupancy("plaza", 80)
    h.clock.advance(60)
    h.crossing("gate-a", 10, 0)
    h.crossing("gate-b", 2, 0)
    h.tick()
    v = h.zone("plaza")
    assert v.method == "flow" and v.occupancy == 80 + 12


def test_flow_balance_resets_at_the_configured_local_time() -> None:
    site = Site(
        timezone="Europe/Amsterdam",
        zones=(Zone(id="plaza", area_m2=1000),),
        lines=(Line(id="gate-a", zone="plaza", width_m=4.0),),
    )
    # 04:58 local (CEST, UTC+2) = 02:58 UTC
    h = Harness(
        site, ZonesConfig(reset_at=time(5, 0)), start=datetime(2026, 6, 2, 2, 58, tzinfo=UTC)
    )
    h.tick()
    h.crossing("gate-a", 120, 20)
    h.tick()
    assert h.zone("plaza").occupancy == 100
    h.advance(60)
    assert h.zone("plaza").occupancy == 100  # 04:59: not yet
    h.advance(61)
    assert h.zone("plaza").occupancy == 0  # 05:00 passed
    # a late interval observed before the reset is not added after it
    h.crossing("gate-a", 9, 0, end=datetime(2026, 6, 2, 2, 59, 30, tzinfo=UTC))
    h.crossing("gate-a", 4, 1)
    h.tick()
    assert h.zone("plaza").occupancy == 3
    resets = [r for r in h.model.alerts.log.records if r["event"] == "daily_reset"]
    assert len(resets) == 1
    # the next reset is tomorrow at 05:00 local
    assert h.model.next_reset == datetime(2026, 6, 3, 3, 0, tzinfo=UTC).timestamp()


def test_stale_inputs_make_the_zone_unknown_never_green() -> None:
    h = Harness(plaza(stale_after_s=300))
    h.occupancy("plaza", 10)  # far below yellow: green while fresh
    h.tick()
    assert (h.zone("plaza").level, h.zone("plaza").colour) == ("green", "green")
    events = h.advance(301, step=10)
    v = h.zone("plaza")
    assert (v.level, v.level_index, v.colour, v.fresh) == ("unknown", -1, "grey", False)
    assert v.occupancy is None and v.density is None
    last = h.of("zone_state", events)[-1]
    assert last.quality == "stale"
    assert (last.measurement.level, last.measurement.fresh) == ("unknown", False)
    # the change to unknown was published at once, not at the next heartbeat
    assert last.observed_at - h.now < timedelta(seconds=10)


def test_quality_reasons_from_sources_become_problems() -> None:
    h = Harness(plaza(), ZonesConfig(gap_limit_per_h=3, max_jump=500))
    h.occupancy("plaza", 10, reasons=(QualityReason.COUNTER_RESET,))
    h.occupancy("plaza", 900)  # jumps by 890 > max_jump
    for _ in range(3):
        h.crossing("gate-a", 1, 0, reasons=(QualityReason.SEQUENCE_GAP,))
    h.tick()
    assert h.zone("plaza").problems == (
        "counter_reset:cam-1",
        "implausible_jump:cam-1",
        "sequence_gaps:gate-a-counter",
    )
    h.advance(901, step=60)  # problems expire after problem_window_s
    assert not any(p.startswith("counter_reset") for p in h.zone("plaza").problems)


def test_a_source_gapping_every_reading_holds_bounded_memory() -> None:
    """Only the newest ``gap_limit_per_h`` gap times are kept: a device whose every
    reading skips sequence numbers does not grow the hub for an hour."""
    h = Harness(plaza(), ZonesConfig(gap_limit_per_h=3))
    for _ in range(500):
        h.crossing("gate-a", 1, 0, reasons=(QualityReason.SEQUENCE_GAP,))
    h.tick()
    assert "sequence_gaps:gate-a-counter" in h.zone("plaza").problems
    (slot,) = [z for z in h.model._zones.values()]
    assert len(slot.inputs.gaps["gate-a-counter"]) == 3


def test_events_for_unknown_zones_and_lines_are_counted_not_fatal() -> None:
    h = Harness(plaza())
    h.occupancy("elsewhere", 5)
    h.crossing("gate-z", 1, 0)
    assert h.model.ignored == 2


def test_net_inflow_from_counted_occupancy_when_a_zone_has_no_lines() -> None:
    site = Site(zones=(Zone(id="field", area_m2=10_000, capacity=1000),))
    h = Harness(site)
    for i in range(6):
        h.occupancy("field", 100 + 20 * i)
        h.tick()
        h.clock.advance(60)
    v = h.zone("field")
    assert v.net_inflow_per_min == pytest.approx(20.0)
    assert v.time_to_capacity_min == pytest.approx((1000 - 200) / 20.0)
