"""The ``camera_aggregate`` source: people-counting cameras that count on board.

A thin async loop around the sans-io parsers: AXIS Object Analytics over MQTT,
Hikvision ISAPI and VIVOTEK pushes over HTTP (``/ingest/<source id>``).
Cumulative totals become crossings per ``interval_s``; interval reports become
one crossing each; occupancy is emitted as it arrives. Camera identities
(serials, MAC and IP addresses, device ids) never leave this module.
"""

from __future__ import annotations

__all__ = ["CameraAggregateSource"]

import asyncio
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import hub
from hub.events import Crossing, Event, Occupancy, QualityReason
from hub.plugins.camera_aggregate.bins import Bin, BinAggregator, DeviceClock
from hub.plugins.camera_aggregate.config import (
    AxisScenario,
    CameraAggregateConfig,
    HikvisionChannel,
    VivotekRule,
    hikvision_channel,
    safe_name,
    split_directions,
    unknown_places,
)
from hub.plugins.camera_aggregate.hikvision import HikAlert, HikRealTime, parse_body
from hub.plugins.camera_aggregate.protocol import (
    AxisCrossline,
    axis_crossline,
    axis_occupancy,
    axis_shape,
    parse_axis,
    parse_vivotek,
)
from hub.privacy import classify_text
from hub.quality import (
    CumulativeCounter,
    DeltaKind,
    Plausibility,
    SeenKeys,
    SequenceTracker,
    Verdict,
    worst_quality,
)
from hub.transports import (
    HttpAuth,
    IngestRequest,
    IngestResponse,
    Message,
)

_HIK_TYPES = ("application/xml", "text/xml", "multipart/form-data", "multipart/mixed")
_VIVOTEK_TYPES = ("application/json", "text/plain")


class CameraAggregateSource(hub.Source[CameraAggregateConfig]):
    """People-counting cameras: AXIS (MQTT), Hikvision and VIVOTEK (HTTP push)."""

    kind = "camera_aggregate"
    config_model = CameraAggregateConfig
    transport_kind = None  # mqtt for axis, http for the others (see required_transports)
    description = "AXIS Object Analytics, Hikvision ISAPI and VIVOTEK people counting"

    def __init__(self, config: CameraAggregateConfig, ctx: hub.SourceContext) -> None:
        super().__init__(config, ctx)
        try:
            self._tz: tzinfo = ZoneInfo(ctx.site.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            self._tz = UTC
        self._scenarios = {(s.channel, s.scenario): s for s in config.scenarios}
        self._rules = {r.rule: r for r in config.rules}
        self._totals = CumulativeCounter()
        self._sequences: dict[int, SequenceTracker] = {}
        self._seen = SeenKeys(config.dedupe_window)
        self._bins = BinAggregator(config.interval_s, config.grace_s)
        self._plausible = Plausibility(config.max_count, config.max_jump)
        self._cameras: dict[str, int] = {}
        self._gaps: set[Hashable] = set()
        self._device_clock = DeviceClock()
        self._logged: set[str] = set()
        self._tick_s = max(0.05, min(1.0, config.interval_s / 10))
        self.stats: Counter[str] = Counter()
        """Messages received, and ignored/deduplicated input by reason (status, tests)."""

    def status(self) -> Mapping[str, Any]:
        return dict(self.stats)

    @classmethod
    def required_transports(cls, config: Any) -> Sequence[tuple[str, str | None]]:
        cfg = cast(CameraAggregateConfig, config)
        if cfg.device == "axis":
            return [("mqtt", cfg.broker)]
        return [("http", cfg.http)]

    # -- run loops -------------------------------------------------------------------
    async def run(self) -> None:
        for place in unknown_places(self.config, self.ctx.site):
            self.ctx.log.warning(
                "camera_aggregate[%s]: %s is not defined in [site]", self.ctx.instance, place
            )
        if self.config.device == "axis":
            await self._run_axis()
        else:
            await self._run_http()

    async def _run_axis(self) -> None:
        mqtt = self.ctx.mqtt(self.config.broker)
        topic_filter = f"{self.config.topic_prefix.rstrip('/')}/event/#"
        async with mqtt.subscribe([topic_filter], qos=self.config.qos) as messages:
            self.ctx.set_available()
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._tick(), name=f"camera_aggregate[{self.ctx.instance}].tick")
                    async for msg in messages:
                        await self._on_message(msg)
                    raise hub.DeviceUnavailable(
                        f"camera_aggregate[{self.ctx.instance}]: MQTT subscription ended"
                    )
            except ExceptionGroup as group:
                raise group.exceptions[0] from None

    async def _run_http(self) -> None:
        http = self.ctx.http_server(self.config.http)
        auth = self.config.auth or HttpAuth(scheme="none")
        http.add_route(
            self.ctx.instance,
            self._on_request,
            auth=auth,
            content_types=_HIK_TYPES if self.config.device == "hikvision" else _VIVOTEK_TYPES,
            rate_per_s=self.config.rate_per_s,
        )
        self.ctx.set_available()
        try:
            await self._tick()
        finally:
            http.remove_route(self.ctx.instance)

    async def _tick(self) -> None:
        """Emit aggregated intervals once the device's clock has passed them.

        Sleeps on ``ctx.clock`` (the device clock estimate runs on its monotonic time), so a
        test or conformance clock that moves wakes it exactly when the interval is due."""
        while True:
            await self.ctx.clock.sleep(self._tick_s)
            await self._emit_all(self._due())

    async def _emit_all(self, events: Iterable[Event]) -> None:
        for event in events:
            await self.ctx.emit(event)

    async def _on_message(self, msg: Message) -> None:
        self.stats["messages"] += 1
        if "ObjectAnalytics" not in msg.topic:
            self.stats["other_topic"] += 1
            return
        try:
            events = self._axis(msg)
        except hub.MalformedInput as err:
            self.ctx.malformed(f"device 'axis': {err}")
            return
        await self._emit_all(events)

    async def _on_request(self, request: IngestRequest) -> IngestResponse:
        self.stats["messages"] += 1
        try:
            if self.config.device == "hikvision":
                events = self._hikvision(request)
            else:
                events = self._vivotek(request)
        except hub.MalformedInput as err:
            self.ctx.malformed(f"device '{self.config.device}': {err}")
            raise
        await self._emit_all(events)
        return IngestResponse(200, "OK")

    # -- shared helpers --------------------------------------------------------------
    def _ignore(self, reason: str, once_key: str, message: str) -> None:
        """Count ignored input; log the first of each kind once."""
        self.stats[reason] += 1
        if once_key not in self._logged:
            self._logged.add(once_key)
            self.ctx.log.info("camera_aggregate[%s]: %s", self.ctx.instance, message)

    def _observe(self, device_time: datetime) -> None:
        self._device_clock.observe(device_time, self.ctx.clock.monotonic())

    def _due(self) -> list[Event]:
        now = self._device_clock.now(self.ctx.clock.monotonic())
        return [] if now is None else [self._bin_event(b) for b in self._bins.due(now)]

    def _take_gap(self, stream: Hashable) -> list[QualityReason]:
        if stream in self._gaps:
            self._gaps.discard(stream)
            return [QualityReason.SEQUENCE_GAP]
        return []

    def _bin_event(self, b: Bin) -> Event:
        reasons = sorted({*b.reasons, *self._plausible.count(b.in_ + b.out)})
        extras: dict[str, Any] = {"device": self.config.device, "messages": b.messages}
        if b.revision:
            extras["revision"] = b.revision
        extras.update(b.extra)
        return self.ctx.event(
            Crossing(in_=b.in_, out=b.out),
            key=b.key,
            observed_from=b.start,
            observed_to=b.end,
            line=b.line,
            quality=worst_quality(reasons),
            quality_reasons=reasons,
            extras=extras,
        )

    def _interval_event(
        self,
        key: str,
        line: str,
        start: datetime,
        end: datetime,
        in_: int,
        out: int,
        reasons: list[QualityReason],
        sequence: int | None = None,
        extras: dict[str, Any] | None = None,
    ) -> Event:
        """A crossing for a device-reported interval (Hikvision timeRange, VIVOTEK)."""
        reasons = [*reasons, *self._plausible.count(in_ + out), *self._plausible.change(in_ + out)]
        return self.ctx.event(
            Crossing(in_=in_, out=out),
            key=key,
            observed_from=start,
            observed_to=end,
            line=line,
            quality=worst_quality(reasons),
            quality_reasons=sorted(set(reasons)),
            sequence=sequence,
            extras={"device": self.config.device, **(extras or {})},
        )

    # -- AXIS --------------------------------------------------------------------------
    def _camera(self, topic: str) -> int:
        """A small in-memory index per camera (the topic carries the serial: never logged)."""
        prefix = topic.split("/event/", 1)[0]
        return self._cameras.setdefault(prefix, len(self._cameras) + 1)

    def _axis(self, msg: Message) -> list[Event]:
        m = parse_axis(msg.topic, msg.payload)
        sc = self._scenarios.get((m.channel, m.scenario))
        label = f"AXIS scenario {m.scenario} (channel {m.channel})"
        if sc is None:
            self._ignore(
                "unknown_scenario",
                f"axis:{m.channel}:{m.scenario}",
                f"{label} is not configured; its messages are ignored",
            )
            return self._due()
        shape = axis_shape(m)
        if shape == "trigger":
            self._ignore(
                "trigger_scenario",
                f"axis-trigger:{m.channel}:{m.scenario}",
                f"{label} sends only active on/off, not counts; ignored",
            )
            return self._due()
        self._observe(m.timestamp)
        if sc.type == "occupancy":
            if shape == "crossline":
                raise hub.MalformedInput(
                    f"{label} is configured as occupancy but sends crossline counting "
                    "totals; set type = 'crossline'"
                )
            return [
                self._axis_occupancy(m.timestamp, sc, axis_occupancy(m, sc.classes), m.channel),
                *self._due(),
            ]
        self._axis_crossline(msg, sc, self._camera(msg.topic), axis_crossline(m), m.timestamp)
        return self._due()

    def _axis_occupancy(self, when: datetime, sc: AxisScenario, count: int, channel: int) -> Event:
        stream = ("axis-occupancy", channel, sc.scenario)
        reasons = self._plausible.level(stream, count)
        return self.ctx.event(
            Occupancy(count=count),
            key=f"{channel}:{sc.scenario}:{int(when.timestamp() * 1000)}",
            observed_at=when,
            zone=sc.zone or self.config.zone,
            quality=worst_quality(reasons),
            quality_reasons=reasons,
            extras={"device": "axis", "scenario": sc.scenario},
        )

    def _axis_crossline(
        self, msg: Message, sc: AxisScenario, camera: int, cl: AxisCrossline, when: datetime
    ) -> None:
        delta = self._totals.update(
            (camera, sc.channel, sc.scenario), cl.totals, at=when, epoch=cl.start_time
        )
        if delta.kind in (DeltaKind.OUT_OF_ORDER, DeltaKind.REPEAT):
            # an older message after a newer one (redelivery, camera retry): nothing new
            self.stats[f"crossline_{delta.kind}"] += 1
            return
        if delta.first:
            if msg.retain:
                return  # an old retained message: only the baseline
            # one message per crossing: the first one we see is the crossing of `reason`
            n = 1 if "all" in sc.classes or cl.reason in sc.classes else 0
        elif "all" in sc.classes:
            n = delta.values.get("all", 0)
        else:
            n = sum(delta.values.get(c, 0) for c in sc.classes)
        reasons = [QualityReason.COUNTER_RESET] if delta.reset else []
        reasons += self._plausible.change(n)
        in_, out = split_directions(sc.direction, n, 0)
        line = sc.line or self.config.line
        assert line is not None  # checked by the config
        self._bins.add(line, when, in_, out, reasons)

    # -- Hikvision ---------------------------------------------------------------------
    def _hikvision(self, request: IngestRequest) -> list[Event]:
        ctype = next(
            (v for k, v in request.headers.items() if k.lower() == "content-type"),
            request.content_type,
        )
        alert = parse_body(request.body, ctype, self._tz)
        if alert.event_type.lower() != "peoplecounting" or alert.counting is None:
            kind = alert.event_type if classify_text(alert.event_type) is None else "other"
            self._ignore(
                "other_event_type",
                f"hik-type:{kind[:40]}",
                f"Hikvision {kind[:40]!r} alerts are not people counting; ignored",
            )
            return self._due()
        mapping = hikvision_channel(self.config, alert.channel, alert.region)
        label = f"Hikvision channel {alert.channel}" + (
            f" region {alert.region}" if alert.region is not None else ""
        )
        if mapping is None:
            self._ignore(
                "unknown_channel",
                f"hik:{alert.channel}:{alert.region}",
                f"{label} is not configured; its alerts are ignored",
            )
            return self._due()
        stream = (alert.channel, alert.region)
        if not alert.retransmission:
            if alert.date_time is not None:
                self._observe(alert.date_time)
            if alert.active_post_count is not None:
                # one push counter per channel (regions of a channel share it)
                tracker = self._sequences.setdefault(alert.channel, SequenceTracker())
                result = tracker.observe(alert.active_post_count, alert.date_time)
                self.stats[f"sequence_{result.verdict}"] += 1
                if result.verdict is Verdict.GAP:
                    self._gaps.add(alert.channel)
        line = mapping.line or self.config.line
        assert line is not None  # checked by the config
        if isinstance(alert.counting, HikRealTime):
            events = self._hik_realtime(alert, alert.counting, mapping, line, stream)
        else:
            tr = alert.counting
            region = "" if alert.region is None else str(alert.region)
            if not self._seen.add(("hik", alert.channel, region, tr.start)):
                self.stats["duplicate_bin"] += 1
                return self._due()
            reasons = self._take_gap(alert.channel)
            if alert.retransmission:
                reasons.append(QualityReason.RETRANSMISSION)
            in_, out = split_directions(mapping.enter, tr.enter, tr.exit)
            extras: dict[str, Any] = {"method": "timeRange", "isapi": alert.namespace}
            if tr.pass_ is not None:
                extras["pass"] = tr.pass_
            events = [
                self._interval_event(
                    f"{alert.channel}:{region}:{tr.start.isoformat()}",
                    line,
                    tr.start,
                    tr.end,
                    in_,
                    out,
                    reasons,
                    alert.active_post_count,
                    extras,
                )
            ]
        return [*events, *self._due()]

    def _hik_realtime(
        self,
        alert: HikAlert,
        rt: HikRealTime,
        mapping: HikvisionChannel,
        line: str,
        stream: tuple[int, int | None],
    ) -> list[Event]:
        totals = {"enter": rt.enter, "exit": rt.exit}
        if rt.pass_ is not None:
            totals["pass"] = rt.pass_
        epoch = rt.local_date if self.config.daily_reset else None
        delta = self._totals.update(("hik-rt", stream), totals, at=rt.time, epoch=epoch)
        if delta.kind is DeltaKind.OUT_OF_ORDER:
            self.stats["realtime_out_of_order"] += 1
            return []  # an older running total (e.g. retransmitted): nothing new in it
        if delta.kind is DeltaKind.REPEAT:
            self.stats["realtime_repeat"] += 1
            return []  # the same push again: it observed nothing (no zero-count interval)
        self._observe(rt.time)
        events: list[Event] = []
        if mapping.occupancy_zone:
            raw = rt.enter - rt.exit if mapping.enter == "in" else rt.exit - rt.enter
            occ_reasons = [QualityReason.DERIVED]
            if raw < 0:
                occ_reasons.append(QualityReason.CLAMPED)
            occ_reasons += self._plausible.count(max(raw, 0))
            events.append(
                self.ctx.event(
                    Occupancy(count=max(raw, 0)),
                    key=f"{alert.channel}:{alert.region}:{rt.time.isoformat()}",
                    observed_at=rt.time,
                    zone=mapping.occupancy_zone,
                    quality=worst_quality(occ_reasons),
                    quality_reasons=occ_reasons,
                    sequence=alert.active_post_count,
                    extras={"device": "hikvision", "method": "realTime"},
                )
            )
        if delta.first:
            return events  # the running total is only the baseline
        enter, exit_ = delta.values.get("enter", 0), delta.values.get("exit", 0)
        reasons = self._take_gap(alert.channel)
        if delta.reset:
            reasons.append(QualityReason.COUNTER_RESET)
        if alert.retransmission:
            reasons.append(QualityReason.RETRANSMISSION)
        reasons += self._plausible.change(enter + exit_)
        in_, out = split_directions(mapping.enter, enter, exit_)
        extra = {"pass": delta.values["pass"]} if "pass" in delta.values else None
        self._bins.add(line, rt.time, in_, out, reasons, extra)
        return events

    # -- VIVOTEK -----------------------------------------------------------------------
    def _vivotek(self, request: IngestRequest) -> list[Event]:
        report = parse_vivotek(request.json(), self._tz)
        if report.other_rules:
            self.stats["other_rule_type"] += report.other_rules
        events: list[Event] = []
        for c in report.counts:
            rule: VivotekRule | None = self._rules.get(c.rule)
            if rule is None:
                self._ignore(
                    "unknown_rule",
                    f"viv:{c.rule[:64]}",
                    f"VIVOTEK rule {safe_name(c.rule)} is not configured; ignored",
                )
                continue
            self._observe(c.end)
            if not self._seen.add(("viv", c.rule, c.start)):
                self.stats["duplicate_bin"] += 1
                continue
            line = rule.line or self.config.line
            assert line is not None  # checked by the config
            in_, out = split_directions(rule.enter, c.in_, c.out)
            events.append(
                self._interval_event(
                    f"{c.rule}|{c.start.isoformat()}",
                    line,
                    c.start,
                    c.end,
                    in_,
                    out,
                    [],
                )
            )
        return [*events, *self._due()]
