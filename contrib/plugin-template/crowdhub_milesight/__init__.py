"""crowdhub plugin for Milesight VS133/VS135 people counters (hookimpls only)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import hub

from .source import MilesightSource

if TYPE_CHECKING:
    from hub.simulate import Simulator


@hub.hookimpl
def register_sources(register: Callable[[type[hub.Source[Any]]], None]) -> None:
    register(MilesightSource)


@hub.hookimpl
def register_simulators(register: Callable[[type[Simulator]], None]) -> None:
    from .simulate import Vs133  # `hub simulate milesight`; `hub run` never imports it

    register(Vs133)
