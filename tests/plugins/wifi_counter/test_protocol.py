"""Paxcounter wire formats on recorded (VERBATIM) and derived bytes: payloads, MQTT, SPI, CSV."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest

from hub.errors import MalformedInput
from hub.plugins.wifi_counter.protocol import (
    GpsFix,
    PaxBattery,
    PaxCount,
    PaxStatus,
    SpiFrame,
    SpiFrameDecoder,
    crc16_genibus,
    decode_base64_body,
    decode_counter,
    decode_gps,
    decode_payload,
    decode_status,
    parse_mqtt_topic,
)
from hub.plugins.wifi_counter.sdcard import parse_sdcard_csv

from .helpers import FIXTURES, hex_lines, variants

# -- port 1, every variant ----------------------------------------------------------------------


def _as_decoder_dict(reading: Any) -> dict[str, Any]:
    """Our reading in the official decoder's field names."""
    if isinstance(reading, PaxCount):
        out: dict[str, Any] = {"wifi": reading.wifi, "pax": reading.pax}
        if reading.ble is not None:
            out["ble"] = reading.ble
        if reading.pm10 is not None:
            out.update(pm10=reading.pm10, pm25=reading.pm25)
        if reading.gps is not None:
            out.update(_as_decoder_dict(reading.gps))
        return out
    if isinstance(reading, GpsFix):
        out = {"latitude": round(reading.latitude, 6), "longitude": round(reading.longitude, 6)}
        if reading.sats is not None:
            out.update(sats=reading.sats, hdop=reading.hdop, altitude=reading.altitude_m)
        return out
    if isinstance(reading, PaxStatus):
        return {
            "voltage": reading.voltage_mv,
            "uptime": reading.uptime_s,
            "cputemp": reading.cputemp_c,
            "memory": reading.free_memory_bytes,
            "reset0": reading.reset_reason,
            "restarts": reading.restarts,
        }
    assert isinstance(reading, PaxBattery)
    return {"voltage": reading.voltage_mv}


@pytest.mark.parametrize(
    ("encoding", "port", "payload", "expected"),
    variants(),
    ids=[f"{e}-port{p}-{len(b)}B" for e, p, b, _ in variants()],
)
def test_every_documented_variant(
    encoding: Any, port: int, payload: bytes, expected: dict[str, Any]
) -> None:
    reading = decode_payload(port, payload, encoding)
    assert _as_decoder_dict(reading) == expected


def test_packed_codec_example_verbatim() -> None:
    (payload,) = hex_lines("paxcounter_packed_port1.hex")
    assert base64.b64encode(payload) == b"BwADAA=="
    assert decode_counter(payload, "packed") == PaxCount(wifi=7, ble=3)
    assert decode_counter(payload, "packed").pax == 10


def test_plain_is_big_endian() -> None:
    (payload,) = hex_lines("paxcounter_plain_port1.hex")
    assert decode_counter(payload, "plain") == PaxCount(wifi=7, ble=3)
    # the same bytes read with the wrong encoder give other numbers: encoding matters
    assert decode_counter(payload, "packed") == PaxCount(wifi=0x0700, ble=0x0300)


def test_ble_absent_when_ble_scan_off() -> None:
    reading = decode_counter(bytes.fromhex("2a00"), "packed")
    assert reading.ble is None and reading.pax == 42


def test_status_codec_example_and_its_uptime_quirk() -> None:
    (payload,) = hex_lines("paxcounter_packed_port2_status.hex")
    status = decode_status(payload, "packed")
    assert (status.voltage_mv, status.cputemp_c, status.free_memory_bytes) == (303, 45, 216000)
    assert (status.reset_reason, status.restarts) == (0, 0)
    # the codec states 216000; a true uint64 read would be 0x00034BC000000000
    assert status.uptime_s == 216000 and status.uptime_quirk


def test_status_true_uint64_uptime_is_read_exactly() -> None:
    payload = bytes.fromhex("1810") + (2**32 - 5).to_bytes(8, "little") + bytes(10)
    status = decode_status(payload, "packed")
    assert status.uptime_s == 2**32 - 5 and not status.uptime_quirk


def test_gps_codec_example() -> None:
    (payload,) = hex_lines("paxcounter_packed_port4_gps.hex")
    assert base64.b64encode(payload) == b"ZcoGAwUZbwAFxgBCAA=="
    assert decode_gps(payload) == GpsFix(50.776677, 7.280901, 5, 1.98, 66)


@pytest.mark.parametrize("length", [0, 1, 3, 5, 6, 7, 9, 11, 13, 14, 16, 18, 51])
def test_undocumented_counter_lengths_are_rejected_precisely(length: int) -> None:
    with pytest.raises(MalformedInput) as err:
        decode_counter(bytes(range(0x41, 0x41 + length)), "packed")
    msg = str(err.value)
    assert f"{length} bytes" in msg and "port 1" in msg and "2, 4, 8, 10, 12, 15, 17" in msg
    assert "41" not in msg.replace(f"{length} bytes", "")  # no payload bytes echoed


def test_bad_status_and_gps_lengths() -> None:
    with pytest.raises(MalformedInput, match=r"port 2.*19 bytes"):
        decode_status(bytes(19))
    with pytest.raises(MalformedInput, match=r"port 4.*7 bytes"):
        decode_gps(bytes(7))
    with pytest.raises(MalformedInput, match="port 8"):
        decode_payload(8, b"\x01")


def test_ports_without_counts_decode_to_none() -> None:
    for port in (3, 5, 6, 7, 9, 10, 11, 12):
        assert decode_payload(port, b"\x01\x02\x03", "packed") is None


# -- MQTT --------------------------------------------------------------------------------------


def test_mqtt_sample() -> None:
    text = (FIXTURES / "paxcounter_mqtt.txt").read_text().splitlines()
    topic = next(ln.split(": ", 1)[1] for ln in text if ln.startswith("topic: paxout/"))
    body = next(ln.split(": ", 1)[1] for ln in text if ln.startswith("payload: Bw"))
    port = parse_mqtt_topic(topic)
    assert port == 1
    assert decode_payload(port, decode_base64_body(body.encode())) == PaxCount(7, 3)


def test_bare_prefix_topic_carries_the_client_name_and_is_ignored() -> None:
    assert parse_mqtt_topic("paxout") is None
    assert parse_mqtt_topic("paxin/1") is None
    assert parse_mqtt_topic("city/pax/4", prefix="city/pax/") == 4
    with pytest.raises(MalformedInput, match="port"):
        parse_mqtt_topic("paxout/status")
    with pytest.raises(MalformedInput):
        parse_mqtt_topic("paxout/0")


def test_base64_body_errors_do_not_echo_the_body() -> None:
    assert decode_base64_body(b"BwADAA==\r\n") == bytes.fromhex("07000300")
    with pytest.raises(MalformedInput) as err:
        decode_base64_body(b"paxcounter-3c71bf!")
    assert "3c71bf" not in str(err.value)
    with pytest.raises(MalformedInput, match="empty"):
        decode_base64_body(b"  ")


# -- SPI frames ----------------------------------------------------------------------------------


def test_crc16_genibus_catalogue_check_value() -> None:
    assert crc16_genibus(b"123456789") == 0xD64E
    assert crc16_genibus(b"") == 0x0000


def _spi_stream() -> bytes:
    return b"".join(hex_lines("paxcounter_spi_stream.hex"))


def _decode_all(decoder: SpiFrameDecoder, chunks: list[bytes]) -> list[Any]:
    out: list[Any] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    return out


@pytest.mark.parametrize("chunk", [1, 3, 7, 4096])
def test_spi_stream_fixture_any_chunking(chunk: int) -> None:
    data = _spi_stream()
    items = _decode_all(
        SpiFrameDecoder(), [data[i : i + chunk] for i in range(0, len(data), chunk)]
    )
    frames = [i for i in items if isinstance(i, SpiFrame)]
    errors = [i for i in items if isinstance(i, MalformedInput)]
    assert [f.port for f in frames] == [1, 2, 1, 1]
    assert decode_counter(frames[0].payload) == PaxCount(7, 3)
    assert decode_status(frames[1].payload).voltage_mv == 303
    assert decode_counter(frames[2].payload) == PaxCount(8)
    assert decode_counter(frames[3].payload) == PaxCount(10, 5)
    assert len(errors) == 1 and "CRC-16 mismatch" in str(errors[0])


def test_spi_padding_variants_and_garbage() -> None:
    body = bytes([1, 4]) + bytes.fromhex("07000300")
    crc = crc16_genibus(body).to_bytes(2, "big")
    frame = crc + body
    unpadded = frame  # a bridge that strips the padding
    documented = frame  # already a multiple of 4: 0 pad bytes
    firmware = frame + bytes(4)  # the firmware always adds 1..4
    noise = b"\x13\x37\xff"
    data = noise + unpadded + documented + firmware + bytes(8) + frame
    items = _decode_all(SpiFrameDecoder(), [data])
    frames = [i for i in items if isinstance(i, SpiFrame)]
    assert len(frames) == 4
    assert sum(isinstance(i, MalformedInput) for i in items) == 1  # one burst for the noise


def test_spi_crc_byte_order_and_modes() -> None:
    body = bytes([1, 2]) + bytes.fromhex("2a00")
    crc = crc16_genibus(body)
    little = crc.to_bytes(2, "little") + body + bytes(2)
    assert [type(i) for i in SpiFrameDecoder("auto").feed(little)] == [SpiFrame]
    assert [type(i) for i in SpiFrameDecoder("genibus").feed(little)] == [MalformedInput]
    zero = bytes(2) + body + bytes(2)  # stock firmware: CRC "not used yet", field left 0
    assert [type(i) for i in SpiFrameDecoder("ignore").feed(zero)] == [SpiFrame]
    assert all(isinstance(i, MalformedInput) for i in SpiFrameDecoder("genibus").feed(zero))


def test_spi_corrupt_payload_is_rejected() -> None:
    body = bytes([1, 4]) + bytes.fromhex("07000300")
    good = crc16_genibus(body).to_bytes(2, "big") + body
    bad = good[:4] + b"\x08" + good[5:]
    items = list(SpiFrameDecoder().feed(bad + bytes(4) + good + bytes(4)))
    frames = [i for i in items if isinstance(i, SpiFrame)]
    assert len(frames) == 1 and frames[0].payload == bytes.fromhex("07000300")


# -- SD card -------------------------------------------------------------------------------------


def test_sdcard_sample() -> None:
    records, errors = parse_sdcard_csv((FIXTURES / "paxcounter_sdcard.csv").read_text())
    assert not errors
    assert len(records) == 1
    rec = records[0]
    assert rec.time == datetime(2021, 6, 15, 10, 53, 4, tzinfo=UTC)
    assert (rec.wifi, rec.ble, rec.voltage_mv) == (7, 3, None)
    assert int(rec.time.timestamp()) == 1623754384  # the codec's Time/Date example


def test_sdcard_with_voltage_pm_and_a_bad_row() -> None:
    text = (
        "\ttimestamp,wifi,ble,voltage,PM10,PM25\n"
        "\t2022-01-30T21:12:41Z,11,25,4100, 12.5, 7.1\n"
        "2022-01-30T21:14:24Z,10,x,4070,  1.0, 0.5\n"
        "2022-01-30T21:16:08Z,12,26,4102,  3.0, 2.0\n"
    )
    records, errors = parse_sdcard_csv(text)
    assert [(r.wifi, r.ble, r.voltage_mv) for r in records] == [(11, 25, 4100), (12, 26, 4102)]
    assert records[0].pm10 == 12.5 and records[0].pm25 == 7.1
    assert len(errors) == 1 and "line 3" in str(errors[0])


def test_sdcard_headerless_and_bad_header() -> None:
    records, _ = parse_sdcard_csv("2022-01-30T21:12:41Z,11,25\n")
    assert records[0].wifi == 11
    with pytest.raises(MalformedInput, match="header"):
        parse_sdcard_csv("timestamp,mac,rssi\n")
