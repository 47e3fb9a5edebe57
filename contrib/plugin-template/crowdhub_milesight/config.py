"""Configuration of the ``milesight`` source (``[[sources.milesight]]``)."""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

import hub

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


class MilesightConfig(hub.SourceConfig):
    """One VS133/VS135 (or several of one application) read from The Things Stack v3 MQTT."""

    broker: str | None = Field(
        default=None, description="id of the [[transports.mqtt]] connection to TTS (default one)"
    )
    topic: str = Field(
        default="v3/+/devices/+/up",
        min_length=1,
        description="uplink topic filter: v3/<app>@<tenant>/devices/<device>/up ('+' wildcards)",
    )
    device_id: str | None = Field(
        default=None,
        description="only uplinks of this TTS device id (default: every device on the topic)",
    )
    f_port: int | None = Field(
        default=85,
        ge=1,
        le=223,
        description="LoRaWAN port the counter reports on (Milesight: 85); empty: any port",
    )
    qos: Literal[0, 1] = Field(default=0, description="subscription QoS (TTS supports 0)")
    lines: dict[str, str] = Field(
        default_factory=dict,
        description='device line number ("1".."4") -> site line id; default: line 1 -> `line`',
    )
    regions: dict[str, str] = Field(
        default_factory=dict,
        description='device region number ("1".."4") -> site zone id; default: region 1 -> '
        "`zone` (region counts become occupancy)",
    )
    counts: Literal["auto", "period", "total"] = Field(
        default="auto",
        description="crossings from: period (the device's per-period in/out), total (deltas of "
        "the cumulative totals; survives lost uplinks) or auto (period when sent, else total)",
    )
    report_interval_s: float = Field(
        default=600.0,
        gt=0,
        le=86_400,
        description="device reporting interval (s): a period count covers [t - this, t]",
    )
    max_count: int | None = Field(
        default=5_000,
        ge=0,
        description="in or out above this per report is marked suspect; empty: no limit",
    )
    max_clock_skew_s: float = Field(
        default=300.0,
        gt=0,
        description="uplink time further than this from the hub clock is flagged clock_skew",
    )

    @field_validator("lines", "regions")
    @classmethod
    def _numbers(cls, value: dict[str, str]) -> dict[str, str]:
        for key, target in value.items():
            if key not in ("1", "2", "3", "4"):
                raise ValueError(f"key {key!r}: the device numbers lines/regions 1..4")
            if not _ID.match(target):
                raise ValueError(f"{target!r} is not a site id (letters, digits, _.:-)")
        return value

    @model_validator(mode="after")
    def _something_mapped(self) -> Self:
        if not (self.line or self.lines or self.zone or self.regions):
            raise ValueError("map at least one device line (line/lines) or region (zone/regions)")
        return self

    def line_map(self) -> dict[int, str]:
        if self.lines:
            return {int(k): v for k, v in self.lines.items()}
        return {1: self.line} if self.line else {}

    def region_map(self) -> dict[int, str]:
        if self.regions:
            return {int(k): v for k, v in self.regions.items()}
        return {1: self.zone} if self.zone else {}

    def site_refs(self) -> list[tuple[str, str]]:
        """Lines and zones named in ``lines``/``regions``, checked by `hub check-config`."""
        return [("line", v) for v in self.lines.values()] + [
            ("zone", v) for v in self.regions.values()
        ]
