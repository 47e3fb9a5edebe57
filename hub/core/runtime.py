"""The running hub: transports, sinks, sources, one TaskGroup, orderly shutdown.

Start order: transports → sinks (``open``) → ``startup`` hooks → sources.
Stop order: sources → sinks drained and closed → ``shutdown`` hooks → transports.
Between sources and sinks every event passes the privacy check; an event that
carries an identifier is dead-lettered (field path and identifier type only,
never the value) and counted, and reaches no sink.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import json
import logging
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from hub.clock import Clock, SystemClock
from hub.core.bus import SinkRunner
from hub.core.config import HubConfig
from hub.core.metrics import render_metrics
from hub.core.plugins import Registry
from hub.core.supervisor import SourceSupervisor
from hub.errors import HubError, SinkError, TransportError
from hub.events import Event
from hub.plugin import SinkContext, SourceContext, Transport, TransportContext
from hub.privacy import find_identifiers
from hub.site import Site

log = logging.getLogger("hub")


class Hub:
    """One configured hub. ``await hub.run(stop)`` until ``stop`` is set."""

    def __init__(self, config: HubConfig, registry: Registry, clock: Clock | None = None) -> None:
        self.config = config
        self.registry = registry
        self.clock = clock or SystemClock()
        self.state = "starting"
        self.started_monotonic = time.monotonic()
        self.dead_letters: Counter[str] = Counter()
        self._dead_letter_file: Any = None
        self.transports: dict[tuple[str, str], Transport[Any]] = {}
        self.runners: list[SinkRunner] = []
        self.supervisors: list[SourceSupervisor] = []
        self._build()

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
                    metrics_text=lambda: render_metrics(self),
                )
                self.transports[(kind, tcfg.id)] = cls(tcfg, tctx)
        data_dir = str(cfg.data_dir)
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
                self.runners.append(SinkRunner(scls(scfg, sctx), scfg, f"sinks.{kind}[{scfg.id}]"))
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
                    emit=self._make_emit(src_cfg.id),
                    transports=self._transport,
                    clock=self.clock,
                    transport_name=src_cls.transport_kind,
                )
                sup = SourceSupervisor(src_cls(src_cfg, ctx), src_cfg, ctx, label)
                self.supervisors.append(sup)

    def _make_emit(self, source_id: str) -> Any:
        runners = self.runners
        single = runners[0] if len(runners) == 1 else None
        hub = self

        async def emit(event: Event) -> None:
            findings = find_identifiers(event)
            if findings:
                hub._dead_letter(source_id, event, findings)
                return
            if single is not None:
                if single.accepts(event):
                    await single.queue.put(event)
                return
            for runner in runners:
                if runner.accepts(event):
                    await runner.queue.put(event)

        return emit

    def _dead_letter(self, source_id: str, event: Event, findings: list[tuple[str, str]]) -> None:
        for sup in self.supervisors:
            if sup.ctx.instance == source_id:
                sup.stats.dead_letters += 1
        for _, kind in findings:
            self.dead_letters[kind] += 1
        where = ", ".join(f"{path} ({kind})" for path, kind in findings)
        log.warning(
            "sources[%s]: event %s dead-lettered: identifier in %s; it was not "
            "forwarded. Fix the plugin or its field mapping",
            source_id,
            event.event_id,
            where,
        )
        record = {
            "time": self.clock.now().isoformat(),
            "source": source_id,
            "kind": event.kind,
            "event_id": event.event_id,
            "measurement": event.measurement.type,
            "reason": "identifier in event",
            "findings": [{"field": p, "identifier": k} for p, k in findings],
        }
        try:
            if self._dead_letter_file is None:
                self.config.data_dir.mkdir(parents=True, exist_ok=True)
                self._dead_letter_file = open(  # noqa: SIM115 - kept open for the run
                    self.config.data_dir / "deadletter.jsonl", "a", encoding="utf-8"
                )
            self._dead_letter_file.write(json.dumps(record) + "\n")
            self._dead_letter_file.flush()
        except OSError as err:
            log.error("cannot write dead-letter record: %s", err)

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
        }

    def write_status(self) -> None:
        path = self.config.data_dir / "status.json"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(self.status(), indent=2))
            tmp.replace(path)
        except OSError as err:
            log.debug("cannot write status: %s", err)

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

    async def _open_sinks(self) -> list[SinkRunner]:
        opened = []
        for r in self.runners:
            attempt = 0
            while True:
                try:
                    await r.sink.open()
                    opened.append(r)
                    break
                except SinkError as err:
                    policy = r.config.on_startup_error
                    if policy == "fail":
                        raise HubError(
                            f'{r.label}: could not open: {err} (on_startup_error = "fail")'
                        ) from err
                    if policy == "ignore":
                        log.error("%s: could not open, disabled: %s", r.label, err)
                        r.stats.state = "disabled"
                        break
                    if attempt == 0:
                        log.warning("%s: could not open (%s); retrying", r.label, err)
                    attempt += 1
                    await asyncio.sleep(
                        min(r.config.retry_max_s, r.config.retry_initial_s * 2 ** min(attempt, 10))
                    )
        return opened

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; then stop sources, flush sinks and return."""
        timeout = self.config.hub.shutdown_timeout_s
        try:
            async with asyncio.TaskGroup() as outer:
                background = [
                    outer.create_task(t.run(), name=f"transport:{k}[{i}]")
                    for (k, i), t in self.transports.items()
                ]
                background.append(outer.create_task(self._status_loop(), name="status"))
                runners = await self._open_sinks()
                self.runners[:] = runners
                async with asyncio.TaskGroup() as sink_tg:
                    sink_tasks = [
                        sink_tg.create_task(r.run(), name=f"sink:{r.label}") for r in runners
                    ]
                    await self._call_hooks("startup")
                    # everything built so far (modules, plugins, config) lives for the whole run:
                    # keep it out of the garbage collector's scans of the per-event garbage
                    gc.freeze()
                    async with asyncio.TaskGroup() as src_tg:
                        tasks = [
                            src_tg.create_task(s.run(), name=f"source:{s.label}")
                            for s in self.supervisors
                        ]
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
                    for r in runners:
                        r.close_input()
                    await _drain(sink_tasks, timeout)
                await asyncio.gather(*(self._close_sink(r) for r in runners))
                await self._call_hooks("shutdown")
                for task in background:
                    task.cancel()
        except BaseExceptionGroup as group:
            leaves = _leaves(group)
            if len(leaves) == 1:
                raise leaves[0] from None
            raise BaseExceptionGroup("several failures while running the hub", leaves) from None
        finally:
            self.state = "stopped"
            self.write_status()
            if self._dead_letter_file is not None:
                self._dead_letter_file.close()

    async def _close_sink(self, r: SinkRunner) -> None:
        try:
            await asyncio.wait_for(r.sink.close(), self.config.hub.shutdown_timeout_s)
        except Exception as err:
            log.error("%s: error while closing: %s", r.label, err)


def _safe_detail(sup: SourceSupervisor) -> dict[str, Any]:
    try:
        return dict(sup.source.status())
    except Exception as err:  # a plugin bug must not break status/metrics
        return {"status_error": type(err).__name__}


def run_until_stopped(
    body: Callable[[asyncio.Event], Awaitable[None]],
    duration: float | None = None,
    *,
    done: str = "stopped cleanly",
) -> int:
    """Run ``body(stop)`` on a new loop; SIGINT/SIGTERM (or ``duration``) set ``stop``.

    Returns the exit status: 0 after a clean stop, 1 when it failed (each failure
    printed on one line, unexpected ones with their traceback in the log).
    """

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        # the default action of SIGHUP ends the process without flushing: say why it is ignored
        loop.add_signal_handler(
            signal.SIGHUP, log.warning, "SIGHUP ignored: restart to apply config changes"
        )
        if duration:
            loop.call_later(duration, stop.set)
        await body(stop)

    try:
        asyncio.run(main())
    except BaseExceptionGroup as group:
        for exc in _leaves(group):
            if isinstance(exc, HubError):
                print(f"hub: {exc}", file=sys.stderr)
            else:
                log.error("hub: unexpected error", exc_info=exc)
        return 1
    except HubError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return 1
    log.info(done)
    return 0


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


async def _drain(tasks: list[asyncio.Task[None]], limit_s: float) -> None:
    """Give the sink runners ``timeout`` seconds to write what is queued; then cancel them."""
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=limit_s)
    for t in pending:
        log.error("%s: did not finish flushing within %.0f s", t.get_name(), limit_s)
        t.cancel()
