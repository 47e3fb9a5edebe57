"""The config models every plugin instance builds on: sources, sinks and transports.

Re-exported from :mod:`hub.plugin`; a plugin's own config subclasses one of these
with ``extra="forbid"`` (an unknown key is a configuration error).
"""

from __future__ import annotations

__all__ = ["InstanceConfig", "OnStartupError", "SinkConfig", "SourceConfig", "TransportConfig"]

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hub.events import MeasurementType
from hub.site import ID_PATTERN

OnStartupError = Literal["fail", "retry", "ignore"]


class InstanceConfig(BaseModel):
    """Fields every configured instance has. Plugin configs subclass one of the bases below.

    ``extra="forbid"``: an unknown key is a configuration error, not silently ignored.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_PATTERN, description="instance id, unique per table")
    enabled: bool = Field(default=True, description="set false to keep the table but not run it")


class SourceConfig(InstanceConfig):
    """Base config of every source instance."""

    zone: str | None = Field(default=None, description="site zone the readings belong to")
    line: str | None = Field(default=None, description="site line the crossings are counted on")
    on_startup_error: OnStartupError = Field(
        default="retry",
        description="first connection fails: 'fail' stops the hub, 'retry' keeps trying, "
        "'ignore' disables this instance",
    )
    retry_initial_s: float = Field(default=1.0, gt=0, description="first retry delay (s)")
    retry_max_s: float = Field(default=60.0, gt=0, description="longest retry delay (s)")


class SinkConfig(InstanceConfig):
    """Base config of every sink instance."""

    batch_size: int = Field(default=500, ge=1, le=100_000, description="events per write")
    linger_s: float = Field(
        default=0.0,
        ge=0,
        description="wait up to this long to fill a batch (0: write what is queued at once)",
    )
    queue: str = Field(
        default="durable",
        pattern=r"^[a-z][a-z0-9_]*$",
        description="queue class in front of this sink: 'durable' (a file in data_dir/queues, "
        "survives a stop or a crash) or 'memory' (lost when the hub stops; for demos)",
    )
    queue_size: int = Field(
        default=10_000, ge=1, description="memory queue: events held before overflow applies"
    )
    overflow: Literal["drop_oldest", "block"] = Field(
        default="drop_oldest",
        description="queue full: 'drop_oldest' (counted) or 'block' (the sources wait for "
        "this sink; the others keep receiving)",
    )
    queue_max_bytes: int = Field(
        default=256 * 2**20,
        ge=64 * 1024,
        description="durable queue: most bytes its files take on disk (database + WAL)",
    )
    queue_max_age_s: float | None = Field(
        default=86_400.0,
        gt=0,
        description="durable queue: events held longer are dropped and counted (None: no limit)",
    )
    queue_synchronous: Literal["normal", "full"] = Field(
        default="normal",
        description="durable queue: 'normal' survives a killed hub, 'full' also a power loss "
        "(an fsync per commit)",
    )
    queue_commit_interval_s: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="durable queue: 0 commits the puts of each loop turn; >0 gathers puts "
        "this long per commit (less CPU, later upstream acknowledgements)",
    )
    measurements: tuple[MeasurementType, ...] | None = Field(
        default=None, description="only these measurement types (default: all)"
    )
    on_startup_error: OnStartupError = Field(
        default="fail", description="open() fails: 'fail' stops the hub, 'retry', 'ignore'"
    )
    retry_initial_s: float = Field(default=1.0, gt=0)
    retry_max_s: float = Field(default=60.0, gt=0)
    view: str | None = Field(
        default=None,
        pattern=ID_PATTERN,
        description="the [[views]] id whose policy shapes what this output gets; "
        '"internal" is full detail (required for outputs that leave the machine)',
    )


class TransportConfig(InstanceConfig):
    """Base config of a shared transport instance (``[[transports.<kind>]]``)."""

    id: str = Field(default="default", pattern=ID_PATTERN, description="transport instance id")
