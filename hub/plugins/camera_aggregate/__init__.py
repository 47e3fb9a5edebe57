"""Built-in ``camera_aggregate`` plugin: people-counting cameras (AXIS Object Analytics
over MQTT, Hikvision ISAPI and VIVOTEK over HTTP push). Hookimpls only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hub
from hub.plugins.camera_aggregate.source import CameraAggregateSource


@hub.hookimpl
def register_sources(register: Callable[[type[hub.Source[Any]]], None]) -> None:
    register(CameraAggregateSource)
