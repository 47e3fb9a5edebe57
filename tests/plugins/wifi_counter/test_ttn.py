"""The Things Stack v3 uplinks: the verbatim doc example, the Paxcounter sample, omitted fields."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from hub.errors import MalformedInput
from hub.plugins.wifi_counter.protocol import PaxCount, PaxStatus, decode_payload
from hub.plugins.wifi_counter.ttn import decoded_reading, parse_ttn_uplink, ttn_topic

from .helpers import raw

TOPIC = "v3/crowd-demo@ttn/devices/paxcounter-01/up"


def test_paxcounter_sample() -> None:
    up = parse_ttn_uplink(raw("ttn_v3_uplink_paxcounter.json"), TOPIC)
    assert (up.device_id, up.f_port, up.f_cnt) == ("paxcounter-01", 1, 94)
    assert up.payload == bytes.fromhex("07000300")
    # uplink_message.received_at (network server), nanoseconds truncated to microseconds
    assert up.received_at == datetime(2021, 6, 15, 10, 53, 4, 789585, tzinfo=UTC)
    assert up.decoded is not None
    assert decoded_reading(up.f_port, up.decoded) == PaxCount(wifi=7, ble=3)
    assert decode_payload(up.f_port, up.payload) == PaxCount(wifi=7, ble=3)


def test_verbatim_doc_example_without_received_at_or_formatter() -> None:
    up = parse_ttn_uplink(raw("ttn_v3_uplink_mqtt_doc.json"), "v3/app1@tenant1/devices/dev1/up")
    assert (up.device_id, up.f_port, up.f_cnt) == ("dev1", 15, 0)  # f_cnt omitted: 0
    assert up.payload == b"Temperature = 0.0"
    assert up.received_at is None and up.decoded is None
    assert decode_payload(up.f_port, up.payload) is None  # not a Paxcounter port


def test_no_decoded_payload_decodes_frm_payload() -> None:
    up = parse_ttn_uplink(raw("ttn_v3_uplink_no_decoded.json"))
    assert up.decoded is None and up.f_cnt == 95
    assert decode_payload(up.f_port, up.payload) == PaxCount(wifi=12, ble=5)
    assert up.received_at == datetime(2021, 6, 15, 10, 54, 4, 901234, tzinfo=UTC)


def test_omitted_f_port_means_mac_only_frame() -> None:
    up = parse_ttn_uplink(raw("ttn_v3_uplink_no_fport.json"))
    assert (up.f_port, up.payload, up.f_cnt) == (0, b"", 96)


def test_minimal_uplink() -> None:
    up = parse_ttn_uplink(raw("ttn_v3_uplink_minimal_fcnt0.json"))
    assert (up.device_id, up.f_port, up.f_cnt, up.received_at) == ("paxcounter-02", 1, 0, None)
    assert decode_payload(1, up.payload) == PaxCount(wifi=0)


def test_device_id_from_topic_when_ids_are_missing() -> None:
    body = json.dumps({"uplink_message": {"f_port": 1, "f_cnt": 3, "frm_payload": "BwA="}})
    up = parse_ttn_uplink(body, "v3/app@ttn/devices/pax-7/up")
    assert up.device_id == "pax-7" and up.f_cnt == 3


def test_status_uplink() -> None:
    up = parse_ttn_uplink(raw("ttn_v3_uplink_status.json"))
    status = decode_payload(up.f_port, up.payload)
    assert isinstance(status, PaxStatus) and status.voltage_mv == 303


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"end_device_ids": {}}', "uplink_message"),
        (b'{"uplink_message": {"f_port": 1, "frm_payload": "!!"}}', "frm_payload"),
        (b'{"uplink_message": {"f_port": "one"}}', "f_port"),
        (b'{"uplink_message": {"f_cnt": -1}}', "f_cnt"),
        (b'{"uplink_message": {"received_at": "yesterday"}}', "received_at"),
    ],
)
def test_malformed_uplinks_name_the_field(body: bytes, match: str) -> None:
    with pytest.raises(MalformedInput, match=match):
        parse_ttn_uplink(body)


def test_decoded_reading_variants() -> None:
    assert decoded_reading(1, {"pax": 12}) == PaxCount(wifi=12, split_known=False)
    assert decoded_reading(1, {"wifi": "9", "ble": 2}) == PaxCount(wifi=9, ble=2)
    assert decoded_reading(1, {"temperature": 21.5}) is None
    assert decoded_reading(2, {"voltage": 303}) is None  # incomplete status
    status = decoded_reading(
        2, {"voltage": 4100, "uptime": 60, "cputemp": 40, "memory": 1000, "restarts": 2}
    )
    assert isinstance(status, PaxStatus) and status.restarts == 2


def test_topic_builder() -> None:
    assert ttn_topic("crowd-demo") == "v3/crowd-demo@ttn/devices/+/up"
    assert ttn_topic("app", None, "dev") == "v3/app/devices/dev/up"


def test_decoded_payload_with_nan_or_huge_counts_is_not_a_reading() -> None:
    from hub.plugins.wifi_counter.ttn import decoded_reading

    assert decoded_reading(1, {"wifi": float("nan")}) is None
    assert decoded_reading(1, {"wifi": 1e30, "ble": None}) is None
    assert decoded_reading(1, {"wifi": float("inf")}) is None
    assert decoded_reading(1, {"wifi": 10**400}) is None
    assert decoded_reading(1, {"wifi": 3, "ble": 2}) is not None
