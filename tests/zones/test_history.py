"""The normal band per weekday x quarter-hour and the short forecast, on synthetic weeks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub import Site, Zone
from hub.zones import History, LevelSet, ZonesConfig
from hub.zones.config import BUILTIN_LEVEL_SETS
from hub.zones.history import QUARTER_S, percentile
from tests.zones.harness import Harness

NOW = datetime(2026, 6, 29, 18, 0, tzinfo=UTC)  # Monday 20:00 in Amsterdam (CEST)


def usual(local_quarter: int, week: int) -> float:
    """A weekly pattern: 100 at night, rising to 1000 at 20:00 local; weeks differ a little."""
    peak = 80  # 20:00
    return 100 + max(0, 900 - 60 * abs(local_quarter - peak)) + 10 * week


def synthetic(weeks: int, tz: str = "Europe/Amsterdam") -> History:
    h = History(tz, weeks=8)
    start = NOW - timedelta(weeks=weeks, hours=12)
    t = start
    while t < NOW - timedelta(days=1):
        local = t.astimezone(h.tz)
        q = local.hour * 4 + local.minute // 15
        week = int((t - start) / timedelta(weeks=1))
        for minute in (0, 5, 10):  # three ticks per quarter
            h.add("plaza", (t + timedelta(minutes=minute)).timestamp(), usual(q, week))
        t += timedelta(minutes=15)
    return h


def test_percentile_interpolates() -> None:
    assert percentile([1.0], 90) == 1.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert percentile([10.0, 20.0], 10) == pytest.approx(11.0)


def test_normal_band_per_weekday_and_quarter() -> None:
    h = synthetic(weeks=6)
    band = h.band("plaza", NOW.timestamp())
    assert band is not None and band.weeks == 6
    # 20:00 local on the six past Mondays: 1000 + 10 * week for week 0..5
    values = sorted(1000.0 + 10 * w for w in range(6))
    assert band.p50 == pytest.approx(percentile(values, 50))
    assert (band.p10, band.p90) == (pytest.approx(1005.0), pytest.approx(1045.0))
    assert h.band("elsewhere", NOW.timestamp()) is None


def test_the_band_compares_local_time_across_daylight_saving() -> None:
    # 2026-03-29: CET -> CEST. A Monday after it, 20:00 local, against Mondays before it
    h = History("Europe/Amsterdam", weeks=4)
    after = datetime(2026, 4, 6, 18, 0, tzinfo=UTC)  # 20:00 CEST
    before = datetime(2026, 3, 23, 19, 0, tzinfo=UTC)  # 20:00 CET, two weeks earlier
    h.add("plaza", before.timestamp(), 777.0)
    band = h.band("plaza", after.timestamp())
    assert band is not None and band.p50 == 777.0


def test_forecast_follows_the_median_scaled_by_now() -> None:
    h = synthetic(weeks=8)
    # today has been exactly twice as busy as usual for the last three hours
    for k in range(12):
        t = NOW - timedelta(minutes=15 * (11 - k))
        local = t.astimezone(h.tz)
        h.add("plaza", t.timestamp(), 2 * usual(local.hour * 4 + local.minute // 15, 8))
    f = h.forecast("plaza", NOW.timestamp(), quarters=8, cap=4.0)
    assert f.weeks == 8 and f.reliable()
    assert len(f.starts) == len(f.values) == 8
    assert f.starts[0] == NOW + timedelta(minutes=15)
    assert 2.0 < f.factor < 2.3  # today is twice week 8; the median rests on weeks 0..7
    # next quarter (20:15 local): smoothed median of 19:45 / 20:15 / 20:30 around it, x factor
    med = [percentile(sorted(usual(q, w) for w in range(8)), 50) for q in (80, 81, 82)]
    expected = (0.25 * med[0] + 0.5 * med[1] + 0.25 * med[2]) * f.factor
    assert f.values[0] == pytest.approx(expected)
    assert f.values[0] > f.values[-1]  # after the 20:00 peak it falls


def test_forecast_factor_is_capped_and_one_without_history() -> None:
    h = synthetic(weeks=3)
    for k in range(12):
        h.add("plaza", (NOW - timedelta(minutes=15 * k)).timestamp(), 1e6)
    f = h.forecast("plaza", NOW.timestamp(), cap=4.0)
    assert f.factor == 4.0
    empty = History("UTC").forecast("plaza", NOW.timestamp())
    assert (empty.factor, empty.weeks, empty.reliable()) == (1.0, 0, False)
    assert empty.values == (0.0,) * 8


def test_model_reports_band_forecast_and_time_to_next_level() -> None:
    fast = LevelSet(levels=BUILTIN_LEVEL_SETS["moving"].levels, pending_s=0)
    conf = ZonesConfig(level_sets={"fast": fast})
    site = Site(timezone="Europe/Amsterdam", zones=(Zone(id="plaza", area_m2=1000, levels="fast"),))
    start = NOW - timedelta(minutes=150)  # 17:30 local, well before the 20:00 peak
    h = Harness(site, conf, start=start)
    h.model.history = synthetic(weeks=6)
    for _ in range(5):
        local = h.now.astimezone(h.model.history.tz)
        q = local.hour * 4 + local.minute // 15
        h.occupancy("plaza", usual(q, 6))
        h.advance(60, step=30)
    v = h.zone("plaza")
    assert v.band is not None and v.band.weeks == 6
    assert v.forecast is not None and v.forecast.weeks == 6
    # usual at 17:30 ~ 0.46 p/m² (green); the pattern reaches yellow (0.72) from the
    # 18:45 quarter on, 70 minutes after 17:35
    assert v.level == "green"
    assert v.next_level_in_min == pytest.approx(70.0)
    (last,) = h.of("zone_state")[-1:]
    assert last.measurement.usual_weeks == 6
    assert last.measurement.usual_p50 == pytest.approx(v.band.p50, abs=0.1)
    assert last.measurement.next_level_in_min == pytest.approx(70.0, abs=1.0)  # published


def test_history_keeps_only_the_configured_weeks() -> None:
    h = History("UTC", weeks=2)
    now = NOW.timestamp()
    h.add("plaza", now - 30 * 86400, 1.0)
    h.add("plaza", now - 3 * 86400, 1.0)
    h.prune(now)
    assert list(h.bins["plaza"]) == [int((now - 3 * 86400) // QUARTER_S)]
