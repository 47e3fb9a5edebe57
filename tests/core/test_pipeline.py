"""The pipeline seam: stages alone, stages composed, and a fan-out no full queue can stall."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest

import hub
from hub.core.bus import SinkQueue, SinkRunner
from hub.core.pipeline import ClockCheck, DeadLetters, FanOut, Pipeline, PrivacyCheck, Stage
from hub.events import Event
from hub.site import Site
from hub.testing import sink_context, source_context


def occupancy(i: int, site: Site | None = None) -> Event:
    ctx = source_context("counter", "cam-1", site=site)
    return ctx.event(
        hub.Occupancy(count=i),
        zone="beach",
        key=i,
        observed_at=ctx.clock.now() + timedelta(seconds=i),
    )


def status_event(detail: str, zone: str | None = None) -> Event:
    ctx = source_context("counter", "cam-1")
    return ctx.event(hub.Status(detail=detail), zone=zone, observed_at=ctx.clock.now())


class RecordingSink(hub.Sink[hub.SinkConfig]):
    kind = "recording"
    config_model = hub.SinkConfig

    def __init__(self, config: hub.SinkConfig) -> None:
        super().__init__(config, sink_context("recording", config.id))
        self.events: list[Event] = []

    async def write(self, batch: Sequence[Event]) -> None:
        self.events.extend(batch)


class StuckSink(hub.Sink[hub.SinkConfig]):
    """An output that never answers (a dead webhook): its first write hangs until released."""

    kind = "stuck"
    config_model = hub.SinkConfig

    def __init__(self, config: hub.SinkConfig) -> None:
        super().__init__(config, sink_context("stuck", config.id))
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.events: list[Event] = []

    async def write(self, batch: Sequence[Event]) -> None:
        self.started.set()
        await self.release.wait()
        self.events.extend(batch)


# -- stages, each alone ------------------------------------------------------------------


def test_privacy_check_removes_what_it_can_and_dead_letters_the_rest() -> None:
    letters: list[tuple[str, str, list[tuple[str, str]]]] = []
    removed: list[tuple[str, tuple[tuple[str, str], ...]]] = []
    stage = PrivacyCheck(
        lambda src, ev, found: letters.append((src, ev.event_id, found)),
        lambda src, what: removed.append((src, what)),
    )
    clean = occupancy(1)
    assert stage.handle(clean, "cam-1") == (clean,)
    leaky = status_event("client aa:bb:cc:dd:ee:ff joined")
    (cleaned,) = stage.handle(leaky, "cam-1")  # an optional text: removed, the event goes on
    assert cleaned.measurement.model_dump()["detail"] is None
    assert removed == [("cam-1", (("measurement.detail", "MAC address"),))]
    ctx = source_context("counter", "cam-1")
    in_an_id = ctx.event(hub.Occupancy(count=1), zone="a0b1c2d3e4f5", observed_at=ctx.clock.now())
    assert stage.handle(in_an_id, "cam-1") == ()
    assert letters == [("cam-1", in_an_id.event_id, [("zone", "MAC address")])]


def test_clock_check_flags_skew_and_dead_letters_far_ahead(tmp_path: Path) -> None:
    ctx = source_context("counter", "cam-1")
    counted: list[str] = []
    letters = DeadLetters(tmp_path, ctx.clock, counted.append)
    stage = ClockCheck(300, letters)
    now = ctx.clock.now()
    on_time = ctx.event(hub.Occupancy(count=1), zone="beach", observed_at=now)
    assert stage.handle(on_time, "cam-1") == (on_time,)
    ahead = ctx.event(hub.Occupancy(count=1), zone="beach", observed_at=now + timedelta(hours=2))
    (flagged,) = stage.handle(ahead, "cam-1")
    assert flagged.quality is hub.Quality.SUSPECT
    assert flagged.quality_reasons == (hub.QualityReason.CLOCK_SKEW,)
    far = ctx.event(hub.Occupancy(count=1), zone="beach", observed_at=now + timedelta(days=30))
    assert stage.handle(far, "cam-1") == ()
    assert counted == ["cam-1"] and letters.counts == {"clock skew": 1}
    letters.close()
    record = (tmp_path / "deadletter.jsonl").read_text()
    assert '"reason": "observed_at is 30 days ahead of the hub clock"' in record


class DropStatus:
    name = "drop-status"

    def handle(self, event: Event, source: str) -> Sequence[Event]:
        return () if event.measurement.type == "status" else (event,)


class AddZoneLevel:
    """A stand-in for the zone model: passes each event and adds a derived one."""

    name = "zone-level"

    def handle(self, event: Event, source: str) -> Sequence[Event]:
        derived = event.model_copy(update={"event_id": event.event_id + "-level"})
        return (event, derived)


class Tag:
    name = "tag"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def handle(self, event: Event, source: str) -> Sequence[Event]:
        self.seen.append(event.event_id)
        return (event.model_copy(update={"zone": "boulevard"}),)


def test_stages_compose_in_order_and_may_drop_transform_or_add() -> None:
    tag = Tag()
    stages: list[Stage] = [DropStatus(), AddZoneLevel(), tag]
    pipeline = Pipeline(stages, FanOut())
    ev = occupancy(3)
    out = pipeline.run_stages(ev, "cam-1")
    assert [e.event_id for e in out] == [ev.event_id, ev.event_id + "-level"]
    assert all(e.zone == "boulevard" for e in out)
    assert tag.seen == [ev.event_id, ev.event_id + "-level"]  # the later stage sees both
    assert pipeline.run_stages(status_event("ok"), "cam-1") == ()
    assert tag.seen == [ev.event_id, ev.event_id + "-level"]  # a dropped event goes no further


async def test_emitter_delivers_what_the_stages_pass_to_the_sinks_that_take_it() -> None:
    everything = SinkRunner(*_sink(RecordingSink, "all"))
    only_status = SinkRunner(*_sink(RecordingSink, "status", measurements=("status",)))
    fan_out = FanOut()
    fan_out.connect([everything, only_status])
    emit = Pipeline([PrivacyCheck(lambda *a: None), AddZoneLevel()], fan_out).emitter("cam-1")
    await emit(occupancy(1))
    await emit(status_event("door open"))
    await emit(status_event("door open", zone="a0b1c2d3e4f5"))  # withheld: a MAC-like id
    assert len(everything.queue) == 4
    assert len(only_status.queue) == 2
    assert {e.measurement.type for e in only_status.queue.peek_batch(10)} == {"status"}


def _sink(
    cls: type[RecordingSink] | type[StuckSink], sid: str, **cfg: object
) -> tuple[hub.Sink[hub.SinkConfig], hub.SinkConfig, str]:
    config = hub.SinkConfig(id=sid, **cfg)  # type: ignore[arg-type]
    return cls(config), config, f"sinks.{cls.kind}[{sid}]"


# -- the fan-out: one full queue must not stall the others ---------------------------------


async def test_a_full_queue_does_not_stop_another_sink_from_receiving() -> None:
    """A dead output (queue of 5, drop_oldest) and a live one, behind privacy and a stage."""
    stuck_sink, stuck_cfg, stuck_label = _sink(StuckSink, "dead", queue_size=5)
    live_sink, live_cfg, live_label = _sink(RecordingSink, "live", queue_size=5)
    stuck = SinkRunner(stuck_sink, stuck_cfg, stuck_label)
    live = SinkRunner(live_sink, live_cfg, live_label)
    fan_out = FanOut()
    fan_out.connect([stuck, live])
    emit = Pipeline([PrivacyCheck(lambda *a: None), DropStatus()], fan_out).emitter("cam-1")
    sent = [occupancy(i) for i in range(50)]
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(stuck.run()), tg.create_task(live.run())]
        await emit(sent[0])
        assert isinstance(stuck_sink, StuckSink)
        await asyncio.wait_for(stuck_sink.started.wait(), 5)  # the dead output holds e0
        for ev in sent[1:]:
            await asyncio.wait_for(emit(ev), 1)  # never waits for the dead output
            await asyncio.sleep(0)  # let the live runner drain its small queue
        for r in (stuck, live):
            r.close_input()
        assert isinstance(live_sink, RecordingSink)
        async with asyncio.timeout(5):
            while len(live.queue):
                await asyncio.sleep(0.01)
        assert live_sink.events == sent  # every event, in order, none dropped
        assert len(stuck.queue) == 5
        # the batch being written (e0) is kept; the oldest waiting ones made room
        assert [e.event_id for e in stuck.queue.peek_batch(5)] == [
            e.event_id for e in [sent[0], *sent[-4:]]
        ]
        assert stuck.stats.dropped["overflow"] == 45 and live.stats.dropped["overflow"] == 0
        stuck_sink.release.set()
    assert all(t.done() for t in tasks)
    assert stuck_sink.events == [sent[0], *sent[-4:]]


async def test_a_blocking_sink_holds_the_source_but_the_others_get_every_event() -> None:
    """``overflow = "block"``: the event waits for that sink alone; the others already have it."""
    stuck_sink, stuck_cfg, stuck_label = _sink(StuckSink, "dead", queue_size=3, overflow="block")
    live_sink, live_cfg, live_label = _sink(RecordingSink, "live")
    stuck = SinkRunner(stuck_sink, stuck_cfg, stuck_label)
    live = SinkRunner(live_sink, live_cfg, live_label)
    fan_out = FanOut()
    fan_out.connect([stuck, live])
    emit = Pipeline([PrivacyCheck(lambda *a: None)], fan_out).emitter("cam-1")
    sent = [occupancy(i) for i in range(10)]
    assert isinstance(stuck_sink, StuckSink) and isinstance(live_sink, RecordingSink)

    async def source() -> None:
        for ev in sent:
            await emit(ev)

    first = occupancy(100)
    async with asyncio.TaskGroup() as tg:
        tg.create_task(stuck.run())
        tg.create_task(live.run())
        await emit(first)
        await asyncio.wait_for(stuck_sink.started.wait(), 5)  # the dead output holds it
        producing = tg.create_task(source())
        async with asyncio.timeout(5):
            while len(live_sink.events) < 4:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        # the dead output's queue of 3 holds `first` (being written), e0 and e1; e2 went
        # to the live output first and now waits for the dead one alone
        assert not producing.done()
        assert live_sink.events == [first, *sent[:3]]
        assert stuck.stats.dropped == {}  # "block" never drops
        stuck_sink.release.set()
        await asyncio.wait_for(producing, 5)
        for r in (stuck, live):
            r.close_input()
    assert live_sink.events == [first, *sent]
    assert stuck_sink.events == [first, *sent]


@pytest.mark.parametrize("overflow", ["drop_oldest", "block"])
def test_fan_out_offer_reports_only_blocking_full_queues(overflow: str) -> None:
    full_sink, full_cfg, full_label = _sink(RecordingSink, "full", queue_size=1, overflow=overflow)
    full = SinkRunner(full_sink, full_cfg, full_label)
    fan_out = FanOut()
    fan_out.connect([full])
    went: list[SinkQueue] = []
    assert fan_out.offer(occupancy(1), went, []) is None
    second = occupancy(2)
    blocked = fan_out.offer(second, went, [])
    assert blocked == ([(full.queue, second)] if overflow == "block" else None)
    assert went == [full.queue] * (1 if overflow == "block" else 2)
