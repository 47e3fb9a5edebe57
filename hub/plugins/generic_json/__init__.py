"""``generic_json``: onboard a JSON counting device over MQTT or HTTP by configuration only."""

from collections.abc import Callable
from typing import Any

import hub

from .source import GenericJsonSource


@hub.hookimpl
def register_sources(register: Callable[[type[hub.Source[Any]]], None]) -> None:
    register(GenericJsonSource)
