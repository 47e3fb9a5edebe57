"""The ``lidar`` source: thin async loops around the sans-io modules.

* ``tfluna``/``tfmini``: reads one or two serial ports, decodes frames
  (:mod:`.protocol`), detects passages (:mod:`.passage`) and emits one
  ``Crossing`` per ``interval_s``, zero counts included;
* ``rplidar``: starts a scan, turns revolutions into people in the polygon
  (:mod:`.scan`) and emits an estimated ``Occupancy`` per ``emit_interval_s``;
* ``xovis``: receives logics pushes over HTTP or MQTT (:mod:`.xovis`, handled
  in :mod:`.xovis_handler`).
"""

from __future__ import annotations

__all__ = ["LidarSource"]

import asyncio
import contextlib
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import hub
from hub.errors import DeviceUnavailable
from hub.transports import ByteStream

from .config import LidarConfig
from .passage import (
    BeamDetector,
    CountBin,
    DirectionPairer,
    FrameClock,
    IntervalCounter,
    Passage,
)
from .protocol import (
    RPLIDAR_GET_HEALTH,
    RPLIDAR_SCAN,
    RPLIDAR_STOP,
    Malformed,
    RplidarDecoder,
    RplidarHealth,
    ScanNode,
    TfDecoder,
)
from .scan import OccupancyEstimate, OccupancyWindow, RevolutionAssembler, ScanGeometry
from .xovis_handler import XovisHandler, plausibility

_HEALTH_TIMEOUT_S = 2.0
_BEAMS = "AB"


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _first_unavailable(group: BaseExceptionGroup[Any]) -> DeviceUnavailable | None:
    for exc in group.exceptions:
        if isinstance(exc, DeviceUnavailable):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            found = _first_unavailable(exc)
            if found is not None:
                return found
    return None


class _Beams:
    """State of the TF beam counter (survives reconnects: intervals continue)."""

    def __init__(self, cfg: LidarConfig) -> None:
        n = len(cfg.beam_ports())
        self.pair = n == 2
        dwell = cfg.min_dwell_ms / 1000.0
        self.decoders = [
            TfDecoder(
                fmt=cfg.frame_format,
                temperature=cfg.device == "tfluna",
                min_amplitude=cfg.min_amplitude,
            )
            for _ in range(n)
        ]
        self.clocks = [FrameClock(cfg.frame_rate_hz) for _ in range(n)]
        self.detectors = [
            BeamDetector(
                floor_cm=floor,
                threshold_cm=cfg.threshold_cm,
                hysteresis_cm=cfg.hysteresis_cm,
                min_dwell_s=dwell,
                min_gap_s=cfg.min_gap_ms / 1000.0,
            )
            for floor in cfg.floor_distances_cm()
        ]
        self.pairer = DirectionPairer(cfg.pair_window_ms / 1000.0, confirm_delay_s=dwell)
        settle = dwell + 0.05 + (cfg.pair_window_ms / 1000.0 + dwell if self.pair else 0.0)
        self.counter = IntervalCounter(cfg.interval_s, settle_s=settle)
        self.last_t: list[float | None] = [None] * n
        self.warned_rate = False

    def watermark(self) -> float | None:
        if any(t is None for t in self.last_t):
            return None
        return min(t for t in self.last_t if t is not None)

    def restart(self) -> list[CountBin]:
        """The device went away: close what we have; frame clocks and detectors restart."""
        bins: list[CountBin] = []
        last = max((t for t in self.last_t if t is not None), default=None)
        if last is not None:
            for p in self.pairer.resolve(last, final=True):
                self.counter.add_unpaired(p.t)
            bins = self.counter.finish(last)
        for c in self.clocks:
            c.reset()
        for d in self.detectors:
            d.reset()
        self.last_t = [None] * len(self.last_t)
        return bins


class LidarSource(hub.Source[LidarConfig]):
    """Benewake TF-Luna/TFmini beams, Slamtec RPLIDAR A1, Xovis logics pushes."""

    kind = "lidar"
    config_model = LidarConfig
    description = (
        "Lidar people counting: TF-Luna/TFmini beams (line crossings), RPLIDAR A1 "
        "(zone occupancy), Xovis 3D counters (logics push over HTTP/MQTT)"
    )

    def __init__(self, config: LidarConfig, ctx: hub.SourceContext) -> None:
        super().__init__(config, ctx)
        self._beams: _Beams | None = None
        self._window = OccupancyWindow(config.emit_interval_s, config.aggregate)
        self._last_occupancy: float | None = None
        self._xovis = XovisHandler(config, ctx)

    @classmethod
    def required_transports(cls, config: Any) -> Sequence[tuple[str, str | None]]:
        cfg = cast(LidarConfig, config)
        if cfg.device == "xovis":
            return [("mqtt", cfg.broker)] if cfg.transport == "mqtt" else [("http", None)]
        return [("serial", None)]

    async def run(self) -> None:
        device = self.config.device
        if device in ("tfluna", "tfmini"):
            await self._run_beams()
        elif device == "rplidar":
            await self._run_rplidar()
        elif self.config.transport == "mqtt":
            await self._xovis.run_mqtt()
        else:
            await self._xovis.run_http()

    # -- TF-Luna / TFmini --------------------------------------------------------------------
    async def _run_beams(self) -> None:
        cfg = self.config
        if self._beams is None:
            self._beams = _Beams(cfg)
        beams = self._beams
        serial = self.ctx.serial()
        try:
            async with contextlib.AsyncExitStack() as stack:
                ports = [await stack.enter_async_context(serial.open(p)) for p in cfg.beam_ports()]
                self.ctx.set_available()
                if len(ports) == 1:
                    await self._read_beam(0, ports[0], beams)
                else:
                    async with asyncio.TaskGroup() as tg:
                        for i, port in enumerate(ports):
                            tg.create_task(
                                self._read_beam(i, port, beams),
                                name=f"lidar[{self.ctx.instance}].beam-{_BEAMS[i]}",
                            )
        except DeviceUnavailable:
            await self._emit_bins(beams.restart())
            raise
        except BaseExceptionGroup as group:
            err = _first_unavailable(group)
            if err is None:
                raise
            await self._emit_bins(beams.restart())
            raise err from None

    async def _read_beam(self, i: int, port: ByteStream, st: _Beams) -> None:
        decoder, clock, detector = st.decoders[i], st.clocks[i], st.detectors[i]
        name = _BEAMS[i]
        while True:
            data = await port.read()
            now = self.ctx.clock.now().timestamp()
            lost = 0
            for item in decoder.feed(data):
                if isinstance(item, Malformed):
                    self.ctx.malformed(f"beam {name}: {item.reason}")
                    lost += 1
                    continue
                t = clock.stamp(now)
                st.last_t[i] = t
                st.counter.reading(t, reliable=item.reliable, temperature_c=item.temperature_c)
                if not item.reliable:
                    continue
                start = detector.feed(t, item.distance_cm)
                if start is None:
                    continue
                if st.pair:
                    st.pairer.add(i, start)
                else:
                    st.counter.add(Passage(start, None))
            for _ in range(lost):  # a corrupt frame still took its time slot
                clock.stamp(now)
            if clock.ahead_s > 5.0 and not st.warned_rate:
                st.warned_rate = True
                self.ctx.log.warning(
                    "lidar[%s]: beam %s sends frames faster than frame_rate_hz=%s "
                    "(or a recording is replayed); timestamps run ahead of the clock",
                    self.ctx.instance,
                    name,
                    self.config.frame_rate_hz,
                )
            await self._progress(st)

    async def _progress(self, st: _Beams) -> None:
        mark = st.watermark()
        if mark is None:
            return
        if st.pair:
            for p in st.pairer.resolve(mark):
                if p.direction is None:
                    st.counter.add_unpaired(p.t)
                else:
                    st.counter.add(p)
        await self._emit_bins(st.counter.close(mark))

    async def _emit_bins(self, bins: list[CountBin]) -> None:
        for b in bins:
            await self.ctx.emit(self._crossing(b))

    def _crossing(self, b: CountBin) -> hub.Event:
        cfg = self.config
        assert self._beams is not None
        if self._beams.pair:
            fwd, back = b.a_to_b, b.b_to_a
            in_, out = (fwd, back) if cfg.a_to_b == "in" else (back, fwd)
        else:
            in_, out = (b.undirected, 0) if cfg.single_beam_as == "in" else (0, b.undirected)
        quality, reasons = plausibility(cfg, in_ + out)
        if b.readings and b.unreliable / b.readings > cfg.max_unreliable_fraction:
            quality = hub.Quality.SUSPECT
            reasons.append(hub.QualityReason.UNRELIABLE_SIGNAL)
        extras: dict[str, Any] = {
            "device": cfg.device,
            "readings": b.readings,
            "unreliable_readings": b.unreliable,
        }
        if self._beams.pair:
            extras["unpaired_breaks"] = b.unpaired
        else:
            extras["undirected"] = True
        if b.temperatures:
            extras["temperature_c"] = round(statistics.fmean(b.temperatures), 1)
        if b.partial:
            extras["partial"] = True
        return self.ctx.event(
            hub.Crossing(in_=in_, out=out),
            key=_dt(b.start).isoformat(),
            observed_from=_dt(b.start),
            observed_to=_dt(b.end),
            line=cfg.line,
            quality=quality,
            quality_reasons=reasons,
            extras=extras,
            transport="serial",
        )

    # -- RPLIDAR A1 ------------------------------------------------------------------------
    async def _run_rplidar(self) -> None:
        cfg = self.config
        assert cfg.serial is not None
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
        except DeviceUnavailable:
            est = self._window.finish()
            if est is not None:
                await self.ctx.emit(self._occupancy(est))
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
                    "lidar[%s]: RPLIDAR did not answer GET_HEALTH; starting the scan anyway",
                    self.ctx.instance,
                )
            elif health.status == 2:
                raise DeviceUnavailable(
                    f"lidar[{self.ctx.instance}]: RPLIDAR reports a hardware error "
                    f"(code {health.error_code}); power-cycle the scanner"
                )
            elif health.status == 1:
                self.ctx.log.warning(
                    "lidar[%s]: RPLIDAR health is 'warning' (code %d)",
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

    def _occupancy(self, est: OccupancyEstimate) -> hub.Event:
        cfg = self.config
        quality, reasons = plausibility(cfg, est.count, previous=self._last_occupancy)
        self._last_occupancy = est.count
        if quality == hub.Quality.OK:
            quality = hub.Quality.ESTIMATED
        reasons.insert(0, hub.QualityReason.DERIVED)
        return self.ctx.event(
            hub.Occupancy(count=est.count),
            key=f"{_dt(est.window_start).isoformat()}/{_dt(est.t).isoformat()}",
            observed_at=_dt(est.t),
            zone=cfg.zone,
            quality=quality,
            quality_reasons=reasons,
            extras={
                "device": "rplidar",
                "aggregate": cfg.aggregate,
                "revolutions": est.revolutions,
                "min_count": est.min_count,
                "max_count": est.max_count,
            },
            transport="serial",
        )
