"""hub.quality alone: sequence verdicts, dedup, cumulative deltas, plausibility, time parsing."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

import hub
from hub import MalformedInput, Quality, QualityReason
from hub.quality import (
    MAX_COUNT,
    CumulativeCounter,
    DeltaKind,
    Plausibility,
    SeenKeys,
    SequenceTracker,
    Verdict,
    parse_count,
    parse_timestamp,
    worst_quality,
)

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_public() -> None:
    assert "quality" in hub.__all__ and hub.quality.SequenceTracker is SequenceTracker


# -- sequence numbers -----------------------------------------------------------------------


def test_sequence_next_gap_duplicate_out_of_order_without_times() -> None:
    s = SequenceTracker(window=4)
    verdicts = [s.observe(n).verdict for n in (10, 11, 11, 13, 12, 12, 3, 4)]
    assert verdicts == [
        "first",
        "next",
        "duplicate",
        "gap",
        "out_of_order",  # a late arrival within the window fills the gap
        "duplicate",
        "restart",  # far behind: the numbering went back
        "next",
    ]
    assert s.missed == 1 and s.counts[Verdict.RESTART] == 1


def test_ttn_f_cnt_out_of_order_is_not_a_restart() -> None:
    """103 before 101 (network server times in order of sending) is a late arrival."""
    s = SequenceTracker()
    assert s.observe(100, _t(0)).verdict is Verdict.FIRST
    gap = s.observe(103, _t(30))
    assert gap.verdict is Verdict.GAP and gap.missed == 2
    late = s.observe(101, _t(10))
    assert late.verdict is Verdict.OUT_OF_ORDER and late.reason is QualityReason.OUT_OF_ORDER
    assert s.observe(101, _t(10)).duplicate  # redelivered: same time
    assert s.observe(104, _t(40)).verdict is Verdict.NEXT  # the highest stayed 103
    restart = s.observe(1, _t(50))  # rejoin: lower number, newer time
    assert restart.verdict is Verdict.RESTART
    assert restart.reason is QualityReason.SEQUENCE_RESTART
    assert s.observe(2, _t(60)).verdict is Verdict.NEXT


def test_same_number_with_a_newer_time_is_a_restart_not_a_duplicate() -> None:
    s = SequenceTracker()
    s.observe(0, _t(0))
    assert s.observe(0, _t(0)).verdict is Verdict.DUPLICATE
    assert s.observe(0, _t(99)).verdict is Verdict.RESTART


def test_check_does_not_advance() -> None:
    """A source may advance the state only once the hub accepted the event."""
    s = SequenceTracker()
    s.observe(1)
    assert s.check(2).verdict is Verdict.NEXT
    assert s.check(2).verdict is Verdict.NEXT  # still new: a refused push retried is not a dup
    s.record(2)
    assert s.check(2).verdict is Verdict.DUPLICATE and s.last == 2


def test_wrap_around_16_bit() -> None:
    s = SequenceTracker(modulus=2**16)
    assert [s.observe(n).verdict for n in (65534, 65535, 0, 2)] == ["first", "next", "next", "gap"]
    assert s.observe(65535).verdict is Verdict.DUPLICATE
    assert s.observe(65536 + 3).verdict is Verdict.NEXT  # numbers are taken modulo 2**16


def test_verdict_reasons() -> None:
    assert Verdict.GAP.reason is QualityReason.SEQUENCE_GAP
    assert Verdict.DUPLICATE.reason is QualityReason.DUPLICATE
    assert Verdict.FIRST.reason is None and Verdict.NEXT.reason is None


@given(st.lists(st.integers(0, 300), max_size=60), st.integers(1, 16))
def test_sequence_properties(numbers: list[int], window: int) -> None:
    s = SequenceTracker(window=window)
    highest: int | None = None
    seen: list[int] = []
    for n in numbers:
        r = s.observe(n)
        if highest is None:
            assert r.verdict is Verdict.FIRST
        elif n > highest:
            assert r.verdict in (Verdict.NEXT, Verdict.GAP)
            assert r.missed == n - highest - 1
        elif n in seen[-window:]:
            assert r.verdict is Verdict.DUPLICATE
        else:
            assert r.verdict in (Verdict.OUT_OF_ORDER, Verdict.RESTART)
        if r.verdict is Verdict.RESTART:
            seen.clear()
        if r.verdict is not Verdict.DUPLICATE:
            if r.verdict is not Verdict.OUT_OF_ORDER:
                highest = n
            if n in seen:
                seen.remove(n)
            seen.append(n)
        assert s.last == highest


# -- dedup ----------------------------------------------------------------------------------


def test_seen_keys_bounded_and_discard() -> None:
    seen = SeenKeys(size=16)
    assert seen.add("a") and not seen.add("a") and "a" in seen
    for i in range(20):
        seen.add(i)
    assert "a" not in seen and len(seen) == 16
    assert seen.add("a")
    seen.discard("a")
    assert seen.add("a")  # forgotten: a refused event sent again is new


# -- cumulative counters --------------------------------------------------------------------


def test_cumulative_deltas_and_reset() -> None:
    c = CumulativeCounter()
    assert c.update("s", {"wifi": 10, "ble": 5}).first
    d = c.update("s", {"wifi": 25, "ble": 9})
    assert d.kind is DeltaKind.DELTA and d.values == {"wifi": 15, "ble": 4}
    assert c.update("s", {"wifi": 25, "ble": 9}).values == {"wifi": 0, "ble": 0}
    r = c.update("s", {"wifi": 3, "ble": 1})  # restart: never negative
    assert r.reset and r.values == {"wifi": 3, "ble": 1}
    assert r.reason is QualityReason.COUNTER_RESET
    assert c.update("s", {"wifi": 8}).values == {"wifi": 5}
    assert c.update("other", {"wifi": 1}).first  # per key


def test_an_older_total_after_a_newer_one_is_out_of_order_never_a_reset() -> None:
    """The AXIS replay: a redelivered older message has a lower total and an older time."""
    c = CumulativeCounter()
    c.update("line", {"all": 100}, at=_t(0), epoch="boot-1")
    assert c.update("line", {"all": 105}, at=_t(10), epoch="boot-1").values == {"all": 5}
    late = c.update("line", {"all": 101}, at=_t(2), epoch="boot-1")
    assert late.kind is DeltaKind.OUT_OF_ORDER and not late.counts and late.values == {}
    assert late.reason is QualityReason.OUT_OF_ORDER
    assert c.update("line", {"all": 107}, at=_t(20), epoch="boot-1").values == {"all": 2}
    again = c.update("line", {"all": 107}, at=_t(20), epoch="boot-1")
    assert again.kind is DeltaKind.REPEAT
    down = c.update("line", {"all": 4}, at=_t(30), epoch="boot-1")  # newer and lower
    assert down.reset and down.values == {"all": 4}
    new_epoch = c.update("line", {"all": 9}, at=_t(40), epoch="boot-2")
    assert new_epoch.reset and new_epoch.values == {"all": 9}
    assert new_epoch.since == _t(30)


def test_cumulative_check_does_not_advance() -> None:
    c = CumulativeCounter()
    c.update("k", {"n": 1}, at=_t(0))
    assert c.check("k", {"n": 4}, at=_t(1)).values == {"n": 3}
    assert c.update("k", {"n": 4}, at=_t(1)).values == {"n": 3}


@given(
    st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 1000), st.sampled_from(["a", "b"])),
        max_size=40,
    )
)
def test_cumulative_deltas_are_never_negative(readings: list[tuple[int, int, str]]) -> None:
    c = CumulativeCounter()
    for total, at, epoch in readings:
        d = c.update("k", {"n": total}, at=_t(at), epoch=epoch)
        assert all(v >= 0 for v in d.values.values())
        assert d.counts == bool(d.values) or d.values == {}


# -- plausibility ---------------------------------------------------------------------------


def test_level_is_measured_from_the_last_plausible_reading() -> None:
    p = Plausibility(max_count=10_000, max_jump=2_000)
    assert p.level("z", 15) == []
    assert p.level("z", 31401) == [QualityReason.ABOVE_MAXIMUM, QualityReason.IMPLAUSIBLE_JUMP]
    assert p.level("z", 16) == []
    assert p.level("other", 5000) == []  # per stream


def test_level_jump_confirmed_by_the_next_reading() -> None:
    p = Plausibility(max_count=None, max_jump=100)
    assert p.level("z", 20) == []
    assert p.level("z", 500) == [QualityReason.IMPLAUSIBLE_JUMP]
    assert p.level("z", 520) == []  # two readings agree: a real change
    assert p.level("z", 530) == []


def test_change_and_count() -> None:
    p = Plausibility(max_count=100, max_jump=10)
    assert p.count(101) == [QualityReason.ABOVE_MAXIMUM] and p.count(100) == []
    assert p.change(11) == [QualityReason.IMPLAUSIBLE_JUMP] and p.change(10) == []
    off = Plausibility(max_count=None, max_jump=None)
    assert off.level("z", 0) == [] and off.level("z", 65535) == [] and off.change(10**9) == []


def test_worst_quality() -> None:
    assert worst_quality([QualityReason.SEQUENCE_GAP, QualityReason.OUT_OF_ORDER]) is Quality.OK
    assert worst_quality([QualityReason.COUNTER_RESET]) is Quality.ESTIMATED
    assert worst_quality([QualityReason.RETRANSMISSION, QualityReason.COUNTER_RESET]) == "stale"
    assert worst_quality([QualityReason.ABOVE_MAXIMUM, QualityReason.RETRANSMISSION]) == "suspect"


@pytest.mark.parametrize(
    ("raw", "want"), [(5, 5), (5.0, 5), ("  42 ", 42), ("+7", 7), (MAX_COUNT, MAX_COUNT)]
)
def test_parse_count(raw: Any, want: int) -> None:
    assert parse_count(raw, "n") == want


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (True, "boolean"),
        (1.5, "whole number"),
        (math.nan, "whole number"),
        (1e30, "64-bit"),
        (MAX_COUNT + 1, "64-bit"),
        ("9" * 30, "64-bit"),
        (-1, "negative"),
        ("one", "whole number"),
        (None, "whole number"),
    ],
)
def test_parse_count_refuses(raw: Any, match: str) -> None:
    with pytest.raises(MalformedInput, match=f"^in: .*{match}"):
        parse_count(raw, "in")


def test_parse_count_signed() -> None:
    assert parse_count("-3", "balance", signed=True) == -3


# -- time -----------------------------------------------------------------------------------

AMS = ZoneInfo("Europe/Amsterdam")


@pytest.mark.parametrize(
    ("raw", "form", "want"),
    [
        (1780315200, "epoch_s", T0),
        ("1780315200", "epoch_s", T0),
        (1780315200000, "epoch_ms", T0),
        ("1780315200000", "epoch_ms", T0),
        (1780315200, "auto", T0),
        (1780315200.5, "auto", T0 + timedelta(milliseconds=500)),
        (1780315200000, "auto", T0),
        ("1780315200000", "auto", T0),
        (1780315200000000, "auto", T0),
        (1780315200000000000, "auto", T0),
        (1780315200000, "epoch", T0),
        ("2026-06-01T14:00:00+02:00", "iso", T0),
        ("2026-06-01T12:00:00Z", "auto", T0),
        ("2026-06-01t12:00:00z", "auto", T0),
        ("2026-06-01T12:00:00.000000001Z", "iso", T0),  # TTN nanoseconds
        ("2026-06-01T14:00:00", "iso", T0),  # naive: local time in the zone (CEST)
        ("2026-06-01 14:00:00", "auto", T0),
        ("2026/06/01 14:00:00", "auto", T0),
        ("2026-01-01T13:00:00", "auto", datetime(2026, 1, 1, 12, tzinfo=UTC)),  # CET
    ],
)
def test_times(raw: Any, form: Any, want: datetime) -> None:
    got = parse_timestamp(raw, tz=AMS, form=form)
    assert got == want and got.tzinfo is UTC


def test_naive_default_is_utc_and_offsets_keep_the_instant() -> None:
    assert parse_timestamp("2026-06-01T12:00:00") == T0
    assert parse_timestamp("2026-06-01T17:30:00+05:30", tz=timezone(timedelta(hours=-3))) == T0


@pytest.mark.parametrize(
    ("raw", "form", "match"),
    [
        (None, "auto", "missing"),
        (True, "auto", "boolean"),
        ("yesterday", "auto", "ISO 8601"),
        ("", "auto", "empty"),
        (12, "auto", r"outside 2000\.\.2100"),
        ("1970-01-01T00:00:00Z", "auto", r"outside 2000\.\.2100"),
        ("9999-12-31T23:59:59Z", "auto", r"outside 2000\.\.2100"),
        ("9999-12-31T23:59:59-14:00", "auto", "ISO 8601"),  # beyond datetime's range
        ("0001-01-01T00:00:00+14:00", "auto", "ISO 8601"),
        (1780315200000, "epoch_s", "out of range"),
        (1780315200, "iso", "number"),
        ("2026-06-01T12:00:00Z", "epoch_ms", "text"),
        (10**400, "auto", "out of range"),
        (-(10**30), "auto", "out of range"),
        (math.nan, "auto", "finite"),
        (math.inf, "epoch_ms", "finite"),
        ("1e400", "auto", "finite"),
        ("nan", "auto", "ISO 8601"),
        ([2026], "auto", "list"),
        ("2026-06-01T12:00:00Z" * 10, "auto", "too long"),
    ],
)
def test_bad_times(raw: Any, form: Any, match: str) -> None:
    with pytest.raises(MalformedInput, match=f"^t: {match}|^t: .*{match}"):
        parse_timestamp(raw, where="t", form=form)


def test_custom_range() -> None:
    old = datetime(1995, 1, 1, tzinfo=UTC)
    assert parse_timestamp("1995-01-01T00:00:00Z", earliest=old) == old


_ANY_JSONISH = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=80),
    st.from_regex(r"\A[0-9]{4}[-/][0-9]{2}[-/][0-9]{2}[T ][0-9:.,]{0,20}[Zz+\-0-9:]{0,7}\Z"),
    st.from_regex(r"\A[+-]?[0-9.eE+-]{1,30}\Z"),
    st.lists(st.integers(), max_size=2),
)


@given(_ANY_JSONISH, st.sampled_from(["auto", "epoch", "epoch_s", "epoch_ms", "iso"]))
def test_parse_timestamp_returns_aware_utc_or_raises_malformed(value: Any, form: Any) -> None:
    try:
        t = parse_timestamp(value, form=form, tz=AMS)
    except MalformedInput as err:
        assert str(err).startswith("time: ")
        return
    assert t.tzinfo is UTC
    assert datetime(2000, 1, 1, tzinfo=UTC) <= t < datetime(2100, 1, 1, tzinfo=UTC)


@given(st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30)))
def test_iso_roundtrip(when: datetime) -> None:
    aware = when.replace(tzinfo=UTC)
    assert parse_timestamp(aware.isoformat()) == aware
    assert parse_timestamp(aware.isoformat().replace("+00:00", "Z")) == aware
    ms = int(aware.timestamp() * 1000)
    assert parse_timestamp(ms) == datetime.fromtimestamp(ms / 1000, UTC)
