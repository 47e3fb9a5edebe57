"""The running hub: transports, sinks, sources, one TaskGroup, orderly shutdown.

Start order: transports → sinks (``open``) → ``startup`` hooks → sources.
Stop order: sources → sinks drained and closed → ``shutdown`` hooks → transports.
Between sources and sinks every event passes the pipeline (:mod:`hub.core.pipeline`):
the privacy screen (values that are not allowed are removed from the one field and
counted; an event with an identifier where nothing can be removed is dead-lettered,
field path and identifier type only, never the value, and reaches no sink), the
clock check (``clock_skew``, or dead-lettered far ahead of the hub clock), the zone
stage (:mod:`hub.core.zone_driver`: the crowd picture, whose driver task puts zone
states and alerts through the rest of the pipeline), then the fan-out through the
views (:mod:`hub.core.view_routing`: one policy stage per view) into each sink's
queue (:mod:`hub.core.bus`).

A stop (SIGTERM/SIGINT) is honoured in every state: while outputs are still
being opened or retried, the hub stops without starting the sources. Events a
failing output could not take at shutdown are counted and reported, and
:meth:`Hub.run` then raises :class:`EventsLost` (a non-zero exit).
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from hub.clock import Clock, SystemClock
from hub.core.backoff import Backoff
from hub.core.bus import DurableQueue, SinkRunner, make_queue
from hub.core.bus.disk_room import disk_room_warning
from hub.core.config import HubConfig
from hub.core.dashboard_wiring import wire_dashboard
from hub.core.lifecycle import (
    EventsLost,
    drain,
    leaves,
    run_until_stopped,
    unless_stopped,
    wait_for_stop,
)
from hub.core.metrics import render_metrics
from hub.core.pipeline import ClockCheck, DeadLetters, Pipeline, PrivacyCheck, Stage
from hub.core.plugins import Registry
from hub.core.supervisor import SourceSupervisor
from hub.core.view_routing import ViewRouting
from hub.core.zone_driver import ZoneDriver
from hub.errors import HubError, QueueUnavailable, SinkError, TransportError
from hub.plugin import SinkContext, SourceContext, Transport, TransportContext
from hub.site import Site

__all__ = ["EventsLost", "Hub", "run_until_stopped"]

log = logging.getLogger("hub")


class Hub:
    """One configured hub. ``await hub.run(stop)`` until ``stop`` is set."""

    def __init__(self, config: HubConfig, registry: Registry, clock: Clock | None = None) -> None:
        self.config = config
        self.registry = registry
        self.clock = clock or SystemClock()
        self.state = "starting"
        self.started_monotonic = time.monotonic()
        self._status_unwritable = False  # status.json could not be written (said once)
        self._dead_letter_log = DeadLetters(config.data_dir, self.clock, self._count_dead_letter)
        self.dead_letters: Counter[str] = self._dead_letter_log.counts
        self.removed: Counter[str] = Counter()
        """Values removed from events by the privacy screen, by what they were."""
        self.removed_by_source: Counter[str] = Counter()
        self.transports: dict[tuple[str, str], Transport[Any]] = {}
        self.runners: list[SinkRunner] = []
        self.supervisors: list[SourceSupervisor] = []
        self.fan_out = self.views = ViewRouting(config, self.clock)
        self.zones: ZoneDriver | None = None
        stages: list[Stage] = [
            PrivacyCheck(self._dead_letter_log, self._removed),
            ClockCheck(config.hub.max_clock_skew_s, self._dead_letter_log),
        ]
        if config.zones.enabled and (config.site.zones or config.site.lines):
            self.zones = ZoneDriver(config.site, config.zones, config.data_dir, self.clock)
            stages.append(self.zones.stage)
        self.pipeline = Pipeline(stages, self.fan_out)
        if self.zones is not None:
            self.zones.connect(self.pipeline.emitter("zones", after=self.zones.stage.name))
        self._build()
        self.dashboard = wire_dashboard(self)

    # -- construction --------------------------------------------------------------------
    def _transport(self, kind: str, instance: str | None) -> Transport[Any]:
        key = (kind, instance or "default")
        try:
            return self.transports[key]
        except KeyError:
            have = ", ".join(f"{k}[{i}]" for k, i in sorted(self.transports)) or "none"
            raise TransportError(
                f"no {kind} transport {key[1]!r} is configured (have: {have}); "
                f"add a [[transports.{kind}]] table with id = {key[1]!r}"
            ) from None

    def _build(self) -> None:
        cfg = self.config
        for kind, items in cfg.transports.items():
            cls = self.registry.transports[kind][0]
            for tcfg in items:
                tctx = TransportContext(
                    instance=tcfg.id,
                    kind=kind,
                    clock=self.clock,
                    log=logging.getLogger(f"hub.transports.{kind}.{tcfg.id}"),
                    status=self.status,
                    metrics_text=lambda: render_metrics(self.status),
                )
                self.transports[(kind, tcfg.id)] = cls(tcfg, tctx)
        data_dir = str(cfg.data_dir)
        unusable: list[str] = []
        for kind, sitems in cfg.sinks.items():
            scls = self.registry.sinks[kind][0]
            for scfg in sitems:
                if not scfg.enabled:
                    continue
                sctx = SinkContext(
                    instance=scfg.id,
                    kind=kind,
                    site=cfg.site,
                    data_dir=data_dir,
                    transports=self._transport,
                    clock=self.clock,
                )
                label = f"sinks.{kind}[{scfg.id}]"
                try:
                    queue = make_queue(kind, scfg, cfg.data_dir)
                except QueueUnavailable as err:
                    unusable.append(f"{label}: {err}")
                    continue
                sink = scls(scfg, sctx)
                refused = self._dead_letter_log.refused
                self.runners.append(SinkRunner(sink, scfg, label, queue, dead_letter=refused))
        if unusable:
            for r in self.runners:
                r.queue.close()
            raise HubError(
                "cannot open the durable queue of "
                + "; ".join(unusable)
                + ' (make data_dir writable with free space, or set queue = "memory")'
            )
        self.fan_out.connect(self.runners)
        for kind, items2 in cfg.sources.items():
            src_cls, info = self.registry.sources[kind]
            for src_cfg in items2:
                label = f"sources.{kind}[{src_cfg.id}]"
                ctx = SourceContext(
                    instance=src_cfg.id,
                    kind=kind,
                    plugin=info.name,
                    plugin_version=info.version,
                    site=cfg.site,
                    emit=self.pipeline.emitter(src_cfg.id),
                    transports=self._transport,
                    clock=self.clock,
                    transport_name=src_cls.transport_kind,
                )
                sup = SourceSupervisor(src_cls(src_cfg, ctx), src_cfg, ctx, label)
                self.supervisors.append(sup)

    def _removed(self, source_id: str, removed: tuple[tuple[str, str], ...]) -> None:
        first = not self.removed_by_source[source_id]
        self.removed_by_source[source_id] += len(removed)
        for _, what in removed:
            self.removed[what] += 1
        if first:  # once per source: the counters in status tell the rest
            log.warning(
                "sources[%s]: removed from an event (not forwarded): %s; events carry "
                "counts and short scalar extras only. Counted in hub status (removed_fields)",
                source_id,
                ", ".join(f"{path} ({what})" for path, what in removed),
            )

    def _count_dead_letter(self, source_id: str) -> None:
        for sup in self.supervisors:
            if sup.ctx.instance == source_id:
                sup.stats.dead_letters += 1

    # -- status ----------------------------------------------------------------------------
    @property
    def site(self) -> Site:
        return self.config.site

    def status(self) -> Mapping[str, Any]:
        now = time.monotonic()
        sources = {}
        for sup in self.supervisors:
            c = sup.ctx.counters
            sources[sup.ctx.instance] = {
                "kind": sup.ctx.kind,
                "state": sup.stats.state,
                "events_in": c.events,
                "malformed": c.malformed,
                "errors": sup.stats.errors,
                "restarts": sup.stats.restarts,
                "dead_letters": sup.stats.dead_letters,
                "removed_fields": self.removed_by_source[sup.ctx.instance],
                "last_event_age_s": None
                if c.last_event_monotonic is None
                else round(now - c.last_event_monotonic, 3),
                "last_error": sup.stats.last_error,
                "detail": _safe_detail(sup),
            }
        sinks = {}
        for r in self.runners:
            sinks[r.config.id] = {
                "kind": r.sink.kind,
                "state": r.stats.state,
                "events_out": r.stats.events_out,
                "queued": len(r.queue),
                "queue": r.config.queue,
                "overflow": r.config.overflow,
                "durable": r.queue.durable,
                **_queue_detail(r),
                "errors": r.stats.errors,
                "retries": r.stats.retries,
                "dropped": dict(r.stats.dropped),
                "last_error": r.stats.last_error,
            }
        transports = {f"{k}[{i}]": dict(t.health()) for (k, i), t in self.transports.items()}
        return {
            "state": self.state,
            "time": datetime.now(UTC).isoformat(),
            "pid": os.getpid(),
            "heartbeat_interval_s": self.config.hub.status_interval_s,
            "uptime_s": round(now - self.started_monotonic, 1),
            "sources": sources,
            "sinks": sinks,
            "transports": transports,
            "dead_letters": dict(self.dead_letters),
            "removed_fields": dict(self.removed),
            **self.views.status(),
            **({} if self.zones is None else {"zones": self.zones.status()}),
        }

    def write_status(self) -> None:
        path = self.config.data_dir / "status.json"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(self.status(), indent=2))
            tmp.replace(path)
        except OSError as err:
            if not self._status_unwritable:
                log.error(
                    "cannot write %s (%s): `hub status` shows an old picture until it can; "
                    "`hub status <config>` and /healthz ask the running hub instead",
                    path,
                    err.strerror or err,
                )
            self._status_unwritable = True
        else:
            if self._status_unwritable:
                log.warning("%s is written again", path)
            self._status_unwritable = False

    async def _status_loop(self) -> None:
        while True:
            self.write_status()
            await asyncio.sleep(self.config.hub.status_interval_s)

    # -- lifecycle -------------------------------------------------------------------------
    async def _call_hooks(self, name: str) -> None:
        """Call a lifecycle hook; await what implementations return (bounded in time)."""
        results = getattr(self.registry.pm.hook, name)(hub=self)
        for result in results:
            if inspect.isawaitable(result):
                await asyncio.wait_for(result, self.config.hub.shutdown_timeout_s)

    async def _open_sinks(self, stop: asyncio.Event) -> list[SinkRunner]:
        """Open every sink by its ``on_startup_error`` policy; give up early when ``stop`` is set.

        Returns the sinks that opened. When ``stop`` is set meanwhile, the sink being
        opened is returned too (so it gets closed), and the caller starts nothing.
        """
        opened = []
        for r in self.runners:
            policy = Backoff(r.config.retry_initial_s, r.config.retry_max_s)
            while True:
                try:
                    if not await unless_stopped(r.sink.open(), stop, f"open:{r.label}"):
                        log.warning(
                            "%s: stop requested while opening this output; stopping without "
                            "starting the sources",
                            r.label,
                        )
                        opened.append(r)
                        return opened
                    opened.append(r)
                    break
                except SinkError as err:
                    if r.config.on_startup_error == "fail":
                        raise HubError(
                            f'{r.label}: could not open: {err} (on_startup_error = "fail")'
                        ) from err
                    if r.config.on_startup_error == "ignore":
                        log.error("%s: could not open, disabled: %s", r.label, err)
                        r.stats.state = "disabled"
                        break
                    if policy.attempt == 0:
                        log.warning("%s: could not open (%s); retrying", r.label, err)
                    r.stats.state = "retrying"
                    r.stats.last_error = str(err)
                    delay = policy.next_delay(retry_after=getattr(err, "retry_after", None))
                    if await wait_for_stop(stop, delay):
                        log.warning(
                            "%s: stop requested while retrying to open this output (%d "
                            "attempt(s), last: %s); stopping without starting the sources",
                            r.label,
                            policy.attempt,
                            err,
                        )
                        return opened
        return opened

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; then stop sources, flush sinks and return.

        Raises :class:`EventsLost` after an otherwise orderly stop when events
        queued for an output could be neither delivered nor kept.
        """
        room = disk_room_warning(self.config.sinks, self.config.data_dir)
        if room:
            log.warning("%s", room)
        try:
            async with asyncio.TaskGroup() as outer:
                background = [
                    outer.create_task(t.run(), name=f"transport:{k}[{i}]")
                    for (k, i), t in self.transports.items()
                ]
                background.append(outer.create_task(self._status_loop(), name="status"))
                runners = await self._open_sinks(stop)
                self.runners[:] = runners
                self.fan_out.connect(runners)
                if not stop.is_set():
                    await self._serve(runners, stop)
                await asyncio.gather(*(self._close_sink(r) for r in runners))
                await self._call_hooks("shutdown")
                for task in background:
                    task.cancel()
        except BaseExceptionGroup as group:
            failures = leaves(group)
            if len(failures) == 1:
                raise failures[0] from None
            raise BaseExceptionGroup("several failures while running the hub", failures) from None
        finally:
            self.state = "stopped"
            self.write_status()
            self._dead_letter_log.close()
        waiting = [(r.label, r.stats.left_queued) for r in self.runners if r.stats.left_queued]
        if waiting:
            log.warning(
                "%d event(s) wait in the durable queues for the next start: %s",
                sum(n for _, n in waiting),
                ", ".join(f"{label} {n}" for label, n in waiting),
            )
        lost = [(r.label, r.lost) for r in self.runners if r.lost]
        if lost:
            raise EventsLost(
                f"stopped, but {sum(n for _, n in lost)} queued event(s) were lost: "
                + ", ".join(f"{label} {n}" for label, n in lost)
                + " (the output kept failing at shutdown; they are counted as dropped "
                "'shutdown' in hub status)"
            )

    async def _serve(self, runners: list[SinkRunner], stop: asyncio.Event) -> None:
        """Sinks, startup hooks, sources; on ``stop``: sources first, then flush the sinks."""
        timeout = self.config.hub.shutdown_timeout_s
        async with asyncio.TaskGroup() as sink_tg:
            sink_tasks = [sink_tg.create_task(r.run(), name=f"sink:{r.label}") for r in runners]
            views = sink_tg.create_task(self.views.run(self._dead_letter_log.path), name="views")
            await self._call_hooks("startup")
            # everything built so far (modules, plugins, config) lives for the whole run:
            # keep it out of the garbage collector's scans of the per-event garbage
            gc.freeze()
            async with asyncio.TaskGroup() as src_tg:
                tasks = [
                    src_tg.create_task(s.run(), name=f"source:{s.label}") for s in self.supervisors
                ]
                if self.zones is not None:  # stops with the sources: its last events get flushed
                    tasks.append(src_tg.create_task(self.zones.run(), name="zones"))
                self.state = "running"
                log.info(
                    "hub running: %d source(s), %d output(s), %d transport(s)",
                    len(self.supervisors),
                    len(runners),
                    len(self.transports),
                )
                stop_task = src_tg.create_task(stop.wait(), name="stop-signal")
                await stop_task
                self.state = "stopping"
                log.info("stopping: sources first, then flushing outputs")
                for task in tasks:
                    task.cancel()
            views.cancel()
            await self.views.finish(timeout)
            for r in runners:
                r.close_input()
            await drain(sink_tasks, timeout)
            self.views.close()
        for r in runners:
            r.give_up(f"did not finish flushing within {timeout:g} s")
            r.queue.close()

    async def _close_sink(self, r: SinkRunner) -> None:
        try:
            await asyncio.wait_for(r.sink.close(), self.config.hub.shutdown_timeout_s)
        except Exception as err:
            log.error("%s: error while closing: %s", r.label, err)


def _queue_detail(r: SinkRunner) -> dict[str, Any]:
    """What ``hub status`` and ``/metrics`` show of one output's queue beyond its depth."""
    q = r.queue
    if isinstance(q, DurableQueue):
        age = q.oldest_age_s()
        return {
            "queue_bytes": q.bytes,
            "queue_disk_bytes": q.disk_bytes,
            "queue_max_bytes": q.settings.max_bytes,
            "oldest_age_s": None if age is None else round(age, 3),
            "queue_path": str(q.path),
            "queue_error": q.last_error,
        }
    return {"queue_size": r.config.queue_size}


def _safe_detail(sup: SourceSupervisor) -> dict[str, Any]:
    try:
        return dict(sup.source.status())
    except Exception as err:  # a plugin bug must not break status/metrics
        return {"status_error": type(err).__name__}
