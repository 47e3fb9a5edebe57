"""Coarsening views on the dashboard: the policy functions alone (no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hub import Event, Provenance, ZoneState
from hub.dashboard import DashboardView, for_view
from hub.dashboard.coarse import Numbers, Sampler
from hub.site import Site
from hub.views import View, ViewPolicy, coarsen_count, interval_label

KEY = b"k" * 32
T = datetime(2026, 8, 14, 18, 0, tzinfo=UTC).timestamp()  # a multiple of 900
ROUNDED = DashboardView(id="rounded", round_to=10)
NOISY = DashboardView(
    id="noisy",
    noise=True,
    suppress_below=5,
    suppress_as="below",
    resolution_s=900,
    noise_key=KEY,
)


def zone(occupancy: float, **extra: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": "plein",
        "name": "Plein",
        "area_m2": 1500,
        "capacity": 4000,
        "level": "green",
        "level_index": 0,
        "colour": "green",
        "levels": [{"name": "green", "enter": None}, {"name": "red", "enter": 4.7}],
        "occupancy": occupancy,
        "density": round(occupancy / 1500, 3),
        "capacity_use": round(occupancy / 4000, 3),
        "net_inflow_per_min": 3.2,
        "time_to_capacity_min": 41.0,
        "next_level_in_min": 12.0,
        "usual": {"p10": 101.3, "p50": 333.3, "p90": 517.8, "weeks": 3},
        "data_at": "2026-08-14T18:00:00+00:00",
    }
    return d | extra


def test_round_to_rounds_every_count_and_withholds_what_gives_it_back() -> None:
    d = for_view(ROUNDED, "zone", zone(1234.4), Numbers(now=T))
    assert d is not None
    assert d["occupancy"] == 1230 and d["usual"] == {"p10": 100, "p50": 330, "p90": 520, "weeks": 3}
    for withheld in ("density", "capacity_use", "net_inflow_per_min", "time_to_capacity_min"):
        assert withheld not in d
    assert "next_level_in_min" not in d
    assert all("enter" not in lv for lv in d["levels"])  # thresholds x area = people
    assert d["area_m2"] == 1500 and d["level"] == "green"  # facts of the place and levels stay


def test_a_coarsening_view_without_the_pictures_numbers_sees_no_held_count() -> None:
    d = for_view(NOISY, "zone", zone(1234.0), None)
    assert d is not None and d["occupancy"] is None and d["usual"] is None


def test_the_sampler_holds_the_last_reading_of_the_last_completed_interval() -> None:
    s = Sampler(900)
    s.observe("zone", zone(10), T + 100)
    assert s.held("zone", "plein", T + 200) is None  # no interval completed yet
    s.observe("zone", zone(20), T + 899)
    s.observe("zone", zone(30), T + 905)  # the next interval
    start, values = s.held("zone", "plein", T + 950)  # type: ignore[misc]
    assert start == T and values["occupancy"] == 20  # the last of [T, T+900)
    s.observe("zone", zone(40), T + 1000)
    assert s.held("zone", "plein", T + 1700)[1]["occupancy"] == 20  # type: ignore[index]
    start, values = s.held("zone", "plein", T + 1900)  # type: ignore[misc]
    assert start == T + 900 and values["occupancy"] == 40  # unchanged since: still 40


def test_noise_is_one_value_per_interval_however_often_and_whatever_happens_inside() -> None:
    """Reloading (and the count changing within the interval) gives the same noisy value:
    the mean of many answers is that value, not the truth."""
    s = Sampler(900)
    s.observe("zone", zone(37), T + 890)
    answers = []
    for i, true in enumerate((38, 41, 36, 39, 44, 35) * 20):
        s.observe("zone", zone(true), T + 900 + i)
        d = for_view(NOISY, "zone", zone(true), Numbers(now=T + 900 + i, sampler=s))
        assert d is not None
        answers.append(d["occupancy"])
    assert len(set(answers)) == 1 and abs(answers[0] - 37) <= 1
    assert d["counts_interval"] == {
        "from": datetime.fromtimestamp(T, UTC).isoformat(),
        "to": datetime.fromtimestamp(T + 900, UTC).isoformat(),
    }


def test_noise_does_not_converge_over_views_and_is_the_outputs_value() -> None:
    """The label is the outputs' label (hub.views.interval_label): a view's dashboard count
    of an interval equals its outputs' zone_state count of that interval."""
    view = View(id="noisy", noise=True, suppress_below=5, time_resolution="15min", grace_s=0)
    site = Site.model_validate({"id": "s", "zones": [{"id": "plein", "area_m2": 1500}]})
    policy = ViewPolicy(view, site, KEY)
    prov = Provenance(plugin="zones", plugin_version="1", transport="internal")
    sent: list[Event] = []
    s = Sampler(900)
    for i, occ in enumerate((7.0, 9.0, 8.0)):
        at = datetime.fromtimestamp(T + 300 * i, UTC)
        ev = Event.create(
            source="zones",
            kind="zones",
            measurement=ZoneState(level="green", level_index=0, colour="green", occupancy=occ),
            provenance=prov,
            zone="plein",
            observed_at=at,
            received_at=at,
        )
        sent += policy.handle(ev)
        s.observe("zone", zone(occ), T + 300 * i)
    sent += policy.tick(datetime.fromtimestamp(T + 901, UTC))
    [out] = sent
    dash = DashboardView.from_policy(view, KEY)
    d = for_view(dash, "zone", zone(8.0), Numbers(now=T + 901, source="zones", sampler=s))
    assert d is not None
    assert d["occupancy"] == out.measurement.occupancy  # type: ignore[union-attr]
    label = interval_label("noisy", "zone_state", "zones", "plein", None, "occupancy", T)
    expect, _ = coarsen_count(8.0, key=KEY, label=label, suppress_below=5, round_to=1)
    assert d["occupancy"] == expect
    # over many intervals of the same true count the answers vary: no fixed bias to subtract
    values = {
        coarsen_count(
            8,
            key=KEY,
            label=interval_label("noisy", "zone_state", "zones", "plein", None, "occupancy", t),
            suppress_below=0,
            round_to=1,
        )[0]
        for t in range(0, 900 * 60, 900)
    }
    assert values == {7, 8, 9}


def test_suppressed_counts_read_zero_and_are_marked_below() -> None:
    s = Sampler(900)
    s.observe("zone", zone(2, usual={"p10": 1, "p50": 2, "p90": 3, "weeks": 2}), T + 10)
    d = for_view(NOISY, "zone", zone(2), Numbers(now=T + 901, sampler=s))
    assert d is not None and d["occupancy"] == 0
    assert d["suppressed_below"] == 5 and "occupancy" in d["suppressed"]
    zero = DashboardView(id="z", suppress_below=5, resolution_s=900)  # suppress_as = "zero"
    d = for_view(zero, "zone", zone(2), Numbers(now=T + 901, sampler=s))
    assert d is not None and d["occupancy"] == 0 and "suppressed" not in d


def test_lines_alerts_log_and_history_are_coarsened_or_withheld() -> None:
    line = {
        "id": "gate",
        "zone": "plein",
        "level": "green",
        "level_index": 0,
        "in_count": 123,
        "out_count": 47,
        "in_per_m_min": 10.3,
        "out_per_m_min": 3.9,
        "window_s": 60,
        "width_m": 12,
    }
    d = for_view(ROUNDED, "line", line, Numbers(now=T))
    assert d is not None and (d["in_count"], d["out_count"]) == (120, 50)
    assert "in_per_m_min" not in d and "out_per_m_min" not in d and d["window_s"] == 60
    alert = {
        "id": "a1",
        "zone": "plein",
        "line": None,
        "state": "firing",
        "value": 4.93,
        "threshold": 4.7,
        "summary": "plein at 4.93 p/m2 (7395 people)",
        "ack_note": "counted 7395 at the gate",
        "acked_by": "operator",
    }
    a = for_view(ROUNDED, "alert", alert, Numbers(now=T))
    assert a is not None and a["state"] == "firing" and a["acked_by"] == "operator"
    assert not {"value", "threshold", "summary", "ack_note"} & a.keys()
    rec = {"at": "x", "event": "measure", "zone": "plein", "subject": "plein", "note": "7395"}
    r = for_view(ROUNDED, "log", rec | {"value": 4.93, "by": "op"}, Numbers(now=T))
    assert r is not None and "note" not in r and "value" not in r and r["by"] == "op"
    hist = {
        "zone": "plein",
        "step_s": 60,
        "t": [T, T + 60],
        "occupancy": [1234.5, None],
        "p10": [101.0, 102.0],
        "p50": [333.0, 334.0],
        "p90": [517.0, 518.0],
        "forecast": {
            "t": [T + 900],
            "values": [1402.2],
            "p10": [99.0],
            "p90": [611.0],
            "weeks": 3,
            "factor": 1.37,
        },
        "thresholds": [{"level": "red", "colour": "red", "occupancy": 7050.0}],
    }
    h = for_view(ROUNDED, "history", hist, Numbers(now=T))
    assert h is not None and h["occupancy"] == [1230, None] and h["p50"] == [330, 330]
    assert h["thresholds"] == [] and "factor" not in h["forecast"]
    assert h["forecast"]["values"] == [1400] and h["forecast"]["p90"] == [610]


def test_levels_only_stays_as_it_was() -> None:
    lv = DashboardView(id="lv", levels_only=True, round_to=10)
    d = for_view(lv, "zone", zone(1234.0), Numbers(now=T))
    assert d is not None and "occupancy" not in d and "usual" not in d
    assert for_view(lv, "history", {"zone": "plein"}) is None


def test_from_policy_keeps_the_coarsening_and_the_delay() -> None:
    v = View(
        id="pub",
        round_to=10,
        suppress_below=15,
        suppress_as="below",
        time_resolution="1h",
        delay_s=900,
    )
    d = DashboardView.from_policy(v)
    assert (d.round_to, d.suppress_below, d.suppress_as) == (10, 15, "below")
    assert (d.resolution_s, d.delay_s, d.levels_only) == (3600, 900.0, False)
    assert d.coarsens_counts and d.holds and d.noise_key is None
    assert timedelta(seconds=d.delay_s) == timedelta(minutes=15)
