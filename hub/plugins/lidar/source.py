"""The ``tfluna`` source: Benewake TF-Luna/TFmini beams on one or two serial ports.

A thin async loop around the sans-io modules: it decodes frames (:mod:`.protocol`),
detects passages (:mod:`.passage`) and emits one ``Crossing`` per ``interval_s``, zero
counts included. Two beams give the direction. (The RPLIDAR is in
:mod:`.rplidar_source`, Xovis in :mod:`.xovis_source`.)
"""

from __future__ import annotations

__all__ = ["TfLunaSource"]

import asyncio
import contextlib
import statistics
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import hub
from hub.errors import DeviceUnavailable
from hub.transports import ByteStream

from .config import TfLunaConfig
from .migration import lidar_hint
from .passage import (
    BeamDetector,
    CountBin,
    DirectionPairer,
    FrameClock,
    IntervalCounter,
    Passage,
)
from .protocol import Malformed, TfDecoder

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

    def __init__(self, cfg: TfLunaConfig) -> None:
        n = len(cfg.beam_ports())
        self.pair = n == 2
        dwell = cfg.min_dwell_ms / 1000.0
        self.decoders = [
            TfDecoder(
                fmt=cfg.frame_format,
                temperature=cfg.model != "tfmini",
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
        """The device went away or the hub stops: close what we have (the interval cut
        short is ``partial`` and last); frame clocks and detectors restart."""
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


class TfLunaSource(hub.Source[TfLunaConfig]):
    """Benewake TF-Luna, TFmini-S, TFmini Plus and TFmini beams: crossings on a line."""

    kind = "tfluna"
    config_model = TfLunaConfig
    transport_kind = "serial"
    description = (
        "Benewake TF-Luna/TFmini single-point lidar over serial: passages under one beam, "
        "or directions from a pair of beams, as crossings per interval"
    )

    def __init__(self, config: TfLunaConfig, ctx: hub.SourceContext) -> None:
        super().__init__(config, ctx)
        self._beams: _Beams | None = None

    @classmethod
    def required_transports(cls, config: Any) -> Sequence[tuple[str, str | None]]:
        return [("serial", None)]

    @classmethod
    def retired_kind_hint(cls, kind: str, table: Mapping[str, Any]) -> str | None:
        return lidar_hint(kind, table)

    async def run(self) -> None:
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
                        tg.create_task(
                            self._read_beam(1, ports[1], beams),
                            name=f"tfluna[{self.ctx.instance}].beam-{_BEAMS[1]}",
                        )
                        # beam A is read in this task, inside the group's body: on Python
                        # 3.11 a child failing while the parent waits in the group's exit
                        # leaves the parent task marked as cancelling, and the supervisor
                        # then takes the DeviceUnavailable for a stop (no retry, no log)
                        await self._read_beam(0, ports[0], beams)
        except DeviceUnavailable:
            await self._emit_bins(beams.restart())
            raise
        except BaseExceptionGroup as group:
            err = _first_unavailable(group)
            if err is None:
                raise
            await self._emit_bins(beams.restart())
            raise err from None
        except asyncio.CancelledError:
            # a clean stop: the open interval goes out (incomplete), not thrown away
            await self._emit_bins(beams.restart())
            raise

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
                    "tfluna[%s]: beam %s sends frames faster than frame_rate_hz=%s "
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
        quality = hub.Quality.OK
        reasons: list[hub.QualityReason] = []
        if cfg.max_count is not None and in_ + out > cfg.max_count:
            quality = hub.Quality.SUSPECT
            reasons.append(hub.QualityReason.ABOVE_MAXIMUM)
        if b.readings and b.unreliable / b.readings > cfg.max_unreliable_fraction:
            quality = hub.Quality.SUSPECT
            reasons.append(hub.QualityReason.UNRELIABLE_SIGNAL)
        extras: dict[str, Any] = {
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
        if b.cut:  # the device went away or the hub stopped inside this interval
            reasons.append(hub.QualityReason.INCOMPLETE)
            if quality == hub.Quality.OK:
                quality = hub.Quality.ESTIMATED
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
