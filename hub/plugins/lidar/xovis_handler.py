"""The ``xovis`` source's work: HTTP/MQTT loops and package → events.

* A LINE logic record becomes ``Crossing(in, out)`` over ``from``..``to`` (the
  counters are per bin). A ZONE logic record becomes ``Occupancy(balance)`` at
  ``to`` (a state value).
* ``event key`` = logic id + record ``from``: a resent package yields the same
  event ids, and records already emitted are dropped (first version wins).
* ``package_info.id`` jumping ahead flags the next events ``sequence_gap``.
* ``samples < samples_expected`` (the sensor was partly down during the bin)
  makes the event ``estimated`` with ``extras.incomplete = true``.
* The live push is refused (HTTP 422) unless ``live_counts_only``; then only
  the number of tracked objects in ``live_polygon`` becomes an occupancy.
"""

from __future__ import annotations

__all__ = ["LiveRejected", "XovisHandler", "plausibility"]

import asyncio
import json
from datetime import datetime
from typing import Any

import hub
from hub.errors import MalformedInput
from hub.quality import Plausibility, SeenKeys, SeqResult, SequenceTracker, Verdict, worst_quality
from hub.transports import IngestRequest, IngestResponse

from .config import RplidarConfig, XovisConfig, XovisLogic
from .xovis import (
    LivePackage,
    LogicsPackage,
    XovisLogicData,
    XovisRecord,
    count_objects,
    parse_push,
)

_DEFAULT_COUNTER_N = {"fw": 1, "bw": 2}
_LIVE_REFUSED = (
    "the Xovis live push (per-person tracks) is not accepted by this source: push the "
    "LOGICS agent instead, or set live_counts_only = true to derive head counts only"
)


class LiveRejected(Exception):
    """A live push arrived and ``live_counts_only`` is off."""


def plausibility(
    cfg: RplidarConfig | XovisConfig, count: float, *, previous: float | None = None
) -> tuple[hub.Quality, list[hub.QualityReason]]:
    """``max_count``/``max_jump`` checks → (quality, reasons), for the TF-Luna/RPLIDAR paths.

    With ``previous`` (an occupancy level) the change from it is checked against
    ``max_jump``; without, only ``max_count``. Xovis uses :class:`hub.quality.Plausibility`.
    """
    limits = Plausibility(cfg.max_count, cfg.max_jump)
    reasons = limits.count(count)
    if previous is not None:
        reasons += limits.change(count - previous)
    return worst_quality(reasons), reasons


class XovisHandler:
    """Turns Xovis pushes into events for one ``xovis`` source instance."""

    def __init__(self, config: XovisConfig, ctx: hub.SourceContext) -> None:
        self.config = config
        self.ctx = ctx
        self.sequences: dict[int | None, SequenceTracker] = {}
        """``package_info.id`` per agent."""
        self.seen = SeenKeys(50_000)
        self.plausible = Plausibility(config.max_count, config.max_jump)
        self.duplicates = 0
        self.live_rejected = 0
        self.packages = 0
        """Logics packages whose records the hub took."""
        self._unmapped_logged: set[int] = set()
        self._live_last: datetime | None = None

    def status(self) -> dict[str, int]:
        return {
            "packages": self.packages,
            "live_rejected": self.live_rejected,
            "duplicates": self.duplicates,
        }

    # -- transports --------------------------------------------------------------------------
    async def run_http(self) -> None:
        http = self.ctx.http_server()
        http.add_route(self.ctx.instance, self.handle_request, auth=self.config.auth)
        try:
            self.ctx.set_available()
            await asyncio.Event().wait()
        finally:
            http.remove_route(self.ctx.instance)

    async def handle_request(self, req: IngestRequest) -> IngestResponse | None:
        if req.method != "POST":
            return IngestResponse(405, "POST Xovis data pushes (JSON) to this URL")
        try:
            await self.handle(req.json(), "http")
        except LiveRejected as err:
            return IngestResponse(422, str(err))
        except MalformedInput as err:
            self.ctx.malformed(str(err))
            return IngestResponse(400, str(err))
        return None

    async def run_mqtt(self) -> None:
        mqtt = self.ctx.mqtt(self.config.broker)
        async with mqtt.subscribe([self.config.topic], qos=self.config.qos) as messages:
            self.ctx.set_available()
            async for msg in messages:
                try:
                    doc = json.loads(msg.payload)
                except (ValueError, UnicodeDecodeError, RecursionError):
                    self.ctx.malformed(
                        "xovis push over MQTT: payload is not JSON (or nested too deeply)"
                    )
                    continue
                try:
                    await self.handle(doc, "mqtt")
                except LiveRejected:
                    pass  # logged in handle(); MQTT has no way to answer
                except MalformedInput as err:
                    self.ctx.malformed(str(err))

    # -- packages --------------------------------------------------------------------------
    async def handle(self, doc: Any, transport: str) -> None:
        """One decoded push. Raises MalformedInput or LiveRejected."""
        pkg = parse_push(doc)
        if isinstance(pkg, LivePackage):
            if not self.config.live_counts_only:
                self.live_rejected += 1
                if self.live_rejected == 1 or self.live_rejected % 1000 == 0:
                    self.ctx.log.warning(
                        "xovis[%s]: refused %d live push(es): %s",
                        self.ctx.instance,
                        self.live_rejected,
                        _LIVE_REFUSED,
                    )
                raise LiveRejected(_LIVE_REFUSED)
            await self._live(pkg, transport)
            return
        await self._logics(pkg, transport)

    async def _logics(self, pkg: LogicsPackage, transport: str) -> None:
        status: SeqResult | None = None
        tracker = None
        if pkg.package_id is not None:
            tracker = self.sequences.setdefault(pkg.agent_id, SequenceTracker())
            status = tracker.check(pkg.package_id, pkg.sensor_time)
        gap = status is not None and status.verdict is Verdict.GAP
        events: list[tuple[str, hub.Event]] = []
        for logic in pkg.logics:
            target = self._target(logic)
            if target is None:
                continue
            for rec in logic.records:
                key = f"{logic.id}:{rec.start.isoformat()}"
                if key in self.seen:
                    self.duplicates += 1
                    continue
                try:
                    event = self._event(logic, rec, target, pkg, gap, transport)
                except MalformedInput as err:
                    self.ctx.malformed(str(err))
                    continue
                events.append((key, event))
        for key, event in events:
            self.seen.add(key)
            try:
                await self.ctx.emit(event)
            except BaseException:
                self.seen.discard(key)  # not taken (503): the retry must be accepted
                raise
        if tracker is not None and pkg.package_id is not None:
            tracker.record(pkg.package_id, pkg.sensor_time)
        self.packages += 1

    def _target(self, logic: XovisLogicData) -> XovisLogic | None:
        for m in self.config.logics:
            if (isinstance(m.logic, int) and m.logic == logic.id) or (
                isinstance(m.logic, str) and m.logic in (logic.name, str(logic.id))
            ):
                return m
        kind = logic.geometry or self._guess_geometry(logic)
        if not self.config.logics:
            if kind == "LINE" and self.config.line is not None:
                return XovisLogic(logic=logic.id, line=self.config.line)
            if kind == "ZONE" and self.config.zone is not None:
                return XovisLogic(logic=logic.id, zone=self.config.zone)
        if logic.id not in self._unmapped_logged:
            self._unmapped_logged.add(logic.id)
            self.ctx.log.info(
                "xovis[%s]: Xovis logic %d (%s) is not mapped to a line or "
                "zone; add it to 'logics' to use it",
                self.ctx.instance,
                logic.id,
                kind or "unknown geometry",
            )
        return None

    @staticmethod
    def _guess_geometry(logic: XovisLogicData) -> str:
        names = {c.name.lower() for r in logic.records for c in r.counts}
        return "ZONE" if "balance" in names else "LINE"

    def _event(
        self,
        logic: XovisLogicData,
        rec: XovisRecord,
        target: XovisLogic,
        pkg: LogicsPackage,
        gap: bool,
        transport: str,
    ) -> hub.Event:
        extras: dict[str, Any] = {"logic": logic.id}
        if rec.samples is not None:
            extras["samples"] = rec.samples
        if rec.samples_expected is not None:
            extras["samples_expected"] = rec.samples_expected
        if target.line is not None:
            in_ = self._counter(rec, logic, target.in_counter)
            out = self._counter(rec, logic, target.out_counter)
            if in_ is None and out is None:
                raise MalformedInput(
                    f"xovis push: logic {logic.id}: no '{target.in_counter}'/"
                    f"'{target.out_counter}' counters (set in_counter/out_counter)"
                )
            in_, out = in_ or 0, out or 0
            if in_ < 0 or out < 0:
                raise MalformedInput(f"xovis push: logic {logic.id}: negative line count")
            reasons = [*self.plausible.count(in_ + out), *self.plausible.change(in_ + out)]
            measurement: hub.Crossing | hub.Occupancy = hub.Crossing(in_=in_, out=out)
            when: dict[str, Any] = {
                "observed_from": rec.start,
                "observed_to": rec.end,
                "line": target.line,
            }
        else:
            value = rec.counter(target.occupancy_counter, logic.id)
            if value is None and len(rec.counts) == 1:
                value = rec.counts[0].value
            if value is None:
                raise MalformedInput(
                    f"xovis push: logic {logic.id}: no "
                    f"'{target.occupancy_counter}' counter (set "
                    "occupancy_counter)"
                )
            assert target.zone is not None
            reasons = self.plausible.level(target.zone, max(0, value))
            if value < 0:
                reasons.append(hub.QualityReason.CLAMPED)
                extras["reported"] = value
            measurement = hub.Occupancy(count=max(0, value))
            when = {"observed_at": rec.end, "zone": target.zone}
        quality = worst_quality(reasons)
        if value_clamped := hub.QualityReason.CLAMPED in reasons:
            quality = hub.Quality.SUSPECT  # the sensor reported a negative balance
        if not rec.complete:
            extras["incomplete"] = True
            reasons.append(hub.QualityReason.INCOMPLETE)
            if not value_clamped:
                quality = worst_quality(reasons)
        if gap:
            reasons.append(hub.QualityReason.SEQUENCE_GAP)
        return self.ctx.event(
            measurement,
            key=f"{logic.id}:{rec.start.isoformat()}",
            quality=quality,
            quality_reasons=reasons,
            sequence=pkg.package_id if pkg.package_id is not None and pkg.package_id >= 0 else None,
            extras=extras,
            transport=transport,
            **when,
        )

    @staticmethod
    def _counter(rec: XovisRecord, logic: XovisLogicData, name: str) -> int | None:
        return rec.counter(name, logic.id, _DEFAULT_COUNTER_N.get(name.lower()))

    async def _live(self, pkg: LivePackage, transport: str) -> None:
        cfg = self.config
        for frame in pkg.frames:
            t = frame.time or self.ctx.clock.now()
            last = self._live_last
            if last is not None and 0 <= (t - last).total_seconds() < cfg.live_min_interval_s:
                continue
            self._live_last = t
            n = count_objects(frame, cfg.live_polygon, cfg.live_object_types)
            assert cfg.zone is not None
            reasons = self.plausible.level(cfg.zone, n)
            quality = worst_quality(reasons)
            await self.ctx.emit(
                self.ctx.event(
                    hub.Occupancy(count=n),
                    key=f"live:{t.isoformat()}",
                    observed_at=t,
                    zone=cfg.zone,
                    quality=hub.Quality.ESTIMATED if quality == hub.Quality.OK else quality,
                    quality_reasons=[hub.QualityReason.DERIVED, *reasons],
                    extras={"live": True},
                    transport=transport,
                )
            )
