"""Settings of ``queue = "durable"`` and where each output's queue file lives."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hub.core.bus.durable_store import Synchronous

__all__ = ["DurableQueueSettings", "Overflow", "queue_path"]

Overflow = Literal["drop_oldest", "block"]


class DurableQueueSettings(BaseModel):
    """Per-output settings of ``queue = "durable"`` (see the README's table)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_bytes: int = Field(
        default=256 * 2**20,
        ge=64 * 1024,
        description="most bytes the queue's files (database + WAL) take on disk",
    )
    max_age_s: float | None = Field(
        default=86_400.0,
        gt=0,
        description="events queued longer than this are dropped (None: no age limit)",
    )
    overflow: Overflow = Field(
        default="drop_oldest",
        description="when a bound is hit: 'drop_oldest' (counted) or 'block' the sources",
    )
    synchronous: Synchronous = Field(
        default="normal",
        description="'normal': survives a killed hub; 'full': also a power loss (fsync per commit)",
    )
    commit_interval_s: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="0: commit the puts of each loop turn at its end; >0: gather puts this "
        "long per commit (delays upstream acknowledgements, never delivery; cheaper at low rates)",
    )


def queue_path(data_dir: Path | str, kind: str, instance_id: str) -> Path:
    """Where the durable queue of output ``kind[instance_id]`` lives."""
    return Path(data_dir) / "queues" / f"{kind}-{instance_id}.sqlite"
