"""Built-in ``lidar`` plugin, one source kind per device family.

``tfluna`` (TF-Luna/TFmini beams), ``rplidar`` (RPLIDAR A1) and ``xovis`` (Xovis 3D
counters). The former single ``lidar`` kind is answered with a migration line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import hub

from .rplidar_source import RplidarSource
from .source import TfLunaSource
from .xovis_source import XovisSource

if TYPE_CHECKING:
    from hub.simulate import Simulator


@hub.hookimpl
def register_sources(register: Callable[[type[hub.Source[Any]]], None]) -> None:
    register(TfLunaSource)
    register(RplidarSource)
    register(XovisSource)


@hub.hookimpl
def register_simulators(register: Callable[[type[Simulator]], None]) -> None:
    from .simulate import Rplidar, TfLuna, Xovis  # only ``hub simulate`` and the demo need them

    register(TfLuna)
    register(Rplidar)
    register(Xovis)
