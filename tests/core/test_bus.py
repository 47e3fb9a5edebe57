"""The bus: the queue seam, the memory queue's overflow policies, the factory, the runner."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest

import hub
from hub.core.bus import (
    QUEUES,
    DurableQueue,
    MemoryQueue,
    SinkQueue,
    SinkRunner,
    make_queue,
    queue_problems,
)
from hub.errors import ConfigError, SinkUnavailable
from hub.events import Event
from hub.testing import sink_context, source_context


def events(n: int) -> list[Event]:
    ctx = source_context("counter", "cam-1")
    return [
        ctx.event(
            hub.Occupancy(count=i),
            zone="beach",
            key=i,
            observed_at=ctx.clock.now() + timedelta(seconds=i),
        )
        for i in range(n)
    ]


def test_memory_queue_implements_the_seam() -> None:
    q = MemoryQueue(3)
    assert isinstance(q, SinkQueue)
    assert q.durable is False and q.dropped == {}


def test_drop_oldest_keeps_the_batch_being_written() -> None:
    e = events(6)
    q = MemoryQueue(3)
    for ev in e[:3]:
        assert q.put_nowait(ev)
    assert q.peek_batch(2) == e[:2]  # being written
    assert q.put_nowait(e[3])  # full: e2, the oldest waiting event, makes room
    assert q.peek_batch(10) == [e[0], e[1], e[3]]
    q.peek_batch(3)  # now all three are being written
    assert q.put_nowait(e[4])  # nothing waiting to drop: the new event is dropped
    assert q.peek_batch(10) == [e[0], e[1], e[3]]
    q.ack(3)
    assert len(q) == 0 and q.dropped["overflow"] == 2
    assert q.put_nowait(e[5]) and q.peek_batch(10) == [e[5]]


def test_block_refuses_without_queueing() -> None:
    e = events(3)
    q = MemoryQueue(2, "block")
    assert q.put_nowait(e[0]) and q.put_nowait(e[1])
    assert not q.put_nowait(e[2])
    assert q.peek_batch(10) == e[:2] and q.dropped == {}


def test_overflow_is_logged_once_per_burst(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "hub.bus")
    q = MemoryQueue(4, label="sinks.http[hook]")
    for ev in events(20):
        q.put_nowait(ev)
    q.ack(1)  # still above half full: the burst goes on
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        'sinks.http[hook]: queue full; dropping the oldest events (overflow = "drop_oldest"). '
        "The output is slower than the sources or down; see hub status"
    ]
    q.ack(1)
    assert (
        caplog.records[-1]
        .getMessage()
        .startswith("sinks.http[hook]: queue has room again; 16 event(s) dropped in ")
    )
    assert len(caplog.records) == 2 and q.dropped["overflow"] == 16


async def test_block_put_waits_for_room() -> None:
    e = events(3)
    q = MemoryQueue(2, "block")
    await q.put(e[0])
    await q.put(e[1])
    waiting = asyncio.create_task(q.put(e[2]))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    q.peek_batch(1)
    q.ack(1)
    await asyncio.wait_for(waiting, 2)
    assert q.peek_batch(10) == e[1:]


def test_factory_builds_the_configured_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = hub.SinkConfig(id="db", queue="memory", queue_size=7, overflow="block")
    q = make_queue("sqlite", cfg, tmp_path)
    assert isinstance(q, MemoryQueue) and q.maxsize == 7 and q.overflow == "block"

    # the default: a durable queue in data_dir/queues with the sink's queue_* settings
    dcfg = hub.SinkConfig(id="db", queue_max_bytes=65_536, queue_synchronous="full")
    d = make_queue("sqlite", dcfg, tmp_path)
    try:
        assert isinstance(d, DurableQueue) and d.durable
        assert d.path == tmp_path / "queues" / "sqlite-db.sqlite" and d.path.exists()
        assert d.settings.max_bytes == 65_536 and d.settings.synchronous == "full"
        assert d.settings.overflow == "drop_oldest" and d.output == "sqlite[db]"
    finally:
        d.close()

    class DiskQueue(MemoryQueue):
        durable = True

    # registering a queue class is one line
    monkeypatch.setitem(QUEUES, "disk", lambda spec: DiskQueue(spec.maxsize, spec.overflow))
    q2 = make_queue("sqlite", hub.SinkConfig(id="db", queue="disk"), tmp_path)
    assert isinstance(q2, DiskQueue) and q2.durable


def test_unknown_queue_is_one_precise_config_line(tmp_path: Path) -> None:
    cfg = hub.SinkConfig(id="db", queue="disk")
    assert [str(p) for p in queue_problems({"sqlite": [cfg]})] == [
        "sinks.sqlite[db].queue: unknown queue 'disk'; use one of: durable, memory"
    ]
    with pytest.raises(ConfigError, match=r"sinks.sqlite\[db\].queue: unknown queue 'disk'"):
        make_queue("sqlite", cfg, tmp_path)


def test_a_queue_setting_the_chosen_class_ignores_is_a_config_problem() -> None:
    mem = hub.SinkConfig(id="demo", queue="memory", queue_max_bytes=2**20)
    dur = hub.SinkConfig(id="db", queue_size=50)
    assert [str(p) for p in queue_problems({"sqlite": [mem, dur]})] == [
        'sinks.sqlite[demo].queue_max_bytes: applies only to queue = "durable", but this '
        'output uses queue = "memory"; remove it or set queue = "durable"',
        'sinks.sqlite[db].queue_size: applies only to queue = "memory", but this '
        'output uses queue = "durable"; remove it or set queue = "memory"',
    ]


class DeadSink(hub.Sink[hub.SinkConfig]):
    kind = "dead"
    config_model = hub.SinkConfig
    calls = 0

    async def write(self, batch: Sequence[Event]) -> None:
        self.calls += 1
        raise SinkUnavailable("receiver down")


async def test_close_cuts_a_long_retry_wait_short_and_counts_the_loss(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "hub.bus")
    cfg = hub.SinkConfig(id="hook", retry_initial_s=600, retry_max_s=600)
    sink = DeadSink(cfg, sink_context("dead", "hook"))
    runner = SinkRunner(sink, cfg, "sinks.dead[hook]")
    for ev in events(4):
        await runner.put(ev)
    task = asyncio.create_task(runner.run())
    async with asyncio.timeout(5):
        while not sink.calls:
            await asyncio.sleep(0.01)
    runner.close_input()
    await asyncio.wait_for(task, 5)  # not 10 minutes: the wait ends on close
    assert sink.calls == 1 + 3 + 1  # the failure, three quick tries at shutdown, then give up
    assert runner.lost == 4 and len(runner.queue) == 0
    assert runner.stats.dropped == {"shutdown": 4} and runner.stats.state == "stopped"
    assert caplog.records[-1].getMessage() == (
        "sinks.dead[hook]: output still failing at shutdown; 4 queued event(s) lost "
        "(the memory queue does not survive a stop)"
    )


async def test_a_durable_queue_keeps_what_a_dead_output_did_not_take() -> None:
    class Kept(MemoryQueue):
        durable = True

    cfg = hub.SinkConfig(id="hook", retry_initial_s=0.01, retry_max_s=0.01)
    runner = SinkRunner(DeadSink(cfg, sink_context("dead", "hook")), cfg, "x", Kept(10))
    for ev in events(3):
        await runner.put(ev)
    runner.close_input()
    await asyncio.wait_for(runner.run(), 5)
    assert runner.lost == 0 and len(runner.queue) == 3 and runner.stats.left_queued == 3
