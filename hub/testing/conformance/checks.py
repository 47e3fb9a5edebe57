"""The conformance checks. :class:`ConformanceRunner` plans and runs them.

Every check is a pass/fail with a reason that says what is wrong and what to
do. Runs use fresh event loops (:func:`~hub.testing.conformance.harness.run_isolated`),
so one misbehaving run never spoils the next check.
"""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_STEP_S", "ConformanceRunner"]

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hub.events import Event
from hub.plugin import Source
from hub.privacy import classify_text, find_identifiers, screen_event
from hub.testing.conformance.cases import Case, CaseInput, compare_events
from hub.testing.conformance.config import config_checks
from hub.testing.conformance.faults import FAULTS, FaultChecks
from hub.testing.conformance.harness import (
    HARNESS_PREFIX,
    SourceRun,
    StepTimer,
    describe_exception,
    run_isolated,
)
from hub.testing.conformance.report import CheckResult, Report

DEFAULT_MAX_STEP_S = 0.2
_PAYLOAD_TRANSPORTS = ("mqtt", "serial", "http")


class ConformanceRunner(FaultChecks):
    """Plans and runs every check for one source class on a list of cases."""

    def __init__(
        self,
        source_class: type[Source[Any]],
        cases: list[Case],
        *,
        target: str | None = None,
        cases_dir: str | Path | None = None,
        sample_path: Path | None = None,
        max_step_s: float = DEFAULT_MAX_STEP_S,
    ) -> None:
        self.cls = source_class
        self.kind = str(getattr(source_class, "kind", "?"))
        self.cases = cases
        self.target = target or f"{source_class.__module__}:{source_class.__qualname__}"
        self.cases_dir = str(cases_dir) if cases_dir is not None else None
        self.sample_path = sample_path
        self.max_step_s = max_step_s
        self.timer = StepTimer()
        self._stuck = False
        self.runs: list[tuple[str, SourceRun]] = []
        self.transports = sorted(
            {c.transport for c in cases if c.transport in _PAYLOAD_TRANSPORTS and c.payload_inputs}
        )

    # -- planning ------------------------------------------------------------------------

    def planned(self) -> list[tuple[str, str]]:
        """``(check id, title)`` of every check this runner will report, in order."""
        out = [
            ("config.model", "the config model subclasses hub.SourceConfig"),
            ("config.unknown_keys", "an unknown config key is rejected"),
            ("config.descriptions", "every config field has a description"),
        ]
        if self.sample_path is not None:
            out.append(("config.sample", "the plugin's sample.toml validates"))
        out += [(f"case:{c.name}", c.description or f"case {c.name}") for c in self.cases]
        if self.transports:
            for check_id, title in FAULTS:
                if check_id == "fault.disconnect" and not set(self.transports) & {"mqtt", "serial"}:
                    continue
                out.append((check_id, title))
        out += [
            ("cancellation", "run() stops within 1 s of cancellation and leaves no task"),
            ("events.valid", "only valid events are emitted"),
            ("privacy", "no identifier-like value in events, logs or errors"),
            ("loop.blocking", "no step blocks the event loop"),
            ("throughput", "events per second on the cases"),
        ]
        return out

    # -- running -------------------------------------------------------------------------

    def run(self) -> Report:
        results: dict[str, CheckResult] = {}
        titles = dict(self.planned())

        def add(check_id: str, passed: bool, reason: str, details: list[str] | None = None) -> None:
            results[check_id] = CheckResult(
                check_id, titles.get(check_id, check_id), passed, reason, details or []
            )

        base = dict(self.cases[0].config) if self.cases else {"id": "conformance"}
        for check_id, passed, reason, details in config_checks(self.cls, base, self.sample_path):
            if check_id in titles:
                add(check_id, passed, reason, details)
        for case in self.cases:
            add(f"case:{case.name}", *self._check_case(case))
        faults: dict[str, Callable[[], tuple[bool, str, list[str]]]] = {
            "fault.garbage": self._fault_garbage,
            "fault.truncated": self._fault_truncated,
            "fault.oversized": self._fault_oversized,
            "fault.duplicate": self._fault_duplicate,
            "fault.replay_later": self._fault_replay_later,
            "fault.out_of_order": self._fault_out_of_order,
            "fault.counter_reset": self._fault_counter_reset,
            "fault.clock_skew": self._fault_clock_skew,
            "fault.disconnect": self._fault_disconnect,
            "fault.slow_consumer": self._fault_slow_consumer,
        }
        for check_id, fn in faults.items():
            if check_id in titles:
                add(check_id, *fn())
        add("cancellation", *self._check_cancellation())
        add("events.valid", *self._check_events_valid())
        add("privacy", *self._check_privacy())
        add("loop.blocking", *self._check_loop())
        metrics = self._metrics()
        add("throughput", *self._check_throughput(metrics))
        checks = [results[i] for i, _ in self.planned() if i in results]
        return Report(self.target, self.kind, self.cases_dir, checks, metrics)

    def _config_for(self, case: Case) -> tuple[Any | None, str]:
        try:
            return self.cls.config_model.model_validate(case.config), ""
        except ValidationError as err:
            e = err.errors()[0]
            loc = ".".join(str(p) for p in e["loc"])
            return None, f"the case's [source] table does not validate: {loc}: {e['msg']}"

    def _execute(
        self,
        case: Case,
        inputs: list[CaseInput],
        label: str,
        *,
        clock_offset_s: float = 0.0,
        emit_delay_s: float = 0.0,
        after: Callable[[SourceRun], Any] | None = None,
    ) -> SourceRun | str:
        """Run ``case``'s source on ``inputs``; returns the run, or why it could not start."""
        config, problem = self._config_for(case)
        if config is None:
            return problem

        async def main() -> SourceRun:
            run = SourceRun(self.cls, config, case, clock_offset_s, emit_delay_s, timer=self.timer)
            self.timer.label = label
            try:
                await run.start(f"{label}, start")
                await run.feed_all(inputs, label)
                run.alive_at_end = run.running
                if after is not None:
                    await after(run)
            finally:
                await run.close(0.1 if self._stuck else 1.0)
                self._stuck = self._stuck or run.stuck
            return run

        run = run_isolated(main, self.timer, timeout_s=120.0)
        self.runs.append((label, run))
        return run

    # -- cases ---------------------------------------------------------------------------

    def _normal(self, case: Case) -> SourceRun | str:
        cached = getattr(self, "_normal_runs", {})
        self._normal_runs = cached
        if case.name not in cached:
            cached[case.name] = self._execute(case, case.inputs, f"case '{case.name}'")
        result: SourceRun | str = cached[case.name]
        return result

    def _check_case(self, case: Case) -> tuple[bool, str, list[str]]:
        run = self._normal(case)
        if isinstance(run, str):
            return False, run, []
        crash = run.outcome()
        if crash:
            return False, crash, []
        exp = case.expected
        problems = compare_events(
            exp.events, run.events, ordered=exp.ordered, allow_extra=exp.allow_extra_events
        )
        if run.malformed != exp.malformed:
            reasons = "; ".join(run.malformed_reasons[:3])
            problems.append(
                f"malformed: expected {exp.malformed}, counted {run.malformed}"
                + (f" ({reasons})" if reasons else "")
            )
        if case.transport == "http":
            got = [r.status for r in run.http]
            if exp.http_status is not None:
                if got != exp.http_status:
                    problems.append(
                        f"HTTP status per request: expected {exp.http_status}, got {got}"
                    )
            elif any(s >= 300 for s in got):
                problems.append(f"HTTP status per request: {got} (expected 2xx; or list them)")
        if not problems:
            return True, f"{len(run.events)} event(s) as expected", []
        return False, problems[0], problems[1:]

    # -- lifecycle, validity, privacy, loop ---------------------------------------------

    def _check_cancellation(self) -> tuple[bool, str, list[str]]:
        case = next((c for c in self.cases if c.transport in self.transports), None)
        case = case or (self.cases[0] if self.cases else None)
        if case is None:
            return False, "no case to run the source with (write one)", []
        verdict: list[str] = []

        async def cancel(run: SourceRun) -> None:
            task = run.task
            if task is None:
                verdict.append(run.outcome() or "the source could not be created")
                return
            if task.done():
                why = run.outcome() or "it returned"
                verdict.append(f"run() ended before it was cancelled ({why}); run until cancelled")
                return
            before = {t for t in asyncio.all_tasks() if not t.done()}
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
            took = loop.time() - t0
            if not task.done():
                verdict.append(
                    "run() was still running 1 s after cancel(): it swallows "
                    "asyncio.CancelledError (or blocks); let cancellation propagate"
                )
                return
            if not task.cancelled():
                exc = task.exception()
                verdict.append(
                    "run() returned normally when cancelled: re-raise asyncio.CancelledError"
                    if exc is None
                    else f"run() raised {describe_exception(exc)} when cancelled"
                )
                return
            for _ in range(5):
                await asyncio.sleep(0)
            left = [
                t
                for t in before
                if t is not task and not t.done() and not t.get_name().startswith(HARNESS_PREFIX)
            ]
            if left:
                names = ", ".join(
                    f"'{t.get_name()}' ({getattr(t.get_coro(), '_name', '?')})" for t in left[:3]
                )
                verdict.append(
                    f"{len(left)} task(s) still running after run() was cancelled: {names}; "
                    "start background work in an asyncio.TaskGroup inside run()"
                )
                return
            verdict.append(f"ok: stopped in {took * 1000:.0f} ms, no task left behind")

        run = self._execute(case, case.inputs, f"cancellation ({case.name})", after=cancel)
        if isinstance(run, str):
            return False, run, []
        text = verdict[0] if verdict else "the run did not reach cancellation"
        if text.startswith("ok: "):
            return True, text[4:], []
        return False, text, []

    def _all_events(self) -> list[tuple[str, SourceRun, Event]]:
        return [(label, run, e) for label, run in self.runs for e in run.events]

    def _check_events_valid(self) -> tuple[bool, str, list[str]]:
        problems: list[str] = []
        checked = 0
        for label, run, event in self._all_events():
            checked += 1
            where = f"{label}, event #{run.events.index(event) + 1}"
            if not isinstance(event, Event):
                problems.append(f"{where}: emitted {type(event).__name__}, not a hub.Event")
                continue
            try:
                again = Event.model_validate_json(event.model_dump_json())
            except ValidationError as err:
                problems.append(f"{where}: does not validate: {err.errors()[0]['msg']}")
                continue
            if again != event:
                problems.append(f"{where}: changes when serialised and read back")
            if event.kind != self.kind or event.source != run.instance:
                problems.append(
                    f"{where}: kind/source {event.kind!r}/{event.source!r}, expected "
                    f"{self.kind!r}/{run.instance!r}: build events with ctx.event(...)"
                )
            stray = sorted(set(event.extras) - {self.kind})
            if stray:
                problems.append(f"{where}: extras namespaces {stray}: use only {self.kind!r}")
            for path, what in screen_event(event).removed:
                if path.startswith("extras."):
                    problems.append(
                        f"{where}: {path} ({what}) is removed by the hub: an extras value "
                        "is one scalar (text up to 64 characters, a number, a boolean)"
                    )
            site = run.case.site
            if event.line is not None and site.lines and site.line(event.line) is None:
                problems.append(f"{where}: line {event.line!r} is not a line of the site")
            if event.zone is not None and site.zones and site.zone(event.zone) is None:
                problems.append(f"{where}: zone {event.zone!r} is not a zone of the site")
        if problems:
            return False, problems[0], problems[1:]
        return True, f"{checked} event(s) valid", []

    def _check_privacy(self) -> tuple[bool, str, list[str]]:
        found: dict[tuple[str, str], list[str]] = {}
        for label, run, event in self._all_events():
            for path, what in find_identifiers(event):
                where = f"{label}, event #{run.events.index(event) + 1}"
                found.setdefault((f"event field {path}", what), []).append(where)
        for label, run in self.runs:
            texts = [("a log line", t) for t in run.logs]
            texts += [("a malformed reason", t) for t in run.malformed_reasons]
            texts += [("an HTTP answer", _text(r.body)) for r in run.http]
            if run.error is not None:
                texts.append(("an exception message", str(run.error)))
            for what_text, text in texts:
                kind = classify_text(text)
                if kind:
                    found.setdefault((what_text, kind), []).append(label)
        if found:
            lines = [
                f"{where} holds a {kind} ({len(hits)} time(s), first in {hits[0]}); value not "
                "shown. Never put MACs, IPs, serial numbers or track ids in events, logs or "
                "errors: count or hash them (hub.privacy.RotatingHasher)"
                for (where, kind), hits in found.items()
            ]
            return False, lines[0], lines[1:]
        n = len(self._all_events())
        return True, f"no identifier in {n} event(s), logs and error messages", []

    def _check_loop(self) -> tuple[bool, str, list[str]]:
        t = self.timer
        where = f"{t.where} ({t.slowest_label})" if t.where else "-"
        text = f"slowest step {t.slowest_s * 1000:.1f} ms in {where}"
        if t.slowest_s > self.max_step_s:
            return (
                False,
                (
                    f"{text} blocks the event loop (limit {self.max_step_s * 1000:.0f} ms): no "
                    "time.sleep or blocking I/O in async code (run(), its tasks and HTTP "
                    "handlers); use await ctx.clock.sleep(...) and asyncio.to_thread for "
                    "heavy work"
                ),
                [],
            )
        return True, text, []

    def _metrics(self) -> dict[str, Any]:
        runs = [r for r in getattr(self, "_normal_runs", {}).values() if isinstance(r, SourceRun)]
        events = sum(len(r.events) for r in runs)
        inputs = sum(r.inputs_delivered for r in runs)
        seconds = sum(r.elapsed_s for r in runs)
        return {
            "events": events,
            "inputs": inputs,
            "seconds": round(seconds, 6),
            "events_per_s": round(events / seconds, 1) if seconds > 0 else None,
            "inputs_per_s": round(inputs / seconds, 1) if seconds > 0 else None,
            "slowest_step_ms": round(self.timer.slowest_s * 1000, 3),
            "slowest_in": self.timer.where or None,
            "runs": len(self.runs),
        }

    def _check_throughput(self, m: dict[str, Any]) -> tuple[bool, str, list[str]]:
        if not m["events"]:
            return False, "the cases produced no events: nothing to measure", []
        return (
            True,
            (
                f"{m['events_per_s']:.0f} events/s ({m['events']} events from {m['inputs']} "
                f"inputs in {m['seconds'] * 1000:.1f} ms)"
            ),
            [],
        )


def _text(body: bytes | str) -> str:
    return body.decode("utf-8", "replace") if isinstance(body, bytes) else body
