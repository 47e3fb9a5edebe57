"""What the mapping engine hands the source: one :class:`Reading` per observation,
collected with the message's problems and drop counts in a :class:`MapResult`."""

from __future__ import annotations

__all__ = ["MapResult", "Reading", "ReadingProblem"]

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.events import Crossing, Density, Devices, Occupancy, Quality, QualityReason

from .config import MeasurementName


class ReadingProblem(Exception):
    """One reading cannot be built (the message names the config field, never the value)."""


@dataclass(slots=True)
class Reading:
    """One mapped observation, ready for ``ctx.event(reading.to_measurement(), ...)``."""

    measurement: MeasurementName
    in_: int = 0
    out: int = 0
    count: float = 0.0
    value: float = 0.0
    line: str | None = None
    zone: str | None = None
    observed_at: datetime | None = None
    observed_from: datetime | None = None
    observed_to: datetime | None = None
    key: str | None = None
    sequence: int | None = None
    quality: Quality = Quality.OK
    reasons: tuple[QualityReason, ...] = ()
    extras: dict[str, Any] | None = None

    def to_measurement(self) -> Crossing | Occupancy | Devices | Density:
        m = self.measurement
        if m == "crossing":
            return Crossing(in_=self.in_, out=self.out)
        if m == "occupancy":
            return Occupancy(count=self.count)
        if m == "devices":
            return Devices(count=int(self.count))
        return Density(value=self.value)


@dataclass(slots=True)
class MapResult:
    """What one message gave: readings, per-item problems, or a dropped duplicate."""

    readings: list[Reading] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Readings that could not be built (with ``items``): count each as malformed."""
    duplicate: bool = False
    """The sequence number was seen recently: the message was dropped."""
    baseline: int = 0
    """Cumulative readings that only set the first total of a stream (no delta yet)."""
    repeats: int = 0
    """Cumulative readings identical to the previous one (same totals, same device time):
    a replayed message without sequence number; nothing emitted."""
    out_of_order: int = 0
    """Cumulative readings older (by device time) than the newest one: no delta, nothing
    emitted (an older total arriving late is never taken as a reset)."""
    undirected: int = 0
    """Readings whose azimuth (``direction_expr``) is neither in nor out within the line's
    tolerance: nothing emitted."""
    pending: list[tuple[Hashable, Callable[[], None]]] = field(default_factory=list)
    """State changes (sequence number, cumulative totals) to apply with
    :meth:`~.protocol.Mapper.commit` once the hub accepted the message's events."""

    @property
    def used(self) -> bool:
        """Something in the message was understood (events, a baseline, a replay...)."""
        return bool(
            self.readings or self.baseline or self.repeats or self.duplicate or self.undirected
        )
