"""Levels: hysteresis (separate enter/exit), pending before rising, hold before falling."""

from __future__ import annotations

import itertools
import random
from datetime import time

import pytest
from pydantic import ValidationError

from hub import Line, Site, Zone
from hub.zones import BUILTIN_LEVEL_SETS, Level, LevelSet, LevelTracker, Profile, ZonesConfig
from hub.zones.levels import target_level
from tests.zones.harness import Harness

MOVING = BUILTIN_LEVEL_SETS["moving"]  # yellow 0.72 (exit 0.648), orange 1.08, red 2.15


def test_target_level_uses_enter_going_up_and_exit_going_down() -> None:
    assert target_level(MOVING, 0, 0.71) == 0
    assert target_level(MOVING, 0, 0.72) == 1
    assert target_level(MOVING, 0, 3.0) == 3  # straight to red
    assert target_level(MOVING, 1, 0.70) == 1  # below enter, above exit: stays
    assert target_level(MOVING, 1, 0.60) == 0
    assert target_level(MOVING, 3, 1.5) == 2
    assert target_level(MOVING, 3, 0.1) == 0


def test_defaults_follow_the_literature() -> None:
    enters = {n: [lv.enter for lv in s.levels[1:]] for n, s in BUILTIN_LEVEL_SETS.items()}
    assert enters["moving"] == [0.72, 1.08, 2.15]  # Fruin walkway LOS D, E, F
    assert enters["standing"] == [2.0, 3.0, 4.7]  # Still; Taylor Report 4.7 p/m²
    assert enters["flow"] == [49.0, 66.0, 82.0]  # Fruin flow LOS D, E, F
    assert [lv.name for lv in MOVING.levels] == ["green", "yellow", "orange", "red"]


def test_level_set_validation() -> None:
    with pytest.raises(ValidationError, match="must rise"):
        LevelSet(levels=(Level(name="a"), Level(name="b", enter=2), Level(name="c", enter=1)))
    with pytest.raises(ValidationError, match="must not be above"):
        LevelSet(levels=(Level(name="a"), Level(name="b", enter=2, exit=3)))
    with pytest.raises(ValidationError, match="is the base"):
        LevelSet(levels=(Level(name="a", enter=1),))


def test_tracker_pending_and_hold() -> None:
    ls = LevelSet(
        levels=(Level(name="low"), Level(name="high", enter=10, exit=8)), pending_s=30, hold_s=60
    )
    t = LevelTracker()
    assert t.update(ls, 0, 0) and t.level == "low"
    assert not t.update(ls, 12, 1)
    assert not t.update(ls, 12, 30)
    assert t.update(ls, 12, 31) and t.level == "high"
    assert not t.update(ls, 9, 40)  # below enter, above exit
    assert not t.update(ls, 5, 50)  # below exit: hold starts
    assert not t.update(ls, 9, 100)  # back above exit: hold restarts
    assert not t.update(ls, 5, 101)
    assert not t.update(ls, 5, 160)
    assert t.update(ls, 5, 161) and t.level == "low"


def test_no_flapping_on_a_noisy_signal_around_a_threshold() -> None:
    site = Site(zones=(Zone(id="street", area_m2=1000, stale_after_s=60),))
    h = Harness(site)
    rng = random.Random(7)
    # density noisy around yellow's enter (0.72): 680..760 people, a reading every 5 s
    for _ in range(240):
        h.occupancy("street", rng.uniform(680, 760))
        h.advance(5)
    levels = [e.measurement.level for e in h.of("zone_state")]
    changes = sum(1 for a, b in itertools.pairwise(levels) if a != b)
    # the noise never stays above 0.72 for the 30 s pending time
    assert set(levels) == {"green"} and changes == 0
    # a steady rise does pass
    for _ in range(8):
        h.occupancy("street", 800)
        h.advance(5)
    assert h.zone("street").level == "yellow"
    # now noisy just above the exit threshold (0.648) and below enter: stays yellow
    for _ in range(120):
        h.occupancy("street", rng.uniform(650, 719))
        h.advance(5)
    assert h.zone("street").level == "yellow"
    # below exit, but not for the 120 s hold: still yellow
    for _ in range(20):
        h.occupancy("street", 500)
        h.advance(5)
    assert h.zone("street").level == "yellow"
    for _ in range(6):
        h.occupancy("street", 500)
        h.advance(5)
    assert h.zone("street").level == "green"
    levels = [e.measurement.level for e in h.of("zone_state")]
    changes = [(a, b) for a, b in itertools.pairwise(levels) if a != b]
    assert changes == [("green", "yellow"), ("yellow", "green")]


def test_standing_zone_uses_the_standing_levels_and_lines_the_flow_levels() -> None:
    site = Site(
        zones=(Zone(id="stage", area_m2=100, type="standing"),),
        lines=(Line(id="gate", zone="stage", width_m=2.0),),
    )
    h = Harness(site, ZonesConfig(window_s=60))
    h.occupancy("stage", 250)  # 2.5 p/m²: yellow for a standing crowd, red if moving
    h.crossing("gate", 120, 80)  # (120 + 80) / 2 m / 1 min = 100 p/m/min: red
    h.tick()
    assert h.zone("stage").level == "yellow"
    line = h.model.lines()["gate"]
    assert (line.level, line.metric_value) == ("red", 100.0)
    assert h.zone("stage").measures == ""


def test_profile_switches_level_sets_by_schedule_without_losing_state() -> None:
    strict = LevelSet(
        levels=(
            Level(name="green", colour="green"),
            Level(name="yellow", colour="yellow", enter=0.3, measures="hosts to the square"),
            Level(name="orange", colour="orange", enter=0.5),
            Level(name="red", colour="red", enter=0.9),
        ),
        pending_s=0,
    )
    conf = ZonesConfig(
        level_sets={"event": strict},
        profiles=(
            Profile(
                id="event-day",
                weekdays=("mon",),
                start=time(12, 30),
                level_sets={"moving": "event"},
            ),
        ),
    )
    site = Site(zones=(Zone(id="street", area_m2=1000),))
    h = Harness(site, conf)  # Monday 12:00 UTC
    h.occupancy("street", 400)
    h.tick()
    v = h.zone("street")
    assert (v.level, v.profile, v.level_set) == ("green", None, "moving")
    h.clock.advance(30 * 60)
    h.occupancy("street", 400)
    h.tick()
    v = h.zone("street")
    assert (v.level, v.profile, v.level_set) == ("yellow", "event-day", "event")
    assert v.measures == "hosts to the square"
    (last,) = h.of("zone_state")[-1:]
    assert last.measurement.profile == "event-day"


def test_unknown_level_set_or_metric_mismatch_is_a_precise_config_error() -> None:
    from hub import ConfigError
    from hub.zones import ZoneModel

    site = Site(
        zones=(
            Zone(id="a", area_m2=10, levels="nope"),
            Zone(id="b", area_m2=10, levels="capacity"),
        ),
        lines=(Line(id="l", zone="a", width_m=1, levels="moving"),),
    )
    with pytest.raises(ConfigError) as err:
        ZoneModel(site)
    lines = str(err.value).splitlines()
    assert lines[0].startswith("site.zones[a].levels: unknown level set 'nope'; known: ")
    assert lines[1] == (
        "site.zones[b].levels: level set 'capacity' is on capacity use: give the zone a capacity"
    )
    assert (
        lines[2] == "site.lines[l].levels: level set 'moving' is not on flow per metre (flow_per_m)"
    )
