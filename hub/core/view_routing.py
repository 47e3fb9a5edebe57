"""The fan-out through the views: one policy stage per view, each feeding its own sinks.

::

    pipeline ─▶ ViewRouting.offer(event)
                  ├─ view:internal (FullDetail) ─▶ queues of the sinks with no view or "internal"
                  ├─ view:police   (ViewPolicy) ─▶ queues of the sinks with view = "police"
                  └─ view:public   (ViewPolicy) ─▶ …

A stage runs once per event for all the sinks on its view (ten sinks on one view
cost one transformation); a view no open sink names costs nothing per event.
:meth:`ViewRouting.run` (a task of the runtime's TaskGroup) ticks every stage
about once a second, so aggregation intervals close and delayed events are sent
while no event arrives, writes the audit records of intervals that have ended,
and prunes dead letters at start and then daily. :meth:`ViewRouting.finish` sends
what is due at a stop (an open interval or a held event is never sent early:
they are dropped and counted in the log), :meth:`ViewRouting.close` writes the
last audit records after the sinks are drained.

Durable queues: an event that some output's queue could not keep is sent again by
its source (:class:`~hub.errors.EventNotKept`). The fan-out remembers which queues
kept it; here it also remembers what each view's stage made of it, so the retry puts
those copies into the queues that missed them and no stage sees the event twice (an
aggregating view would count it twice).

Audit (:mod:`hub.views.audit`): one :class:`~hub.views.audit.SentTally` per
view x sink, fed by the sink runner after each successful write (its
``on_written`` callback), so the log records what was delivered, not what was
queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hub.clock import Clock
from hub.core.bus import SinkQueue, SinkRunner
from hub.core.config import HubConfig
from hub.core.pipeline import FanOut, commit, put_into, put_waiting
from hub.errors import QueueUnavailable
from hub.events import Event
from hub.views import INTERNAL, FullDetail, ViewPolicy, ViewStage, load_or_create_key
from hub.views.audit import AuditLog, SentTally
from hub.views.retention import prune_jsonl

__all__ = ["AUDIT_INTERVAL_S", "TICK_S", "ViewRouting"]

log = logging.getLogger("hub.views")

TICK_S = 1.0
"""How often the stages are ticked (aggregation intervals close, delayed events leave)."""
AUDIT_INTERVAL_S = 900.0
"""One ``sent`` audit record per view x sink per this many seconds (when anything was sent)."""
PRUNE_EVERY_S = 86_400.0
"""Dead letters older than the raw-event retention are pruned at start and then this often."""
DEFAULT_KEEP_DAYS = 30.0

_Targets = list[tuple[frozenset[str] | None, SinkQueue]]
_Copies = list[Sequence[Event]]
"""What each view group's stage made of one event, in group order."""


def keep_raw_days(config: HubConfig) -> float:
    """The raw-event retention dead letters follow: the shortest ``keep_raw_days`` of the
    sinks that have one (the embedded store), else 30 days."""
    sinks = [cfg for items in config.sinks.values() for cfg in items]
    found = (getattr(cfg, "keep_raw_days", None) for cfg in sinks)
    days = [float(d) for d in found if isinstance(d, int | float)]
    return min(days, default=DEFAULT_KEEP_DAYS)


class ViewRouting(FanOut):
    """The hub's fan-out: every event through each view's stage to that view's sinks."""

    def __init__(self, config: HubConfig, clock: Clock) -> None:
        super().__init__()
        self.clock = clock
        key = load_or_create_key(config.data_dir) if any(v.noise for v in config.views) else b""
        self.stages: dict[str, ViewStage] = {INTERNAL: FullDetail()}
        """Every view's stage by id (``internal`` too), also for API answers."""
        for view in config.views:
            self.stages[view.id] = ViewPolicy(view, config.site, key)
        self.audit = AuditLog(config.data_dir / "audit.jsonl")
        self.keep_days = keep_raw_days(config)
        self.pruned = 0
        """Dead-letter records removed by retention (counted in status)."""
        self._groups: list[tuple[ViewStage, _Targets]] = []
        self._copies: dict[str, _Copies] = {}
        """Stage outputs of events being delivered (until ``kept``/``not_kept``)."""
        self._retry: OrderedDict[str, _Copies] = OrderedDict()
        """Stage outputs of events not kept everywhere, for their retry."""
        self._sinks: dict[str, list[str]] = {}
        self._tallies: list[SentTally] = []

    # -- wiring ------------------------------------------------------------------------------
    def connect(self, runners: Sequence[SinkRunner]) -> None:
        """Deliver to these sinks from now on, each through the stage of its view."""
        by_view: dict[str, list[SinkRunner]] = {}
        for r in runners:
            by_view.setdefault(getattr(r.config, "view", None) or INTERNAL, []).append(r)
        self._groups = [
            (self.stages[vid], [(r.measurements, r.queue) for r in rs])
            for vid, rs in by_view.items()
        ]
        self._sinks = {vid: [r.config.id for r in rs] for vid, rs in by_view.items()}
        self._tallies = []
        for vid, rs in by_view.items():
            for r in rs:
                tally = SentTally(
                    self.audit,
                    view=vid,
                    sink=r.config.id,
                    policy=self.stages[vid].version,
                    interval_s=AUDIT_INTERVAL_S,
                )
                self._tallies.append(tally)
                r.on_written = self._recorder(tally)

    def _recorder(self, tally: SentTally) -> Callable[[Sequence[Event]], None]:
        now = self.clock.now

        def written(batch: Sequence[Event]) -> None:
            try:
                tally.add(now(), batch)
            except OSError as err:  # the audit must not stop delivery; say it loudly
                log.error("cannot write the audit log %s: %s", self.audit.path, err)

        return written

    # -- the hot path ------------------------------------------------------------------------
    def offer(
        self, event: Event, went: list[SinkQueue], failed: list[QueueUnavailable]
    ) -> list[tuple[SinkQueue, Event]] | None:
        """Each view's copy of ``event`` into its sinks' queues without waiting (see
        :meth:`FanOut.offer`); returns the (queue, copy) pairs refused by full
        ``overflow = "block"`` queues."""
        blocked: list[tuple[SinkQueue, Event]] | None = None
        kept = self._kept.get(event.event_id) if self._kept else None
        copies = self._retry.pop(event.event_id, None) if kept is not None else None
        if copies is None:
            copies = [stage.handle(event) for stage, _ in self._groups]
        pending = self._copies
        pending[event.event_id] = copies
        if len(pending) > self._remember:  # an emit cancelled between offer and commit
            del pending[next(iter(pending))]
        for (_, targets), outs in zip(self._groups, copies, strict=True):
            for out in outs:
                blocked = put_into(targets, out, kept, went, failed, blocked)
        return blocked

    def not_kept(self, events: Sequence[Event], kept: Sequence[SinkQueue]) -> None:
        super().not_kept(events, kept)
        for event in events:
            copies = self._copies.pop(event.event_id, None)
            if copies is not None:
                self._retry[event.event_id] = copies
        while len(self._retry) > self._remember:
            self._retry.popitem(last=False)

    def kept(self, events: Sequence[Event]) -> None:
        super().kept(events)
        copies = self._copies
        for event in events:
            copies.pop(event.event_id, None)

    async def tick(self, now: datetime) -> int:
        """Deliver what every stage releases at ``now``; returns how many events.

        A durable queue that cannot keep them counts them as dropped ``unwritten``
        (nothing can send them again: the stage has let go of them)."""
        n = 0
        went: list[SinkQueue] = []
        failed: list[QueueUnavailable] = []
        for stage, targets in self._groups:
            for out in stage.tick(now):
                n += 1
                blocked = put_into(targets, out, None, went, failed, None)
                if blocked:
                    await put_waiting(blocked, went, failed)
        if went:
            await commit(went, failed)
        if failed:
            log.error("views: %d released event(s) not kept: %s", len(failed), failed[0])
        return n

    # -- background work ---------------------------------------------------------------------
    async def run(self, dead_letters: Path) -> None:
        """Tick the views, write ended audit intervals, prune the ``dead_letters`` file
        at start and daily. Runs until cancelled."""
        next_prune = 0.0
        failing = False
        while True:
            now = self.clock.now()
            try:
                await self.tick(now)
                self._flush_tallies(now, due_only=True)
            except Exception:  # a bug in a stage must not stop the hub; say it once
                if not failing:
                    log.exception("views: a tick failed; retrying every %g s", TICK_S)
                failing = True
            else:
                if failing:
                    log.warning("views: ticks work again")
                failing = False
            mono = self.clock.monotonic()
            if mono >= next_prune:
                self.prune(dead_letters, now)
                next_prune = mono + PRUNE_EVERY_S
            # real time, not the hub clock: a test clock moved by hand only sees the
            # sources' sleeps, and a tick reads the clock's now() anyway
            await asyncio.sleep(TICK_S)

    def prune(self, path: Path, now: datetime) -> int:
        """Remove dead-letter records older than the raw-event retention."""
        try:
            removed = prune_jsonl(path, now - timedelta(days=self.keep_days))
        except OSError as err:
            log.error("cannot prune dead letters in %s: %s", path, err)
            return 0
        if removed:
            self.pruned += removed
            log.info(
                "retention: %d dead-letter record(s) older than %g days removed from %s",
                removed,
                self.keep_days,
                path,
            )
        return removed

    def _flush_tallies(self, now: datetime, *, due_only: bool) -> None:
        for tally in self._tallies:
            try:
                if due_only:
                    tally.flush_due(now)
                else:
                    tally.flush(now)
            except OSError as err:
                log.error("cannot write the audit log %s: %s", self.audit.path, err)

    async def finish(self, timeout_s: float) -> None:
        """At a stop (sources stopped, sinks still running): send what is due now; log
        what is not due (dropped, never sent early)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.tick(self.clock.now()), timeout_s)
        for vid, stage in self.stages.items():
            left = stage.pending()
            if left and vid in self._sinks:
                log.info(
                    "views[%s]: %d open interval(s) or held event(s) not yet due at stop; "
                    "dropped (a view never sends data early)",
                    vid,
                    left,
                )

    def close(self) -> None:
        """After the sinks are drained: the audit records of what they delivered."""
        self._flush_tallies(self.clock.now(), due_only=False)

    # -- status --------------------------------------------------------------------------------
    def status(self) -> Mapping[str, Any]:
        """``views`` (per view: policy version, sinks, counters) and ``retention``."""
        views = {}
        for vid, stage in self.stages.items():
            s = stage.stats
            views[vid] = {
                "policy": stage.version,
                "sinks": self._sinks.get(vid, []),
                "events_in": s.received,
                "events_out": s.sent,
                "filtered": s.filtered,
                "late": s.late,
                "suppressed": s.suppressed,
                "held": s.held,
                "pending": stage.pending(),
            }
        return {"views": views, "retention": {"dead_letters_pruned": self.pruned}}
