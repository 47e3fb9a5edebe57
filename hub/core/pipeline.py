"""The pipeline: what every event passes between a source's ``emit`` and the sinks' queues.

::

    source.emit ─▶ stage 1 ─▶ stage 2 ─▶ … ─▶ FanOut ─▶ one queue per sink (hub.core.bus)
                  (privacy)  (clock)  (zone model, …)

The hub's fan-out goes through the views (:mod:`hub.core.view_routing`): one
policy stage per view, each feeding the queues of the sinks that name it.

A :class:`Stage` is a small synchronous object: ``handle(event, source)``
returns the events to pass on — ``(event,)`` to pass it, ``()`` to drop it, a
changed copy to transform it, or more events to add derived ones (a zone model
emitting a zone level). Stages are sans-io and know nothing of each other; the
runtime composes them in order. The terminal :class:`FanOut` hands each event to
every sink that takes its measurement type without waiting
(``SinkQueue.put_nowait``); only a sink with ``overflow = "block"`` whose queue
is full makes the emitting source wait, and only after every other sink has the
event. So one full queue never stops the other sinks from receiving. The
source's ``emit`` then waits until every durable queue the events went to has
committed them (``flush``: the puts of one loop turn are one commit), so a
source acknowledges upstream only what is kept; a queue that cannot write makes
``emit`` raise :class:`~hub.errors.EventNotKept`. Inside a transport's
:class:`~hub.core.kept.Keeping` scope (an MQTT message being handled) ``emit``
does not wait: the transport acknowledges once the commits are done (group commit).

Per event the hot path is one call per stage, one ``put_nowait`` per sink and
one ``flush`` per durable queue; no pluggy call and no task.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Protocol

from hub.clock import Clock
from hub.core.bus import SinkQueue, SinkRunner
from hub.core.clock_check import check_clock
from hub.core.kept import Keeping, current_scope
from hub.errors import EventNotKept, QueueUnavailable
from hub.events import Event
from hub.privacy import screen_event

__all__ = [
    "ClockCheck",
    "DeadLetter",
    "DeadLetters",
    "FanOut",
    "Pipeline",
    "PrivacyCheck",
    "Removed",
    "Stage",
    "commit",
    "put_into",
    "put_waiting",
]

log = logging.getLogger("hub.pipeline")

Emit = Callable[[Event], Awaitable[None]]


class Stage(Protocol):
    """One step of the pipeline. Must not block, raise on bad events, or keep references
    to events it drops."""

    name: str

    def handle(self, event: Event, source: str) -> Sequence[Event]:
        """The events to pass on for ``event`` emitted by source instance ``source``."""
        ...


DeadLetter = Callable[[str, Event, list[tuple[str, str]]], None]
"""``(source, event, findings)``: record an event withheld for carrying an identifier."""

Removed = Callable[[str, tuple[tuple[str, str], ...]], None]
"""``(source, removed)``: count values removed from an event (field path, what it was)."""


class PrivacyCheck:
    """Allow, don't guess (:func:`hub.privacy.screen_event`): an extras value that is not
    a short scalar, or an identifier-like value in a field that can do without it, is
    removed from that one field and reported to ``removed``; the rest of the event goes
    on. An event with an identifier where nothing can be removed (an id) goes to
    ``dead_letter`` with the findings (field path and identifier type, never the value)
    and reaches no sink.
    """

    name = "privacy"

    def __init__(self, dead_letter: DeadLetter, removed: Removed | None = None) -> None:
        self._dead_letter = dead_letter
        self._removed = removed

    def handle(self, event: Event, source: str) -> Sequence[Event]:
        screened = screen_event(event)
        if screened.removed and self._removed is not None:
            self._removed(source, screened.removed)
        if screened.findings:
            self._dead_letter(source, event, list(screened.findings))
            return ()
        return (screened.event,)


class ClockCheck:
    """Bound event times against the hub clock (:func:`hub.core.clock_check.check_clock`): further
    ahead than ``max_skew_s`` flagged ``clock_skew``; far ahead dead-lettered."""

    name = "clock"

    def __init__(self, max_skew_s: float, dead_letters: DeadLetters) -> None:
        self._max_skew_s = max_skew_s
        self._dead_letters = dead_letters

    def handle(self, event: Event, source: str) -> Sequence[Event]:
        checked, note = check_clock(event, self._max_skew_s)
        if checked is None:
            assert note is not None
            field = note.split(" ", 1)[0]
            self._dead_letters(source, event, [(field, "clock skew")], note=note)
            return ()
        return (checked,)


class DeadLetters:
    """Where withheld events go: counted by identifier type, one log line each, and one
    JSON line in ``data_dir/deadletter.jsonl`` (field path and identifier type, never the
    value). ``on_source(source)`` counts them per source. Events an output refused
    one by one go to the same file (:meth:`refused`)."""

    def __init__(self, data_dir: Path, clock: Clock, on_source: Callable[[str], None]) -> None:
        self.path = data_dir / "deadletter.jsonl"
        self.clock = clock
        self.on_source = on_source
        self.counts: Counter[str] = Counter()
        self._file: IO[str] | None = None

    def __call__(
        self,
        source: str,
        event: Event,
        findings: list[tuple[str, str]],
        *,
        note: str | None = None,
    ) -> None:
        """``note`` (a clock refusal) replaces "identifier in event" as the reason; the
        findings are then ``(field, problem)``."""
        self.on_source(source)
        for _, kind in findings:
            self.counts[kind] += 1
        where = ", ".join(f"{path} ({kind})" for path, kind in findings)
        log.warning(
            "sources[%s]: event %s dead-lettered: %s; it was not forwarded. %s",
            source,
            event.event_id,
            note or f"identifier in {where}",
            "Check the device clock and the time unit"
            if note
            else "Fix the plugin or its field mapping",
        )
        record = {
            "time": self.clock.now().isoformat(),
            "source": source,
            "kind": event.kind,
            "event_id": event.event_id,
            "measurement": event.measurement.type,
            "reason": note or "identifier in event",
            "findings": [{"field": p, "problem" if note else "identifier": k} for p, k in findings],
        }
        self._write(record)

    def refused(self, output: str, event: Event, reason: str) -> None:
        """Record one event an output refused for good (a value it cannot store).

        The record keeps the whole event (it passed the privacy check, as everything
        the outputs get), so it can be looked at and fed again. Counted by the output
        (``dropped.rejected``), logged by its runner.
        """
        self._write(
            {
                "time": self.clock.now().isoformat(),
                "output": output,
                "source": event.source,
                "kind": event.kind,
                "event_id": event.event_id,
                "measurement": event.measurement.type,
                "reason": reason,
                "event": json.loads(event.model_dump_json()),
            }
        )

    def _write(self, record: Mapping[str, object]) -> None:
        try:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - for the run
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()
        except OSError as err:
            log.error("cannot write dead-letter record to %s: %s", self.path, err)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


Targets = Sequence[tuple[frozenset[str] | None, SinkQueue]]
"""Sink queues with the measurement types each takes (None: all)."""


def put_into(
    targets: Targets,
    event: Event,
    kept: set[int] | None,
    went: list[SinkQueue],
    failed: list[QueueUnavailable],
    blocked: list[tuple[SinkQueue, Event]] | None,
) -> list[tuple[SinkQueue, Event]] | None:
    """Put ``event`` into every target queue that takes its type, skipping the queues in
    ``kept`` (an earlier try already put it there), without waiting: the hot path of
    every fan-out. Appends to ``went`` and ``failed``; returns ``blocked`` extended with
    the queues that refused it (``overflow = "block"`` and full)."""
    kind = event.measurement.type
    for accepts, queue in targets:
        if accepts is not None and kind not in accepts:
            continue
        if kept is not None and id(queue) in kept:
            continue
        try:
            if not queue.put_nowait(event):
                if blocked is None:
                    blocked = [(queue, event)]
                else:
                    blocked.append((queue, event))
                continue
        except QueueUnavailable as err:
            queue.dropped["unwritten"] += 1
            failed.append(err)
            continue
        went.append(queue)
    return blocked


class FanOut:
    """The end of the pipeline: every event to the queue of every sink that takes it.

    A queue that cannot write (:class:`~hub.errors.QueueUnavailable`: read-only or
    full disk) is skipped and counts the event as dropped ``unwritten``; the other
    queues still get it. The emit that carried it then raises
    :class:`~hub.errors.EventNotKept`, and the queues that did keep it are
    remembered by ``event_id`` (the last ``remember`` events), so the same event
    sent again reaches only the outputs that missed it: exactly once per output.
    """

    def __init__(self, remember: int = 65_536) -> None:
        self._targets: list[tuple[frozenset[str] | None, SinkQueue]] = []
        self._kept: OrderedDict[str, set[int]] = OrderedDict()  # event_id -> id(queue)
        self._remember = remember

    def connect(self, runners: Sequence[SinkRunner]) -> None:
        """Deliver to these sinks from now on (the ones that opened)."""
        self._targets = [(r.measurements, r.queue) for r in runners]

    def offer(
        self, event: Event, went: list[SinkQueue], failed: list[QueueUnavailable]
    ) -> list[tuple[SinkQueue, Event]] | None:
        """Queue ``event`` for every sink without waiting.

        Appends each queue it went into to ``went`` (to flush before acknowledging)
        and each queue error to ``failed``. Returns the queues that refused it
        (``overflow = "block"`` and full), each with the event it refused (a fan-out
        through views hands each sink its view's copy); the caller awaits their
        ``put`` so only the emitting source waits.
        """
        kept = self._kept.get(event.event_id) if self._kept else None
        return put_into(self._targets, event, kept, went, failed, None)

    def not_kept(self, events: Sequence[Event], kept: Sequence[SinkQueue]) -> None:
        """``events`` are in ``kept`` but not in every queue: remember where they are."""
        ids = {id(q) for q in kept}
        memo = self._kept
        for event in events:
            have = memo.pop(event.event_id, None)
            memo[event.event_id] = ids if have is None else have | ids
        while len(memo) > self._remember:
            memo.popitem(last=False)

    def kept(self, events: Sequence[Event]) -> None:
        """``events`` are in every queue that takes them: forget earlier partial tries."""
        if self._kept:
            for event in events:
                self._kept.pop(event.event_id, None)


async def put_waiting(
    blocked: Sequence[tuple[SinkQueue, Event]],
    went: list[SinkQueue],
    failed: list[QueueUnavailable],
) -> None:
    """Wait for room in each full ``overflow = "block"`` queue and put its event there."""
    for queue, event in blocked:
        try:
            await queue.put(event)
        except QueueUnavailable as err:
            queue.dropped["unwritten"] += 1
            failed.append(err)
        else:
            went.append(queue)


async def commit(went: Sequence[SinkQueue], failed: list[QueueUnavailable]) -> list[SinkQueue]:
    """Flush every durable queue events ``went`` to (once each); the queues that kept them."""
    kept: list[SinkQueue] = []
    seen: set[int] = set()
    for queue in went:
        if id(queue) in seen:
            continue
        seen.add(id(queue))
        if queue.durable:
            try:
                await queue.flush()
            except QueueUnavailable as err:
                failed.append(err)
                continue
        kept.append(queue)
    return kept


class Pipeline:
    """Stages in order, then the fan-out; ``emitter(source)`` is what a source's ``emit`` calls.

    The emit returns once its events are kept by every output that takes them
    (``flush`` of each queue they went to: a durable queue's commit). When some
    queue could not keep them it raises :class:`~hub.errors.EventNotKept`: the
    source acknowledges nothing upstream and the event is sent again.
    """

    def __init__(self, stages: Sequence[Stage], fan_out: FanOut) -> None:
        self.stages = tuple(stages)
        self.fan_out = fan_out

    def run_stages(self, event: Event, source: str) -> Sequence[Event]:
        """The events that leave the last stage for ``event`` (no delivery)."""
        events: Sequence[Event] = (event,)
        for stage in self.stages:
            if len(events) == 1:
                events = stage.handle(events[0], source)
            else:
                events = [out for e in events for out in stage.handle(e, source)]
            if not events:
                break
        return events

    async def deliver(self, events: Sequence[Event]) -> None:
        """Put ``events`` into the sinks' queues and wait until they are kept.

        In a :class:`~hub.core.kept.Keeping` scope (a transport that acknowledges
        later) it does not wait for the commits but registers them in the scope.
        """
        fan_out = self.fan_out
        went: list[SinkQueue] = []
        failed: list[QueueUnavailable] = []
        for out in events:
            blocked = fan_out.offer(out, went, failed)
            if blocked:
                await put_waiting(blocked, went, failed)
        scope = current_scope()
        if scope is not None:
            if scope.detached:  # acknowledged to nobody: nothing waits for the commits
                for queue in went:
                    if queue.durable:
                        queue.kept()  # ... which may gather puts as for a deferred one
                fan_out.kept(events)
                return
            self._defer(scope, events, went, len(failed))
            return
        kept = await commit(went, failed)
        if failed:
            fan_out.not_kept(events, kept)
            outputs = tuple(dict.fromkeys(err.output for err in failed))
            raise EventNotKept(
                f"nothing of this was kept, send it again: the durable queue of "
                f"{', '.join(outputs)} cannot write ({failed[0]})",
                outputs=outputs,
            )
        fan_out.kept(events)

    def _defer(
        self, scope: Keeping, events: Sequence[Event], went: list[SinkQueue], failed: int
    ) -> None:
        """Register the commits of ``events`` in ``scope``; a queue that refused them
        (``failed``) counts as a failed commit: they are delivered again, never dropped."""
        waits: list[tuple[SinkQueue | None, asyncio.Future[None]]] = []
        if failed:
            refused = asyncio.get_running_loop().create_future()
            refused.set_exception(EventNotKept("a durable queue cannot write", outputs=()))
            refused.exception()
            waits.append((None, refused))
        for queue in went:
            if queue.durable:
                fut = queue.kept()  # the same future for every put into one commit
                if fut is not None and not any(q is queue for q, _ in waits):
                    waits.append((queue, fut))
        if waits:
            scope.add(events, waits, self._redeliver, self.fan_out.kept)
        else:
            self.fan_out.kept(events)

    async def _redeliver(self, events: Sequence[Event], kept: Sequence[SinkQueue]) -> None:
        """A deferred commit failed: deliver ``events`` again to the queues not in ``kept``."""
        self.fan_out.not_kept(events, kept)
        await self.deliver(events)

    def emitter(self, source: str, *, after: str | None = None) -> Emit:
        """The coroutine function that takes ``source``'s events into the pipeline.

        ``after``: enter behind the stage of that name (a stage's derived events, such
        as the zone model's, pass only the stages that follow it).
        """
        if after is not None:
            names = [s.name for s in self.stages]
            rest = self.stages[names.index(after) + 1 :]
            return Pipeline(rest, self.fan_out).emitter(source)
        deliver = self.deliver
        if len(self.stages) == 1:
            handle = self.stages[0].handle

            async def emit_one_stage(event: Event) -> None:
                events = handle(event, source)
                if events:
                    await deliver(events)

            return emit_one_stage

        run_stages = self.run_stages

        async def emit(event: Event) -> None:
            events = run_stages(event, source)
            if events:
                await deliver(events)

        return emit
