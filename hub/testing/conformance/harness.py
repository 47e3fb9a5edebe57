"""Running one source in isolation for the conformance kit.

Every run gets a fresh event loop (:func:`run_isolated`), so a source that
ignores cancellation or leaks a task cannot disturb the next check. Each task
step on that loop is timed (a task factory wraps every coroutine), which finds
callbacks that block the loop (``time.sleep``, blocking I/O, heavy CPU): the
source's own tasks, and its HTTP handlers, which the harness calls in a task of
their own so their steps are timed too (as the real server's request tasks are).

:class:`SourceRun` wires a source to the fakes of :mod:`hub.testing.fakes`, a
:class:`ManualClock` the case moves, and records every event, malformed reason,
log line and HTTP answer for the checks.
"""

from __future__ import annotations

__all__ = ["SourceRun", "StepTimer", "run_isolated"]

import asyncio
import contextlib
import logging
import resource
import time
import traceback
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from hub.events import Event
from hub.plugin import Source, SourceContext
from hub.testing.clocks import ManualClock
from hub.testing.conformance.cases import Case, CaseInput
from hub.testing.fakes import (
    FakeHttpIngest,
    FakeMessageTransport,
    FakeSerialTransport,
    fake_transports,
)
from hub.transports import IngestResponse

T = TypeVar("T")
HARNESS_PREFIX = "conformance-harness"
HANDLER_SUFFIX = " (HTTP handler)"
"""Tasks named ``<handler qualname> (HTTP handler)`` run a source's handler: timed."""


# -- step timing -----------------------------------------------------------------------


def _thread_usage() -> tuple[float, int]:
    """(CPU seconds of this thread, voluntary context switches): what a step did itself."""
    try:
        ru = resource.getrusage(resource.RUSAGE_THREAD)  # Linux
    except (AttributeError, OSError):  # pragma: no cover - other systems: wall clock only
        return time.thread_time(), 1 << 62
    return ru.ru_utime + ru.ru_stime, ru.ru_nvcsw


@dataclass
class StepTimer:
    """The slowest task step seen (seconds) and where it ran.

    A step counts by its wall-clock time only when the plugin's code itself spent it:
    computing (CPU time) or waiting in the kernel (a voluntary context switch: sleep,
    blocking I/O). A step that merely lost the CPU to other processes (a loaded machine)
    counts by its CPU time, so the verdict does not depend on what else runs.
    """

    slowest_s: float = 0.0
    where: str = ""
    label: str = ""
    """What the harness was doing (set by the runner, e.g. "case 'x', input #2")."""
    slowest_label: str = ""

    def record(self, seconds: float, coro_name: str, cpu_s: float, waited: bool) -> None:
        task = asyncio.current_task()
        if task is not None and task.get_name().startswith(HARNESS_PREFIX):
            return
        name = task.get_name() if task is not None else ""
        where = name if name.endswith((".run", HANDLER_SUFFIX)) else coro_name
        self.note(seconds if waited else min(seconds, cpu_s), where)

    def note(self, seconds: float, where: str) -> None:
        """Record one synchronous stretch of plugin code (a task step, a constructor)."""
        if seconds > self.slowest_s:
            self.slowest_s = seconds
            self.where = where
            self.slowest_label = self.label


class _TimedCoroutine(Coroutine[Any, Any, Any]):
    """Wraps a coroutine and times every step the event loop runs of it."""

    def __init__(self, coro: Coroutine[Any, Any, Any], timer: StepTimer) -> None:
        self._coro = coro
        self._timer = timer
        self._name = getattr(coro, "__qualname__", type(coro).__name__)

    def send(self, value: Any) -> Any:
        cpu0, waits0 = _thread_usage()
        t0 = time.perf_counter()
        try:
            return self._coro.send(value)
        finally:
            wall = time.perf_counter() - t0
            cpu1, waits1 = _thread_usage()
            self._timer.record(wall, self._name, cpu1 - cpu0, waits1 != waits0)

    def __next__(self) -> Any:
        return self.send(None)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        cpu0, waits0 = _thread_usage()
        t0 = time.perf_counter()
        try:
            if val is None and tb is None:
                return self._coro.throw(typ)
            return self._coro.throw(typ, val, tb)
        finally:
            wall = time.perf_counter() - t0
            cpu1, waits1 = _thread_usage()
            self._timer.record(wall, self._name, cpu1 - cpu0, waits1 != waits0)

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, None, Any]:
        return self._coro.__await__()

    def __iter__(self) -> _TimedCoroutine:
        return self


def run_isolated(
    main: Callable[[], Coroutine[Any, Any, T]], timer: StepTimer, *, timeout_s: float = 60.0
) -> T:
    """Run ``main()`` on a fresh event loop whose task steps are timed, then tear the loop
    down even when a task refuses to stop (it is abandoned, not awaited forever)."""
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(lambda _loop, _context: None)  # abandoned tasks stay quiet

    def factory(lp: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        return asyncio.Task(_TimedCoroutine(coro, timer), loop=lp, **kwargs)

    loop.set_task_factory(factory)

    async def guarded() -> T:
        task = asyncio.current_task()
        if task is not None:
            task.set_name(f"{HARNESS_PREFIX}-main")
        inner = asyncio.get_running_loop().create_task(main(), name=f"{HARNESS_PREFIX}-run")
        return await asyncio.wait_for(inner, timeout_s)

    try:
        return loop.run_until_complete(guarded())
    finally:
        try:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                loop.run_until_complete(asyncio.wait(pending, timeout=0.2))
            for t in pending:
                if not t.done():  # refuses to stop: close its coroutine now, not at GC time
                    with contextlib.suppress(BaseException):
                        t.get_coro().close()
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


# -- one source, one run ---------------------------------------------------------------


class _CaptureHandler(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self._sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a broken format string is still captured
            text = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            text += " | " + "".join(traceback.format_exception_only(record.exc_info[1]))
        self._sink.append(text)


class _RecordingContext(SourceContext):
    """A SourceContext that also keeps every malformed reason (for the privacy check)."""

    reasons: list[str]

    def malformed(self, reason: str) -> None:
        self.reasons.append(reason)
        super().malformed(reason)


def describe_exception(err: BaseException) -> str:
    """``ValueError('x') at module.py:12 in fn``: the innermost frame that raised it."""
    tb = traceback.extract_tb(err.__traceback__)
    where = ""
    if tb:
        frame = tb[-1]
        where = f" at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno} in {frame.name}"
    text = str(err)
    return f"{type(err).__name__}({text!r}){where}" if text else f"{type(err).__name__}{where}"


@dataclass
class SourceRun:
    """A source wired to fake transports and a manual clock, driven input by input."""

    source_class: type[Source[Any]]
    config: Any
    case: Case
    clock_offset_s: float = 0.0
    emit_delay_s: float = 0.0
    events: list[Event] = field(default_factory=list)
    event_inputs: list[int] = field(default_factory=list)
    """For each event, how many inputs had been delivered when it was emitted."""
    logs: list[str] = field(default_factory=list)
    http: list[IngestResponse] = field(default_factory=list)
    handler_errors: list[str] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    error: BaseException | None = None
    error_after: str = ""
    inputs_delivered: int = 0
    timer: StepTimer | None = None
    elapsed_s: float = 0.0
    stuck: bool = False
    """run() did not end when cancelled."""
    alive_at_end: bool = False
    """run() was still running after the last input."""
    """run() did not end when cancelled."""

    def __post_init__(self) -> None:
        self.clock = ManualClock(self.case.start + timedelta(seconds=self.clock_offset_s))
        self.mqtt = FakeMessageTransport()
        self.serial = FakeSerialTransport()
        self.ingest = FakeHttpIngest()
        kind = self.source_class.kind
        self.instance = str(getattr(self.config, "id", self.case.instance))
        self.logger = logging.getLogger(f"hub.conformance.{kind}.{self.instance}")
        self.logger.setLevel(logging.DEBUG)
        self.logger.propagate = False
        self._handler = _CaptureHandler(self.logs)
        self.in_emit = 0
        ctx = _RecordingContext(
            instance=self.instance,
            kind=kind,
            plugin=kind,
            plugin_version="conformance",
            site=self.case.site,
            emit=self._emit,
            transports=fake_transports(mqtt=self.mqtt, serial=self.serial, http=self.ingest),
            clock=self.clock,
            logger=self.logger,
            transport_name=None if self.case.transport == "none" else self.case.transport,
        )
        ctx.reasons = []
        self.ctx = ctx

    @property
    def malformed_reasons(self) -> list[str]:
        return self.ctx.reasons

    @property
    def malformed(self) -> int:
        return self.ctx.counters.malformed

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    async def _emit(self, event: Event) -> None:
        self.in_emit += 1
        try:
            if self.emit_delay_s:
                await asyncio.sleep(self.emit_delay_s)
            self.events.append(event)
            self.event_inputs.append(self.inputs_delivered)
        finally:
            self.in_emit -= 1

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self, label: str = "start") -> None:
        """Create the source and start ``run()``; wait until it listens on its transport."""
        root = logging.getLogger()
        root.addHandler(self._handler)  # module-level plugin loggers (warnings and up)
        self.logger.addHandler(self._handler)
        cpu0, waits0 = _thread_usage()
        t0 = time.perf_counter()
        try:
            source = self.source_class(self.config, self.ctx)
        except Exception as err:
            self._fail(err, "creating the source")
            return
        finally:
            if self.timer is not None:
                wall = time.perf_counter() - t0
                cpu1, waits1 = _thread_usage()
                spent = wall if waits1 != waits0 else min(wall, cpu1 - cpu0)
                self.timer.note(spent, f"{self.source_class.__qualname__}.__init__")
        self.task = asyncio.get_running_loop().create_task(
            self._run(source), name=f"{self.source_class.__qualname__}.run"
        )
        ready = {
            "mqtt": self.mqtt.subscribed,
            "serial": self.serial.opened,
            "http": self.ingest.route_added,
        }.get(self.case.transport)
        if ready is not None:
            waiter = asyncio.get_running_loop().create_task(
                ready.wait(), name=f"{HARNESS_PREFIX}-ready"
            )
            await asyncio.wait({waiter, self.task}, timeout=5.0, return_when="FIRST_COMPLETED")
            if not waiter.done():
                waiter.cancel()
                if self.running:
                    self.error_after = label
                    self.handler_errors.append(
                        f"run() did not start using its {self.case.transport} transport within "
                        "5 s (ctx.mqtt/serial/http_server(...) then subscribe/open/add_route)"
                    )
        await self.settle()

    async def _run(self, source: Source[Any]) -> None:
        try:
            await source.run()
        except Exception as err:  # GeneratorExit/CancelledError: closed by the harness
            self._fail(err, self.error_after or "start")
            raise

    def _fail(self, err: BaseException, after: str) -> None:
        if self.error is None:
            self.error = err
            self.error_after = after

    async def close(self, wait_s: float = 1.0) -> None:
        """Cancel the source (if still running) and detach the log capture."""
        try:
            if self.task is not None and not self.task.done():
                self.task.cancel()
                await asyncio.wait({self.task}, timeout=wait_s)
                self.stuck = not self.task.done()
        finally:
            logging.getLogger().removeHandler(self._handler)
            self.logger.removeHandler(self._handler)

    # -- driving -----------------------------------------------------------------------

    def _pending_input(self) -> bool:
        subs: list[tuple[Any, asyncio.Queue[Any]]] = getattr(self.mqtt, "_subs", [])
        if any(not q.empty() for _, q in subs):
            return True
        incoming: asyncio.Queue[Any] | None = getattr(self.serial, "_incoming", None)
        return incoming is not None and not incoming.empty() and self.serial.opened.is_set()

    async def settle(self, max_s: float | None = None) -> None:
        """Let the source process everything fed so far (until the loop is quiet)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (max_s if max_s is not None else self.case.settle_s)
        quiet = 0
        marker = (len(self.events), self.malformed, len(self.logs))
        while quiet < 4:
            if self.task is not None and self.task.done():
                await asyncio.sleep(0)
                return
            await asyncio.sleep(0 if quiet or self.in_emit == 0 else 0.001)
            now = (len(self.events), self.malformed, len(self.logs))
            ready = len(getattr(loop, "_ready", ()))
            busy = self._pending_input() or now != marker or self.in_emit > 0 or ready > 0
            marker = now
            quiet = 0 if busy else quiet + 1
            if loop.time() > deadline:
                return
            if busy and quiet == 0 and self.in_emit == 0 and ready == 0:
                await asyncio.sleep(0.0005)  # the source waits on a short real-time timer

    async def advance(self, seconds: float) -> None:
        """Move the clock by ``seconds``, waking (and settling) every sleeper on the way."""
        target = self.clock.monotonic() + seconds
        for _ in range(100_000):
            deadline = self.clock.next_deadline()
            if deadline is None or deadline > target:
                break
            self.clock.advance_to(deadline)
            await self.settle()
            if not self.running:
                return
        self.clock.advance_to(target)
        await self.settle()

    async def deliver(self, item: CaseInput, label: str) -> None:
        """Feed one input through the case's transport and let the source process it."""
        if not self.running:
            return
        self.error_after = label
        if self.timer is not None:
            self.timer.label = label
        if item.advance_s:
            await self.advance(item.advance_s)
        payload = item.payload
        self.inputs_delivered += 1
        if payload is not None and self.running:
            transport = self.case.transport
            if transport == "mqtt":
                await self.mqtt.inject(item.topic or "", payload)
            elif transport == "serial":
                self.serial.feed(payload)
            elif transport == "http":
                await self._request(item, payload, label)
            await self.settle()

    async def _request(self, item: CaseInput, payload: bytes, label: str) -> None:
        route = self.ingest.routes.get(self.instance)
        handler = getattr(route[0], "__qualname__", "handler") if route else "handler"
        request = self.ingest.request(
            self.instance,
            payload,
            method=item.method,
            content_type=item.content_type,
            headers=item.headers,
            query=item.query,
        )
        # a task of its own (not the harness's), so every step of the handler is timed
        task = asyncio.get_running_loop().create_task(request, name=handler + HANDLER_SUFFIX)
        try:
            resp = await task
        except Exception as err:  # what the real server would answer with a 500
            self.handler_errors.append(
                f"{label}: the HTTP handler raised {describe_exception(err)}; raise "
                "hub.MalformedInput for a bad request (answered 400)"
            )
            self.http.append(IngestResponse(500, "handler raised"))
            return
        self.http.append(resp)

    async def feed_all(self, inputs: list[CaseInput], what: str) -> None:
        t0 = time.perf_counter()
        for i, item in enumerate(inputs):
            await self.deliver(item, f"{what}, input #{i + 1}")
        self.elapsed_s += time.perf_counter() - t0

    def outcome(self) -> str | None:
        """Why the run failed (crash or handler error), or None."""
        if self.error is not None:
            return f"run() raised {describe_exception(self.error)} after {self.error_after}"
        if self.handler_errors:
            return self.handler_errors[0]
        return None
