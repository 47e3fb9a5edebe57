"""Per-zone and per-line slots of the model: settings resolved once, inputs, level, publication."""

from __future__ import annotations

__all__ = ["LineSlot", "ZoneSlot"]

from typing import Any

from hub.site import Line, Zone
from hub.zones.config import ZonesConfig
from hub.zones.inputs import LineInputs, ZoneInputs
from hub.zones.levels import LevelTracker


class ZoneSlot:
    __slots__ = (
        "area",
        "calibration",
        "capacity",
        "cfg",
        "combine",
        "inputs",
        "jump",
        "level_set",
        "lines",
        "methods",
        "pub",
        "stale",
        "tracker",
    )

    def __init__(self, cfg: Zone, conf: ZonesConfig) -> None:
        self.cfg = cfg
        self.area = cfg.area_m2
        self.capacity = cfg.capacity
        self.stale = cfg.stale_after_s or conf.stale_after_s
        self.calibration = cfg.device_calibration or conf.device_calibration
        self.methods = cfg.occupancy_methods or conf.occupancy_methods
        self.combine = cfg.counted_combine
        self.jump = conf.max_jump or 0.0
        self.level_set = cfg.levels or cfg.type
        self.lines: list[LineSlot] = []
        self.inputs = ZoneInputs()
        self.tracker = LevelTracker()
        self.pub: tuple[float, tuple[Any, ...]] | None = None


class LineSlot:
    __slots__ = ("cfg", "inputs", "level_set", "pub", "stale", "tracker", "zone")

    def __init__(self, cfg: Line, zone: ZoneSlot, conf: ZonesConfig) -> None:
        self.cfg = cfg
        self.zone = zone
        self.stale = cfg.stale_after_s or conf.stale_after_s
        self.level_set = cfg.levels or "flow"
        self.inputs = LineInputs()
        self.tracker = LevelTracker()
        self.pub: tuple[float, tuple[Any, ...]] | None = None
