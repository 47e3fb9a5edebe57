"""Built-in ``lidar`` plugin: TF-Luna/TFmini beams, RPLIDAR A1 and Xovis 3D counters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hub

from .source import LidarSource


@hub.hookimpl
def register_sources(register: Callable[[type[hub.Source[Any]]], None]) -> None:
    register(LidarSource)
