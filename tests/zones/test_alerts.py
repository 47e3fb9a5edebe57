"""Alerts: one per (rule, zone), lifecycle, escalation, silences, inhibition, the measures log."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from hub import Line, Site, Zone
from hub.privacy import check_event
from hub.zones import AlertRule, LevelSet, ZonesConfig
from hub.zones.config import BUILTIN_LEVEL_SETS
from hub.zones.log import query, read_jsonl, to_csv, to_jsonl
from tests.zones.harness import Harness

FAST = LevelSet(levels=BUILTIN_LEVEL_SETS["moving"].levels, pending_s=0, hold_s=0)
SITE = Site(zones=(Zone(id="street", area_m2=1000, capacity=3000, levels="fast"),))


def config(*rules: AlertRule) -> ZonesConfig:
    return ZonesConfig(level_sets={"fast": FAST}, rules=rules)


def drive(h: Harness, people: float, seconds: float = 10, step: float = 5) -> None:
    done = 0.0
    while done < seconds:
        h.occupancy("street", people)
        h.advance(step)
        done += step


def alert_states(h: Harness) -> list[tuple[str, str, str]]:
    return [
        (e.measurement.rule, e.measurement.state, e.measurement.severity) for e in h.of("alert")
    ]


def test_one_alert_per_rule_and_zone_through_its_lifecycle() -> None:
    rule = AlertRule(id="orange", kind="level", level="orange", pending_s=20, hold_s=60)
    h = Harness(SITE, config(rule))
    drive(h, 1500, seconds=15)  # orange, but not for 20 s: pending, not notified
    (a,) = h.model.open_alerts()
    assert a.state == "pending" and not h.of("alert")
    drive(h, 1500, seconds=30)
    drive(h, 1600, seconds=300)  # many evaluations: still one alert
    assert [a.alert_id for a in h.model.open_alerts()] == ["orange/street/1"]
    assert alert_states(h) == [("orange", "firing", "orange")]
    drive(h, 100, seconds=55)  # condition clear, hold not yet over
    assert h.model.open_alerts()[0].state == "firing"
    drive(h, 100, seconds=10)
    assert h.model.open_alerts()[0].state == "resolved"
    drive(h, 100, seconds=900)  # close_after_s
    assert h.model.open_alerts() == []
    assert alert_states(h) == [
        ("orange", "firing", "orange"),
        ("orange", "resolved", "orange"),
        ("orange", "closed", "orange"),
    ]
    drive(h, 1500, seconds=30)  # a new episode gets a new alert
    assert [a.alert_id for a in h.model.open_alerts()] == ["orange/street/2"]
    for e in h.of("alert"):
        check_event(e)  # counts only: passes the hub's privacy check
        assert e.zone == "street" and e.source == "zones"


def test_a_pending_alert_that_clears_leaves_no_trace() -> None:
    rule = AlertRule(id="orange", kind="level", level="orange", pending_s=60)
    h = Harness(SITE, config(rule))
    drive(h, 1500, seconds=30)
    drive(h, 100, seconds=10)
    assert h.model.open_alerts() == [] and not h.of("alert")
    assert not [r for r in h.model.alerts.log.records if r["event"] != "daily_reset"]


def test_escalation_while_acknowledged_notifies_again() -> None:
    rule = AlertRule(id="busy", kind="level", level="yellow", hold_s=60)
    h = Harness(SITE, config(rule))
    drive(h, 800)  # yellow
    (a,) = h.model.open_alerts()
    h.model.acknowledge(a.alert_id, by="operator-1", note="hosts sent", now=h.now)
    drive(h, 1200)  # orange: escalates above the acknowledged yellow
    drive(h, 1300)
    drive(h, 1000)  # back to orange... still above the acknowledged level, no new notice
    assert alert_states(h) == [
        ("busy", "firing", "yellow"),
        ("busy", "acknowledged", "yellow"),
        ("busy", "firing", "orange"),
    ]
    esc = h.of("alert")[-1].measurement
    assert esc.escalated and esc.alert_id == a.alert_id
    h.model.acknowledge(a.alert_id, by="operator-2", note="", now=h.now)
    drive(h, 2500)  # red: escalates again
    assert alert_states(h)[-2:] == [("busy", "acknowledged", "orange"), ("busy", "firing", "red")]
    events = [r["event"] for r in h.model.alerts.log.records]
    assert events == ["fired", "acknowledged", "escalated", "acknowledged", "escalated"]


def test_acknowledging_needs_a_firing_alert() -> None:
    h = Harness(SITE, config(AlertRule(id="o", kind="level", level="orange", pending_s=60)))
    drive(h, 1500)
    (a,) = h.model.open_alerts()
    with pytest.raises(ValueError, match="is pending: only a firing alert"):
        h.model.acknowledge(a.alert_id, by="op", now=h.now)
    with pytest.raises(KeyError, match="no open alert 'nope'"):
        h.model.acknowledge("nope", by="op", now=h.now)


def test_a_silence_mutes_until_it_expires() -> None:
    rule = AlertRule(id="orange", kind="level", level="orange")
    h = Harness(SITE, config(rule))
    sid = h.model.silence(
        rule="orange",
        subject="street",
        until=h.now + timedelta(minutes=10),
        reason="planned concert egress",
        by="operator-1",
        now=h.now,
    )
    drive(h, 1500, seconds=300)
    (a,) = h.model.open_alerts()
    assert a.state == "firing" and a.silenced and not h.of("alert")
    drive(h, 1500, seconds=305)  # the silence ends at 10 min
    (notice,) = h.of("alert")
    assert notice.measurement.state == "firing" and not notice.measurement.silenced
    assert sid not in h.model.alerts.silences
    log = [(r["event"], r.get("note")) for r in h.model.alerts.log.records]
    assert log == [
        ("silenced", "planned concert egress"),
        ("fired", None),
        ("silence_expired", "planned concert egress"),
    ]


def test_a_silence_needs_a_reason_and_a_future_end() -> None:
    h = Harness(SITE, config())
    with pytest.raises(ValueError, match="needs a reason"):
        h.model.silence(until=h.now + timedelta(minutes=1), reason=" ", by="op", now=h.now)
    with pytest.raises(ValueError, match="in the future"):
        h.model.silence(until=h.now, reason="x", by="op", now=h.now)
    with pytest.raises(KeyError, match="unknown rule"):
        h.model.silence(rule="x", until=h.now + timedelta(1), reason="x", by="op", now=h.now)


def test_red_mutes_orange_of_the_same_zone() -> None:
    orange = AlertRule(id="orange", kind="level", level="orange", hold_s=0)
    red = AlertRule(id="red", kind="level", level="red", hold_s=0)
    h = Harness(SITE, config(orange, red))
    drive(h, 1500)  # orange
    drive(h, 2500)  # red
    by_rule = {a.rule: a for a in h.model.open_alerts()}
    assert by_rule["orange"].inhibited and not by_rule["red"].inhibited
    assert alert_states(h) == [("orange", "firing", "orange"), ("red", "firing", "red")]
    drive(h, 1500)  # red clears: orange is no longer muted (already notified: no repeat)
    assert not by_rule["orange"].inhibited
    assert alert_states(h)[-1] == ("red", "resolved", "red")


def test_straight_to_red_notifies_only_red() -> None:
    orange = AlertRule(id="orange", kind="level", level="orange")
    red = AlertRule(id="red", kind="level", level="red")
    h = Harness(SITE, config(orange, red))
    drive(h, 2500)
    assert alert_states(h) == [("red", "firing", "red")]
    orange_alert = next(a for a in h.model.open_alerts() if a.rule == "orange")
    assert orange_alert.inhibited and orange_alert.state == "firing"


def test_a_dead_sensor_mutes_too_quiet() -> None:
    site = Site(
        zones=(Zone(id="square", area_m2=5000),),
        lines=(Line(id="gate", zone="square", width_m=4),),
    )
    conf = ZonesConfig(
        rules=(
            AlertRule(id="quiet", kind="too_quiet", factor=0.5, pending_s=240),
            AlertRule(id="silent", kind="sensor_silent", after_s=120),
        ),
    )
    h = Harness(site, conf)
    # four weeks of history: 500 people at this hour, every week
    start = h.now.timestamp()
    for week in range(1, 5):
        for q in range(-8, 9):
            h.model.history.add("square", start - week * 7 * 86400 + q * 900, 500.0)
    h.crossing("gate", 3, 0)  # the gate counter reports once, then dies
    for _ in range(30):
        h.occupancy("square", 20)  # the camera sees almost nobody
        h.advance(10)
    by_rule = {a.rule: a for a in h.model.open_alerts()}
    assert by_rule["silent"].state == "firing"
    assert by_rule["quiet"].state == "firing" and by_rule["quiet"].inhibited
    assert [e.measurement.rule for e in h.of("alert")] == ["silent"]
    # without the dead sensor, too quiet is notified
    h2 = Harness(site, conf)
    h2.model.history.load(h.model.history.to_dict())
    for _ in range(30):
        h2.occupancy("square", 20)
        h2.advance(10)
    assert [e.measurement.rule for e in h2.of("alert")] == ["quiet"]


def test_explicit_inhibits() -> None:
    conf = ZonesConfig(
        level_sets={"fast": FAST},
        rules=(
            AlertRule(id="capacity", kind="time_to_capacity", minutes=30, inhibits=("orange",)),
            AlertRule(id="orange", kind="level", level="orange"),
        ),
    )
    site = Site(zones=(Zone(id="street", area_m2=1000, capacity=1500, levels="fast"),))
    h = Harness(site, conf)
    for people in range(900, 1400, 20):  # rising 20 per 30 s: capacity in < 30 min
        h.occupancy("street", people)
        h.advance(30, step=10)
    assert [e.measurement.rule for e in h.of("alert")] == ["capacity"]


def test_time_to_capacity_rule() -> None:
    site = Site(zones=(Zone(id="hall", area_m2=10_000, capacity=1000),))
    h = Harness(
        site, ZonesConfig(rules=(AlertRule(id="ttc", kind="time_to_capacity", minutes=15),))
    )
    for i in range(8):
        h.occupancy("hall", 500 + 40 * i)  # +40 per minute
        h.advance(60, step=20)
    (notice,) = h.of("alert")
    assert notice.measurement.rule == "ttc" and notice.measurement.value < 15


def test_measures_log_is_queryable_and_exported() -> None:
    rule = AlertRule(id="orange", kind="level", level="orange", hold_s=0)
    h = Harness(SITE, config(rule))
    drive(h, 1500)
    (a,) = h.model.open_alerts()
    h.model.acknowledge(a.alert_id, by="op-1", note="stewards to entrance B", now=h.now)
    h.model.log_measure("street", "closed entrance B", by="op-1", now=h.now)
    written = h.model.alerts.log.since(0)
    text = to_jsonl(written)
    assert len(text.splitlines()) == 3
    back = list(read_jsonl([*text.splitlines(), '{"seq": 4, "at": "2026-']))  # torn line
    assert [r["event"] for r in back] == ["fired", "acknowledged", "measure"]
    assert [r["seq"] for r in back] == [1, 2, 3]
    assert query(back, subject="street", events=["measure"])[0]["note"] == "closed entrance B"
    assert query(back, since=h.now + timedelta(seconds=1)) == []
    csv = to_csv(back)
    assert csv.splitlines()[0].startswith("seq,at,event,alert_id")
    assert "closed entrance B" in csv
    assert h.model.alerts.log.since(3) == []
    json.dumps(h.model.to_dict())  # the snapshot stays JSON


def test_busier_than_usual() -> None:
    site = Site(zones=(Zone(id="square", area_m2=50_000),))
    h = Harness(
        site, ZonesConfig(rules=(AlertRule(id="busy", kind="busier_than_usual", factor=1.5),))
    )
    start = h.now.timestamp()
    for week in range(1, 4):
        for q in range(-8, 9):
            h.model.history.add("square", start - week * 7 * 86400 + q * 900, 100.0 + week)
    drive_square = [140, 150, 160, 170]
    for people in drive_square:
        h.occupancy("square", people)
        h.advance(5)
    (notice,) = h.of("alert")
    assert notice.measurement.rule == "busy"
    assert notice.measurement.threshold == pytest.approx(1.5 * 102.8)  # p90 of 101, 102, 103
