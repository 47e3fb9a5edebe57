"""crowdhub plugin for Milesight VS133/VS135 people counters (hookimpls only)."""

from collections.abc import Callable
from typing import Any

import hub

from .source import MilesightSource


@hub.hookimpl
def register_sources(register: Callable[[type[hub.Source[Any]]], None]) -> None:
    register(MilesightSource)
