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
event. So one full queue never stops the other sinks from receiving.

Per event the hot path is one call per stage and one ``put_nowait`` per sink;
no pluggy call and no task.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Protocol

from hub.clock import Clock
from hub.core.bus import SinkQueue, SinkRunner
from hub.events import Event, check_clock
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
    """Bound event times against the hub clock (:func:`hub.events.check_clock`): further
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


class FanOut:
    """The end of the pipeline: every event to the queue of every sink that takes it."""

    def __init__(self) -> None:
        self._targets: list[tuple[frozenset[str] | None, SinkQueue]] = []

    def connect(self, runners: Sequence[SinkRunner]) -> None:
        """Deliver to these sinks from now on (the ones that opened)."""
        self._targets = [(r.measurements, r.queue) for r in runners]

    def offer(self, event: Event) -> list[tuple[SinkQueue, Event]] | None:
        """Queue ``event`` for every sink without waiting.

        Returns the queues that refused it (``overflow = "block"`` and full), each
        with the event it refused (a fan-out through views hands each sink its
        view's copy); the caller awaits their ``put`` so only the emitting source waits.
        """
        blocked: list[tuple[SinkQueue, Event]] | None = None
        for accepts, queue in self._targets:
            if (accepts is None or event.measurement.type in accepts) and not queue.put_nowait(
                event
            ):
                if blocked is None:
                    blocked = [(queue, event)]
                else:
                    blocked.append((queue, event))
        return blocked


class Pipeline:
    """Stages in order, then the fan-out; ``emitter(source)`` is what a source's ``emit`` calls."""

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

    def emitter(self, source: str) -> Emit:
        """The coroutine function that takes ``source``'s events into the pipeline."""
        offer = self.fan_out.offer
        if len(self.stages) == 1:
            handle = self.stages[0].handle

            async def emit_one_stage(event: Event) -> None:
                for out in handle(event, source):
                    blocked = offer(out)
                    if blocked:
                        for queue, refused in blocked:
                            await queue.put(refused)

            return emit_one_stage

        run_stages = self.run_stages

        async def emit(event: Event) -> None:
            for out in run_stages(event, source):
                blocked = offer(out)
                if blocked:
                    for queue, refused in blocked:
                        await queue.put(refused)

        return emit
