"""Config of the ``simulated`` source."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

import hub


class SimulatedConfig(hub.SourceConfig):
    measurement: Literal["crossing", "occupancy", "devices"] = Field(
        default="crossing", description="what the simulated device reports"
    )
    interval_s: float = Field(default=1.0, gt=0, le=3600, description="seconds per reading")
    rate_per_min: float = Field(
        default=60.0, ge=0, description="mean arrivals per minute (crossings, devices)"
    )
    capacity: int = Field(default=500, gt=0, description="occupancy never exceeds this")
    seed: int | None = Field(default=None, description="random seed for repeatable runs")
    fail_every: int = Field(
        default=0, ge=0, description="raise 'device unavailable' every N readings (0: never)"
    )

    @model_validator(mode="after")
    def _place(self) -> Self:
        if self.measurement == "crossing" and self.line is None:
            raise ValueError("a crossing simulator needs `line`")
        if self.measurement != "crossing" and self.zone is None:
            raise ValueError(f"a {self.measurement} simulator needs `zone`")
        return self
