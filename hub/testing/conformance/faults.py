"""Fault-injection checks of the conformance kit (a mixin of ``ConformanceRunner``).

Each derives inputs from the cases (garbage, truncations, oversized payloads,
duplicates, reordering, a restart replay), or changes the run (clock skew, a
disconnect, a slow consumer), and passes when the source survives as the
rules in ``contrib/guide.md`` require.
"""

from __future__ import annotations

__all__ = ["FAULTS", "FaultChecks"]

import asyncio
import random
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from hub.errors import DeviceUnavailable
from hub.events import QualityReason
from hub.testing.conformance.cases import Case, CaseInput
from hub.testing.conformance.harness import SourceRun, describe_exception

Verdict = tuple[bool, str, list[str]]

REPLAY_DELAY_S = 1.5
"""How much later (hub clock) ``fault.replay_later`` resends each input: more than the
one-second resolution that exposes an event key built from the arrival time."""
GUIDE_MALFORMED = "contrib/guide.md, 'Malformed input'"

FAULTS: list[tuple[str, str]] = [
    ("fault.garbage", "garbage input is counted, never a crash"),
    ("fault.truncated", "truncated payloads are counted, never a crash"),
    ("fault.oversized", "oversized payloads are survived"),
    ("fault.duplicate", "duplicated input gives the same event ids or a duplicate flag"),
    ("fault.replay_later", "an input replayed seconds later gives the same event ids"),
    ("fault.out_of_order", "out-of-order input is survived"),
    ("fault.counter_reset", "a device restart (inputs replayed from the start) is survived"),
    ("fault.clock_skew", "a hub clock 2 h ahead or behind the device is survived"),
    ("fault.disconnect", "a disconnect mid-stream raises hub.DeviceUnavailable"),
    ("fault.slow_consumer", "a slow consumer loses no events"),
]


class FaultChecks:
    """The ``fault.*`` checks; the runner provides the cases and how to execute a run."""

    cases: list[Case]
    transports: list[str]

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
        raise NotImplementedError

    def _normal(self, case: Case) -> SourceRun | str:
        raise NotImplementedError

    def _template(self, transport: str) -> Case:
        return next(c for c in self.cases if c.transport == transport and c.payload_inputs)

    def _survive(
        self, make: Callable[[Case], list[CaseInput]], what: str, *, all_cases: bool = False
    ) -> tuple[bool, str, list[str]]:
        """Feed derived inputs per transport; pass when the source survives all of them."""
        fed = 0
        for transport in self.transports:
            cases = (
                [c for c in self.cases if c.transport == transport and c.payload_inputs]
                if all_cases
                else [self._template(transport)]
            )
            for case in cases[:10]:
                inputs = make(case)
                if not inputs:
                    continue
                run = self._execute(case, inputs, f"{what} ({case.name})")
                if isinstance(run, str):
                    return False, run, []
                problem = self._survival_problem(run, what)
                if problem:
                    return False, problem, []
                fed += sum(1 for i in inputs if i.payload is not None)
        return True, f"survived {fed} {what} input(s)", []

    def _survival_problem(self, run: SourceRun, what: str) -> str | None:
        crash = run.outcome()
        if crash:
            return (
                f"{crash}: catch hub.MalformedInput per message and call ctx.malformed(reason); "
                "turn parser errors into MalformedInput in protocol.py"
                if run.error is not None and not isinstance(run.error, DeviceUnavailable)
                else crash
            )
        if not run.alive_at_end:
            return f"run() returned during the {what} inputs: it must run until cancelled"
        bad = [r.status for r in run.http if r.status >= 500]
        if bad:
            return f"answered HTTP {bad[0]} to {what} input: answer 400 (raise hub.MalformedInput)"
        return None

    def _fault_garbage(self) -> tuple[bool, str, list[str]]:
        def make(case: Case) -> list[CaseInput]:
            rng = random.Random(5)
            first = case.payload_inputs[0]
            junk = [b"\x00", b"\xff" * 64, b"{", b"[]", b"{}", b"null", b'{"a":', b"\r\n\r\n"]
            junk += [rng.randbytes(rng.randint(1, 300)) for _ in range(16)]
            return [first.with_payload(j) for j in junk] + [first]

        ok, reason, details = self._survive(make, "garbage")
        if not ok:
            return ok, reason, details
        problem = self._garbage_counted()
        return (False, problem, []) if problem else (ok, reason, details)

    def _garbage_counted(self) -> str | None:
        """Garbage pushed over HTTP must be *refused*: answered 4xx (not 2xx), and counted
        with ``ctx.malformed`` (the device, the operator and ``hub status`` must see it).
        (A garbage MQTT message may be on a topic the source rightly ignores.)"""
        for label, run in self._runs_of("garbage"):
            if run.case.transport == "http":
                junk = [r.status for r in run.http[:-1]]  # the last input is the real one
                accepted = sum(1 for s in junk if 200 <= s < 300)
                refused = sum(1 for s in junk if s == 400)
                if accepted > len(junk) // 2:
                    return (
                        f"{label}: {accepted} of {len(junk)} garbage requests were answered "
                        f"{junk[0] if 200 <= junk[0] < 300 else '2xx'}: the device never learns "
                        "its push was not understood. A handler raises hub.MalformedInput "
                        "(answered 400) and counts it with ctx.malformed(reason) first: see "
                        f"{GUIDE_MALFORMED}"
                    )
                if refused and run.malformed == 0:
                    return (
                        f"{label}: {refused} garbage request(s) answered 400 but none counted: "
                        "call ctx.malformed(reason) before raising hub.MalformedInput, so "
                        f"'hub status' shows it: see {GUIDE_MALFORMED}"
                    )
        return None

    def _runs_of(self, what: str) -> list[tuple[str, SourceRun]]:
        runs: list[tuple[str, SourceRun]] = getattr(self, "runs", [])
        return [(label, run) for label, run in runs if label.startswith(f"{what} (")]

    def _fault_truncated(self) -> tuple[bool, str, list[str]]:
        def make(case: Case) -> list[CaseInput]:
            out: list[CaseInput] = []
            for item in case.payload_inputs[:8]:
                data = item.payload or b""
                for cut in sorted({len(data) // 2, len(data) - 1, 1}):
                    if 0 < cut < len(data):
                        out.append(item.with_payload(data[:cut]))
                out.append(item)
            return out

        return self._survive(make, "truncated", all_cases=True)

    def _fault_oversized(self) -> tuple[bool, str, list[str]]:
        def make(case: Case) -> list[CaseInput]:
            first = case.payload_inputs[0]
            data = first.payload or b"x"
            size = 256 * 1024
            rng = random.Random(7)
            if case.transport == "serial":
                noise = rng.randbytes(size)
                return [first.with_payload(noise[i : i + 4096]) for i in range(0, size, 4096)]
            repeated = (data * (size // max(1, len(data)) + 1))[:size]
            padded = data + b" " * size
            return [
                first.with_payload(repeated),
                first.with_payload(padded),
                first.with_payload(rng.randbytes(size)),
                first,
            ]

        return self._survive(make, "oversized")

    def _fault_out_of_order(self) -> tuple[bool, str, list[str]]:
        def make(case: Case) -> list[CaseInput]:
            items = case.payload_inputs
            if len(items) < 2:
                return []
            payloads = [i.payload or b"" for i in reversed(items)]
            it = iter(payloads)
            return [i.with_payload(next(it)) if i.payload is not None else i for i in case.inputs]

        ok, reason, details = self._survive(make, "out-of-order", all_cases=True)
        if ok and reason.startswith("survived 0 "):
            return True, "no case has two inputs to reorder (add one to test this)", []
        return ok, reason, details

    def _fault_counter_reset(self) -> tuple[bool, str, list[str]]:
        def make(case: Case) -> list[CaseInput]:
            replay = list(case.inputs)
            first = replay[0]
            restarted = replace(first, advance_s=max(60.0, first.advance_s))
            return [*case.inputs, restarted, *replay[1:]]

        return self._survive(make, "restart replay", all_cases=True)

    def _fault_clock_skew(self) -> tuple[bool, str, list[str]]:
        flagged = 0
        total = 0
        for transport in self.transports:
            case = self._template(transport)
            for offset in (7200.0, -7200.0):
                label = f"clock skew {offset:+.0f} s ({case.name})"
                run = self._execute(case, case.inputs, label, clock_offset_s=offset)
                if isinstance(run, str):
                    return False, run, []
                problem = self._survival_problem(run, "clock-skewed")
                if problem:
                    return False, f"hub clock {offset:+.0f} s: {problem}", []
                total += len(run.events)
                flagged += sum(QualityReason.CLOCK_SKEW in e.quality_reasons for e in run.events)
        return True, f"survived; {flagged} of {total} event(s) flagged clock_skew", []

    def _fault_disconnect(self) -> tuple[bool, str, list[str]]:
        checked = []
        for transport in (t for t in self.transports if t in ("mqtt", "serial")):
            case = self._template(transport)
            first = case.inputs[: case.inputs.index(case.payload_inputs[0]) + 1]

            async def drop(run: SourceRun, transport: str = transport) -> None:
                if transport == "mqtt":
                    await run.mqtt.disconnect()
                else:
                    run.serial.unplug()
                if run.task is not None:
                    await asyncio.wait({run.task}, timeout=2.0)

            label = f"disconnect ({case.name})"
            run = self._execute(case, first, label, after=drop)
            if isinstance(run, str):
                return False, run, []
            how = "broker connection dropped" if transport == "mqtt" else "serial device unplugged"
            task = run.task
            if task is None:
                return False, run.outcome() or "the source could not be created", []
            if not task.done() or (task.cancelled() and run.error is None):
                return (
                    False,
                    (
                        f"{transport}: run() kept running 2 s after the {how}: let the "
                        "hub.DeviceUnavailable from the transport propagate (the supervisor "
                        "retries)"
                    ),
                    [],
                )
            err = run.error
            if err is None:
                return (
                    False,
                    (
                        f"{transport}: run() returned normally after the {how}; raise "
                        "hub.DeviceUnavailable so the supervisor retries"
                    ),
                    [],
                )
            if not isinstance(err, DeviceUnavailable):
                return (
                    False,
                    (
                        f"{transport}: after the {how}, run() raised {describe_exception(err)} "
                        "instead of hub.DeviceUnavailable (translate it: raise "
                        "DeviceUnavailable(...) from err)"
                    ),
                    [],
                )
            checked.append(transport)
        return True, f"raised DeviceUnavailable on {', '.join(checked)} disconnect", []

    def _fault_duplicate(self) -> tuple[bool, str, list[str]]:
        checked = 0
        for case in [c for c in self.cases if c.transport in self.transports][:10]:
            normal = self._normal(case)
            if isinstance(normal, str) or normal.outcome():
                return False, f"case '{case.name}' must pass first", []
            again = self._execute(case, case.inputs, f"repeat ({case.name})")
            if isinstance(again, str):
                return False, again, []
            ids1 = [e.event_id for e in normal.events]
            ids2 = [e.event_id for e in again.events]
            if ids1 != ids2:
                return (
                    False,
                    (
                        f"case '{case.name}': two identical runs gave different event ids: pass a "
                        "device key to ctx.event(key=...) (sequence number, bin start, message id) "
                        "so a replayed message has the same event_id"
                    ),
                    [],
                )
            if case.transport == "serial":
                # a serial line never redelivers: the identical-runs check above is the test
                checked += 1
                continue
            doubled: list[CaseInput] = []
            for item in case.inputs:
                doubled.append(item)
                if item.payload is not None:
                    doubled.append(replace(item, advance_s=0.0))
            run = self._execute(case, doubled, f"duplicates ({case.name})")
            if isinstance(run, str):
                return False, run, []
            problem = self._survival_problem(run, "duplicated")
            if problem:
                return False, problem, []
            known = set(ids1)
            flags = {QualityReason.DUPLICATE, QualityReason.RETRANSMISSION}
            new = [
                e
                for e in run.events
                if e.event_id not in known and not flags & set(e.quality_reasons)
            ]
            if new:
                return (
                    False,
                    (
                        f"case '{case.name}': each input delivered twice gave {len(new)} event(s) "
                        "with new event ids and no duplicate/retransmission flag: drop the repeat "
                        "or flag it (QualityReason.DUPLICATE), and key events by the device's "
                        "sequence or time"
                    ),
                    [],
                )
            checked += 1
        return True, f"duplicates dropped, flagged or given the same id ({checked} case(s))", []

    def _fault_replay_later(self) -> tuple[bool, str, list[str]]:
        """Each input sent again ``REPLAY_DELAY_S`` later on the hub clock (a device's retry,
        an MQTT redelivery); the originals keep their times. Replays must give the ids of
        the first pass, be dropped, or be flagged duplicate/retransmission."""
        checked = 0
        flags = {QualityReason.DUPLICATE, QualityReason.RETRANSMISSION}
        cases = [
            c for c in self.cases if c.transport in self.transports and c.transport != "serial"
        ]
        for case in cases[:10]:
            normal = self._normal(case)
            if isinstance(normal, str) or normal.outcome():
                return False, f"case '{case.name}' must pass first", []
            inputs: list[CaseInput] = []
            originals: list[int] = []  # 1-based input number of the case, per fed input
            carry = 0.0
            for n, item in enumerate(case.inputs, 1):
                inputs.append(replace(item, advance_s=max(0.0, item.advance_s - carry)))
                originals.append(n)
                carry = 0.0
                if item.payload is not None:
                    inputs.append(replace(item, advance_s=REPLAY_DELAY_S))
                    originals.append(n)
                    carry = REPLAY_DELAY_S
            run = self._execute(case, inputs, f"replay later ({case.name})")
            if isinstance(run, str):
                return False, run, []
            problem = self._survival_problem(run, "replayed")
            if problem:
                return False, problem, []
            known = {e.event_id for e in normal.events}
            new = [
                (i, e)
                for i, e in enumerate(run.events)
                if e.event_id not in known and not flags & set(e.quality_reasons)
            ]
            if new:
                fed = run.event_inputs[new[0][0]]
                which = originals[fed - 1] if 0 < fed <= len(originals) else fed
                return (
                    False,
                    (
                        f"case '{case.name}': input #{which} sent again {REPLAY_DELAY_S:g} s "
                        "later (hub clock) gave an event with a new event id and no duplicate "
                        f"flag ({len(new)} such event(s) in all), so a device's retry is stored "
                        "twice: the event key "
                        "depends on when the hub received the input (ctx.clock.now(), "
                        "received_at). Key events by what the device sent: its sequence number, "
                        "timestamp or bin start (ctx.event(key=...))"
                    ),
                    [f"new event: {e.type} {e.event_id}" for _, e in new[:5]],
                )
            checked += 1
        if not checked:
            return True, "no MQTT or HTTP case to replay (serial lines never redeliver)", []
        return (
            True,
            f"replays {REPLAY_DELAY_S:g} s later kept their event ids ({checked} case(s))",
            [],
        )

    def _fault_slow_consumer(self) -> tuple[bool, str, list[str]]:
        for transport in self.transports:
            case = self._template(transport)
            normal = self._normal(case)
            if isinstance(normal, str) or normal.outcome():
                return False, f"case '{case.name}' must pass first", []
            delay = min(0.05, 1.0 / max(1, len(normal.events)))
            run = self._execute(
                case, case.inputs, f"slow consumer ({case.name})", emit_delay_s=delay
            )
            if isinstance(run, str):
                return False, run, []
            problem = self._survival_problem(run, "slow-consumer")
            if problem:
                return False, problem, []
            if len(run.events) < len(normal.events):
                return (
                    False,
                    (
                        f"case '{case.name}': with emit() taking {delay * 1000:.0f} ms, "
                        f"{len(run.events)} of {len(normal.events)} events arrived: await ctx.emit "
                        "for every event; never drop on backpressure"
                    ),
                    [],
                )
        return True, "no event lost while emit() was slow", []
