"""The ``rplidar`` source: a Slamtec RPLIDAR A1 estimating the occupancy of a polygon.

A thin async loop: it stops any running scan, asks GET_HEALTH, starts a scan, turns
revolutions into people in the polygon (:mod:`.scan`) and emits an estimated
``Occupancy`` per ``emit_interval_s``.
"""

from __future__ import annotations

__all__ = ["RplidarSource"]

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import hub
from hub.errors import DeviceUnavailable
from hub.transports import ByteStream

from .config import RplidarConfig
from .migration import lidar_hint
from .protocol import (
    RPLIDAR_GET_HEALTH,
    RPLIDAR_SCAN,
    RPLIDAR_STOP,
    Malformed,
    RplidarDecoder,
    RplidarHealth,
    ScanNode,
)
from .scan import OccupancyEstimate, OccupancyWindow, RevolutionAssembler, ScanGeometry
from .xovis_handler import plausibility

_HEALTH_TIMEOUT_S = 2.0


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


class RplidarSource(hub.Source[RplidarConfig]):
    """Slamtec RPLIDAR A1 (legacy SCAN protocol): estimated occupancy of a zone."""

    kind = "rplidar"
    config_model = RplidarConfig
    transport_kind = "serial"
    description = (
        "Slamtec RPLIDAR A1 2D scanner over serial: points in a polygon, clustered into "
        "people, as an estimated occupancy per interval"
    )

    def __init__(self, config: RplidarConfig, ctx: hub.SourceContext) -> None:
        super().__init__(config, ctx)
        self._window = OccupancyWindow(config.emit_interval_s, config.aggregate)
        self._last_occupancy: float | None = None

    @classmethod
    def required_transports(cls, config: Any) -> Sequence[tuple[str, str | None]]:
        return [("serial", None)]

    @classmethod
    def retired_kind_hint(cls, kind: str, table: Mapping[str, Any]) -> str | None:
        return lidar_hint(kind, table)

    async def run(self) -> None:
        cfg = self.config
        geometry = ScanGeometry(
            polygon=cfg.polygon,
            position=cfg.sensor_position,
            rotation_deg=cfg.sensor_rotation_deg,
            cluster_distance_m=cfg.cluster_distance_m,
            min_points=cfg.min_points,
            min_quality=cfg.min_quality,
            max_range_m=cfg.max_range_m,
        )
        serial = self.ctx.serial()
        decoder, revs = RplidarDecoder(), RevolutionAssembler()
        try:
            async with serial.open(cfg.serial) as port:
                try:
                    await port.write(RPLIDAR_STOP)
                    await asyncio.sleep(0.01)  # the A1 needs ~1 ms after STOP
                    await self._rplidar_start(port, decoder)
                    self.ctx.set_available()
                    while True:
                        data = await port.read()
                        now = self.ctx.clock.now().timestamp()
                        for item in decoder.feed(data):
                            await self._rplidar_item(item, now, revs, geometry)
                finally:
                    with contextlib.suppress(Exception):
                        await port.write(RPLIDAR_STOP)
        except (DeviceUnavailable, asyncio.CancelledError):
            # the device went away or the hub stops: the open window goes out, incomplete
            est = self._window.finish()
            if est is not None:
                await self.ctx.emit(self._occupancy(est, incomplete=True))
            raise

    async def _rplidar_start(self, port: ByteStream, decoder: RplidarDecoder) -> None:
        """GET_HEALTH (optional, refuse a scanner in error state), then SCAN."""
        if self.config.check_health:
            await port.write(RPLIDAR_GET_HEALTH)
            health = None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_HEALTH_TIMEOUT_S):
                    while health is None:
                        items = decoder.feed(await port.read())
                        health = next((h for h in items if isinstance(h, RplidarHealth)), None)
            if health is None:
                self.ctx.log.warning(
                    "rplidar[%s]: RPLIDAR did not answer GET_HEALTH; starting the scan anyway",
                    self.ctx.instance,
                )
            elif health.status == 2:
                raise DeviceUnavailable(
                    f"rplidar[{self.ctx.instance}]: RPLIDAR reports a hardware error "
                    f"(code {health.error_code}); power-cycle the scanner"
                )
            elif health.status == 1:
                self.ctx.log.warning(
                    "rplidar[%s]: RPLIDAR health is 'warning' (code %d)",
                    self.ctx.instance,
                    health.error_code,
                )
        await port.write(RPLIDAR_SCAN)

    async def _rplidar_item(
        self, item: object, now: float, revs: RevolutionAssembler, geometry: ScanGeometry
    ) -> None:
        if isinstance(item, Malformed):
            self.ctx.malformed(item.reason)
        elif isinstance(item, ScanNode):
            rev = revs.add(item)
            if rev is not None:
                est = self._window.add(now, geometry.count(rev))
                if est is not None:
                    await self.ctx.emit(self._occupancy(est))

    def _occupancy(self, est: OccupancyEstimate, *, incomplete: bool = False) -> hub.Event:
        cfg = self.config
        quality, reasons = plausibility(cfg, est.count, previous=self._last_occupancy)
        self._last_occupancy = est.count
        if quality == hub.Quality.OK:
            quality = hub.Quality.ESTIMATED
        reasons.insert(0, hub.QualityReason.DERIVED)
        if incomplete:  # the window was cut short
            reasons.append(hub.QualityReason.INCOMPLETE)
        return self.ctx.event(
            hub.Occupancy(count=est.count),
            key=f"{_dt(est.window_start).isoformat()}/{_dt(est.t).isoformat()}",
            observed_at=_dt(est.t),
            zone=cfg.zone,
            quality=quality,
            quality_reasons=reasons,
            extras={
                "aggregate": cfg.aggregate,
                "revolutions": est.revolutions,
                "min_count": est.min_count,
                "max_count": est.max_count,
            },
            transport="serial",
        )
