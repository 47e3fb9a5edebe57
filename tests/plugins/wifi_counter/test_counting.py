"""Frame counters, cumulative totals and plausibility limits."""

from __future__ import annotations

from hub.events import QualityReason
from hub.plugins.wifi_counter.counting import Cumulative, Plausibility, SequenceTracker


def test_sequence_next_gap_duplicate_restart() -> None:
    seq = SequenceTracker()
    assert seq.observe(94, "a").verdict == "first"
    assert seq.observe(95, "b").verdict == "next"
    assert seq.observe(95, "b").verdict == "duplicate"
    gap = seq.observe(99, "c")
    assert gap.verdict == "gap" and gap.missed == 3
    assert seq.observe(94, "a").verdict == "duplicate"  # an old repeat, still remembered
    assert seq.observe(1, "d").verdict == "restart"  # rejoin: f_cnt starts over
    assert seq.observe(2, "e").verdict == "next"


def test_same_counter_other_content_after_restart_is_not_a_duplicate() -> None:
    seq = SequenceTracker()
    seq.observe(0, "boot-1")
    assert seq.observe(0, "boot-2").verdict == "restart"


def test_cumulative_deltas_and_reset() -> None:
    cum = Cumulative()
    assert cum.update(10, 5) is None  # baseline
    assert cum.update(25, 9) == (15, 4, False)
    assert cum.update(25, 9) == (0, 0, False)
    assert cum.update(3, 1) == (3, 1, True)  # device restarted: never negative
    assert cum.update(8, None) == (5, None, False)


def test_plausibility_real_spike() -> None:
    check = Plausibility(max_count=10_000, max_jump=2_000)
    assert check.check(15) == []
    assert check.check(31401) == [QualityReason.ABOVE_MAXIMUM, QualityReason.IMPLAUSIBLE_JUMP]
    assert check.check(16) == []  # measured from the last plausible count


def test_plausibility_jump_confirmed_by_the_next_reading() -> None:
    check = Plausibility(max_count=None, max_jump=100)
    assert check.check(20) == []
    assert check.check(500) == [QualityReason.IMPLAUSIBLE_JUMP]
    assert check.check(520) == []  # two readings agree: a real change
    assert check.check(530) == []


def test_plausibility_disabled() -> None:
    check = Plausibility(max_count=None, max_jump=None)
    assert check.check(0) == [] and check.check(65535) == []
