"""The crowd picture, sans-io: events and clock ticks in, zone states and alerts out.

* :class:`ZoneModel` (:mod:`hub.zones.model`): occupancy per zone from counted
  sensors, line flows and device counts; density, capacity use, net inflow, time to
  capacity; colour levels with hysteresis; alerts with a lifecycle; a snapshot that
  survives restarts and config edits.
* :class:`ZonesConfig` (:mod:`hub.zones.config`): the ``[zones]`` table: level sets,
  profiles, alert rules, timings. Per-zone settings live on ``[[site.zones]]``.
* :class:`History` (:mod:`hub.zones.history`): the normal band and the forecast.
* :mod:`hub.zones.log`: the append-only alert and measures log.

No asyncio and no I/O here: the zone stage of the pipeline drives the model and puts
the events it returns (``zone_state``, ``line_flow``, ``alert``) on the bus.
See ``docs/zones.md`` for what every number means and where the defaults come from.
"""

from hub.zones.alerts import AlertBook, AlertRecord, Condition, Silence
from hub.zones.config import (
    BUILTIN_LEVEL_SETS,
    DEFAULT_RULES,
    AlertRule,
    Level,
    LevelSet,
    Profile,
    ZonesConfig,
)
from hub.zones.history import Band, Forecast, History
from hub.zones.levels import LevelTracker
from hub.zones.log import AlertLog
from hub.zones.model import ZoneModel
from hub.zones.views import UNKNOWN, LineView, ZoneView

__all__ = [
    "BUILTIN_LEVEL_SETS",
    "DEFAULT_RULES",
    "UNKNOWN",
    "AlertBook",
    "AlertLog",
    "AlertRecord",
    "AlertRule",
    "Band",
    "Condition",
    "Forecast",
    "History",
    "Level",
    "LevelSet",
    "LevelTracker",
    "LineView",
    "Profile",
    "Silence",
    "ZoneModel",
    "ZoneView",
    "ZonesConfig",
]
