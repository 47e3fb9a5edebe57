"""Decoding on the payloads Milesight documents for the VS13x (README of their decoder repo)."""

from __future__ import annotations

import json

import pytest
from crowdhub_milesight.protocol import decode_payload, parse_time, parse_ttn_uplink
from crowdhub_milesight.simulator import encode_payload, ttn_uplink_json

import hub

# Milesight's documented examples (hex payloads and the values they decode to)
TOTALS = (
    "03D248000000" "04D2C8000000" "06D200000000" "07D200000000"
    "09D200000000" "0AD200000000" "0CD2B4140000" "0DD28D1A0000"
)  # fmt: skip
PERIODS = "05CC0000000008CC000000000BCC000000000ECC05000700"
REGIONS = "0FE302100709"
DWELL = "10E4010910112110E4027521753310E4038121238910E40476001387"


def test_documented_totals() -> None:
    up = decode_payload(bytes.fromhex(TOTALS))
    assert up.total_in == {1: 72, 2: 0, 3: 0, 4: 5300}
    assert up.total_out == {1: 200, 2: 0, 3: 0, 4: 6797}


def test_documented_periods_regions_and_dwell() -> None:
    assert decode_payload(bytes.fromhex(PERIODS)).period == {
        1: (0, 0), 2: (0, 0), 3: (0, 0), 4: (5, 7)
    }  # fmt: skip
    assert decode_payload(bytes.fromhex(REGIONS)).regions == (2, 16, 7, 9)
    dwell = decode_payload(bytes.fromhex(DWELL)).dwell
    assert (dwell[1].average_s, dwell[1].maximum_s) == (4105, 8465)
    assert (dwell[4].average_s, dwell[4].maximum_s) == (118, 34579)


def test_attributes_and_serial_number_is_not_kept() -> None:
    data = bytes.fromhex("FF0A0110 FF0901 10 FF166136A12345678901 FFFEFF FF0B01".replace(" ", ""))
    up = decode_payload(data)
    assert (up.firmware, up.hardware, up.reset, up.device_status) == ("v1.10", "v1.1", True, 1)
    assert "6136" not in repr(up)


@pytest.mark.parametrize(
    ("hexdata", "message"),
    [
        ("", "empty payload"),
        ("03", "inside a record header at byte 0"),
        ("03D24800", "needs 4 data bytes, only 2 left"),
        ("05CC01000000 99 01", "unknown record channel 0x99 type 0x01 at byte 6"),
        ("03CC00000000", "unknown record channel 0x03 type 0xCC"),
        ("10E4050000 0000", "regions are 1..4"),
    ],
)
def test_bad_payloads_are_precise(hexdata: str, message: str) -> None:
    with pytest.raises(hub.MalformedInput, match=message):
        decode_payload(bytes.fromhex(hexdata.replace(" ", "")))


def test_encoder_round_trip() -> None:
    data = encode_payload(totals={2: (70000, 3)}, periods={3: (4, 5)}, regions=[1, 2, 3, 4])
    up = decode_payload(data)
    assert up.total_in == {2: 70000} and up.total_out == {2: 3}
    assert up.period == {3: (4, 5)} and up.regions == (1, 2, 3, 4)


def test_ttn_uplink() -> None:
    body = ttn_uplink_json(
        bytes.fromhex(REGIONS), f_cnt=9, received_at="2026-06-01T12:00:00.123456789Z"
    )
    up = parse_ttn_uplink(body)
    assert (up.device_id, up.f_port, up.f_cnt) == ("vs133-gate-a", 85, 9)
    assert up.received_at is not None and up.received_at.microsecond == 123456
    assert up.payload == bytes.fromhex(REGIONS)


def test_ttn_omits_zero_f_cnt_and_bad_uplinks_are_precise() -> None:
    doc = json.loads(
        ttn_uplink_json(b"\x0f\xe3\x01\x02\x03\x04", f_cnt=1, received_at="2026-06-01T12:00:00Z")
    )
    del doc["uplink_message"]["f_cnt"]
    assert parse_ttn_uplink(json.dumps(doc).encode()).f_cnt == 0
    with pytest.raises(hub.MalformedInput, match="not JSON"):
        parse_ttn_uplink(b"\xff\x00")
    with pytest.raises(hub.MalformedInput, match="no uplink_message"):
        parse_ttn_uplink(b'{"end_device_ids": {"device_id": "x"}}')
    doc["uplink_message"]["frm_payload"] = "***"
    with pytest.raises(hub.MalformedInput, match="not valid base64"):
        parse_ttn_uplink(json.dumps(doc).encode())


def test_parse_time() -> None:
    t = parse_time("2021-06-15T10:53:04.789585559Z")
    assert t is not None and t.isoformat() == "2021-06-15T10:53:04.789585+00:00"
    assert parse_time(None) is None
    with pytest.raises(hub.MalformedInput):
        parse_time("2021-06-15T10:53:04")
