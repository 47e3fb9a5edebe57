"""Meraki Scanning API v2/v3 bodies: distinct devices per zone and interval of observation,
nothing identifying kept (sans-io: the hub clock is passed in)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.errors import MalformedInput
from hub.plugins.wifi_counter.meraki import (
    ClosedInterval,
    IntervalCounts,
    MerakiCounter,
    ZoneMapper,
    normalise_mac,
    observation_time,
    secret_matches,
)
from hub.privacy import RotatingHasher

from .helpers import MERAKI_IDENTIFIERS, load_json, retimed

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(seconds=30)
LATER = T0 + timedelta(hours=1)  # every interval around T0 has closed


def s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def _counter(**mapping: Any) -> MerakiCounter:
    return MerakiCounter(ZoneMapper(**mapping), interval_s=60, max_age_s=180, grace_s=60)


def _only(counter: MerakiCounter) -> list[IntervalCounts]:
    """The counts of the one interval that closes by LATER."""
    closed = counter.close_due(LATER)
    assert len(closed) == 1, closed
    return list(closed[0].counts)


def test_v2_doc_example_by_ap_mac() -> None:
    counter = _counter(ap_zones={"00:18:0A:13:DD:B0": "boulevard"})
    result = counter.add(retimed("meraki_v2_devicesseen.json", T0 + s(20)), NOW)
    assert (result.radio, result.counted, result.unmapped, result.invalid) == ("wifi", 2, 0, 0)
    assert counter.close_due(LATER) == [
        ClosedInterval(T0, T0 + s(60), (IntervalCounts("boulevard", wifi=2, ble=0),))
    ]


def test_v2_ble_counts_distinct_macs_whatever_their_spelling() -> None:
    counter = _counter(tag_zones={"Entrance": "gate"})
    counter.add(retimed("meraki_v2_ble.json", T0 + s(20)), NOW)
    counter.add(retimed("meraki_v2_ble.json", T0 + s(25)), NOW)  # the same devices again
    assert _only(counter) == [IntervalCounts("gate", wifi=0, ble=2)]


def test_v2_mapping_by_floor_and_default() -> None:
    floor = _counter(floor_zones={"ground floor": "hall"})
    floor.add(retimed("meraki_v2_ble.json", T0 + s(20)), NOW)
    assert _only(floor)[0].zone == "hall"
    fallback = _counter(default_zone="site-wide")
    fallback.add(retimed("meraki_v2_devicesseen.json", T0 + s(20)), NOW)
    assert _only(fallback) == [IntervalCounts("site-wide", 2, 0)]


def test_v3_nearest_ap_strongest_rssi_and_tags() -> None:
    counter = _counter(ap_zones={"0c8ddb6e4012": "beach", "0c-8d-db-6e-40-2a": "boulevard"})
    result = counter.add(load_json("meraki_v3_wifi.json"), NOW)  # seen 12:00:11..12:00:25
    assert result.counted == 3 and result.untimed == 0
    # client 1: strongest rssiRecord is ...:2a; clients 2 and 3: ...:12 (rssi / latestRecord)
    assert _only(counter) == [IntervalCounts("beach", 2, 0), IntervalCounts("boulevard", 1, 0)]
    by_tag = _counter(tag_zones={"beach": "beach", "boulevard": "boulevard"})
    r = by_tag.add(load_json("meraki_v3_wifi.json"), NOW)
    assert r.unmapped == 1  # the latestRecord-only client has no tags and no default zone
    assert _only(by_tag) == [IntervalCounts("beach", 1, 0), IntervalCounts("boulevard", 1, 0)]


def test_unmapped_and_invalid_observations_are_counted_not_raised() -> None:
    counter = _counter(ap_zones={"aa:bb:cc:dd:ee:ff": "elsewhere"})
    body = retimed("meraki_v2_devicesseen.json", T0 + s(20))
    body["data"]["observations"].append({"clientMac": "not-a-mac"})
    body["data"]["observations"].append("junk")
    result = counter.add(body, NOW)
    assert (result.counted, result.unmapped, result.invalid) == (0, 2, 2)
    # the access point reported: its interval has data, and it is "nobody" in the zone
    assert _only(counter) == [IntervalCounts("elsewhere", 0, 0)]


@pytest.mark.parametrize(
    ("patch", "match"),
    [
        ({"version": "1.0"}, "version"),
        ({"type": "DevicesGone"}, "type"),
        ({"data": None}, "data"),
        ({"data": {"observations": {}}}, "observations"),
    ],
)
def test_malformed_bodies_change_nothing(patch: dict[str, object], match: str) -> None:
    body = retimed("meraki_v2_devicesseen.json", T0 + s(20)) | patch
    counter = _counter(default_zone="z")
    with pytest.raises(MalformedInput, match=match) as err:
        counter.add(body, NOW)
    assert not any(i in str(err.value) for i in MERAKI_IDENTIFIERS)
    assert counter.open_intervals == [] and counter.close_due(LATER) == []


# -- time ---------------------------------------------------------------------------------


def test_observation_time_from_every_field() -> None:
    t = datetime(2026, 6, 1, 12, 0, 23, tzinfo=UTC)
    assert observation_time({"seenTime": "2026-06-01T12:00:23Z"}, "2") == t
    assert observation_time({"seenEpoch": 1780315223}, "2") == t
    # an unreadable seenTime is not needed when seenEpoch is there (and the other way)
    assert observation_time({"seenTime": "yesterday", "seenEpoch": 1780315223}, "2") == t
    assert observation_time({"seenTime": "2026-06-01T14:00:23+02:00", "seenEpoch": "x"}, "2") == t
    assert observation_time({"latestRecord": {"time": "2026-06-01T12:00:23Z"}}, "3") == t
    newest = {"locations": [{"time": "2026-06-01T11:59:00Z"}, {"time": "2026-06-01T12:00:23Z"}]}
    assert observation_time(newest, "3") == t
    assert observation_time({"clientMac": "x"}, "2") is None
    assert observation_time({"latestRecord": {"nearestApMac": "x"}}, "3") is None
    with pytest.raises(MalformedInput, match="seenEpoch") as err:
        observation_time({"seenEpoch": 99e99, "seenTime": "2026-13-45T00:00:00Z"}, "2")
    assert "99e99" not in str(err.value) and "2026-13" not in str(err.value)
    with pytest.raises(MalformedInput, match=r"latestRecord\.time"):
        observation_time({"latestRecord": {"time": True}}, "3")


def test_each_device_counts_in_the_interval_of_its_observation() -> None:
    counter = _counter(default_zone="z")
    # one POST, received at 12:01:15, holds a client seen at 12:00:50 and one at 12:01:10
    body = retimed("meraki_v2_devicesseen.json", T0 + s(50), T0 + s(70))
    result = counter.add(body, T0 + s(75))
    assert result.counted == 2
    assert counter.open_intervals == [T0, T0 + s(60)]
    assert counter.close_due(T0 + s(119)) == []  # 12:00 closes at its end + 60 s grace
    first = counter.close_due(T0 + s(120))
    assert first == [ClosedInterval(T0, T0 + s(60), (IntervalCounts("z", 1, 0),))]
    second = counter.close_due(T0 + s(180))
    assert second == [ClosedInterval(T0 + s(60), T0 + s(120), (IntervalCounts("z", 1, 0),))]


def test_stale_late_and_future_observations_are_not_counted_as_current() -> None:
    counter = _counter(default_zone="z")
    now = T0 + s(630)  # 12:10:30
    fresh = retimed("meraki_v3_wifi.json", now - s(10))
    counter.add(fresh, now)  # 3 clients in the 12:10 interval
    stale = retimed("meraki_v2_devicesseen.json", now - s(181), now - s(3600))
    late = retimed("meraki_v2_ble.json", now - s(121))  # 12:08:29: closed at 12:10:00
    future = retimed("meraki_v2_devicesseen.json", now + s(181))
    results = [counter.add(b, now) for b in (stale, late, future)]
    assert [(r.counted, r.stale, r.late, r.future) for r in results] == [
        (0, 2, 0, 0),
        (0, 0, 3, 0),
        (0, 0, 0, 2),
    ]
    # nothing was opened for them: the only interval is the fresh one
    assert counter.open_intervals == [T0 + s(600)]
    assert _only(counter) == [IntervalCounts("z", 3, 0)]
    # a POST with nothing current says nothing about now: no interval of zeros
    counter.add(stale, now + s(300))
    assert counter.open_intervals == [] and counter.close_due(LATER) == []
    # just inside the bounds: the oldest still open interval counts
    edge = counter.add(retimed("meraki_v2_ble.json", T0 + s(540)), now)  # 12:09 closes 12:11
    assert (edge.counted, edge.late) == (3, 0)
    assert counter.add(retimed("meraki_v2_ble.json", T0 + s(539)), now).late == 3
    # the age bound on its own (a grace long enough for the interval to be open)
    patient = MerakiCounter(ZoneMapper(default_zone="z"), max_age_s=180, grace_s=600)
    young = patient.add(retimed("meraki_v2_ble.json", now - s(179)), now)
    old = patient.add(retimed("meraki_v2_ble.json", now - s(181)), now)
    assert (young.counted, young.stale, old.counted, old.stale) == (3, 0, 0, 3)


def test_a_post_delivered_twice_counts_once_and_never_reopens_a_closed_interval() -> None:
    counter = _counter(default_zone="z")
    body = retimed("meraki_v2_devicesseen.json", T0 + s(40))
    first = counter.add(body, T0 + s(45))
    again = counter.add(copy.deepcopy(body), T0 + s(55))  # a retry (after a 503 or a lost 200)
    assert first.counted == again.counted == 2
    closed = counter.close_due(T0 + s(120))
    assert [c.counts for c in closed] == [(IntervalCounts("z", 2, 0),)]
    # a third delivery after the interval went out: late, its event id keeps its number
    third = counter.add(body, T0 + s(121))
    assert (third.counted, third.late) == (0, 2)
    assert counter.close_due(LATER) == []


def test_untimed_and_unreadable_times() -> None:
    counter = _counter(default_zone="z")
    body = retimed("meraki_v2_devicesseen.json", T0 + s(10))
    del body["data"]["observations"][0]["seenTime"], body["data"]["observations"][0]["seenEpoch"]
    body["data"]["observations"][1]["seenTime"] = "not a time"
    body["data"]["observations"][1]["seenEpoch"] = None
    result = counter.add(body, T0 + s(70))
    assert (result.counted, result.untimed, result.bad_time) == (1, 1, 1)
    assert counter.open_intervals == [T0 + s(60)]  # counted when it arrived


def test_closing_times() -> None:
    no_grace = MerakiCounter(ZoneMapper(default_zone="z"), interval_s=60, grace_s=0)
    assert no_grace.next_close(T0 + s(5)) == (T0 + s(60)).timestamp()
    assert no_grace.next_close(T0 + s(60)) == (T0 + s(120)).timestamp()
    grace = _counter(default_zone="z")
    assert grace.next_close(T0 + s(5)) == (T0 + s(60)).timestamp()  # closes 11:59
    assert grace.next_close(T0 + s(60)) == (T0 + s(120)).timestamp()  # closes 12:00
    long = MerakiCounter(ZoneMapper(default_zone="z"), interval_s=60, grace_s=90)
    assert long.next_close(T0) == (T0 + s(30)).timestamp()
    assert long.closes_at(T0.timestamp()) == (T0 + s(150)).timestamp()
    with pytest.raises(ValueError):
        MerakiCounter(ZoneMapper(default_zone="z"), grace_s=-1)


# -- privacy ------------------------------------------------------------------------------


def test_each_interval_has_its_own_key_dropped_when_it_closes() -> None:
    made: list[RotatingHasher] = []

    def factory() -> RotatingHasher:
        made.append(RotatingHasher())
        return made[-1]

    counter = MerakiCounter(
        ZoneMapper(default_zone="z"), interval_s=60, grace_s=60, hasher_factory=factory
    )
    body = retimed("meraki_v2_devicesseen.json", T0 + s(40), T0 + s(70))
    counter.add(body, T0 + s(75))
    assert len(made) == 2 and made[0] is not made[1]
    before = made[0].digest("18:fe:34:fc:5a:7f")
    assert made[1].digest("18:fe:34:fc:5a:7f") != before  # not linkable across intervals
    counter.close_due(T0 + s(120))
    assert made[0].digest("18:fe:34:fc:5a:7f") != before  # the closed interval's key is gone
    assert all(iv.hasher is not made[0] for iv in counter._open.values())
    counter.close_due(LATER)
    assert counter._open == {}  # nothing carried over


def test_no_raw_identifier_is_held_in_memory() -> None:
    counter = _counter(ap_zones={"00:18:0a:13:dd:b0": "boulevard"})
    counter.add(retimed("meraki_v2_devicesseen.json", T0 + s(20)), NOW)
    counter.add(load_json("meraki_v3_wifi.json"), NOW)
    state = repr(vars(counter)) + repr({k: v.seen for k, v in counter._open.items()})
    for ident in MERAKI_IDENTIFIERS:
        assert ident.lower() not in state.lower()
        assert normalise_mac(ident) not in state or len(normalise_mac(ident)) < 6


def test_secret_comparison() -> None:
    assert secret_matches("supersecret", "supersecret")
    assert not secret_matches("supersecreT", "supersecret")
    assert not secret_matches(None, "supersecret")
    assert not secret_matches(12, "supersecret")
