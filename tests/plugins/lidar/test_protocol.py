"""Byte-level decoders on recorded/derived bytes: Benewake frames and RPLIDAR nodes."""

from __future__ import annotations

import random

import pytest

from hub.plugins.lidar.protocol import (
    RPLIDAR_SCAN_DESCRIPTOR,
    Malformed,
    RplidarDecoder,
    RplidarDescriptor,
    RplidarHealth,
    RplidarInfo,
    ScanNode,
    TfDecoder,
    TfReading,
)

from .helpers import FIXTURES, hex_fixture


def _readings(items: list[TfReading | Malformed]) -> list[TfReading]:
    return [i for i in items if isinstance(i, TfReading)]


def _chunked(data: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(data):
        n = rng.randint(1, 13)
        out.append(data[i : i + n])
        i += n
    return out


# -- Benewake -----------------------------------------------------------------------------


def test_tf_sample_frames_decode_as_documented() -> None:
    items = TfDecoder().feed(hex_fixture("tfmini_frames.hex"))
    r = _readings(items)
    assert [x.distance_cm for x in r] == [123, 800, 0, 30, 123, 0x5959]
    assert [x.amplitude for x in r] == [350, 2200, 45, 65535, 350, 350]
    assert [x.temperature_c for x in r] == [25.0, 31.0, 20.0, 22.0, 25.0, 25.0]
    # amp < 100 and amp == 65535 are unreliable; the rest is fine
    assert [x.reliable for x in r] == [True, True, False, False, True, True]
    # the checksum+1 frame is rejected (and the stray 0x59 costs one more candidate)
    bad = [i for i in items if isinstance(i, Malformed)]
    assert 1 <= len(bad) <= 2
    assert all("checksum" in b.reason for b in bad)


@pytest.mark.parametrize("seed", range(5))
def test_tf_chunking_does_not_change_the_result(seed: int) -> None:
    data = hex_fixture("tfmini_frames.hex")
    whole = _readings(TfDecoder().feed(data))
    dec = TfDecoder()
    parts: list[TfReading | Malformed] = []
    for chunk in _chunked(data, seed):
        parts += dec.feed(chunk)
    assert _readings(parts) == whole


def test_tf_header_bytes_inside_a_frame_resync_on_checksum() -> None:
    # 0x5959 distance and a leading stray 0x59: only checksummed frames come out
    data = (
        b"\x59"
        + bytes.fromhex("59 59 59 59 5E 01 C8 08 93")
        + bytes.fromhex("59 59 7B 00 5E 01 C8 08 5C")
    )
    r = _readings(TfDecoder().feed(data))
    assert [x.distance_cm for x in r] == [0x5959, 123]


def test_tf_garbage_between_frames_is_discarded() -> None:
    frame = bytes.fromhex("59 59 7B 00 5E 01 C8 08 5C")
    dec = TfDecoder()
    r = _readings(dec.feed(b"\x00\x13\x5a\x04\x04\x00" + frame + b"\xff\xfe" + frame))
    assert len(r) == 2
    assert dec.discarded_bytes == 8


def test_tf_mm_format() -> None:
    r = _readings(TfDecoder(fmt="mm").feed(hex_fixture("tfmini_mm_frames.hex")))
    assert [x.distance_cm for x in r] == [123.4, 2500.0, 50.0]
    assert [x.reliable for x in r] == [True, True, False]


def test_original_tfmini_has_no_temperature() -> None:
    r = _readings(TfDecoder(temperature=False).feed(hex_fixture("tfmini_original_frames.hex")))
    assert [(x.distance_cm, x.amplitude) for x in r] == [(180, 900), (640, 350)]
    assert all(x.temperature_c is None for x in r)


def test_tf_pix_format() -> None:
    dec = TfDecoder(fmt="pix")
    items = dec.feed((FIXTURES / "tfluna_pix.txt").read_bytes())
    assert [x.distance_cm for x in _readings(items)] == [250, 249, 85, 84, 250]
    bad = dec.feed(b"1.x3\r\n" + b"9" * 40 + b"\r\n0.90\r\n")
    assert [x.distance_cm for x in _readings(bad)] == [90]
    assert sum(isinstance(i, Malformed) for i in bad) == 2


def test_tf_min_amplitude_is_configurable() -> None:
    frame = bytes.fromhex("59 59 7B 00 5E 01 C8 08 5C")  # amp 350
    assert not _readings(TfDecoder(min_amplitude=400).feed(frame))[0].reliable


# -- RPLIDAR ------------------------------------------------------------------------------


def test_rplidar_sample_descriptor_nodes_and_health() -> None:
    items = RplidarDecoder().feed(hex_fixture("rplidar_a1_scan.hex"))
    assert items[0] == RplidarDescriptor(length=5, mode=1, data_type=0x81)
    nodes = [i for i in items if isinstance(i, ScanNode)]
    assert nodes == [
        ScanNode(True, 47, 0.0, 1000.0),
        ScanNode(False, 47, 90.5, 2500.25),
        ScanNode(False, 15, 180.0, 0.0),
        ScanNode(False, 47, 359.5, 812.0),
    ]
    assert items[-1] == RplidarHealth(0, 0)
    assert not any(isinstance(i, Malformed) for i in items)


def test_rplidar_health_and_info_responses() -> None:
    items = RplidarDecoder().feed(hex_fixture("rplidar_a1_health_info.hex"))
    assert items == [RplidarHealth(1, 0x0102), RplidarInfo(0x18, "1.29", 7)]
    assert isinstance(items[0], RplidarHealth) and items[0].state == "warning"


@pytest.mark.parametrize("seed", range(4))
def test_rplidar_chunking_does_not_change_the_result(seed: int) -> None:
    data = hex_fixture("rplidar_a1_scan.hex")
    whole = RplidarDecoder().feed(data)
    dec = RplidarDecoder()
    parts = []
    for chunk in _chunked(data, seed):
        parts += dec.feed(chunk)
    assert parts == whole


def test_rplidar_bad_check_bits_are_counted_and_resynchronised() -> None:
    good = bytes.fromhex("BD 01 00 A0 0F BE 41 2D 11 27")
    # S == !S in b0, then C = 0 in b1: two corrupt nodes, then good ones again
    bad = bytes.fromhex("BF 41 2D 11 27") + bytes.fromhex("BE 40 2D 11 27")
    dec = RplidarDecoder()
    items = dec.feed(RPLIDAR_SCAN_DESCRIPTOR + good + bad + good + good)
    nodes = [i for i in items if isinstance(i, ScanNode)]
    assert nodes[:2] == [ScanNode(True, 47, 0.0, 1000.0), ScanNode(False, 47, 90.5, 2500.25)]
    # resynchronised: no invented nodes, the stream continues (a node may be lost)
    assert [n.angle_deg for n in nodes[-3:]] == [90.5, 0.0, 90.5]
    assert len(nodes) in (5, 6)
    assert sum(isinstance(i, Malformed) for i in items) == 1
    assert dec.bad_nodes == 1


def test_rplidar_lost_byte_resynchronises() -> None:
    from hub.plugins.lidar.simulator import rplidar_node

    stream = b"".join(rplidar_node(a, 1000 + a, start=a == 0) for a in range(0, 60, 2))
    damaged = stream[:23] + stream[24:]  # one byte lost inside node 4
    items = RplidarDecoder().feed(RPLIDAR_SCAN_DESCRIPTOR + damaged)
    nodes = [i for i in items if isinstance(i, ScanNode)]
    assert [n.angle_deg for n in nodes[-20:]] == [float(a) for a in range(20, 60, 2)]
    assert sum(isinstance(i, Malformed) for i in items) >= 1


def test_rplidar_stream_without_descriptor_is_locked_onto() -> None:
    from hub.plugins.lidar.simulator import rplidar_node

    stream = b"\x17\x00" + b"".join(rplidar_node(a, 2000.0) for a in range(0, 90, 3))
    nodes = [i for i in RplidarDecoder().feed(stream) if isinstance(i, ScanNode)]
    assert len(nodes) == 30
    assert nodes[0].angle_deg == 0.0


def test_rplidar_garbage_before_descriptor_is_skipped() -> None:
    data = b"\x01\x02\xa5" + RPLIDAR_SCAN_DESCRIPTOR + bytes.fromhex("BD 01 00 A0 0F")
    items = RplidarDecoder().feed(data)
    assert isinstance(items[0], RplidarDescriptor)
    assert items[1] == ScanNode(True, 47, 0.0, 1000.0)


def test_rplidar_new_descriptor_inside_a_scan_restarts_cleanly() -> None:
    node = bytes.fromhex("BD 01 00 A0 0F")
    items = RplidarDecoder().feed(RPLIDAR_SCAN_DESCRIPTOR + node + RPLIDAR_SCAN_DESCRIPTOR + node)
    assert [type(i).__name__ for i in items] == [
        "RplidarDescriptor",
        "ScanNode",
        "RplidarDescriptor",
        "ScanNode",
    ]
