from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from hub import Crossing, Devices, Event, Occupancy, Provenance, Quality, QualityReason, Status
from hub.core.clock_check import check_clock, refuse_skew_s
from hub.events import (
    MAX_PLAUSIBLE_COUNT,
    event_id_for,
    event_json_schema,
)

PROV = Provenance(plugin="lidar", plugin_version="1.0", transport="serial")
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def crossing(**kw: object) -> Event:
    base: dict[str, object] = dict(
        source="gate-a-lidar",
        kind="lidar",
        measurement=Crossing(in_=3, out=1),
        provenance=PROV,
        line="gate-a",
        zone="boulevard",
        observed_from=T0,
        observed_to=T0 + timedelta(minutes=1),
        key=17,
    )
    base.update(kw)
    return Event.create(**base)  # type: ignore[arg-type]


def test_crossing_round_trips_through_json_with_in_and_out_keys() -> None:
    e = crossing()
    data = json.loads(e.model_dump_json())
    assert data["measurement"] == {"type": "crossing", "in": 3, "out": 1, "unit": "person"}
    assert Event.model_validate_json(e.model_dump_json()) == e


def test_event_id_is_deterministic_for_a_device_key() -> None:
    assert crossing().event_id == crossing().event_id
    assert crossing(key=18).event_id != crossing().event_id
    assert crossing(key=None).event_id != crossing(key=None).event_id
    assert event_id_for("a", "crossing", 1, "x") != event_id_for("b", "crossing", 1, "x")


def test_event_is_frozen_and_rejects_unknown_fields() -> None:
    e = crossing()
    with pytest.raises(ValidationError):
        e.source = "other"  # type: ignore[misc]
    data = json.loads(e.model_dump_json())
    data["mac"] = "x"
    with pytest.raises(ValidationError, match="Extra inputs"):
        Event.model_validate(data)


def test_timestamps_must_be_timezone_aware() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        crossing(observed_from=datetime(2026, 6, 1, 12, 0))


def test_offsets_are_kept_as_the_same_instant() -> None:
    cest = timezone(timedelta(hours=2))
    e = crossing(
        observed_from=datetime(2026, 6, 1, 14, 0, tzinfo=cest),
        observed_to=datetime(2026, 6, 1, 14, 1, tzinfo=cest),
    )
    assert e.observed_from == T0


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (dict(observed_from=None), "given together"),
        (dict(observed_to=T0 - timedelta(seconds=1)), "before observed_from"),
        (dict(observed_from=None, observed_to=None, observed_at=T0), "covers an interval"),
        (dict(line=None), "needs a line"),
        (dict(measurement=Crossing(in_=1, out=0), observed_at=T0), "not both"),
    ],
)
def test_time_and_place_rules(kw: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        crossing(**kw)


def test_negative_counts_are_rejected() -> None:
    with pytest.raises(ValidationError):
        Crossing(in_=-1, out=0)
    with pytest.raises(ValidationError):
        Occupancy(count=-2)


def test_every_measurement_kind_and_quality_reason() -> None:
    occ = Event.create(
        source="cam",
        kind="camera_aggregate",
        measurement=Occupancy(count=42),
        provenance=PROV,
        zone="boulevard",
        observed_at=T0,
        quality=Quality.ESTIMATED,
        quality_reasons=(QualityReason.DERIVED,),
    )
    dev = Event.create(
        source="pax",
        kind="wifi_counter",
        measurement=Devices(count=10, wifi=7, ble=3),
        provenance=PROV,
        zone="beach",
        observed_from=T0,
        observed_to=T0 + timedelta(minutes=1),
        quality=Quality.SUSPECT,
        quality_reasons=(QualityReason.IMPLAUSIBLE_JUMP,),
    )
    st = Event.create(
        source="pax",
        kind="wifi_counter",
        measurement=Status(battery_mv=3700, uptime_s=100),
        provenance=PROV,
        observed_at=T0,
    )
    for e in (occ, dev, st):
        assert Event.model_validate_json(e.model_dump_json()) == e
    assert dev.type == "devices"
    assert dev.time == T0 + timedelta(minutes=1)


def test_json_schema_describes_the_event() -> None:
    schema = event_json_schema()
    assert schema["title"] == "Event"
    assert set(schema["required"]) >= {
        "event_id",
        "source",
        "kind",
        "measurement",
        "received_at",
        "provenance",
    }
    mapping = schema["properties"]["measurement"]["discriminator"]["mapping"]
    assert set(mapping) == {
        "crossing",
        "occupancy",
        "devices",
        "density",
        "status",
        "level",
        "zone_state",
        "line_flow",
        "alert",
    }
    assert schema["$id"] == "urn:crowdhub:event:v2"
    assert schema["properties"]["schema_version"]["enum"] == [1, 2]
    assert schema["additionalProperties"] is False


# -- bounded values (issue 9) ------------------------------------------------------------------


@pytest.mark.parametrize(
    "measurement",
    [
        lambda: Crossing(in_=10**30, out=0),
        lambda: Crossing(in_=2**63, out=0),
        lambda: Crossing(in_=MAX_PLAUSIBLE_COUNT + 1, out=0),
        lambda: Occupancy(count=1e30),
        lambda: Occupancy(count=float("inf")),
        lambda: Occupancy(count=float("nan")),
        lambda: Devices(count=5, wifi=2**64),
        lambda: Status(uptime_s=2**64),
        lambda: Status(temperature_c=float("nan")),
    ],
)
def test_impossible_values_are_refused_by_the_schema(measurement: object) -> None:
    with pytest.raises(ValidationError):
        measurement()  # type: ignore[operator]


def test_the_largest_plausible_count_is_accepted() -> None:
    assert crossing(measurement=Crossing(in_=MAX_PLAUSIBLE_COUNT, out=0)).measurement


@pytest.mark.parametrize(
    "when",
    [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1999, 12, 31, tzinfo=UTC),
        datetime(9999, 1, 1, tzinfo=UTC),
    ],
)
def test_times_outside_2000_2099_are_refused(when: datetime) -> None:
    with pytest.raises(ValidationError, match=r"outside 2000\.\.2099"):
        crossing(observed_from=when, observed_to=when)
    with pytest.raises(ValidationError, match="received_at outside"):
        crossing(received_at=when)
    with pytest.raises(ValidationError, match="sequence"):
        crossing(sequence=2**63)


def test_clock_skew_is_flagged_then_refused() -> None:
    ok = crossing(received_at=T0 + timedelta(minutes=1, seconds=30))
    assert check_clock(ok, 300) == (ok, None)
    ahead = crossing(received_at=T0 - timedelta(minutes=10))
    flagged, note = check_clock(ahead, 300)
    assert flagged is not None and note == "observed_to is 11 min ahead of the hub clock"
    assert flagged.quality is Quality.SUSPECT
    assert flagged.quality_reasons == (QualityReason.CLOCK_SKEW,)
    assert check_clock(flagged, 300)[0] is flagged  # flagged once
    far = crossing(received_at=T0 - timedelta(days=2))
    refused, note = check_clock(far, 300)
    assert refused is None and note == "observed_to is 2 days ahead of the hub clock"
    assert refuse_skew_s(300) == 86_400 and refuse_skew_s(86_400) == 864_000
    old = crossing(received_at=T0 + timedelta(days=500))
    flagged, note = check_clock(old, 300)
    assert flagged is not None and QualityReason.CLOCK_SKEW in flagged.quality_reasons
    assert note == "observed_to is 500 days behind the hub clock"
    late = crossing(received_at=T0 + timedelta(days=3))  # a late delivery: not a clock problem
    assert check_clock(late, 300) == (late, None)
