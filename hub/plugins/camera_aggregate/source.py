"""The ``camera_aggregate`` source: people-counting cameras that count on board.

A thin async loop around the sans-io parsers: AXIS Object Analytics over MQTT,
Hikvision ISAPI and VIVOTEK pushes over HTTP (``/ingest/<source id>``).
Cumulative totals become crossings per ``interval_s``; interval reports become
one crossing each; occupancy is emitted as it arrives. Camera identities
(serials, MAC and IP addresses, device ids) never leave this module.

Sequence numbers, dedup keys and cumulative totals advance only once the hub
took a message's events (:mod:`.delivery`): a push refused with ``400`` or
``503`` and sent again is accepted, not dropped as a duplicate.
"""

from __future__ import annotations

__all__ = ["CameraAggregateSource"]

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import hub
from hub.events import Event, Occupancy, QualityReason
from hub.plugins.camera_aggregate.bins import BinAggregator
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
from hub.plugins.camera_aggregate.delivery import Delivery, Planned
from hub.plugins.camera_aggregate.hikvision import HikAlert, HikRealTime, parse_body
from hub.plugins.camera_aggregate.protocol import (
    AxisCrossline,
    axis_crossline,
    axis_occupancy,
    axis_shape,
    parse_axis,
    parse_vivotek,
)
from hub.plugins.camera_aggregate.vivotek import parse_vivotek_csv
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
_VIVOTEK_TYPES = ("application/json", "text/plain", "text/csv", "application/csv")
_BURST_S = 60.0
_Commit = Callable[[], None] | None


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
        self._out = Delivery(
            ctx,
            config.device,
            "mqtt" if config.device == "axis" else "http",
            self._bins,
            self._seen,
            self._plausible,
        )
        self._cameras: dict[str, int] = {}
        self._logged: set[str] = set()
        self._bursts: dict[str, tuple[float, int]] = {}
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
        try:
            if self.config.device == "axis":
                await self._run_axis()
            else:
                await self._run_http()
        except asyncio.CancelledError:
            # a clean stop: the open intervals go out as incomplete, not thrown away
            left = await self._out.flush_open()
            if left:
                self.ctx.log.warning(
                    "camera_aggregate[%s]: %d interval(s) could not be handed over at stop",
                    self.ctx.instance,
                    left,
                )
            raise

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
            await self._out.flush()

    async def _on_message(self, msg: Message) -> None:
        self.stats["messages"] += 1
        if "ObjectAnalytics" not in msg.topic:
            self.stats["other_topic"] += 1
            return
        try:
            planned = self._axis(msg)
        except hub.MalformedInput as err:
            self.ctx.malformed(f"device 'axis': {err}")
            return
        await self._out.deliver(planned)
        await self._out.flush()

    async def _on_request(self, request: IngestRequest) -> IngestResponse:
        self.stats["messages"] += 1
        try:
            if self.config.device == "hikvision":
                planned, commit = self._hikvision(request)
            else:
                planned, commit = self._vivotek(request), None
        except hub.MalformedInput as err:
            self.ctx.malformed(f"device '{self.config.device}': {err}")
            raise
        await self._out.deliver(planned, commit)
        await self._out.flush()
        return IngestResponse(200, "OK")

    # -- shared helpers --------------------------------------------------------------
    def _ignore(self, reason: str, once_key: str, message: str) -> None:
        """Count ignored input; log the first of each kind once."""
        self.stats[reason] += 1
        if once_key not in self._logged:
            self._logged.add(once_key)
            self.ctx.log.info("camera_aggregate[%s]: %s", self.ctx.instance, message)

    def _warn(self, reason: str, message: str) -> None:
        """Count input that yields nothing and should not; a WARNING once per burst."""
        self.stats[reason] += 1
        now = time.monotonic()
        last, suppressed = self._bursts.get(reason, (-1e9, 0))
        if now - last < _BURST_S:
            self._bursts[reason] = (last, suppressed + 1)
            return
        more = f" (+{suppressed} more since)" if suppressed else ""
        self.ctx.log.warning("camera_aggregate[%s]: %s%s", self.ctx.instance, message, more)
        self._bursts[reason] = (now, 0)

    def _observe(self, device_time: datetime) -> None:
        self._out.clock.observe(device_time, self.ctx.clock.monotonic())

    # -- AXIS --------------------------------------------------------------------------
    def _camera(self, topic: str) -> int:
        """A small in-memory index per camera (the topic carries the serial: never logged)."""
        prefix = topic.split("/event/", 1)[0]
        return self._cameras.setdefault(prefix, len(self._cameras) + 1)

    def _axis(self, msg: Message) -> list[Planned]:
        m = parse_axis(msg.topic, msg.payload)
        sc = self._scenarios.get((m.channel, m.scenario))
        label = f"AXIS scenario {m.scenario} (channel {m.channel})"
        if sc is None:
            self._ignore(
                "unknown_scenario",
                f"axis:{m.channel}:{m.scenario}",
                f"{label} is not configured; its messages are ignored",
            )
            return []
        shape = axis_shape(m)
        if shape == "trigger":
            self._ignore(
                "trigger_scenario",
                f"axis-trigger:{m.channel}:{m.scenario}",
                f"{label} sends only active on/off, not counts; ignored",
            )
            return []
        self._observe(m.timestamp)
        if sc.type == "occupancy":
            if shape == "crossline":
                raise hub.MalformedInput(
                    f"{label} is configured as occupancy but sends crossline counting "
                    "totals; set type = 'crossline'"
                )
            count = axis_occupancy(m, sc.classes)
            return [(self._axis_occupancy(m.timestamp, sc, count, m.channel), None)]
        self._axis_crossline(msg, sc, self._camera(msg.topic), axis_crossline(m), m.timestamp)
        return []

    def _axis_occupancy(self, when: datetime, sc: AxisScenario, count: int, channel: int) -> Event:
        stream = ("axis-occupancy", channel, sc.scenario)
        reasons = self._plausible.level(stream, count)
        return self._out.event(
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
        """One message per crossing: the crossing of ``reason`` happened at ``when`` and goes
        into the interval of ``when``. A step of more than one (messages lost, the hub was
        away, a reset) also holds crossings whose time is only known to lie after the
        previous message: in the same interval they join it; spread over several
        intervals they go out as one ``sequence_gap`` crossing over that span."""
        delta = self._totals.update(
            (camera, sc.channel, sc.scenario), cl.totals, at=when, epoch=cl.start_time
        )
        if delta.kind in (DeltaKind.OUT_OF_ORDER, DeltaKind.REPEAT):
            # an older message after a newer one (redelivery, camera retry): nothing new
            self.stats[f"crossline_{delta.kind}"] += 1
            return
        own = 1 if "all" in sc.classes or cl.reason in sc.classes else 0
        if delta.first:
            if msg.retain:
                return  # an old retained message: only the baseline
            n = own
        elif "all" in sc.classes:
            n = delta.values.get("all", 0)
        else:
            n = sum(delta.values.get(c, 0) for c in sc.classes)
        own = min(own, n)
        reasons = [QualityReason.COUNTER_RESET] if delta.reset else []
        line = sc.line or self.config.line
        assert line is not None  # checked by the config
        rest = n - own
        since = delta.since
        if rest and (since is None or self._bins.slot(since) != self._bins.slot(when)):
            self.stats["crossline_unbinned"] += rest
            in_, out = split_directions(sc.direction, rest, 0)
            self._out.queue(
                [self._out.spread_event(line, in_, out, since, when, reasons, sc.scenario)]
            )
            n = own
        elif rest:
            reasons.append(QualityReason.SEQUENCE_GAP)
        reasons += self._plausible.change(n)
        in_, out = split_directions(sc.direction, n, 0)
        self._bins.add(line, when, in_, out, reasons)

    # -- Hikvision ---------------------------------------------------------------------
    def _hikvision(self, request: IngestRequest) -> tuple[list[Planned], _Commit]:
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
            return [], None
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
            return [], None
        reasons: list[QualityReason] = []
        tracker: SequenceTracker | None = None
        if not alert.retransmission:
            if alert.date_time is not None:
                self._observe(alert.date_time)
            if alert.active_post_count is not None:
                # one push counter per channel (regions of a channel share it)
                tracker = self._sequences.setdefault(alert.channel, SequenceTracker())
                if tracker.check(alert.active_post_count, alert.date_time).verdict is Verdict.GAP:
                    reasons.append(QualityReason.SEQUENCE_GAP)
        else:
            reasons.append(QualityReason.RETRANSMISSION)

        def record() -> None:
            if tracker is not None and alert.active_post_count is not None:
                result = tracker.record(alert.active_post_count, alert.date_time)
                self.stats[f"sequence_{result.verdict}"] += 1

        line = mapping.line or self.config.line
        assert line is not None  # checked by the config
        if isinstance(alert.counting, HikRealTime):
            return self._hik_realtime(alert, alert.counting, mapping, line, reasons, record)
        tr = alert.counting
        region = "" if alert.region is None else str(alert.region)
        key = ("hik", alert.channel, region, tr.start)
        if not self._seen.add(key):
            self.stats["duplicate_bin"] += 1
            return [], record
        in_, out = split_directions(mapping.enter, tr.enter, tr.exit)
        extras: dict[str, Any] = {"method": "timeRange", "isapi": alert.namespace}
        if tr.pass_ is not None:
            extras["pass"] = tr.pass_
        event = self._out.interval_event(
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
        return [(event, key)], record

    def _hik_realtime(
        self,
        alert: HikAlert,
        rt: HikRealTime,
        mapping: HikvisionChannel,
        line: str,
        reasons: list[QualityReason],
        record: Callable[[], None],
    ) -> tuple[list[Planned], _Commit]:
        totals = {"enter": rt.enter, "exit": rt.exit}
        if rt.pass_ is not None:
            totals["pass"] = rt.pass_
        epoch = rt.local_date if self.config.daily_reset else None
        stream = ("hik-rt", (alert.channel, alert.region))
        delta = self._totals.check(stream, totals, at=rt.time, epoch=epoch)
        if delta.kind in (DeltaKind.OUT_OF_ORDER, DeltaKind.REPEAT):
            # an older running total (retransmitted), or the same push again: nothing new
            self.stats[f"realtime_{delta.kind}"] += 1
            return [], record
        self._observe(rt.time)
        planned: list[Planned] = []
        if mapping.occupancy_zone:
            raw = rt.enter - rt.exit if mapping.enter == "in" else rt.exit - rt.enter
            occ_reasons = [QualityReason.DERIVED]
            if raw < 0:
                occ_reasons.append(QualityReason.CLAMPED)
            occ_reasons += self._plausible.count(max(raw, 0))
            occupancy = self._out.event(
                Occupancy(count=max(raw, 0)),
                key=f"{alert.channel}:{alert.region}:{rt.time.isoformat()}",
                observed_at=rt.time,
                zone=mapping.occupancy_zone,
                quality=worst_quality(occ_reasons),
                quality_reasons=occ_reasons,
                sequence=alert.active_post_count,
                extras={"device": "hikvision", "method": "realTime"},
            )
            planned.append((occupancy, None))

        def commit() -> None:
            """Once the hub took the occupancy: the running total becomes the baseline."""
            record()
            step = self._totals.update(stream, totals, at=rt.time, epoch=epoch)
            if not step.counts:
                return  # the first running total (only the baseline), or raced by a retry
            enter, exit_ = step.values.get("enter", 0), step.values.get("exit", 0)
            bin_reasons = [*reasons, *([QualityReason.COUNTER_RESET] if step.reset else [])]
            bin_reasons += self._plausible.change(enter + exit_)
            in_, out = split_directions(mapping.enter, enter, exit_)
            extra = {"pass": step.values["pass"]} if "pass" in step.values else None
            self._bins.add(line, rt.time, in_, out, bin_reasons, extra)

        return planned, commit

    # -- VIVOTEK -----------------------------------------------------------------------
    def _vivotek(self, request: IngestRequest) -> list[Planned]:
        ctype = (request.content_type or "").split(";", 1)[0].strip().lower()
        body = request.body.lstrip()
        if ctype.endswith("csv") or (ctype == "text/plain" and not body.startswith(b"{")):
            report = parse_vivotek_csv(request.body, self._tz)
        else:
            report = parse_vivotek(request.json(), self._tz)
        if report.other_rules:
            self.stats["other_rule_type"] += report.other_rules
        planned: list[Planned] = []
        for c in report.counts:
            rule: VivotekRule | None = self._rules.get(c.rule)
            if rule is None:
                known = ", ".join(safe_name(r) for r in sorted(self._rules)[:5])
                self._warn(
                    "unknown_rule",
                    f"VIVOTEK rule {safe_name(c.rule)} matches no configured rule "
                    f"({known}); its counts are dropped: set 'rule' to the RuleName exactly "
                    "as the camera sends it",
                )
                continue
            self._observe(c.end)
            key = ("viv", c.rule, c.start)
            if not self._seen.add(key):
                self.stats["duplicate_bin"] += 1
                continue
            line = rule.line or self.config.line
            assert line is not None  # checked by the config
            in_, out = split_directions(rule.enter, c.in_, c.out)
            event = self._out.interval_event(
                f"{c.rule}|{c.start.isoformat()}", line, c.start, c.end, in_, out, []
            )
            planned.append((event, key))
        return planned
