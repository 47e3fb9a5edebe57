"""``[[views]]`` tables and the checks check-config runs on them."""

from __future__ import annotations

from typing import Any, ClassVar

from hub.views import (
    INTERNAL,
    Action,
    View,
    leaves_machine,
    parse_views,
    policy_version,
    sink_view_problem,
    site_problems,
    token_literal_problems,
)
from tests.views.helpers import SITE


def problems(raw: Any) -> list[str]:
    return [str(p) for p in parse_views(raw)[1]]


def test_a_full_view_table_validates() -> None:
    [view], probs = parse_views(
        [
            {
                "id": "organiser",
                "name": "Organiser",
                "token": "s3cret-token-value",
                "zones": ["beach"],
                "measurements": ["crossing", "occupancy"],
                "suppress_below": 15,
                "noise": True,
                "time_resolution": "1h",
                "delay_s": 900,
                "history_days": 7,
                "actions": ["acknowledge", "log_measure"],
            }
        ]
    )
    assert probs == []
    assert view.resolution_s == 3600 and view.may(Action.ACKNOWLEDGE)
    assert not view.may("silence")
    assert "s3cret" not in repr(view)  # the token never shows in logs


def test_each_problem_is_one_precise_line() -> None:
    assert problems([{"id": "p", "zone": ["beach"]}]) == [
        "views[p].zone: unknown field (allowed: " + ", ".join(sorted(View.model_fields)) + ")"
    ]
    assert problems([{"id": "p", "time_resolution": "2h"}]) == [
        "views[p].time_resolution: Input should be 'raw', '1min', '5min', '15min' or '1h'"
    ]
    assert problems([{"id": "p", "noise": True}]) == [
        "views[p]: noise and suppress_below act on interval counts: set time_resolution "
        '(e.g. "15min" or "1h"); on raw readings repeated samples average the noise away'
    ]
    assert problems([{"id": "p", "levels_only": True, "measurements": ["crossing"]}]) == [
        "views[p]: levels_only shows colour levels only, and crossing has no level; "
        "remove it from measurements or set levels_only = false"
    ]
    assert problems([{"id": "p", "measurements": ["status"]}]) == [
        "views[p]: measurements lists 'status' (device health) but sensor_health is false; "
        "set sensor_health = true or remove 'status'"
    ]
    assert problems([{"id": "p", "token": ""}]) == [
        'views[p]: token is empty; set it from the environment, e.g. token = "${VIEW_TOKEN}", '
        "or leave it out for a view that serves outputs only"
    ]
    assert problems([{"id": INTERNAL}]) == [
        "views[internal]: view id 'internal' is built in (full detail) and cannot be "
        "redefined; choose another id"
    ]
    assert problems([{"id": "p"}, {"id": "p"}]) == ["views[p].id: duplicate view id 'p'"]
    assert problems([{"id": "a", "token": "same"}, {"id": "b", "token": "same"}]) == [
        "views[b].token: the same token as views[a]; each view needs its own token "
        "(a token decides which view a request sees)"
    ]
    assert problems([{"name": "no id"}]) == ["views[#1].id: field required"]
    assert problems({"id": "p"}) == []  # one [views] table is read as a list of one
    assert problems("x") == ["views: write views as [[views]] tables"]


def test_views_are_checked_against_the_site() -> None:
    views, _ = parse_views([{"id": "o", "zones": ["beach", "bech"], "lines": ["gate-z"]}])
    assert [str(p) for p in site_problems(views, SITE)] == [
        "views[o].zones: unknown zone 'bech'; known zones: beach, boulevard, pier "
        "(from [[site.zones]])",
        "views[o].lines: unknown line 'gate-z'; known lines: gate-a, gate-b, pier-entry "
        "(from [[site.lines]])",
    ]
    assert site_problems(parse_views([{"id": "all"}])[0], SITE) == []


def test_a_token_must_come_from_the_environment() -> None:
    raw = [{"id": "a", "token": "plain"}, {"id": "b", "token": "${B_TOKEN}"}, {"id": "c"}]
    assert [str(p) for p in token_literal_problems(raw)] == [
        'views[a].token: write the token as an environment reference, e.g. token = "${VIEW_TOKEN}"'
        "; a secret in the file leaks with the file"
    ]


class _ThirdPartySink:
    leaves_machine: ClassVar[bool] = True


def test_an_output_that_leaves_the_machine_must_name_a_view() -> None:
    p = sink_view_problem("mqtt", "x", None, ["organiser"])
    assert str(p) == (
        "sinks.mqtt[x]: this output leaves the machine but names no view; add view = "
        '"internal" for full detail or a restricted view id'
    )
    assert sink_view_problem("http", "hook", None, []) is not None
    assert sink_view_problem("kafka", "k", None, [], _ThirdPartySink) is not None
    assert sink_view_problem("sqlite", "db", None, []) is None  # stays on the machine
    assert sink_view_problem("mqtt", "x", "internal", []) is None
    assert sink_view_problem("mqtt", "x", "organiser", ["organiser"]) is None
    assert str(sink_view_problem("jsonl", "f", "orgniser", ["organiser"])) == (
        "sinks.jsonl[f].view: unknown view 'orgniser'; known views: internal, organiser "
        "(define it as a [[views]] table)"
    )
    assert leaves_machine("mqtt") and not leaves_machine("console")


def test_policy_version_changes_with_the_policy_not_the_token() -> None:
    a = View(id="o", token="one", zones=("beach",))
    b = View(id="o", token="two", zones=("beach",))
    c = View(id="o", token="one", zones=("beach", "pier"))
    assert policy_version(a) == policy_version(b) != policy_version(c)
    assert len(policy_version(a)) == 16
