"""One config model per kind: keys of another device or transport are refused on one precise
line, and a former ``[[sources.lidar]]`` table gets one line saying what to write instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from hub.core.config import load_config, validate_config
from hub.core.plugins import load_plugins
from hub.errors import ConfigError, ConfigProblem
from hub.plugins.lidar.config import RplidarConfig, TfLunaConfig, XovisConfig

REGISTRY = load_plugins(entrypoints=False)
SITE = {
    "id": "scheveningen",
    "zones": [{"id": "boulevard", "area_m2": 1200.0}],
    "lines": [{"id": "gate-a", "zone": "boulevard", "width_m": 1.2}],
}
BEAM = {"id": "gate-a", "line": "gate-a", "serial": {"port": "/dev/ttyUSB0"}}
SCAN = {
    "id": "square",
    "zone": "boulevard",
    "serial": {"port": "/dev/ttyUSB1"},
    "polygon": [[0, 0], [5, 0], [5, 5]],
}
PUSH = {"id": "xovis-north", "line": "gate-a", "auth": {"scheme": "none"}}
SPLIT = "the 'lidar' kind was split into tfluna, rplidar and xovis"


def check(sources: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The lines `hub check-config` prints for these source tables (without the file)."""
    problems: list[ConfigProblem] = []
    validate_config({"site": SITE, "sources": sources}, REGISTRY, problems)
    return [str(p) for p in problems]


def test_each_kind_validates_its_own_table() -> None:
    assert check({"tfluna": [BEAM], "rplidar": [SCAN], "xovis": [PUSH]}) == []


def test_a_key_of_another_device_is_refused_with_the_allowed_keys() -> None:
    assert check({"tfluna": [BEAM | {"polygon": [[0, 0], [1, 0], [1, 1]]}]}) == [
        "sources.tfluna[gate-a].polygon: unknown field (allowed: a_to_b, beams, enabled, "
        "floor_distance_cm, frame_format, frame_rate_hz, hysteresis_cm, id, interval_s, line, "
        "max_count, max_unreliable_fraction, min_amplitude, min_dwell_ms, min_gap_ms, model, "
        "on_startup_error, pair_window_ms, retry_initial_s, retry_max_s, serial, "
        "single_beam_as, threshold_cm, zone)"
    ]
    for kind, table, key in [
        ("rplidar", SCAN | {"min_dwell_ms": 60}, "min_dwell_ms"),
        ("xovis", PUSH | {"aggregate": "max"}, "aggregate"),
    ]:
        (line,) = check({kind: [table]})
        allowed = REGISTRY.sources[kind][0].config_model.model_fields
        ident = table["id"]
        assert line.startswith(f"sources.{kind}[{ident}].{key}: unknown field (allowed: ")
        assert line.endswith(", ".join(sorted(allowed)) + ")")


@pytest.mark.parametrize(
    ("kind", "table", "expected"),
    [
        (
            "tfluna",
            BEAM | {"zone": "boulevard"},
            "sources.tfluna[gate-a].zone: a tfluna source has no zone of its own: it counts on "
            "'line', whose zone [[site.lines]] gives; delete this key",
        ),
        (
            "rplidar",
            SCAN | {"line": "gate-a"},
            "sources.rplidar[square].line: an rplidar source counts on no line: it estimates "
            "the occupancy of 'zone'; delete this key",
        ),
        (
            "xovis",
            PUSH | {"topic": "xovis/#"},
            'sources.xovis[xovis-north].topic: applies to transport = "mqtt" only; delete this '
            'key or set transport = "mqtt"',
        ),
        (
            "xovis",
            PUSH | {"transport": "mqtt"},
            'sources.xovis[xovis-north].auth: applies to transport = "http" only (the MQTT '
            'broker authenticates its clients); delete this key or set transport = "http"',
        ),
        (
            "xovis",
            PUSH | {"zone": "boulevard", "live_polygon": [[0, 0], [1, 0], [1, 1]]},
            "sources.xovis[xovis-north].live_polygon: applies with live_counts_only = true "
            "only; delete this key or set live_counts_only = true",
        ),
    ],
)
def test_a_common_key_that_does_not_apply_is_refused(
    kind: str, table: dict[str, Any], expected: str
) -> None:
    assert check({kind: [table]}) == [expected]


@pytest.mark.parametrize(
    ("model", "config", "message"),
    [
        (TfLunaConfig, {"serial": {"port": "/dev/x"}}, "set 'line'"),
        (TfLunaConfig, {"line": "gate-a"}, "'serial'"),
        (TfLunaConfig, BEAM | {"threshold_cm": 300}, "below floor_distance_cm"),
        (TfLunaConfig, BEAM | {"model": "tfmini_x"}, "'tfluna', 'tfmini_s'"),
        (RplidarConfig, {"serial": {"port": "/dev/x"}, "zone": "z"}, "polygon"),
        (RplidarConfig, SCAN | {"polygon": [[0, 0], [1, 1]]}, "at least 3 items"),
        (RplidarConfig, {k: v for k, v in SCAN.items() if k != "zone"}, "set 'zone'"),
        (XovisConfig, {"line": "gate-a"}, "needs a token"),
        (XovisConfig, {"auth": {"scheme": "none"}}, "'logics'"),
        (XovisConfig, {"logics": [{"logic": 1, "line": "a", "zone": "b"}]}, "exactly one"),
        (XovisConfig, PUSH | {"live_counts_only": True}, "set 'zone'"),
    ],
)
def test_config_errors_say_what_to_do(
    model: type[Any], config: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        model(**{"id": "bad"} | config)


# -- the former `lidar` kind -----------------------------------------------------------------

OLD_BEAM = BEAM | {"device": "tfluna", "interval_s": 10}
OLD_TFMINI = BEAM | {"device": "tfmini"}
OLD_SCAN = SCAN | {"device": "rplidar", "aggregate": "max"}
OLD_PUSH = PUSH | {"device": "xovis"}
OLD_MQTT = {"id": "xovis-mqtt", "device": "xovis", "transport": "mqtt", "zone": "boulevard"}


@pytest.mark.parametrize(
    ("old", "expected", "new_kind", "new"),
    [
        (
            OLD_BEAM,
            f"sources.lidar[gate-a]: {SPLIT}: write [[sources.tfluna]] instead and delete "
            'device = "tfluna"; the other keys stay',
            "tfluna",
            BEAM | {"interval_s": 10},
        ),
        (
            OLD_TFMINI,
            f"sources.lidar[gate-a]: {SPLIT}: write [[sources.tfluna]] instead and replace "
            'device = "tfmini" by model = "tfmini"; the other keys stay',
            "tfluna",
            BEAM | {"model": "tfmini"},
        ),
        (
            BEAM,
            f"sources.lidar[gate-a]: {SPLIT}: write [[sources.tfluna]] instead (no device was "
            "set: tfluna was the default); the other keys stay",
            "tfluna",
            BEAM,
        ),
        (
            OLD_SCAN,
            f"sources.lidar[square]: {SPLIT}: write [[sources.rplidar]] instead and delete "
            'device = "rplidar"; the other keys stay',
            "rplidar",
            SCAN | {"aggregate": "max"},
        ),
        (
            OLD_PUSH,
            f"sources.lidar[xovis-north]: {SPLIT}: write [[sources.xovis]] instead and delete "
            'device = "xovis"; the other keys stay',
            "xovis",
            PUSH,
        ),
        (
            OLD_MQTT,
            f"sources.lidar[xovis-mqtt]: {SPLIT}: write [[sources.xovis]] instead and delete "
            'device = "xovis"; the other keys stay',
            "xovis",
            {"id": "xovis-mqtt", "transport": "mqtt", "zone": "boulevard"},
        ),
    ],
    ids=["tfluna", "tfmini", "no-device", "rplidar", "xovis-http", "xovis-mqtt"],
)
def test_a_lidar_table_says_what_to_write_and_that_works(
    old: dict[str, Any], expected: str, new_kind: str, new: dict[str, Any]
) -> None:
    assert check({"lidar": [old]}) == [expected]
    assert check({new_kind: [new]}) == []  # doing what the line says gives a valid config


def test_keys_the_old_model_accepted_but_the_device_never_used_are_named() -> None:
    tables = [
        OLD_BEAM | {"polygon": [[0, 0], [1, 0], [1, 1]], "topic": "x", "zone": "boulevard"},
        OLD_SCAN | {"line": "gate-a", "interval_s": 5, "live_polygon": [[0, 0], [1, 0], [1, 1]]},
        OLD_MQTT | {"auth": {"scheme": "none"}, "live_min_interval_s": 2},
    ]
    assert check({"lidar": tables}) == [
        f"sources.lidar[gate-a]: {SPLIT}: write [[sources.tfluna]] instead and delete "
        'device = "tfluna"; delete polygon, topic, zone (not used by this tfluna source); the '
        "other keys stay",
        f"sources.lidar[square]: {SPLIT}: write [[sources.rplidar]] instead and delete "
        'device = "rplidar"; delete interval_s, line, live_polygon (not used by this rplidar '
        "source); the other keys stay",
        f"sources.lidar[xovis-mqtt]: {SPLIT}: write [[sources.xovis]] instead and delete "
        'device = "xovis"; delete auth, live_min_interval_s (not used by this xovis source); '
        "the other keys stay",
    ]


def test_an_unknown_device_names_the_three_kinds() -> None:
    assert check({"lidar": [{"id": "x", "device": "velodyne"}, {"device": 3}]}) == [
        f'sources.lidar[x]: {SPLIT}; device = "velodyne" was never one of its devices: write '
        "[[sources.tfluna]] (TF-Luna/TFmini beams), [[sources.rplidar]] (RPLIDAR A1) or "
        "[[sources.xovis]] (Xovis logics push)",
        f"sources.lidar[#2]: {SPLIT}; device = 3 was never one of its devices: write "
        "[[sources.tfluna]] (TF-Luna/TFmini beams), [[sources.rplidar]] (RPLIDAR A1) or "
        "[[sources.xovis]] (Xovis logics push)",
    ]


def test_check_config_reports_the_migration_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(
        '[site]\nid = "s"\n[[site.zones]]\nid = "z"\narea_m2 = 9.0\n'
        '[[site.lines]]\nid = "gate-a"\nzone = "z"\nwidth_m = 1.0\n'
        '[[sources.lidar]]\nid = "gate-a"\ndevice = "tfmini"\nline = "gate-a"\n'
        'serial = { port = "/dev/ttyUSB0" }\n'
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, REGISTRY)
    assert str(info.value).splitlines() == [
        f"{path}: sources.lidar[gate-a]: {SPLIT}: write [[sources.tfluna]] instead and replace "
        'device = "tfmini" by model = "tfmini"; the other keys stay'
    ]


def test_a_kind_nobody_retired_is_still_unknown() -> None:
    (line,) = check({"lidarr": [BEAM]})
    assert line.startswith(
        "sources.lidarr: unknown source kind 'lidarr'; did you mean 'rplidar'? installed kinds:"
    )


@pytest.mark.parametrize("kind", ["tfluna", "rplidar", "xovis"])
def test_each_kind_has_its_own_sample(kind: str) -> None:
    from hub.core.samples import sample_for
    from hub.testing.conformance.config import find_sample

    text = sample_for(REGISTRY, kind)
    assert text is not None and text.startswith(f"# crowdhub: the `{kind}` source")
    assert f"[[sources.{kind}]]" in text
    assert all(
        f"[[sources.{other}]]" not in text for other in {"tfluna", "rplidar", "xovis"} - {kind}
    )
    found = find_sample(REGISTRY.sources[kind][0])
    assert found is not None and found.name == f"sample_{kind}.toml"
    assert found.read_text() == text
    assert REGISTRY.sources[kind][1].name == "lidar"  # one plugin (provenance.plugin), 3 kinds
