"""``generic_json``: onboard a JSON counting device over MQTT or HTTP by configuration only."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import hub

from .source import GenericJsonSource

if TYPE_CHECKING:
    from hub.simulate import Simulator


@hub.hookimpl
def register_sources(register: Callable[[type[hub.Source[Any]]], None]) -> None:
    register(GenericJsonSource)


@hub.hookimpl
def register_simulators(register: Callable[[type[Simulator]], None]) -> None:
    from .simulate import JsonCounter  # only ``hub simulate`` and the demo need them

    register(JsonCounter)
