"""Meraki Scanning API v2/v3 bodies: distinct devices per zone, nothing identifying kept."""

from __future__ import annotations

import pytest

from hub.errors import MalformedInput
from hub.plugins.wifi_counter.meraki import (
    IntervalCounts,
    MerakiCounter,
    ZoneMapper,
    normalise_mac,
    secret_matches,
)
from hub.privacy import RotatingHasher

from .helpers import MERAKI_IDENTIFIERS, load_json


def _counter(**mapping: object) -> MerakiCounter:
    return MerakiCounter(ZoneMapper(**mapping))  # type: ignore[arg-type]


def test_v2_doc_example_by_ap_mac() -> None:
    counter = _counter(ap_zones={"00:18:0A:13:DD:B0": "boulevard"})
    result = counter.add(load_json("meraki_v2_devicesseen.json"))
    assert (result.radio, result.counted, result.unmapped, result.invalid) == ("wifi", 2, 0, 0)
    assert counter.close() == [IntervalCounts("boulevard", wifi=2, ble=0)]


def test_v2_ble_counts_distinct_macs_whatever_their_spelling() -> None:
    counter = _counter(tag_zones={"Entrance": "gate"})
    counter.add(load_json("meraki_v2_ble.json"))
    counter.add(load_json("meraki_v2_ble.json"))  # the same devices again in the interval
    assert counter.close() == [IntervalCounts("gate", wifi=0, ble=2)]


def test_v2_mapping_by_floor_and_default() -> None:
    floor = _counter(floor_zones={"ground floor": "hall"})
    floor.add(load_json("meraki_v2_ble.json"))
    assert floor.close()[0].zone == "hall"
    fallback = _counter(default_zone="site-wide")
    fallback.add(load_json("meraki_v2_devicesseen.json"))
    assert fallback.close() == [IntervalCounts("site-wide", 2, 0)]


def test_v3_nearest_ap_strongest_rssi_and_tags() -> None:
    counter = _counter(
        ap_zones={"0c8ddb6e4012": "beach", "0c-8d-db-6e-40-2a": "boulevard"},
    )
    result = counter.add(load_json("meraki_v3_wifi.json"))
    assert result.counted == 3
    # client 1: strongest rssiRecord is ...:2a; clients 2 and 3: ...:12 (rssi / latestRecord)
    assert counter.close() == [IntervalCounts("beach", 2, 0), IntervalCounts("boulevard", 1, 0)]
    by_tag = _counter(tag_zones={"beach": "beach", "boulevard": "boulevard"})
    r = by_tag.add(load_json("meraki_v3_wifi.json"))
    assert r.unmapped == 1  # the latestRecord-only client has no tags and no default zone
    assert by_tag.close() == [IntervalCounts("beach", 1, 0), IntervalCounts("boulevard", 1, 0)]


def test_unmapped_and_invalid_observations_are_counted_not_raised() -> None:
    counter = _counter(ap_zones={"aa:bb:cc:dd:ee:ff": "elsewhere"})
    body = load_json("meraki_v2_devicesseen.json")
    body["data"]["observations"].append({"clientMac": "not-a-mac"})
    body["data"]["observations"].append("junk")
    result = counter.add(body)
    assert (result.counted, result.unmapped, result.invalid) == (0, 2, 2)
    assert counter.close(["elsewhere"]) == [IntervalCounts("elsewhere", 0, 0)]


@pytest.mark.parametrize(
    ("patch", "match"),
    [
        ({"version": "1.0"}, "version"),
        ({"type": "DevicesGone"}, "type"),
        ({"data": None}, "data"),
        ({"data": {"observations": {}}}, "observations"),
    ],
)
def test_malformed_bodies(patch: dict[str, object], match: str) -> None:
    body = load_json("meraki_v2_devicesseen.json") | patch
    with pytest.raises(MalformedInput, match=match) as err:
        _counter(default_zone="z").add(body)
    assert not any(i in str(err.value) for i in MERAKI_IDENTIFIERS)


def test_close_forgets_digests_and_rotates_the_key() -> None:
    hasher = RotatingHasher()
    counter = MerakiCounter(ZoneMapper(default_zone="z"), hasher)
    before = hasher.digest("18:fe:34:fc:5a:7f")
    counter.add(load_json("meraki_v2_devicesseen.json"))
    assert counter.close() == [IntervalCounts("z", 2, 0)]
    assert hasher.digest("18:fe:34:fc:5a:7f") != before  # not linkable across intervals
    assert counter.close() == []  # nothing carried over
    counter.add(load_json("meraki_v2_devicesseen.json"))
    assert counter.close() == [IntervalCounts("z", 2, 0)]


def test_no_raw_identifier_is_held_in_memory() -> None:
    counter = _counter(ap_zones={"00:18:0a:13:dd:b0": "boulevard"})
    counter.add(load_json("meraki_v2_devicesseen.json"))
    counter.add(load_json("meraki_v3_wifi.json"))
    state = repr(vars(counter)) + repr(counter._seen)
    for ident in MERAKI_IDENTIFIERS:
        assert ident.lower() not in state.lower()
        assert normalise_mac(ident) not in state or len(normalise_mac(ident)) < 6


def test_secret_comparison() -> None:
    assert secret_matches("supersecret", "supersecret")
    assert not secret_matches("supersecreT", "supersecret")
    assert not secret_matches(None, "supersecret")
    assert not secret_matches(12, "supersecret")
