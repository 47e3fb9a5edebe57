"""The scripted surge of the simulated devices (sans-io) and the Hikvision camera's use of it."""

from __future__ import annotations

import argparse
import re

import pytest

from hub.plugins.camera_aggregate.simulator import hikvision_realtime
from hub.simulate.surge import Surge


def test_people_rise_to_the_peak_and_fall_back_then_repeat() -> None:
    s = Surge(500, calm_s=10, rise_s=10, hold_s=10, fall_s=10, rest_s=10, base=20)
    assert [s.people(t) for t in (0, 9, 15, 20, 29, 35, 40, 45)] == [
        20,
        20,
        260,
        500,
        500,
        260,
        20,
        20,
    ]
    assert s.people(50 + 15) == s.people(15)  # the next cycle


def test_parse_fills_in_defaults_and_refuses_with_one_line() -> None:
    assert Surge.parse("300:2:4") == Surge(300, 2, 4, 30, 40, 60)
    for bad in ("lots", "0", "300:-1", "300:1:2:3:4:5:6"):
        with pytest.raises(argparse.ArgumentTypeError, match=r"^--surge "):
            Surge.parse(bad)


def test_the_camera_running_totals_follow_the_surge() -> None:
    surge = Surge(900, calm_s=5, rise_s=10, hold_s=10, fall_s=10, rest_s=100)
    inside, prev = [], (0, 0)
    for msg in hikvision_realtime(pushes=60, every_s=1.0, surge=surge, seed=3):
        m = re.search(rb"<enter>(\d+)</enter>.*<exit>(\d+)</exit>", msg.body, re.S)
        assert m is not None
        enter, exit_ = int(m[1]), int(m[2])
        assert enter >= prev[0] and exit_ >= prev[1]  # running totals never go back
        prev = (enter, exit_)
        inside.append(enter - exit_)
    assert inside[:5] == [20] * 5
    assert max(inside) == 900 and inside[15:25] == [900] * 10
    assert inside[-1] == 20
