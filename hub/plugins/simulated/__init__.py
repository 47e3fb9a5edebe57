"""``simulated``: a crowd simulator source for demos and tests (no hardware)."""

from collections.abc import Callable
from typing import Any

import hub

from .source import SimulatedSource


@hub.hookimpl
def register_sources(register: Callable[[type[hub.Source[Any]]], None]) -> None:
    register(SimulatedSource)
