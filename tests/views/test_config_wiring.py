"""`[[views]]` in the configuration file: what `hub check-config` refuses, one exact line each."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from hub import Event, hookimpl
from hub.core.config import HubConfig, load_config
from hub.core.plugins import load_plugins
from hub.errors import ConfigError
from hub.plugin import Sink, SinkConfig

BASE = """\
[hub]
data_dir = "data"

[site]
id = "fair"

[[site.zones]]
id = "beach"
area_m2 = 5000.0

[[site.zones]]
id = "boulevard"
area_m2 = 1200.0

[[site.lines]]
id = "gate-a"
zone = "beach"
width_m = 4.0

[[sources.simulated]]
id = "sim-gate"
line = "gate-a"

[[views]]
id = "police"
name = "Police"
token = "${VW_POLICE_TOKEN}"
time_resolution = "1min"

[[views]]
id = "public"
zones = ["beach"]
levels_only = true
time_resolution = "15min"
"""

MQTT = '\n[[sinks.mqtt]]\nid = "city-broker"\ntopic = "crowd/{zone}"\n'


class Courier(Sink[SinkConfig]):
    """A third-party output that declares it sends events away (never opened here)."""

    kind: ClassVar[str] = "courier"
    config_model: ClassVar[type[SinkConfig]] = SinkConfig
    leaves_machine: ClassVar[bool] = True

    async def write(self, batch: Sequence[Event]) -> None:
        raise AssertionError("not run in these tests")


class CourierPlugin:
    @hookimpl
    def register_sinks(self, register: Any) -> None:
        register(Courier)


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VW_POLICE_TOKEN", "s3cret-police")
    monkeypatch.delenv("VW_MISSING_TOKEN", raising=False)


def _load(tmp_path: Path, text: str) -> HubConfig:
    path = tmp_path / "hub.toml"
    path.write_text(text)
    registry = load_plugins(entrypoints=False, extra=[("courier", CourierPlugin())])
    return load_config(path, registry)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    return [str(p) for p in info.value.problems]


def test_views_load_and_sinks_name_them(tmp_path: Path) -> None:
    text = BASE + MQTT + 'view = "public"\n\n[[sinks.jsonl]]\nid = "archive"\n'
    cfg = _load(tmp_path, text)
    assert [v.id for v in cfg.views] == ["police", "public"]
    assert cfg.views[0].token is not None
    assert cfg.views[0].token.get_secret_value() == "s3cret-police"
    assert cfg.sinks["mqtt"][0].view == "public"
    assert cfg.sinks["jsonl"][0].view is None  # local: full detail without saying so


def test_network_output_without_a_view(tmp_path: Path) -> None:
    assert problems(tmp_path, BASE + MQTT) == [
        "sinks.mqtt[city-broker]: this output leaves the machine but names no view; add "
        'view = "internal" for full detail or a restricted view id'
    ]


def test_webhook_without_a_view(tmp_path: Path) -> None:
    text = BASE + '\n[[sinks.http]]\nid = "ops"\nurl = "http://127.0.0.1:9/in"\n'
    assert problems(tmp_path, text) == [
        "sinks.http[ops]: this output leaves the machine but names no view; add "
        'view = "internal" for full detail or a restricted view id'
    ]


def test_third_party_output_that_leaves_the_machine_without_a_view(tmp_path: Path) -> None:
    assert problems(tmp_path, BASE + '\n[[sinks.courier]]\nid = "pigeon"\n') == [
        "sinks.courier[pigeon]: this output leaves the machine but names no view; add "
        'view = "internal" for full detail or a restricted view id'
    ]
    cfg = _load(tmp_path, BASE + '\n[[sinks.courier]]\nid = "pigeon"\nview = "internal"\n')
    assert cfg.sinks["courier"][0].view == "internal"


def test_unknown_view_id(tmp_path: Path) -> None:
    text = BASE + MQTT + 'view = "polise"\n'
    assert problems(tmp_path, text) == [
        "sinks.mqtt[city-broker].view: unknown view 'polise'; known views: internal, police, "
        "public (define it as a [[views]] table)"
    ]


def test_view_token_missing_from_the_environment(tmp_path: Path) -> None:
    text = BASE.replace("${VW_POLICE_TOKEN}", "${VW_MISSING_TOKEN}")
    assert problems(tmp_path, text) == [
        "views[police].token: environment variable VW_MISSING_TOKEN is not set; export "
        "VW_MISSING_TOKEN with this view's secret token before starting the hub, or remove "
        "token for a view that serves outputs only"
    ]


def test_view_token_written_into_the_file(tmp_path: Path) -> None:
    text = BASE.replace('"${VW_POLICE_TOKEN}"', '"hunter2"')
    assert problems(tmp_path, text) == [
        "views[police].token: write the token as an environment reference, e.g. "
        'token = "${VIEW_TOKEN}"; a secret in the file leaks with the file'
    ]


def test_view_of_an_unknown_zone(tmp_path: Path) -> None:
    text = BASE.replace('zones = ["beach"]', 'zones = ["beech"]')
    assert problems(tmp_path, text) == [
        "views[public].zones: unknown zone 'beech'; known zones: beach, boulevard "
        "(from [[site.zones]])"
    ]


def test_check_config_names_the_problem_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(BASE + MQTT)
    proc = subprocess.run(
        [sys.executable, "-m", "hub", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "VW_POLICE_TOKEN": "x-police"},
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"{path}: sinks.mqtt[city-broker]: this output leaves the machine but names no view; "
        'add view = "internal" for full detail or a restricted view id',
        "hub: 1 problem(s) in the configuration; nothing was started",
    ]
