"""When a durable queue commits, and what an event's JSON costs (bench/README.md, issue 10).

Real SQLite files; a commit is observed as rows a second connection can read.
The grouping windows are patched large where a test must see that nothing is
committed yet, so no assertion depends on how fast this machine is.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

import hub
from hub.core.bus import SinkRunner, durable_group
from hub.core.bus.durable import DurableQueue, DurableQueueSettings
from hub.core.kept import Keeping, close_scope, open_scope
from hub.core.pipeline import FanOut, Pipeline, PrivacyCheck
from hub.events import Event
from hub.json_memo import REMEMBER, event_json
from hub.testing import sink_context
from tests.core.test_bus_durable import ev


def rows_on_disk(path: Path) -> int:
    con = sqlite3.connect(path)
    try:
        return int(con.execute("SELECT count(*) FROM queue").fetchone()[0])
    finally:
        con.close()


@pytest.fixture
def slow_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """A grouping window far longer than any test: only a row count or a waiter commits."""
    monkeypatch.setattr(durable_group, "GROUP_S", 3600.0)


# -- who waits decides when ---------------------------------------------------------------


async def test_puts_are_committed_before_a_runner_woken_by_them_takes_them(
    tmp_path: Path, slow_windows: None
) -> None:
    """An HTTP push: put, then flush before the 2xx. The commit runs at the end of the
    turn, ahead of the output's runner: a commit that fails has reached no output."""
    path = tmp_path / "q.sqlite"
    q = DurableQueue(path, output="test[q]")
    on_disk_when_woken: list[int] = []

    async def runner() -> None:
        await q.wait_nonempty()
        on_disk_when_woken.append(rows_on_disk(path))

    task = asyncio.create_task(runner())
    await asyncio.sleep(0)  # the runner waits
    for i in range(3):
        q.put_nowait(ev(i))
    await q.flush()
    await task
    assert rows_on_disk(path) == 3
    assert on_disk_when_woken == [3]
    q.close()


async def test_a_deferred_acknowledgement_commits_after_group_rows(
    tmp_path: Path, slow_windows: None
) -> None:
    path = tmp_path / "q.sqlite"
    q = DurableQueue(path, output="test[q]")
    futures = []
    for i in range(durable_group.GROUP_ROWS - 1):
        q.put_nowait(ev(i))
        futures.append(q.kept())
    await asyncio.sleep(0)
    assert rows_on_disk(path) == 0
    assert len({id(f) for f in futures}) == 1  # one commit, one future for all of them
    q.put_nowait(ev(99))
    last = q.kept()
    assert last is futures[0]
    await asyncio.wait_for(last, 5)  # GROUP_ROWS pending: at the end of the turn
    assert rows_on_disk(path) == durable_group.GROUP_ROWS
    q.close()


async def test_the_group_window_is_the_longest_a_deferred_acknowledgement_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(durable_group, "GROUP_S", 0.05)
    path = tmp_path / "q.sqlite"
    q = DurableQueue(path, output="test[q]")
    q.put_nowait(ev(1))
    fut = q.kept()  # a PUBACK waits: within GROUP_S
    assert fut is not None
    await asyncio.wait_for(fut, 30)
    assert rows_on_disk(path) == 1
    q.close()


async def test_close_writes_puts_still_gathering(tmp_path: Path, slow_windows: None) -> None:
    path = tmp_path / "q.sqlite"
    q = DurableQueue(path, output="test[q]", settings=DurableQueueSettings())
    q.put_nowait(ev(1))
    assert q.kept() is not None
    q.close()
    assert rows_on_disk(path) == 1


# -- the pipeline: a message acknowledged to nobody --------------------------------------


class Recording(hub.Sink[hub.SinkConfig]):
    kind = "recording"
    config_model = hub.SinkConfig

    def __init__(self, config: hub.SinkConfig) -> None:
        super().__init__(config, sink_context("recording", config.id))

    async def write(self, batch: Sequence[Event]) -> None:
        pass


def durable_runner(path: Path) -> SinkRunner:
    config = hub.SinkConfig(id="rec")
    return SinkRunner(
        Recording(config),
        config,
        "sinks.recording[rec]",
        DurableQueue(path, output="recording[rec]"),
    )


async def test_a_detached_scope_registers_nothing_and_does_not_wait(
    tmp_path: Path, slow_windows: None
) -> None:
    path = tmp_path / "q.sqlite"
    runner = durable_runner(path)
    fan_out = FanOut()
    fan_out.connect([runner])
    emit = Pipeline([PrivacyCheck(lambda *a: None)], fan_out).emitter("gate-a")

    scope = open_scope(detached=True)  # MQTT QoS 0
    await emit(ev(1))  # returns although nothing is committed (same task: the scope)
    close_scope()
    assert not scope  # nothing to wait for before an acknowledgement nobody sends
    await asyncio.sleep(0)
    assert rows_on_disk(path) == 0  # gathered as for a deferred acknowledgement
    assert len(runner.queue) == 1

    kept = open_scope()  # MQTT QoS 1: the PUBACK waits for the commit
    await emit(ev(2))
    close_scope()
    assert kept  # one commit registered
    await runner.queue.flush()
    assert rows_on_disk(path) == 2
    runner.queue.close()


# -- watching a commit once ----------------------------------------------------------------


async def test_messages_sharing_a_commit_watch_its_future_once() -> None:
    loop = asyncio.get_running_loop()
    commit: asyncio.Future[None] = loop.create_future()
    calls: list[object] = []
    watched: list[asyncio.Future[None]] = []
    for _ in range(50):
        k = Keeping()
        k.add([], [(None, commit)], lambda *a: asyncio.sleep(0), lambda events: None)
        assert k.state() is None
        k.watch(calls.append, watched)
    assert watched == [commit]
    commit.set_result(None)
    await asyncio.sleep(0)
    assert calls == [commit]  # one callback for fifty messages
    assert k.state() is True


async def test_a_failed_commit_reads_as_not_ok() -> None:
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    k = Keeping()
    k.add([], [(None, fut)], lambda *a: asyncio.sleep(0), lambda events: None)
    fut.set_exception(RuntimeError("disk full"))
    assert k.state() is False  # done, not ok


# -- an event's JSON, made once ----------------------------------------------------------


def test_event_json_is_the_models_json_and_made_once() -> None:
    e = ev(7)
    first = event_json(e)
    assert first == e.model_dump_json().encode()
    assert event_json(e) is first  # the second caller (an output) gets the same bytes


def test_event_json_remembers_a_bounded_number_of_events() -> None:
    events = [ev(i) for i in range(REMEMBER + 1)]
    first = event_json(events[0])
    for e in events[1:]:
        event_json(e)
    again = event_json(events[0])  # dropped out of the memo: made again, same bytes
    assert again == first and again is not first


# -- what an output may take before the commit ------------------------------------------


async def test_an_output_takes_a_flushed_event_only_once_it_is_committed(tmp_path: Path) -> None:
    """An HTTP push waits for its commit before the 2xx: until that commit is done (here it
    runs in the worker thread, synchronous = "full"), the output must not take the event,
    or a commit that fails (503, sent again) would reach it twice."""
    path = tmp_path / "q.sqlite"
    q = DurableQueue(path, output="test[q]", settings=DurableQueueSettings(synchronous="full"))
    q.put_nowait(ev(1))
    flushing = asyncio.create_task(q.flush())
    await asyncio.sleep(0)  # the commit is under way in the worker thread
    assert q.peek_batch(10) == []  # held back
    runner = asyncio.create_task(q.wait_nonempty())  # an output's runner waits for it
    await asyncio.sleep(0)
    assert not runner.done()
    await asyncio.wait_for(flushing, 10)
    await asyncio.wait_for(runner, 10)  # the commit wakes the runner
    assert [e.sequence for e in q.peek_batch(10)] == [1]
    q.close()


async def test_an_output_takes_a_deferred_event_before_its_commit(
    tmp_path: Path, slow_windows: None
) -> None:
    """An MQTT QoS 1 message: its PUBACK waits for the commit, delivery does not."""
    path = tmp_path / "q.sqlite"
    q = DurableQueue(path, output="test[q]")
    q.put_nowait(ev(1))
    assert q.kept() is not None
    await asyncio.sleep(0)
    assert rows_on_disk(path) == 0
    assert [e.sequence for e in q.peek_batch(10)] == [1]
    q.close()
