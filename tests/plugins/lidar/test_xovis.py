"""Xovis push parsing (sans-io) on the sample and derived variants."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from hub.errors import MalformedInput
from hub.plugins.lidar.xovis import (
    LivePackage,
    LogicsPackage,
    count_objects,
    parse_push,
    parse_time,
)

from .helpers import FIXTURES

T1 = "2024-04-27T10:14:00Z"


def _load(name: str) -> object:
    return json.loads((FIXTURES / name).read_text())


def test_sample_logics_push() -> None:
    pkg = parse_push(_load("xovis_push_logics.json"))
    assert isinstance(pkg, LogicsPackage)
    assert (pkg.version, pkg.package_id, pkg.agent_id) == ("5.0", 1090, 1001)
    line, zone = pkg.logics
    assert (line.id, line.geometry, zone.id, zone.geometry) == (1008, "LINE", 1009, "ZONE")
    (rec,) = line.records
    assert rec.start == datetime(2024, 4, 27, 10, 14, tzinfo=UTC)
    assert rec.end == datetime(2024, 4, 27, 10, 15, tzinfo=UTC)
    assert rec.counter("fw", 1008) == 37 and rec.counter("BW", 1008) == 12
    assert zone.records[0].counter("balance", 1009) == 143
    assert rec.complete
    # the serial number is not kept anywhere in the parsed package
    assert "00:6E" not in repr(pkg)


def test_epoch_ms_and_string_numbers_variant() -> None:
    pkg = parse_push(_load("xovis_push_logics_ms.json"))
    assert isinstance(pkg, LogicsPackage)
    rec = pkg.logics[0].records[0]
    assert rec.start == datetime(2024, 4, 27, 10, 14, tzinfo=UTC)
    assert rec.counter("fw", 1008) == 37
    assert not rec.complete  # 45 of 60 samples


def test_counter_found_by_id_when_renamed() -> None:
    doc = _load("xovis_push_logics.json")
    counts = doc["logics_data"]["logics"][0]["records"][0]["counts"]  # type: ignore[index]
    counts[0]["name"], counts[1]["name"] = "Eingang", "Ausgang"
    pkg = parse_push(doc)
    assert isinstance(pkg, LogicsPackage)
    rec = pkg.logics[0].records[0]
    assert rec.counter("fw", 1008, 1) == 37 and rec.counter("bw", 1008, 2) == 12
    assert rec.counter("fw", 1008) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-04-27T12:14:00+02:00", datetime(2024, 4, 27, 10, 14, tzinfo=UTC)),
        ("2024-04-27T10:14:00.500Z", datetime(2024, 4, 27, 10, 14, 0, 500000, tzinfo=UTC)),
        ("2024-04-27T10:14:00", datetime(2024, 4, 27, 10, 14, tzinfo=UTC)),
        (1714212840000, datetime(2024, 4, 27, 10, 14, tzinfo=UTC)),
        ("1714212840000", datetime(2024, 4, 27, 10, 14, tzinfo=UTC)),
        (1714212840, datetime(2024, 4, 27, 10, 14, tzinfo=UTC)),
    ],
)
def test_times(value: object, expected: datetime) -> None:
    assert parse_time(value, "time") == expected


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ([], "body"),
        ({"something": 1}, "body"),
        ({"logics_data": {"package_info": {"id": 1}}}, "logics_data.logics"),
        ({"logics_data": {"logics": [{"id": "x"}]}}, "logics_data.logics[0].id"),
        (
            {"logics_data": {"logics": [{"id": 1, "records": [{"from": "yesterday", "to": 0}]}]}},
            "logics_data.logics[0].records[0].from",
        ),
        (
            {
                "logics_data": {
                    "logics": [
                        {
                            "id": 1,
                            "records": [{"from": T1, "to": T1, "counts": [{"name": "fw"}]}],
                        }
                    ]
                }
            },
            "counts[0].value",
        ),
    ],
)
def test_malformed_pushes_name_the_field(doc: object, where: str) -> None:
    with pytest.raises(MalformedInput, match="xovis push") as err:
        parse_push(doc)
    assert where in str(err.value)


def test_live_push_keeps_no_track_ids() -> None:
    pkg = parse_push(_load("xovis_push_live.json"))
    assert isinstance(pkg, LivePackage)
    (frame,) = pkg.frames
    assert len(frame.objects) == 4
    assert "48211" not in repr(pkg)
    square = ((-100.0, 0.0), (100.0, 0.0), (100.0, 200.0), (-100.0, 200.0))
    assert count_objects(frame, square, ("PERSON",)) == 2
    assert count_objects(frame, (), ("PERSON",)) == 3
    assert count_objects(frame, (), ()) == 4
