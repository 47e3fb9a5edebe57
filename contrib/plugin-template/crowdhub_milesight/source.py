"""The ``milesight`` source: a thin loop around :mod:`crowdhub_milesight.protocol`."""

from __future__ import annotations

__all__ = ["MilesightSource"]

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import hub

from .config import MilesightConfig
from .protocol import TtnUplink, Uplink, decode_payload, parse_ttn_uplink

_R = hub.QualityReason


@dataclass
class _Device:
    """What the source remembers of one counter (keyed by TTS device id, in memory only)."""

    f_cnt: int | None = None
    time: datetime | None = None
    totals: dict[int, tuple[int, int]] = field(default_factory=dict)
    restarted: bool = False


class MilesightSource(hub.Source[MilesightConfig]):
    """Line crossings and region occupancy from Milesight VS133/VS135 counters via TTS v3."""

    kind = "milesight"
    config_model = MilesightConfig
    transport_kind = "mqtt"
    description = "Milesight VS133/VS135 AI ToF people counters (The Things Stack v3 MQTT)"

    def __init__(self, config: MilesightConfig, ctx: hub.SourceContext) -> None:
        super().__init__(config, ctx)
        self._devices: dict[str, _Device] = {}
        self._lines = config.line_map()
        self._regions = config.region_map()
        self.duplicates = 0
        self.ignored = 0

    @classmethod
    def required_transports(cls, config: Any) -> Sequence[tuple[str, str | None]]:
        return [("mqtt", cast(MilesightConfig, config).broker)]

    async def run(self) -> None:
        mqtt = self.ctx.mqtt(self.config.broker)
        async with mqtt.subscribe([self.config.topic], qos=self.config.qos) as messages:
            self.ctx.set_available()
            async for msg in messages:
                try:
                    events = self.handle(msg.payload)
                except hub.MalformedInput as err:
                    self.ctx.malformed(str(err))
                    continue
                for event in events:
                    await self.ctx.emit(event)

    # -- per uplink (synchronous: no awaits between reading and updating state) ----------

    def handle(self, body: bytes) -> list[hub.Event]:
        """Turn one uplink message into events (raises MalformedInput)."""
        up = parse_ttn_uplink(body)
        cfg = self.config
        if (cfg.device_id and up.device_id != cfg.device_id) or (
            cfg.f_port is not None and up.f_port != cfg.f_port
        ):
            self.ignored += 1
            return []
        reading = decode_payload(up.payload)
        dev = self._devices.setdefault(up.device_id, _Device())
        now = self.ctx.clock.now()
        t = up.received_at or now
        reasons: list[hub.QualityReason] = []
        if abs((t - now).total_seconds()) > cfg.max_clock_skew_s:
            reasons.append(_R.CLOCK_SKEW)
        if dev.f_cnt is not None and up.f_cnt is not None:
            if up.f_cnt == dev.f_cnt or (up.f_cnt < dev.f_cnt and dev.time and t <= dev.time):
                self.duplicates += 1  # a repeat or a late copy: dropped
                return []
            if up.f_cnt < dev.f_cnt:  # frame counter restarted: the device rejoined
                self._restart(dev)
            elif up.f_cnt > dev.f_cnt + 1:
                reasons.append(_R.SEQUENCE_GAP)
        if reading.reset:
            self._restart(dev)
        events = self._crossings(up, reading, dev, t, reasons)
        events += self._occupancy(up, reading, t, reasons)
        dev.f_cnt = up.f_cnt if up.f_cnt is not None else dev.f_cnt
        dev.time = t
        return events

    def _restart(self, dev: _Device) -> None:
        """The device restarted: its totals count again from zero."""
        if dev.time is not None:
            dev.totals = {number: (0, 0) for number in self._lines}
            dev.restarted = True

    def _key(self, up: TtnUplink, t: datetime, what: str) -> str:
        return f"{up.device_id}|{up.f_cnt}|{t.isoformat()}|{what}"

    def _crossings(
        self,
        up: TtnUplink,
        reading: Uplink,
        dev: _Device,
        t: datetime,
        reasons: list[hub.QualityReason],
    ) -> list[hub.Event]:
        cfg = self.config
        out: list[hub.Event] = []
        for number, line in sorted(self._lines.items()):
            totals = None
            if number in reading.total_in and number in reading.total_out:
                totals = (reading.total_in[number], reading.total_out[number])
            previous = dev.totals.get(number)
            if totals is not None:
                dev.totals[number] = totals
            use_period = number in reading.period and cfg.counts != "total"
            if use_period:
                in_, out_ = reading.period[number]
                start = t - timedelta(seconds=cfg.report_interval_s)
                why, source = list(reasons), "period"
            elif totals is not None and cfg.counts != "period":
                if previous is None or dev.time is None:
                    continue  # the first total is the baseline
                start, source, why = dev.time, "total", list(reasons)
                in_, out_ = totals[0] - previous[0], totals[1] - previous[1]
                if in_ < 0 or out_ < 0:  # counter cleared on the device: count since then
                    in_ = totals[0] if in_ < 0 else in_
                    out_ = totals[1] if out_ < 0 else out_
                    why.append(_R.COUNTER_RESET)
            else:
                continue
            if dev.restarted and source == "total":
                why.append(_R.COUNTER_RESET)
            quality = hub.Quality.SUSPECT if _R.CLOCK_SKEW in why else hub.Quality.OK
            if cfg.max_count is not None and max(in_, out_) > cfg.max_count:
                why.append(_R.ABOVE_MAXIMUM)
                quality = hub.Quality.SUSPECT
            elif _R.COUNTER_RESET in why and quality is hub.Quality.OK:
                quality = hub.Quality.ESTIMATED
            out.append(
                self.ctx.event(
                    hub.Crossing(in_=in_, out=out_),
                    key=self._key(up, t, f"line{number}"),
                    line=line,
                    observed_from=min(start, t),
                    observed_to=t,
                    quality=quality,
                    quality_reasons=sorted(set(why)),
                    sequence=up.f_cnt,
                    extras={"device_line": number, "counter": source},
                )
            )
        if any(n in reading.total_in for n in self._lines):
            dev.restarted = False
        return out

    def _occupancy(
        self, up: TtnUplink, reading: Uplink, t: datetime, reasons: list[hub.QualityReason]
    ) -> list[hub.Event]:
        if reading.regions is None:
            return []
        return [
            self.ctx.event(
                hub.Occupancy(count=reading.regions[number - 1]),
                key=self._key(up, t, f"region{number}"),
                zone=zone,
                observed_at=t,
                quality=hub.Quality.SUSPECT if _R.CLOCK_SKEW in reasons else hub.Quality.OK,
                quality_reasons=reasons,
                sequence=up.f_cnt,
                extras={"device_region": number},
            )
            for number, zone in sorted(self._regions.items())
        ]
