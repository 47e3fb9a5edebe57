"""The read-only configuration view handed to the ``configure`` hook."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pydantic
import pytest

import hub
from hub.core.config import load_config
from hub.core.plugins import load_plugins

CONFIG = """
[hub]
data_dir = "state"
log_level = "debug"

[site]
id = "s"
[[site.zones]]
id = "z"
area_m2 = 10

[[sources.simulated]]
id = "a"
zone = "z"
measurement = "occupancy"

[[sources.simulated]]
id = "b"
zone = "z"
measurement = "occupancy"
enabled = false

[[sinks.console]]
id = "out"

[[transports.mqtt]]
id = "site"
host = "127.0.0.1"
"""


class Capture:
    def __init__(self) -> None:
        self.views: list[Any] = []

    @hub.hookimpl
    def configure(self, config: hub.ConfigView) -> None:
        self.views.append(config)


def _load(tmp_path: Path) -> tuple[hub.ConfigView, Any]:
    plugin = Capture()
    registry = load_plugins(entrypoints=False, extra=[("capture", plugin)])
    path = tmp_path / "hub.toml"
    path.write_text(CONFIG)
    cfg = load_config(path, registry)
    assert len(plugin.views) == 1
    return plugin.views[0], cfg


def test_configure_receives_a_public_view(tmp_path: Path) -> None:
    view, _ = _load(tmp_path)
    assert isinstance(view, hub.ConfigView)
    assert view.site.id == "s"
    assert view.hub["log_level"] == "debug"
    assert view.data_dir == (tmp_path / "state").resolve()
    assert view.path == (tmp_path / "hub.toml").resolve()
    assert [c.id for c in view.sources["simulated"]] == ["a", "b"]
    assert isinstance(view.sources["simulated"], tuple)
    assert [c.id for c in view.sinks["console"]] == ["out"]
    assert [(k, c.id) for k, c in view.instances("sinks")] == [("console", "out")]
    assert [(k, c.id) for k, c in view.instances("transports")] == [("mqtt", "site")]


def test_the_view_cannot_change_the_config(tmp_path: Path) -> None:
    view, cfg = _load(tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.site = hub.Site()  # type: ignore[misc]
    with pytest.raises(TypeError):
        view.hub["log_level"] = "error"  # type: ignore[index]
    with pytest.raises(TypeError):
        view.sources["other"] = ()  # type: ignore[index]
    with pytest.raises(pydantic.ValidationError):
        view.sources["simulated"][0].id = "c"  # type: ignore[misc]
    assert cfg.hub.log_level == "debug"
    assert [c.id for c in cfg.sources["simulated"]] == ["a", "b"]


def test_of_kind_returns_typed_configs_and_checks_them(tmp_path: Path) -> None:
    view, _ = _load(tmp_path)
    assert [c.id for c in view.of_kind("sources", "simulated", hub.SourceConfig)] == ["a", "b"]
    assert view.of_kind("sources", "nothing", hub.SourceConfig) == ()
    with pytest.raises(TypeError, match=r"^sinks.console\[out\] is a .* not a TransportConfig$"):
        view.of_kind("sinks", "console", hub.TransportConfig)
    with pytest.raises(ValueError, match="unknown section 'source'"):
        list(view.instances("source"))
