"""What the zone model says about one zone or line at one tick (read-only snapshots)."""

from __future__ import annotations

__all__ = ["UNKNOWN", "LineView", "ZoneView"]

from dataclasses import dataclass
from datetime import datetime

from hub.zones.config import LevelSet
from hub.zones.history import Band, Forecast

UNKNOWN = "unknown"
"""The level of a zone or line whose inputs are all stale (shown grey, never green)."""


@dataclass(frozen=True)
class ZoneView:
    zone: str
    at: datetime
    level: str
    level_index: int
    colour: str
    measures: str
    level_set: str
    levels: LevelSet
    metric_value: float | None
    occupancy: float | None
    method: str | None
    density: float | None
    capacity_use: float | None
    net_inflow_per_min: float | None
    time_to_capacity_min: float | None
    age_s: float | None
    problems: tuple[str, ...]
    clamped: bool
    band: Band | None
    forecast: Forecast | None
    next_level_in_min: float | None
    profile: str | None

    @property
    def fresh(self) -> bool:
        return self.level_index >= 0


@dataclass(frozen=True)
class LineView:
    line: str
    zone: str
    at: datetime
    level: str
    level_index: int
    colour: str
    measures: str
    level_set: str
    levels: LevelSet
    in_count: int
    out_count: int
    in_per_m_min: float
    out_per_m_min: float
    metric_value: float | None
    window_s: float
    age_s: float | None
    profile: str | None

    @property
    def fresh(self) -> bool:
        return self.level_index >= 0
