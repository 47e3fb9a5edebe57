"""The Meraki path of the ``wifi_counter`` source: the receiver of Scanning API POSTs.

A thin async shell around :class:`.meraki.MerakiCounter` (sans-io):

* ``GET`` answers the validator; a ``POST`` with the right ``secret`` is counted
  by the time of each observation (see :mod:`.meraki`); what cannot be counted as
  current (stale, late, ahead of the hub clock, unreadable time) is counted in
  :meth:`MerakiPush.status` and warned about once per burst.
* At each closing time (an interval's end plus ``late_grace_s``) the closed
  intervals become one ``Devices`` event per zone (event id from the interval
  start and zone), queued and handed to the hub oldest first; an event leaves the
  queue only once ``emit`` returned. When the hub does not take them (outputs
  behind), they stay queued: the next closing time or the next POST hands them
  over again, and that POST is answered ``503`` (nothing of it counted) until the
  hub takes them, so the cloud's retry counts once.
"""

from __future__ import annotations

__all__ = ["MerakiPush"]

import asyncio
import time
from collections import Counter, deque
from collections.abc import Mapping
from typing import Any

import hub
from hub.quality import Plausibility, worst_quality
from hub.transports import IngestRequest, IngestResponse

from .config import WifiCounterConfig
from .meraki import AddResult, ClosedInterval, MerakiCounter, ZoneMapper, secret_matches

COUNTERS = (
    "stale_observations",
    "late_observations",
    "future_observations",
    "untimed_observations",
)
"""Always shown in ``hub status`` (0 included)."""
_WARN_EVERY_S = 600.0


class MerakiPush:
    """Counts Meraki Scanning API POSTs per zone and interval; emits closed intervals."""

    def __init__(self, kind: str, config: WifiCounterConfig, ctx: hub.SourceContext) -> None:
        self.kind = kind
        self.config = config
        self.ctx = ctx
        self.stats: Counter[str] = Counter()
        mapper = ZoneMapper(
            ap_zones=config.ap_zones,
            tag_zones=config.tag_zones,
            floor_zones=config.floor_zones,
            default_zone=config.zone,
        )
        self.counter = MerakiCounter(
            mapper,
            interval_s=config.interval_s,
            max_age_s=config.max_observation_age_s,
            grace_s=config.late_grace_s,
        )
        self._zone_checks = Plausibility(config.max_count, config.max_jump)
        self._unmapped_warned = False
        self._pending: deque[hub.Event] = deque()
        """Events of closed intervals not yet taken by the hub (oldest first)."""
        self._deliver_lock = asyncio.Lock()
        self._warned_at: dict[str, float] = {}

    def status(self) -> Mapping[str, Any]:
        return (
            {k: self.stats[k] for k in COUNTERS}
            | dict(self.stats)
            | {
                "open_intervals": len(self.counter.open_intervals),
                "pending_intervals": len({e.observed_from for e in self._pending}),
            }
        )

    async def run(self) -> None:
        if self.config.secret is None or not self.config.secret.get_secret_value():
            raise hub.AuthenticationFailed(
                f"{self.kind}[{self.ctx.instance}]: 'secret' is empty; set it to the shared "
                "secret of the Meraki dashboard (e.g. export MERAKI_SECRET)"
            )
        http = self.ctx.http_server()
        http.add_route(
            self.ctx.instance,
            self._request,
            auth=self.config.auth,
            content_types=("application/json",),
            max_body_bytes=self.config.max_body_bytes,
            unauthenticated_get=True,
        )
        try:
            self.ctx.set_available()
            clock = self.ctx.clock
            await self._deliver_closed()  # left from an earlier run (outputs refused them)
            while True:
                now = clock.now()
                await clock.sleep(max(0.0, self.counter.next_close(now) - now.timestamp()))
                self._queue_closed(self.counter.close_due(clock.now()))
                await self._deliver_closed()
        finally:
            http.remove_route(self.ctx.instance)

    def _queue_closed(self, closed: list[ClosedInterval]) -> None:
        """The events of the intervals that just closed join the queue for the hub."""
        if closed:
            self._unmapped_warned = False
        for iv in closed:
            for c in iv.counts:
                reasons = self._zone_checks.level(c.zone, c.count)
                self._pending.append(
                    self.ctx.event(
                        hub.Devices(count=c.count, wifi=c.wifi, ble=c.ble),
                        key=iv.start.isoformat(),
                        observed_from=iv.start,
                        observed_to=iv.end,
                        zone=c.zone,
                        quality=worst_quality(reasons),
                        quality_reasons=reasons,
                        transport="http",
                    )
                )

    async def _deliver_closed(self) -> None:
        """Hand the queued interval events to the hub, oldest first; one leaves the queue
        only once ``emit`` returned. Outputs that refuse (DeviceUnavailable) leave it queued
        for the next closing time or the next POST (which is answered 503 meanwhile)."""
        try:
            await self._deliver()
        except hub.DeviceUnavailable as err:
            self._warn(
                "refused",
                "%s[%s]: the hub did not take %d interval event(s) (%s); they are kept "
                "and handed over again",
                self.kind,
                self.ctx.instance,
                len(self._pending),
                err,
            )

    async def _deliver(self) -> None:
        async with self._deliver_lock:
            while self._pending:
                await self.ctx.emit(self._pending[0])
                self._pending.popleft()

    def _warn(self, topic: str, msg: str, *args: object) -> None:
        """A warning at most once per ``_WARN_EVERY_S`` per topic (a burst is one line)."""
        now = time.monotonic()
        last = self._warned_at.get(topic)
        if last is None or now - last >= _WARN_EVERY_S:
            self._warned_at[topic] = now
            self.ctx.log.warning(msg, *args)

    async def _request(self, req: IngestRequest) -> IngestResponse | None:
        if req.method == "GET":
            return IngestResponse(200, self.config.validator or "", "text/plain")
        try:
            body = req.json()
        except hub.MalformedInput as err:
            self.ctx.malformed(f"meraki: {err}")
            raise
        secret = self.config.secret.get_secret_value() if self.config.secret else ""
        if not isinstance(body, dict) or not secret_matches(body.get("secret"), secret):
            self.ctx.malformed(
                "meraki: POST with a wrong or missing 'secret' answered 403; the secret in "
                "the Meraki dashboard must equal this source's 'secret'"
            )
            return IngestResponse(403, "secret does not match", "text/plain")
        if self._pending:
            # closed intervals wait for the outputs: hand them over first. If the hub does
            # not take them (DeviceUnavailable, or the handler times out while outputs are
            # full), the POST is answered 503 and nothing of it was counted: the cloud's
            # retry counts once.
            await self._deliver()
        try:
            result = self.counter.add(body, self.ctx.clock.now())
        except hub.MalformedInput as err:
            self.ctx.malformed(str(err))
            raise
        self._count(result)
        if result.unmapped and not self._unmapped_warned:
            self._unmapped_warned = True
            self.ctx.log.warning(
                "%s[%s]: %d observations from access points without a zone mapping were "
                "dropped; map them with ap_zones, tag_zones, floor_zones or a default 'zone'",
                self.kind,
                self.ctx.instance,
                result.unmapped,
            )
        return IngestResponse(200, b"", "text/plain")

    def _count(self, result: AddResult) -> None:
        """Count what one POST could not count as current; warn once per burst."""
        if result.invalid:
            self.ctx.malformed(
                f"meraki: {result.invalid} observations without a valid clientMac skipped"
            )
        if result.bad_time:
            self.ctx.malformed(
                f"meraki: {result.bad_time} observations with an unreadable seenTime/seenEpoch/"
                "latestRecord.time skipped"
            )
        for name in ("stale", "late", "future", "untimed"):
            self.stats[f"{name}_observations"] += getattr(result, name)
        cfg = self.config
        if result.stale or result.future:
            self._warn(
                "stale",
                "%s[%s]: %d observation(s) more than max_observation_age_s (%g s) away from the "
                "hub clock not counted (a replayed backlog, or a wrong hub clock); see "
                "stale_observations/future_observations in hub status",
                self.kind,
                self.ctx.instance,
                result.stale + result.future,
                cfg.max_observation_age_s,
            )
        if result.late:
            self._warn(
                "late",
                "%s[%s]: %d observation(s) arrived after their interval went out and were not "
                "counted; raise late_grace_s (%g s) if this repeats",
                self.kind,
                self.ctx.instance,
                result.late,
                cfg.late_grace_s,
            )
