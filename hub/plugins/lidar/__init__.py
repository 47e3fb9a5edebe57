"""Built-in ``lidar`` plugin: TF-Luna/TFmini beams, RPLIDAR A1 and Xovis 3D counters."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import hub

from .source import LidarSource

if TYPE_CHECKING:
    from hub.simulate import Simulator


@hub.hookimpl
def register_sources(register: Callable[[type[hub.Source[Any]]], None]) -> None:
    register(LidarSource)


@hub.hookimpl
def register_simulators(register: Callable[[type[Simulator]], None]) -> None:
    from .simulate import Rplidar, TfLuna, Xovis  # only ``hub simulate`` and the demo need them

    register(TfLuna)
    register(Rplidar)
    register(Xovis)
