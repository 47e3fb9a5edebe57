"""Sans-io counting: passage detection, direction pairing, intervals, scan clustering."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from hub.plugins.lidar.passage import (
    BeamDetector,
    DirectionPairer,
    FrameClock,
    IntervalCounter,
    Passage,
)
from hub.plugins.lidar.protocol import ScanNode
from hub.plugins.lidar.scan import (
    OccupancyWindow,
    RevolutionAssembler,
    ScanGeometry,
    count_clusters,
    point_in_polygon,
    to_points,
)


def _run(
    det: BeamDetector, profile: Sequence[tuple[float, float]], rate: float = 100.0
) -> list[float]:
    """Feed ``(duration_s, distance_cm)`` segments at ``rate``; return confirmed break starts."""
    out, t = [], 0.0
    for dur, dist in profile:
        for _ in range(round(dur * rate)):
            start = det.feed(t, dist)
            if start is not None:
                out.append(round(start, 3))
            t += 1 / rate
    return out


def _det(**kw: float) -> BeamDetector:
    args = {"floor_cm": 250.0, "threshold_cm": 100.0, "min_dwell_s": 0.06, "min_gap_s": 0.1}
    args.update(kw)
    return BeamDetector(**args)


def test_a_person_is_counted_once_after_min_dwell() -> None:
    assert _run(_det(), [(1, 250), (0.3, 80), (1, 250)]) == [1.0]


def test_a_short_blip_is_debounced() -> None:
    assert _run(_det(), [(1, 250), (0.04, 80), (1, 250)]) == []


def test_a_short_gap_is_the_same_person_a_long_gap_two() -> None:
    same = [(1, 250), (0.2, 80), (0.05, 250), (0.2, 80), (1, 250)]
    two = [(1, 250), (0.2, 80), (0.3, 250), (0.2, 80), (1, 250)]
    assert len(_run(_det(), same)) == 1
    assert _run(_det(), two) == [1.0, 1.5]


def test_threshold_and_hysteresis() -> None:
    # 160 cm is above floor - threshold (150): a child/bag below the threshold is ignored
    assert _run(_det(), [(1, 250), (0.5, 160), (1, 250)]) == []
    # readings inside the hysteresis band (150..160) do not end a break
    assert len(_run(_det(), [(1, 250), (0.2, 100), (0.5, 155), (0.2, 100), (1, 250)])) == 1


def test_frame_clock_spaces_frames_and_reanchors_after_a_pause() -> None:
    clock = FrameClock(100.0)
    times = [clock.stamp(10.0) for _ in range(5)]
    assert times == pytest.approx([10.0, 10.01, 10.02, 10.03, 10.04])
    assert clock.stamp(20.0) == 20.0  # a pause: back on the host clock


def test_frame_clock_keeps_replay_timing_but_slews_a_fast_device() -> None:
    replay = FrameClock(100.0, max_ahead_s=2.0)
    times = [replay.stamp(0.0) for _ in range(400)]  # 4 s of frames arriving at once
    assert times[399] - times[398] == pytest.approx(0.01)
    fast = FrameClock(100.0, max_ahead_s=2.0)
    t = [fast.stamp(k / 102.0) for k in range(102 * 120)]  # a device at 102 Hz for 2 min
    assert t[-1] - t[-2] == pytest.approx(0.0098)
    assert fast.ahead_s < 2.1


def test_pairer_gives_direction_from_the_first_beam() -> None:
    p = DirectionPairer(1.0)
    p.add(0, 1.0)
    p.add(1, 1.2)
    p.add(1, 5.0)
    p.add(0, 5.3)
    assert p.resolve(10.0) == [Passage(1.0, "a_to_b"), Passage(5.0, "b_to_a")]


def test_pairer_waits_for_the_window_then_reports_unpaired() -> None:
    p = DirectionPairer(1.0, confirm_delay_s=0.06)
    p.add(0, 1.0)
    assert p.resolve(1.5) == []  # B may still break
    assert p.resolve(2.1) == [Passage(1.0, None)]
    assert p.unpaired == 1


def test_pairer_final_flushes_pending() -> None:
    p = DirectionPairer(1.0)
    p.add(1, 3.0)
    assert p.resolve(3.1, final=True) == [Passage(3.0, None)]


def test_interval_counter_emits_zero_intervals_aligned() -> None:
    c = IntervalCounter(10.0)
    c.add(Passage(12.0, "a_to_b"))
    c.add(Passage(35.0, None))
    bins = c.close(41.0)
    assert [(b.start, b.end, b.a_to_b, b.undirected) for b in bins] == [
        (12.0, 20.0, 1, 0),  # the first interval starts with the data
        (20.0, 30.0, 0, 0),
        (30.0, 40.0, 0, 1),
    ]
    assert c.close(45.0) == []


def test_interval_counter_settle_delay_and_partial_finish() -> None:
    c = IntervalCounter(10.0, settle_s=1.5)
    c.reading(0.0, reliable=True)
    assert c.close(10.5) == []  # not settled yet
    c.add(Passage(9.9, None))  # a late confirmation still lands in its interval
    (b,) = c.close(11.6)
    assert (b.start, b.end, b.undirected, b.partial) == (0.0, 10.0, 1, False)
    c.add(Passage(13.0, None))
    (p,) = c.finish(14.0)
    assert (p.start, p.end, p.undirected, p.partial) == (10.0, 14.0, 1, True)
    # after a restart the next interval starts where the data resumes
    c.add(Passage(16.0, None))
    (q,) = c.close(30.0)
    assert (q.start, q.end, q.undirected, q.partial) == (16.0, 20.0, 1, True)


# -- scan ----------------------------------------------------------------------------------


def test_points_follow_the_clockwise_angle_convention() -> None:
    nodes = [ScanNode(False, 47, 0.0, 1000.0), ScanNode(False, 47, 90.0, 2000.0)]
    (p0, p1) = to_points(nodes)
    assert p0 == pytest.approx((1.0, 0.0))
    assert p1 == pytest.approx((0.0, -2.0), abs=1e-9)  # 90° clockwise = -y


def test_sensor_pose_is_applied() -> None:
    nodes = [ScanNode(False, 47, 0.0, 1000.0)]
    (p,) = to_points(nodes, position=(5.0, 1.0), rotation_deg=90.0)
    assert p == pytest.approx((5.0, 2.0))


def test_invalid_and_low_quality_points_are_dropped() -> None:
    nodes = [ScanNode(False, 47, 0.0, 0.0), ScanNode(False, 3, 1.0, 900.0)]
    assert to_points(nodes, min_quality=10) == []


def test_polygon_and_clusters() -> None:
    square = ((0.0, 0.0), (4.0, 0.0), (4.0, 4.0), (0.0, 4.0))
    assert point_in_polygon((1.0, 1.0), square)
    assert not point_in_polygon((5.0, 1.0), square)
    person_a = [(1.0 + 0.05 * k, 1.0) for k in range(5)]
    person_b = [(3.0, 3.0 + 0.05 * k) for k in range(5)]
    noise = [(2.0, 0.2)]
    assert count_clusters(person_a + person_b + noise, 0.5, 3) == 2


def test_geometry_counts_people_inside_the_polygon_only() -> None:
    geo = ScanGeometry(polygon=((0.5, -2.0), (4.0, -2.0), (4.0, 2.0), (0.5, 2.0)))

    def blob(angle: float, dist_mm: float) -> list[ScanNode]:
        return [ScanNode(False, 47, angle + d, dist_mm) for d in (-2, -1, 0, 1, 2)]

    rev = blob(0.0, 2000.0) + blob(30.0, 2500.0) + blob(180.0, 2000.0)  # last one is behind
    assert geo.count(rev) == 2


def test_revolution_assembler_splits_on_start_flag() -> None:
    asm = RevolutionAssembler()
    first = [ScanNode(False, 1, 1.0, 1.0)]  # before the first S=1: dropped
    r1 = [ScanNode(True, 1, 0.0, 1.0), ScanNode(False, 1, 1.0, 1.0)]
    done = [asm.add(n) for n in [*first, *r1, ScanNode(True, 1, 0.0, 1.0)]]
    assert done[-1] == r1
    assert all(d is None for d in done[:-1])


@pytest.mark.parametrize(
    ("aggregate", "expected"), [("median", 2.0), ("max", 5.0), ("mean", 2.67), ("last", 1.0)]
)
def test_occupancy_window_aggregates(aggregate: str, expected: float) -> None:
    w = OccupancyWindow(5.0, aggregate)  # type: ignore[arg-type]
    for t, n in [(0.1, 2), (1.0, 5), (2.0, 1)]:
        assert w.add(t, n) is None
    est = w.add(5.2, 0)
    assert est is not None
    assert (est.window_start, est.t, est.count, est.revolutions) == (0.0, 5.0, expected, 3)
    last = w.finish()
    assert last is not None and last.t == 5.2 and last.count == 0
    assert w.add(6.0, 3) is None  # a fresh window after finish
    again = w.finish()
    assert again is not None and (again.window_start, again.count) == (5.2, 3.0)
