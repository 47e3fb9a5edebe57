"""Built-in ``camera_aggregate`` plugin: people-counting cameras (AXIS Object Analytics
over MQTT, Hikvision ISAPI and VIVOTEK over HTTP push). Hookimpls only."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import hub
from hub.plugins.camera_aggregate.source import CameraAggregateSource

if TYPE_CHECKING:
    from hub.simulate import Simulator


@hub.hookimpl
def register_sources(register: Callable[[type[hub.Source[Any]]], None]) -> None:
    register(CameraAggregateSource)


@hub.hookimpl
def register_simulators(register: Callable[[type[Simulator]], None]) -> None:
    from .simulate import Axis, Hikvision, Vivotek  # only ``hub simulate`` and the demo need them

    register(Axis)
    register(Hikvision)
    register(Vivotek)
