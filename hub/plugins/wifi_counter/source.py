"""The ``wifi_counter`` source: thin async loops around the sans-io modules.

One class, four paths (``device``/``input`` in the config): Paxcounter over its
own MQTT client, over The Things Stack v3, over SPI frames on a serial bridge,
and the Meraki Scanning API pushed over HTTP.
"""

from __future__ import annotations

__all__ = ["WifiCounterSource"]

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import hub
from hub.quality import (
    CumulativeCounter,
    Plausibility,
    SequenceTracker,
    Verdict,
    worst_quality,
)

from .config import WifiCounterConfig
from .meraki_push import MerakiPush
from .protocol import (
    GpsFix,
    PaxBattery,
    PaxCount,
    PaxReading,
    PaxStatus,
    SpiFrameDecoder,
    decode_base64_body,
    decode_payload,
    parse_mqtt_topic,
)
from .ttn import decoded_reading, parse_ttn_uplink, ttn_topic

_TTN_COUNTERS = ("uplinks", "duplicate", "mac_only", "out_of_order", "restart", "gap")


@dataclass
class _Device:
    """State of one Paxcounter (per TTN device id; one for MQTT/serial)."""

    plausibility: Plausibility
    seq: SequenceTracker = field(default_factory=SequenceTracker)
    cumulative: CumulativeCounter = field(default_factory=CumulativeCounter)
    missed: int = 0
    gap_pending: bool = False
    location: GpsFix | None = None
    last_total_at: datetime | None = None
    """Cumulative mode: when the previous total was read (the delta starts there)."""


class WifiCounterSource(hub.Source[WifiCounterConfig]):
    """Distinct WiFi/BLE devices per interval from Paxcounters or Meraki access points."""

    kind = "wifi_counter"
    config_model = WifiCounterConfig
    description = (
        "ESP32-Paxcounter (MQTT, The Things Stack v3, SPI frames over serial) and Cisco "
        "Meraki Scanning API v2/v3 (HTTP push): distinct devices per interval"
    )

    def __init__(self, config: WifiCounterConfig, ctx: hub.SourceContext) -> None:
        super().__init__(config, ctx)
        self._devices: dict[str, _Device] = {}
        self.stats: Counter[str] = Counter()
        """Dropped or flagged input by reason: duplicate, out_of_order, restart, mac_only..."""
        self._meraki = MerakiPush(self.kind, config, ctx)
        """The Meraki receiver (device = "meraki")."""

    @property
    def duplicates(self) -> int:
        """Repeated TTN uplinks dropped so far."""
        return self.stats["duplicate"]

    def status(self) -> Mapping[str, Any]:
        """Counters for ``hub status``; the TTN ones are always shown (0 included)."""
        if self.config.device == "meraki":
            return self._meraki.status()
        if self.config.device == "paxcounter" and self.config.input == "ttn":
            return {k: self.stats[k] for k in _TTN_COUNTERS} | dict(self.stats)
        return dict(self.stats)

    @classmethod
    def required_transports(cls, config: Any) -> Sequence[tuple[str, str | None]]:
        cfg = cast(WifiCounterConfig, config)
        if cfg.device == "meraki":
            return [("http", None)]
        if cfg.input == "serial":
            return [("serial", None)]
        return [("mqtt", cfg.broker)]

    async def run(self) -> None:
        if self.config.device == "meraki":
            await self._run_meraki()
        elif self.config.input == "serial":
            await self._run_serial()
        elif self.config.input == "ttn":
            await self._run_ttn()
        else:
            await self._run_mqtt()

    # -- paxcounter paths -----------------------------------------------------------------
    async def _run_mqtt(self) -> None:
        mqtt = self.ctx.mqtt(self.config.broker)
        prefix = self.config.mqtt_prefix.rstrip("/")
        # '<prefix>/+' does not match the bare '<prefix>' topic (the client name)
        async with mqtt.subscribe([f"{prefix}/+"], qos=self.config.qos) as messages:
            self.ctx.set_available()
            async for msg in messages:
                try:
                    port = parse_mqtt_topic(msg.topic, prefix)
                    if port is None:
                        continue
                    raw = decode_base64_body(msg.payload)
                    reading = decode_payload(port, raw, self.config.encoding)
                except hub.MalformedInput as err:
                    self.ctx.malformed(str(err))
                    continue
                now = self.ctx.clock.now()
                # no sequence number on this path: a redelivered message (QoS 1 duplicate,
                # retained replay) within the same send cycle gets the same event id
                window = int(now.timestamp() // self.config.cycle_s)
                key = f"paxout|{port}|{raw.hex()}|{window}"
                await self._handle(reading, self._device(""), now, "mqtt", key=key)

    async def _run_ttn(self) -> None:
        cfg = self.config
        topic = cfg.ttn_topic or ttn_topic(
            cfg.ttn_application or "", cfg.ttn_tenant or None, cfg.ttn_device
        )
        mqtt = self.ctx.mqtt(cfg.broker)
        async with mqtt.subscribe([topic], qos=cfg.qos) as messages:
            self.ctx.set_available()
            async for msg in messages:
                try:
                    await self._ttn_message(msg.topic, msg.payload)
                except hub.MalformedInput as err:
                    self.ctx.malformed(str(err))

    async def _ttn_message(self, topic: str, body: bytes) -> None:
        """One uplink. The frame counter is only *checked* here and recorded once the
        uplink was handled (its event taken by the hub): a frame refused as malformed
        and published again (e.g. after the payload formatter was fixed) is accepted."""
        up = parse_ttn_uplink(body, topic)
        self.stats["uplinks"] += 1
        name = up.device_id or ""
        dev = self._device(name)
        stamp = up.received_at.isoformat() if up.received_at else ""
        verdict = dev.seq.check(up.f_cnt, up.received_at)
        if verdict.duplicate:
            self.stats["duplicate"] += 1
            self.ctx.log.debug("%s[%s]: repeated TTN uplink dropped", self.kind, self.ctx.instance)
            return
        if up.f_port == 0:
            self._ttn_record(dev, up.f_cnt, up.received_at)
            self.stats["mac_only"] += 1
            return  # MAC-only frame: no application payload
        reading: PaxReading | None = None
        if self.config.ttn_payload != "frm_payload" and up.decoded is not None:
            reading = decoded_reading(up.f_port, up.decoded)
        if reading is None:
            if self.config.ttn_payload == "decoded":
                if up.f_port in (1, 2):
                    raise hub.MalformedInput(
                        f"TTN uplink on port {up.f_port}: decoded_payload lacks the Paxcounter "
                        "fields; set the Paxcounter payload formatter or ttn_payload='auto'"
                    )
                self._ttn_record(dev, up.f_cnt, up.received_at)
                return
            reading = decode_payload(up.f_port, up.payload, self.config.encoding)
        t = up.received_at or self.ctx.clock.now()
        if verdict.verdict is Verdict.GAP:
            dev.missed += verdict.missed
            dev.gap_pending = True
        await self._handle(
            reading,
            dev,
            t,
            "mqtt",
            sequence=up.f_cnt,
            key=f"{name}|{up.f_cnt}|{stamp}",
            device_time=up.received_at,
        )
        self._ttn_record(dev, up.f_cnt, up.received_at)

    def _ttn_record(self, dev: _Device, f_cnt: int, at: datetime | None) -> None:
        verdict = dev.seq.record(f_cnt, at).verdict
        if verdict is Verdict.GAP:
            self.stats["gap"] += 1
        elif verdict is Verdict.OUT_OF_ORDER:
            self.stats["out_of_order"] += 1
        elif verdict is Verdict.RESTART:
            self.stats["restart"] += 1
            self.ctx.log.info(
                "%s[%s]: TTN frame counter restarted (device rejoined or rebooted)",
                self.kind,
                self.ctx.instance,
            )

    async def _run_serial(self) -> None:
        assert self.config.serial is not None  # checked by the config model
        serial = self.ctx.serial()
        decoder = SpiFrameDecoder(self.config.spi_crc)
        dev = self._device("")
        async with serial.open(self.config.serial) as port:
            self.ctx.set_available()
            while True:
                data = await port.read()
                for item in decoder.feed(data):
                    if isinstance(item, hub.MalformedInput):
                        self.ctx.malformed(str(item))
                        continue
                    try:
                        reading = decode_payload(item.port, item.payload, self.config.encoding)
                    except hub.MalformedInput as err:
                        self.ctx.malformed(str(err))
                        continue
                    await self._handle(reading, dev, self.ctx.clock.now(), "serial")

    def _device(self, name: str) -> _Device:
        dev = self._devices.get(name)
        if dev is None:
            dev = _Device(Plausibility(self.config.max_count, self.config.max_jump))
            self._devices[name] = dev
        return dev

    async def _handle(
        self,
        reading: PaxReading | None,
        dev: _Device,
        t: datetime,
        transport: str,
        *,
        sequence: int | None = None,
        key: str | None = None,
        device_time: datetime | None = None,
    ) -> None:
        """``device_time``: when the message carries its own time (orders cumulative totals)."""
        if reading is None:
            return  # a port without a count (config, button, sensors)
        if isinstance(reading, GpsFix):
            dev.location = reading
            return
        if isinstance(reading, PaxStatus | PaxBattery):
            await self._emit_status(reading, t, transport, sequence, key)
            return
        await self._emit_count(reading, dev, t, transport, sequence, key, device_time)

    async def _emit_count(
        self,
        reading: PaxCount,
        dev: _Device,
        t: datetime,
        transport: str,
        sequence: int | None,
        key: str | None,
        device_time: datetime | None,
    ) -> None:
        cfg = self.config
        wifi, ble = reading.wifi, reading.ble
        commit_totals: dict[str, int] | None = None
        reasons: list[hub.QualityReason] = []
        extras: dict[str, Any] = {}
        start = t - timedelta(seconds=cfg.cycle_s)
        if cfg.counter_mode == "cumulative":
            totals = {"wifi": wifi} if ble is None else {"wifi": wifi, "ble": ble}
            delta = dev.cumulative.check("", totals, at=device_time)
            if not delta.counts:
                if delta.first:
                    dev.cumulative.update("", totals, at=device_time)
                    dev.last_total_at = t  # first total: baseline only
                else:  # an older total after a newer one, or a replay: no delta
                    self.stats[str(delta.kind)] += 1
                return
            wifi = delta.values["wifi"]
            ble = delta.values.get("ble") if ble is not None else None
            if delta.reset:
                reasons.append(hub.QualityReason.COUNTER_RESET)
            elif dev.last_total_at is not None and dev.last_total_at < t:
                start = dev.last_total_at  # a delta spans every cycle since the last total read
            commit_totals = totals
        count = wifi + (ble or 0)
        reasons += dev.plausibility.level("", count)
        if dev.gap_pending:
            reasons.append(hub.QualityReason.SEQUENCE_GAP)
            extras["missed_frames"] = dev.missed
            dev.gap_pending = False
            dev.missed = 0
        if reading.pm10 is not None:
            extras["pm10"] = reading.pm10
            extras["pm25"] = reading.pm25
        fix = reading.gps or dev.location
        if cfg.include_device_location and fix is not None:
            extras.update(device_latitude=fix.latitude, device_longitude=fix.longitude)
            if fix.altitude_m is not None:
                extras.update(
                    device_altitude_m=fix.altitude_m, gps_sats=fix.sats, gps_hdop=fix.hdop
                )
        quality = worst_quality(reasons)
        if not reading.split_known:
            measurement = hub.Devices(count=count)
        else:
            measurement = hub.Devices(count=count, wifi=wifi, ble=ble)
        event = self.ctx.event(
            measurement,
            key=key,
            observed_from=start,
            observed_to=t,
            zone=cfg.zone,
            line=cfg.line,
            quality=quality,
            quality_reasons=reasons,
            sequence=sequence,
            extras=extras or None,
            transport=transport,
        )
        await self.ctx.emit(event)
        if commit_totals is not None:  # the hub took it: the total becomes the baseline
            dev.cumulative.update("", commit_totals, at=device_time)
            dev.last_total_at = t

    async def _emit_status(
        self,
        reading: PaxStatus | PaxBattery,
        t: datetime,
        transport: str,
        sequence: int | None,
        key: str | None,
    ) -> None:
        if isinstance(reading, PaxBattery):
            status = hub.Status(battery_mv=reading.voltage_mv or None)
        else:
            status = hub.Status(
                battery_mv=reading.voltage_mv or None,  # 0: no battery probe
                uptime_s=reading.uptime_s,
                temperature_c=float(reading.cputemp_c),
                free_memory_bytes=reading.free_memory_bytes,
                restarts=reading.restarts,
                reset_reason=reading.reset_reason,
                detail="uptime read as the vendor codec does (upper word)"
                if reading.uptime_quirk
                else None,
            )
        await self.ctx.emit(
            self.ctx.event(
                status,
                key=key,
                observed_at=t,
                zone=self.config.zone,
                line=self.config.line,
                sequence=sequence,
                transport=transport,
            )
        )

    # -- meraki ---------------------------------------------------------------------------
    async def _run_meraki(self) -> None:
        await self._meraki.run()
