"""Built-in ``wifi_counter`` plugin: ESP32-Paxcounter and Cisco Meraki Scanning API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hub

from .source import WifiCounterSource


@hub.hookimpl
def register_sources(register: Callable[[type[hub.Source[Any]]], None]) -> None:
    register(WifiCounterSource)
