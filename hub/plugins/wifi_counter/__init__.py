"""Built-in ``wifi_counter`` plugin: ESP32-Paxcounter and Cisco Meraki Scanning API."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import hub

from .source import WifiCounterSource

if TYPE_CHECKING:
    from hub.simulate import Simulator


@hub.hookimpl
def register_sources(register: Callable[[type[hub.Source[Any]]], None]) -> None:
    register(WifiCounterSource)


@hub.hookimpl
def register_simulators(register: Callable[[type[Simulator]], None]) -> None:
    from .simulate import Meraki, Paxcounter  # only ``hub simulate`` and the demo need them

    register(Paxcounter)
    register(Meraki)
