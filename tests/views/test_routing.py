"""The hub's fan-out through the views (hub.core.view_routing), in process with real
sink runners and memory queues: one stage per view, ticks, the audit of delivered
batches, dead-letter retention and the status counters."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest

import hub
from hub.core.bus import MemoryQueue, SinkQueue, SinkRunner
from hub.core.config import HubConfig, HubSettings, PluginSettings
from hub.core.pipeline import Pipeline
from hub.core.view_routing import ViewRouting
from hub.errors import EventNotKept, QueueUnavailable
from hub.events import Event
from hub.testing import ManualClock, sink_context
from hub.views import View, policy_version
from hub.views.audit import verify
from tests.views.helpers import SITE, T0, crossing, occupancy


class Keep(hub.Sink[hub.SinkConfig]):
    kind = "keep"
    config_model = hub.SinkConfig

    def __init__(self, config: hub.SinkConfig) -> None:
        super().__init__(config, sink_context("keep", config.id))
        self.events: list[Event] = []

    async def write(self, batch: Sequence[Event]) -> None:
        self.events.extend(batch)


POLICE = View(id="police", zones=("beach",), measurements=("crossing", "occupancy"))
LATE = View(id="late", delay_s=60)


def config(tmp_path: Path, *views: View) -> HubConfig:
    cfg = HubConfig(HubSettings(data_dir=str(tmp_path / "data")), PluginSettings(), SITE)
    cfg.path = tmp_path / "hub.toml"
    cfg.views = views
    return cfg


def runner(sid: str, view: str | None = None, **kw: object) -> SinkRunner:
    cfg = hub.SinkConfig(id=sid, view=view, **kw)  # type: ignore[arg-type]
    return SinkRunner(Keep(cfg), cfg, f"sinks.keep[{sid}]")


def offer(routing: ViewRouting, event: Event) -> list[tuple[SinkQueue, Event]] | None:
    return routing.offer(event, [], [])


def queued(r: SinkRunner) -> list[Event]:
    return r.queue.peek_batch(10_000)


def test_ten_sinks_on_one_view_cost_one_transformation(tmp_path: Path) -> None:
    routing = ViewRouting(config(tmp_path, POLICE, LATE), ManualClock(T0))
    police = [runner(f"p{i}", "police") for i in range(10)]
    local = runner("archive")  # no view: full detail
    routing.connect([*police, local])
    events = [occupancy(zone, T0, 10) for zone in ("beach", "boulevard", "pier")]
    events.append(crossing("gate-a", T0, 3))
    for e in events:
        assert offer(routing, e) is None
    stage = routing.stages["police"]
    assert stage.stats.received == len(events)  # once per event, not once per sink
    assert stage.stats.sent == 2  # beach occupancy, gate-a crossing
    assert routing.stages["late"].stats.received == 0  # no sink names it: no cost
    shaped = queued(police[0])
    assert [(e.zone or e.line, e.measurement.type) for e in shaped] == [
        ("beach", "occupancy"),
        ("gate-a", "crossing"),
    ]
    for r in police[1:]:
        assert queued(r) == shaped  # the same shaped events, not ten copies of the work
    assert queued(local) == events
    status = routing.status()["views"]
    assert status["police"]["sinks"] == [f"p{i}" for i in range(10)]
    assert status["police"]["events_in"] == 4 and status["police"]["filtered"] == 2
    assert status["internal"]["sinks"] == ["archive"]
    assert status["late"] == {
        "policy": policy_version(LATE),
        "sinks": [],
        "events_in": 0,
        "events_out": 0,
        "filtered": 0,
        "late": 0,
        "suppressed": 0,
        "held": 0,
        "pending": 0,
    }


def test_the_sink_measurement_filter_applies_to_the_view_output(tmp_path: Path) -> None:
    routing = ViewRouting(config(tmp_path, POLICE), ManualClock(T0))
    only_crossings = runner("c", "police", measurements=["crossing"])
    routing.connect([only_crossings])
    offer(routing, occupancy("beach", T0, 10))
    offer(routing, crossing("gate-a", T0, 3))
    assert [e.measurement.type for e in queued(only_crossings)] == ["crossing"]


async def test_a_tick_releases_delayed_events(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    routing = ViewRouting(config(tmp_path, LATE), clock)
    r = runner("feed", "late")
    routing.connect([r])
    e = occupancy("beach", T0, 10)
    offer(routing, e)
    assert queued(r) == [] and routing.status()["views"]["late"]["held"] == 1
    assert await routing.tick(T0 + timedelta(seconds=59)) == 0
    assert await routing.tick(T0 + timedelta(seconds=60)) == 1
    assert queued(r) == [e]


async def test_a_stop_sends_what_is_due_and_drops_what_is_not(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(T0 + timedelta(seconds=61))
    routing = ViewRouting(config(tmp_path, LATE), clock)
    r = runner("feed", "late")
    routing.connect([r])
    due, early = occupancy("beach", T0, 10), occupancy("beach", T0 + timedelta(seconds=30), 11)
    offer(routing, due)
    offer(routing, early)
    with caplog.at_level(logging.INFO, "hub.views"):
        await routing.finish(5)
    assert queued(r) == [due]
    assert caplog.messages == [
        "views[late]: 1 open interval(s) or held event(s) not yet due at stop; dropped "
        "(a view never sends data early)"
    ]


async def test_delivered_batches_are_audited_per_view_and_sink(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    routing = ViewRouting(config(tmp_path, POLICE), clock)
    feed, archive = runner("feed", "police"), runner("archive")
    routing.connect([feed, archive])
    for zone in ("beach", "pier"):
        offer(routing, occupancy(zone, T0, 10))
    offer(routing, crossing("gate-a", T0, 3))
    tasks = [asyncio.create_task(r.run()) for r in (feed, archive)]
    async with asyncio.timeout(5):
        while feed.stats.events_out < 2 or archive.stats.events_out < 3:
            await asyncio.sleep(0.01)
    for r in (feed, archive):
        r.close_input()
    await asyncio.gather(*tasks)
    log = tmp_path / "data" / "audit.jsonl"
    assert not log.exists()  # one record per interval: written when it ends or on stop
    clock.advance_to(clock.monotonic() + 60)
    routing.close()
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["view"], r["sink"], r["events"]) for r in records] == [
        ("police", "feed", 2),
        ("internal", "archive", 3),
    ]
    police = records[0]
    assert police["policy"] == policy_version(POLICE)
    assert police["zones"] == ["beach"] and police["lines"] == ["gate-a"]
    assert police["measurements"] == ["crossing", "occupancy"]
    assert police["from"] == T0.isoformat()
    assert police["to"] == (T0 + timedelta(seconds=60)).isoformat()
    assert records[1]["policy"] == "internal"
    assert verify(log).ok


def test_dead_letters_older_than_the_raw_retention_are_pruned_and_counted(
    tmp_path: Path,
) -> None:
    routing = ViewRouting(config(tmp_path), ManualClock(T0))
    assert routing.keep_days == 30  # no embedded store: the default
    path = tmp_path / "deadletter.jsonl"
    old, recent = T0 - timedelta(days=31), T0 - timedelta(days=29)
    path.write_text(
        "".join(json.dumps({"time": t.isoformat(), "reason": "r"}) + "\n" for t in (old, recent))
    )
    assert routing.prune(path, T0) == 1
    assert [json.loads(x)["time"] for x in path.read_text().splitlines()] == [recent.isoformat()]
    assert routing.status()["retention"] == {"dead_letters_pruned": 1}


class FullDisk(MemoryQueue):
    """A queue whose disk is full once (a fake: a full or read-only disk cannot be made
    for a test running as root); then it keeps events like any queue."""

    durable = True

    def __init__(self) -> None:
        super().__init__(100, "drop_oldest", "sinks.keep[disk]")
        self.fail = True

    def put_nowait(self, event: Event) -> bool:
        if self.fail:
            self.fail = False
            raise QueueUnavailable("disk full", output="keep[disk]", path="/nowhere")
        return super().put_nowait(event)

    async def flush(self) -> None:
        return None


async def test_a_retry_after_a_full_disk_reaches_the_output_that_missed_it_once(
    tmp_path: Path,
) -> None:
    view = View(id="quarter", time_resolution="15min", grace_s=0)
    routing = ViewRouting(config(tmp_path, view), ManualClock(T0))
    disk_cfg = hub.SinkConfig(id="disk", view="quarter")
    disk = SinkRunner(Keep(disk_cfg), disk_cfg, "sinks.keep[disk]", FullDisk())
    other = runner("other", "quarter")
    routing.connect([disk, other])
    pipeline = Pipeline([], routing)
    first = crossing("gate-a", T0, 4)
    await pipeline.deliver([first])  # opens the quarter: nothing to send yet
    closing = crossing("gate-a", T0 + timedelta(minutes=15), 1)  # closes it: one event out
    with pytest.raises(EventNotKept):
        await pipeline.deliver([closing])
    assert queued(disk) == [] and len(queued(other)) == 1
    await pipeline.deliver([closing])  # the source sends it again
    assert queued(disk) == queued(other)  # the disk got the copy it missed, once
    assert len(queued(other)) == 1  # the other output did not get it twice
    stage = routing.stages["quarter"]
    assert stage.stats.received == 2  # the stage saw the retried event once
    assert stage.pending() == 1  # the second quarter is open with 1 crossing, not 2
    assert queued(other)[0].measurement.in_ == 4  # type: ignore[union-attr]


def test_view_counters_in_the_metrics(tmp_path: Path) -> None:
    from hub.core.metrics import render_metrics

    routing = ViewRouting(config(tmp_path, LATE), ManualClock(T0))
    routing.connect([runner("feed", "late")])
    offer(routing, occupancy("beach", T0, 10))
    status = {"sources": {}, "sinks": {}, "transports": {}, "dead_letters": {}}
    text = render_metrics(lambda: {**status, **routing.status()}).decode()
    lines = set(text.splitlines())
    assert {
        'crowdhub_view_events_received_total{view="late"} 1.0',
        'crowdhub_view_events_sent_total{view="late"} 0.0',
        'crowdhub_view_events_filtered_total{view="late"} 0.0',
        'crowdhub_view_events_late_total{view="late"} 0.0',
        'crowdhub_view_counts_suppressed_total{view="late"} 0.0',
        'crowdhub_view_events_held{view="late"} 1.0',
        'crowdhub_view_pending{view="late"} 1.0',
        'crowdhub_view_events_received_total{view="internal"} 0.0',
        'crowdhub_retention_pruned_total{what="dead_letters"} 0.0',
    } <= lines
    assert "# TYPE crowdhub_view_events_held gauge" in lines
