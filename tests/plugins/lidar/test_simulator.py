"""Simulator output parses back with the protocol modules and means what it was asked."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import pytest

from hub.plugins.lidar.passage import BeamDetector, DirectionPairer, FrameClock
from hub.plugins.lidar.protocol import (
    Malformed,
    RplidarDecoder,
    RplidarHealth,
    ScanNode,
    TfDecoder,
    TfReading,
)
from hub.plugins.lidar.scan import RevolutionAssembler, ScanGeometry
from hub.plugins.lidar.simulator import (
    rplidar_health,
    rplidar_scan,
    tf_beam_stream,
    tf_frame,
    tf_pair_streams,
    xovis_live_push,
    xovis_logics_push,
    xovis_logics_sequence,
)
from hub.plugins.lidar.xovis import LivePackage, LogicsPackage, parse_push
from hub.quality import SequenceTracker

T0 = datetime(2024, 4, 27, 10, 0, tzinfo=UTC)


def _breaks(data: bytes, fmt: str = "cm") -> tuple[list[float], int]:
    dec = TfDecoder(fmt=fmt)  # type: ignore[arg-type]
    clock, det = FrameClock(100.0), BeamDetector(floor_cm=250, threshold_cm=100)
    starts, bad = [], 0
    for item in dec.feed(data):
        if isinstance(item, Malformed):
            bad += 1
            continue
        t = clock.stamp(0.0)
        if item.reliable:
            s = det.feed(t, item.distance_cm)
            if s is not None:
                starts.append(round(s, 2))
    return starts, bad


@pytest.mark.parametrize("fmt", ["cm", "mm", "pix"])
def test_tf_frame_round_trip(fmt: str) -> None:
    (r,) = TfDecoder(fmt=fmt).feed(tf_frame(123.0, 350, 25.0, fmt=fmt))  # type: ignore[arg-type]
    assert isinstance(r, TfReading)
    assert r.distance_cm == 123.0


def test_tf_frame_matches_the_sample_bytes() -> None:
    assert tf_frame(123, 350, 25.0) == bytes.fromhex("59 59 7B 00 5E 01 C8 08 5C")
    assert tf_frame(123, 350, 25.0, corrupt=True) == bytes.fromhex("59 59 7B 00 5E 01 C8 08 5D")


def test_beam_stream_with_faults_still_counts_every_person() -> None:
    data = tf_beam_stream(
        [(1.0, 0.3), (2.0, 0.25), (4.0, 0.4)],
        duration_s=6.0,
        noise_cm=5.0,
        corrupt_every=37,
        unreliable_every=11,
        stray_every=23,
    )
    starts, bad = _breaks(data)
    assert len(starts) == 3
    assert starts[0] == pytest.approx(1.0, abs=0.05)
    assert bad >= 600 // 37


def test_pix_stream() -> None:
    starts, _ = _breaks(tf_beam_stream([(0.5, 0.3)], duration_s=2.0, fmt="pix"), "pix")
    assert starts == [pytest.approx(0.5, abs=0.02)]


def test_pair_streams_give_directions() -> None:
    a, b = tf_pair_streams([(1.0, "a_to_b"), (3.0, "b_to_a")], duration_s=5.0)
    pairer = DirectionPairer(1.0)
    for beam, data in enumerate((a, b)):
        for s in _breaks(data)[0]:
            pairer.add(beam, s)
    got = [(round(p.t, 1), p.direction) for p in pairer.resolve(100.0)]
    assert got == [(1.0, "a_to_b"), (3.0, "b_to_a")]


@pytest.mark.parametrize("people", [[], [(2.0, 0.0)], [(2.0, 1.0), (3.0, -1.5), (1.5, 0.0)]])
def test_rplidar_scan_sees_the_people(people: list[tuple[float, float]]) -> None:
    data = rplidar_scan(people, revolutions=3, corrupt_every=97)
    items = RplidarDecoder().feed(data)
    asm = RevolutionAssembler()
    geo = ScanGeometry(polygon=((0.5, -3.0), (5.0, -3.0), (5.0, 3.0), (0.5, 3.0)))
    counts = []
    for node in items:
        if isinstance(node, ScanNode):
            rev = asm.add(node)
            if rev is not None:
                counts.append(geo.count(rev))
    assert counts == [len(people)] * 3
    assert any(isinstance(i, Malformed) for i in items)


def test_rplidar_health() -> None:
    assert RplidarDecoder().feed(rplidar_health(2, 0x8001)) == [RplidarHealth(2, 0x8001)]


def test_xovis_push_round_trip_both_time_formats() -> None:
    fmts: tuple[Literal["iso", "ms"], ...] = ("iso", "ms")
    for fmt in fmts:
        doc = xovis_logics_push(
            7, start=T0, lines={1008: (3, 4)}, zones={1009: 12}, time_format=fmt
        )
        pkg = parse_push(doc)
        assert isinstance(pkg, LogicsPackage)
        assert pkg.package_id == 7
        rec = pkg.logics[0].records[0]
        assert (rec.start, rec.counter("fw", 1008), rec.counter("bw", 1008)) == (T0, 3, 4)
        assert pkg.logics[1].records[0].counter("balance", 1009) == 12


def test_xovis_sequence_has_the_requested_gaps_and_repeats() -> None:
    docs = xovis_logics_sequence(5, start=T0, gaps_after=[1], repeat_after=[3])
    seq = SequenceTracker()
    states = []
    for d in docs:
        pkg = parse_push(d)
        assert isinstance(pkg, LogicsPackage) and pkg.package_id is not None
        states.append(seq.observe(pkg.package_id, pkg.sensor_time).verdict)
    assert states == ["first", "next", "gap", "next", "duplicate", "next"]


def test_xovis_live_push_parses() -> None:
    pkg = parse_push(xovis_live_push([(1, "PERSON", 0.0, 0.0), (2, "PERSON", 5, 5)], time=T0))
    assert isinstance(pkg, LivePackage)
    assert pkg.frames[0].time == T0 and len(pkg.frames[0].objects) == 2
