"""Config validation of ``generic_json``: expressions compiled at load time, clear errors."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from hub.core.config import validate_config
from hub.core.plugins import load_plugins
from hub.errors import ConfigProblem
from hub.plugins.generic_json.config import GenericJsonConfig
from hub.plugins.generic_json.source import GenericJsonSource

PLUGIN_DIR = Path(__file__).parents[3] / "hub" / "plugins" / "generic_json"

BASE: dict[str, Any] = {
    "id": "dev",
    "topics": ["people/+/up"],
    "line": "gate-a",
    "in": "in",
    "out": "out",
}


def cfg(**changes: Any) -> GenericJsonConfig:
    raw = {**BASE, **changes}
    for k in [k for k, v in raw.items() if v is None]:
        del raw[k]
    return GenericJsonConfig.model_validate(raw)


def error_of(**changes: Any) -> tuple[tuple[Any, ...], str]:
    with pytest.raises(ValidationError) as info:
        cfg(**changes)
    err = info.value.errors()[0]
    return tuple(err["loc"]), err["msg"]


def test_minimal_config_and_in_alias() -> None:
    c = cfg()
    assert c.in_ == "in"
    assert c.transport == "mqtt"
    assert c.measurement == "crossing"
    assert GenericJsonSource.required_transports(c) == [("mqtt", "default")]
    http = cfg(transport="http", topics=None, auth={"scheme": "bearer", "token": "t0k"})
    assert GenericJsonSource.required_transports(http) == [("http", None)]


def test_bad_jmespath_names_the_field() -> None:
    loc, msg = error_of(**{"in": "counts.[in"})
    assert loc == ("in",)
    assert msg.startswith("invalid JMESPath expression: ")
    assert "\n" not in msg


@pytest.mark.parametrize(
    ("field", "expr"),
    [
        ("time", "ts."),
        ("sequence", "seq[?"),
        ("items", "lines[*"),
        ("key", "'unterminated"),
        ("line_expr", "zone ||"),
    ],
)
def test_every_expression_field_is_compiled(field: str, expr: str) -> None:
    extra = {"line": None} if field == "line_expr" else {}
    loc, msg = error_of(**{field: expr, **extra})
    assert loc == (field,)
    assert "invalid JMESPath expression" in msg


def test_unknown_function_is_a_config_error() -> None:
    loc, msg = error_of(**{"in": "to_int(total)"})
    assert loc == ("in",)
    assert "unknown function to_int()" in msg


def test_extras_list_and_table_forms() -> None:
    as_list = cfg(extras=["battery", "meta.fw"])
    assert as_list.extras == {"battery": "battery", "meta.fw": "meta.fw"}
    assert cfg(extras={"fw": "meta.fw"}).extras == {"fw": "meta.fw"}
    loc, msg = error_of(extras={"fw": "meta.[fw"})
    assert loc == ("extras", "fw")
    assert "invalid JMESPath expression" in msg


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"topics": []}, "needs `topics`"),
        ({"transport": "http", "auth": {"token": "x"}}, "only used with transport = 'mqtt'"),
        ({"transport": "http", "topics": None}, "needs auth.token"),
        (
            {"transport": "http", "topics": None, "auth": {"scheme": "basic", "username": "u"}},
            "needs auth.username and auth.password",
        ),
        ({"line": None}, "needs `line` or `line_expr`"),
        ({"in": None, "out": None}, "needs in and/or out"),
        ({"count": "n"}, "count is not used by measurement = 'crossing'"),
        (
            {
                "measurement": "occupancy",
                "in": None,
                "out": None,
                "count": "n",
                "cumulative": True,
                "zone": "z",
            },
            "makes no sense for occupancy",
        ),
        (
            {"measurement": "density", "in": None, "out": None, "value": "v", "line": None},
            "needs `zone` or `zone_expr`",
        ),
        ({"reset_marker": "startTime"}, "reset_marker needs cumulative = true"),
        ({"time": "ts", "time_to": "end"}, "not both"),
        ({"time_format": "iso_interval"}, "needs `time`"),
        ({"line_expr": "name"}, "give `line` or `line_expr`, not both"),
        ({"map": {"1": "gate-a"}}, "`map` translates line_expr/zone_expr"),
        ({"measurement": "crossing", "measurement_expr": "kind"}, "not both"),
        ({"measurement_expr": "kind", "in": None, "out": None}, "at least one of"),
    ],
)
def test_inconsistent_configs(changes: dict[str, Any], needle: str) -> None:
    _, msg = error_of(**changes)
    assert needle in msg
    assert not msg.startswith("Value error")


def test_field_level_checks() -> None:
    assert error_of(timezone="Mars/Olympus")[1] == "unknown IANA time zone 'Mars/Olympus'"
    loc, msg = error_of(drop_fields=["location"])
    assert loc == ("drop_fields",)
    assert msg.startswith("removed: generic_json forwards only what the config names")
    assert 'extras = { name = "expression" }' in msg
    assert error_of(map={"1": "not an id!"}, line=None, line_expr="n")[0] == ("map", "1")
    assert error_of(scale=0)[0] == ("scale",)
    assert error_of(unknown_field=1)[0] == ("unknown_field",)


def test_measurement_expr_allows_mixed_readings() -> None:
    c = cfg(measurement_expr="kind", line=None, line_expr="line", count="n")
    assert c.measurement_expr == "kind"


def test_site_refs_cover_map_targets() -> None:
    c = cfg(line=None, line_expr="name", map={"1": "gate-a", "2": "gate-b"})
    assert c.site_refs() == [("line", "gate-a"), ("line", "gate-b")]
    z = cfg(
        measurement="occupancy",
        line=None,
        **{"in": None, "out": None},
        count="n",
        zone_expr="area",
        map={"a": "hall"},
    )
    assert z.site_refs() == [("zone", "hall")]


# -- through the core's config loader: the rendered line a user sees ---------------------


def _problems(raw: dict[str, Any]) -> list[ConfigProblem]:
    registry = load_plugins(entrypoints=False)
    problems: list[ConfigProblem] = []
    validate_config(raw, registry, problems)
    return problems


def _site() -> dict[str, Any]:
    return {
        "id": "s",
        "zones": [{"id": "hall", "name": "Hall", "area_m2": 100.0}],
        "lines": [{"id": "gate-a", "zone": "hall", "width_m": 2.0}],
    }


def test_core_renders_bad_expression_with_instance_and_field() -> None:
    raw = {"site": _site(), "sources": {"generic_json": [{**BASE, "in": "a.["}]}}
    lines = [str(p) for p in _problems(raw)]
    assert any(
        line.startswith("sources.generic_json[dev].in: invalid JMESPath expression: ")
        for line in lines
    ), lines


def test_core_checks_map_targets_against_the_site() -> None:
    src = {**BASE, "line": None, "line_expr": "n", "map": {"1": "gate-a", "2": "gate-zz"}}
    del src["line"]
    lines = [str(p) for p in _problems({"site": _site(), "sources": {"generic_json": [src]}})]
    assert any("unknown line 'gate-zz'" in line for line in lines), lines


def test_sample_toml_is_a_valid_hub_config() -> None:
    raw = tomllib.loads((PLUGIN_DIR / "sample.toml").read_text(encoding="utf-8"))
    assert _problems(raw) == []
    src = GenericJsonConfig.model_validate(raw["sources"]["generic_json"][0])
    assert src.cumulative and src.items is not None


def test_readme_embeds_the_sample_verbatim() -> None:
    sample = (PLUGIN_DIR / "sample.toml").read_text(encoding="utf-8").strip()
    readme = (PLUGIN_DIR / "README.md").read_text(encoding="utf-8")
    assert f"```toml\n{sample}\n```" in readme


@pytest.mark.parametrize(
    ("expr", "what"),
    [
        ("persons[]", "a list (a projection"),
        ("persons[*].speed", "a list (a projection"),
        ("persons[?speed > `1`]", "a list (a projection"),
        ("*.speed", "a list (a projection"),
        ("persons[1:3]", "a list (a projection"),
        ("@", "the whole document"),
        ("message", None),
        ("{a: speed, b: distance}", "an object (a multiselect"),
        ("[speed, distance]", "a list (a multiselect"),
        ("join(',', names)", "text joined from a list"),
        ("to_string(persons[])", "a list or object written as text"),
        ("keys(@)", "a list (keys())"),
        ("merge(a, b)", "an object (merge())"),
        ("a || persons[*].t", "a list (a projection"),
        ("persons | [0:2]", "a list (a projection"),
        ("`[1, 2]`", "a list (a literal)"),
    ],
)
def test_extras_that_select_a_structure_are_refused(expr: str, what: str | None) -> None:
    if what is None:  # a plain field may hold anything: removed at run time when not a scalar
        assert cfg(extras={"x": expr}).extras == {"x": expr}
        return
    loc, msg = error_of(extras={"people": expr})
    assert loc == ("extras",)
    assert msg.startswith(f"people = {expr!r} selects {what}")
    assert "one scalar" in msg


@pytest.mark.parametrize("expr", ["length(persons)", "persons[0].speed", "meta.fw", "`3`"])
def test_extras_selecting_one_value_are_accepted(expr: str) -> None:
    assert cfg(extras={"x": expr}).extras == {"x": expr}


def test_direction_and_interval_settings() -> None:
    ok = cfg(
        **{"in": None, "out": None}, direction_expr="heading", directions={"gate-a": {"in": 90}}
    )
    assert ok.directions["gate-a"].tolerance == 45.0
    assert "not both" in error_of(direction_expr="h", directions={"gate-a": {"in": 90}})[1]
    assert "needs `directions`" in error_of(**{"in": None, "out": None}, direction_expr="h")[1]
    assert "used with direction_expr" in error_of(directions={"gate-a": {"in": 90}})[1]
    loc, _ = error_of(
        **{"in": None, "out": None}, direction_expr="h", directions={"gate-a": {"in": 400}}
    )
    assert loc == ("directions", "gate-a", "in")
    assert (
        "iso_interval"
        in error_of(time="t", time_format="iso_interval", interval_expr="interval")[1]
    )


def test_token_auth_scheme() -> None:
    c = cfg(transport="http", topics=None, auth={"scheme": "token", "token": "t0k"})
    assert c.auth.scheme == "token"
    msg = error_of(transport="http", topics=None, auth={"scheme": "token"})[1]
    assert msg.startswith("auth.scheme = 'token' needs auth.token")
