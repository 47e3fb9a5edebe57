"""The view policy stage: filter, aggregate, suppress, noise, round, levels only, delay."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from statistics import mean
from typing import Any

from hub import Event
from hub.views import FullDetail, View, ViewPolicy, noise_offset
from tests.views.helpers import (
    SITE,
    T0,
    crossing,
    density,
    devices,
    level,
    numbers,
    occupancy,
    status,
)

KEY = bytes(range(32))
HOUR = timedelta(hours=1)


def policy(key: bytes = KEY, **cfg: Any) -> ViewPolicy:
    return ViewPolicy(View(id=cfg.pop("id", "v"), **cfg), SITE, key)


def run(p: ViewPolicy, events: Iterable[Event], until: datetime) -> list[Event]:
    """Feed the events, then tick at ``until``; everything the stage sent."""
    out: list[Event] = []
    for e in events:
        out.extend(p.handle(e))
    out.extend(p.tick(until))
    return out


def hour_of_crossings(line: str, start: datetime, per_minute: Sequence[int]) -> list[Event]:
    return [crossing(line, start + timedelta(minutes=i), n) for i, n in enumerate(per_minute)]


def test_filter_by_zone_line_and_measurement() -> None:
    p = policy(zones=["beach"], measurements=["crossing", "occupancy"])
    assert p.accepts(crossing("gate-a", T0, 1))  # a line of the beach
    assert not p.accepts(crossing("gate-b", T0, 1))  # a line of the boulevard
    assert p.accepts(occupancy("beach", T0, 5))
    assert not p.accepts(occupancy("pier", T0, 5))
    assert not p.accepts(devices("beach", T0, 5))  # type not listed
    assert not p.accepts(status("beach", T0))  # sensor health not allowed
    explicit = policy(zones=["beach"], lines=["pier-entry"])
    assert explicit.accepts(crossing("pier-entry", T0, 1))  # a line granted by name
    assert not explicit.accepts(crossing("gate-a", T0, 1))
    assert not policy(zones=["beach"]).accepts(status(None, T0))  # site-wide: all zones only
    health = policy(sensor_health=True)
    assert health.accepts(status(None, T0)) and health.accepts(status("pier", T0))


def test_full_detail_passes_everything_unchanged() -> None:
    e = status(None, T0)
    assert FullDetail().handle(e) == (e,)


def test_raw_view_without_coarsening_passes_the_same_event() -> None:
    p = policy(zones=["beach"])
    e = occupancy("beach", T0, 17)
    assert p.handle(e)[0] is e  # not even copied


def test_time_aggregation_sums_crossings_per_hour_and_sends_when_the_hour_closed() -> None:
    p = policy(time_resolution="1h", grace_s=60)
    events = hour_of_crossings("gate-a", T0, [1, 2, 3] * 20)  # 120 in one hour
    sent = [out for e in events for out in p.handle(e)]
    assert sent == []  # the hour is still open
    assert p.tick(T0 + HOUR + timedelta(seconds=59)) == []  # grace for late readings
    [hourly] = p.tick(T0 + HOUR + timedelta(seconds=60))
    assert hourly.measurement.type == "crossing"
    assert (hourly.measurement.in_, hourly.measurement.out) == (120, 0)  # type: ignore[union-attr]
    assert (hourly.observed_from, hourly.observed_to) == (T0, T0 + HOUR)
    assert hourly.sequence is None
    # a late reading for the hour already sent is counted, never sent as a second value
    assert p.handle(crossing("gate-a", T0 + timedelta(minutes=30), 9)) == []
    assert p.stats.late == 1
    assert p.tick(T0 + 3 * HOUR) == []


def test_a_later_interval_of_the_same_source_closes_the_earlier_one() -> None:
    p = policy(time_resolution="15min", grace_s=600)
    p.handle(crossing("gate-a", T0, 4))
    out = p.handle(crossing("gate-a", T0 + timedelta(minutes=15), 1))
    assert [e.measurement.in_ for e in out] == [4]  # type: ignore[union-attr]


def test_event_times_close_buckets_without_a_tick() -> None:
    p = policy(time_resolution="15min", grace_s=60)
    p.handle(occupancy("beach", T0 + timedelta(minutes=3), 40))
    p.handle(occupancy("beach", T0 + timedelta(minutes=9), 44))
    later = occupancy("pier", T0 + timedelta(minutes=20), 7)  # another key, received at 12:20
    [closed] = p.handle(later)
    assert closed.zone == "beach" and closed.measurement.count == 44  # type: ignore[union-attr]
    assert closed.observed_at == T0 + timedelta(minutes=15)  # labelled with the interval end


def test_devices_take_the_largest_distinct_count_of_the_interval() -> None:
    p = policy(time_resolution="15min")
    events = [devices("beach", T0 + timedelta(minutes=5 * i), n) for i, n in enumerate((8, 11, 9))]
    [agg] = run(p, events, T0 + HOUR)
    assert agg.measurement.count == 11  # type: ignore[union-attr]


def test_suppression_reports_counts_below_k_per_interval_as_zero() -> None:
    p = policy(time_resolution="1h", suppress_below=15)
    events = hour_of_crossings("gate-a", T0, [1] * 14)  # 14 in the first hour
    events += hour_of_crossings("gate-a", T0 + HOUR, [1] * 15)  # 15 in the second
    first, second = run(p, events, T0 + 3 * HOUR)
    assert first.measurement.in_ == 0  # type: ignore[union-attr]
    assert second.measurement.in_ == 15  # type: ignore[union-attr]
    assert first.extras == {}  # "zero": no mark
    marked = policy(time_resolution="1h", suppress_below=15, suppress_as="below")
    first, second = run(marked, events, T0 + 3 * HOUR)
    assert first.extras == {"view": {"suppressed_below": 15, "fields": ["in", "out"]}}
    assert second.extras == {"view": {"suppressed_below": 15, "fields": ["out"]}}


def test_suppression_applies_to_the_aggregate_never_to_single_readings() -> None:
    # 60 readings of 1 per minute: each alone is below k, the hour is not
    p = policy(time_resolution="1h", suppress_below=15)
    [hourly] = run(p, hour_of_crossings("gate-a", T0, [1] * 60), T0 + 2 * HOUR)
    assert hourly.measurement.in_ == 60  # type: ignore[union-attr]


def test_rounding_to_a_multiple() -> None:
    p = policy(time_resolution="15min", round_to=10)
    [agg] = run(p, [crossing("gate-a", T0, 26, 24, minutes=15)], T0 + HOUR)
    assert (agg.measurement.in_, agg.measurement.out) == (30, 20)  # type: ignore[union-attr]


def noisy_hour(p: ViewPolicy, hour: int, true: int) -> int:
    start = T0 + hour * HOUR
    [out] = run(p, [crossing("gate-a", start, true, minutes=60)], start + 2 * HOUR)
    value: int = out.measurement.in_  # type: ignore[union-attr]
    return value


def test_noise_is_plus_minus_one_and_zero_gets_zero_or_plus_one() -> None:
    seen_pos, seen_zero = set(), set()
    for hour in range(60):
        seen_pos.add(noisy_hour(policy(time_resolution="1h", noise=True), hour, 10) - 10)
        seen_zero.add(noisy_hour(policy(time_resolution="1h", noise=True), hour, 0))
    assert seen_pos == {-1, 0, 1}
    assert seen_zero == {0, 1}


def test_noise_is_deterministic_per_key_place_interval_and_view() -> None:
    def series(**kw: Any) -> list[int]:
        return [
            noisy_hour(policy(time_resolution="1h", noise=True, **kw), h, 20) for h in range(40)
        ]

    assert series() == series()  # same key, view, place, intervals: same values (restart-proof)
    assert series() != series(id="other")  # another view draws other noise
    assert series() != series(key=bytes(32))  # another key too
    assert noise_offset(KEY, "a", 5) == noise_offset(KEY, "a", 5)


def test_repeated_queries_do_not_converge_to_the_true_count() -> None:
    """Ask for the same interval many times (new stage each time, like restarts or
    another sink of the view): the mean stays the one noisy value, not the truth."""
    true = 37
    off_by_one = 0
    for hour in range(30):
        answers = [
            noisy_hour(policy(time_resolution="1h", noise=True), hour, true) for _ in range(50)
        ]
        assert len(set(answers)) == 1
        if answers[0] != true:
            off_by_one += 1
            assert abs(mean(answers) - true) == 1  # no convergence, however many queries
    assert off_by_one >= 10  # about two thirds of the intervals are off


def test_coarsened_views_lose_exact_rates_and_alert_texts() -> None:
    p = policy(time_resolution="15min", noise=True)
    assert not p.accepts(density("beach", T0, 1.2))  # density x area gives the count back
    assert policy(time_resolution="15min").accepts(density("beach", T0, 1.2))


def test_vendor_extras_and_sequence_are_removed_when_coarsening() -> None:
    e = occupancy("beach", T0, 5, extras={"axis": {"adults": 4, "children": 1}}, sequence=9)
    [out] = policy(round_to=5).handle(e)
    assert out.extras == {} and out.sequence is None
    assert out.measurement.count == 5.0  # type: ignore[union-attr]
    [kept] = policy(vendor_extras=True).handle(e)
    assert kept.extras == e.extras


def test_levels_only_sends_levels_and_no_number_anywhere() -> None:
    p = policy(levels_only=True, time_resolution="15min")
    events = [
        crossing("gate-a", T0, 12, 3),
        occupancy("beach", T0 + timedelta(minutes=1), 420, sequence=4),
        devices("beach", T0, 77),
        density("beach", T0 + timedelta(minutes=2), 0.4),
        level("beach", T0 + timedelta(minutes=3), "yellow"),
        level("beach", T0 + timedelta(minutes=9), "orange"),
    ]
    out = run(p, events, T0 + HOUR)
    assert [e.measurement.type for e in out] == ["level"]
    assert out[0].measurement.level == "orange"  # type: ignore[union-attr]
    payload = json.loads(out[0].model_dump_json())
    assert numbers(payload) == ["schema_version"]  # the format's version, nothing measured


def test_delay_holds_events_until_their_time_plus_delay() -> None:
    p = policy(zones=["beach"], delay_s=900)
    e = occupancy("beach", T0, 12)  # received at T0
    assert p.handle(e) == []
    assert p.tick(T0 + timedelta(seconds=899)) == []
    assert p.pending() == 1
    assert p.tick(T0 + timedelta(seconds=900)) == [e]
    assert p.pending() == 0


def test_delay_counts_from_the_end_of_an_aggregated_interval() -> None:
    p = policy(time_resolution="15min", grace_s=0, delay_s=900)
    p.handle(crossing("gate-a", T0, 3))
    assert p.tick(T0 + timedelta(minutes=15)) == []  # closed, but held
    assert p.tick(T0 + timedelta(minutes=29, seconds=59)) == []
    [out] = p.tick(T0 + timedelta(minutes=30))
    assert out.observed_to == T0 + timedelta(minutes=15)


def test_an_incoming_event_releases_held_events_by_its_receive_time() -> None:
    p = policy(delay_s=60)
    first = occupancy("beach", T0, 1)
    assert p.handle(first) == []
    second = occupancy("beach", T0 + timedelta(seconds=61), 2)
    assert p.handle(second) == [first]


def test_the_console_shows_a_level() -> None:
    from hub.outputs.console import describe

    assert "level=orange" in describe(level("beach", T0))


def test_aggregates_keep_field_types_and_absent_values() -> None:
    from hub import Devices, Event

    with_split = devices("beach", T0, 8)
    without = Event.model_validate(
        with_split.model_dump()
        | {
            "measurement": Devices(count=9),
            "event_id": "0" * 32,
            "observed_from": T0 + timedelta(minutes=5),
            "observed_to": T0 + timedelta(minutes=10),
        }
    )
    [agg] = run(policy(time_resolution="15min"), [with_split, without], T0 + HOUR)
    payload = json.loads(agg.model_dump_json())["measurement"]
    assert payload == {"type": "devices", "count": 9, "wifi": 8, "ble": 0, "unit": "device"}
    only_none = Event.model_validate(
        without.model_dump() | {"observed_from": T0, "observed_to": T0 + timedelta(minutes=5)}
    )
    [agg] = run(policy(time_resolution="15min"), [only_none], T0 + HOUR)
    assert agg.measurement.wifi is None  # type: ignore[union-attr]


def test_a_history_answer_equals_the_live_stream_within_the_window() -> None:
    view = dict(time_resolution="1h", noise=True, suppress_below=3, history_days=1)
    stored = [crossing("gate-a", T0 + timedelta(minutes=10 * i), i % 5) for i in range(6 * 30)]
    now = T0 + 31 * HOUR
    live = run(policy(**view), stored, now)
    answer = policy(**view).answer(stored, now)
    assert len(live) == 30 and answer == live[-24:]  # the same values, one day back
    assert all(e.time >= now - timedelta(days=1) for e in answer)


def test_tokens_open_their_view_only() -> None:
    from hub.views import view_for_token

    a, b = View(id="a", token="token-a"), View(id="b")
    assert view_for_token([a, b], "token-a") is a
    assert view_for_token([a, b], "token-b") is None
    assert view_for_token([a, b], "") is None  # a view without a token opens for nobody


def test_levels_only_projects_zone_states_and_line_flows_and_drops_alerts() -> None:
    from tests.views.helpers import alert, line_flow, zone_state

    p = policy(levels_only=True, time_resolution="15min")
    events = [
        zone_state("beach", T0 + timedelta(minutes=2), 900, "yellow"),
        zone_state("beach", T0 + timedelta(minutes=8), 2400, "orange"),
        line_flow("gate-a", T0 + timedelta(minutes=3), 60),
        alert("beach", T0 + timedelta(minutes=4)),
    ]
    out = sorted(run(p, events, T0 + HOUR), key=lambda e: e.measurement.of)  # type: ignore[union-attr]
    assert [e.measurement.model_dump() for e in out] == [
        {"type": "level", "of": "line_flow", "level": "green", "colour": "#2e7d32", "fresh": True},
        {
            "type": "level",
            "of": "zone_state",
            "level": "orange",
            "colour": "#ffd700",
            "fresh": True,
        },
    ]
    for e in out:
        assert numbers(json.loads(e.model_dump_json())) == ["schema_version"]


def test_a_coarsening_view_gets_zone_states_without_exact_rates_or_sensor_names() -> None:
    from tests.views.helpers import alert, line_flow, zone_state

    p = policy(time_resolution="15min", noise=True, suppress_below=5)
    events = [
        zone_state("beach", T0 + timedelta(minutes=2), 2400.4),
        line_flow("gate-a", T0 + timedelta(minutes=3), 60),
        alert("beach", T0 + timedelta(minutes=4)),
    ]
    assert not p.accepts(events[1])  # its rates per metre are required: counts come as crossings
    warn, state = sorted(run(p, events, T0 + HOUR), key=lambda e: e.measurement.type)
    m: Any = state.measurement
    assert abs(m.occupancy - 2400) <= 1 and m.occupancy == int(m.occupancy)
    assert (m.density, m.capacity_use, m.net_inflow_per_min, m.time_to_capacity_min) == (None,) * 4
    assert m.problems == () and m.level == "yellow" and m.usual_p50 in (49, 50, 51)
    a: Any = warn.measurement
    assert (a.value, a.threshold, a.summary) == (None, None, "")
    assert a.state == "firing" and a.severity == "orange"


def test_sensor_names_in_zone_problems_need_sensor_health() -> None:
    from tests.views.helpers import zone_state

    e = zone_state("beach", T0, 100)
    [out] = policy().handle(e)
    assert out.measurement.problems == ()  # type: ignore[union-attr]
    [kept] = policy(sensor_health=True).handle(e)
    assert kept is e
