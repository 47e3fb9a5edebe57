"""Deferred acknowledgement (hub.core.kept): an MQTT message is acknowledged only once the
commit covering its events is done, and one commit covers many messages. A real
Mosquitto, the real MQTT transport, pipeline and durable queue."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hub.core.bus import DurableQueue
from hub.core.bus.durable_store import Store
from hub.core.pipeline import FanOut, Pipeline
from hub.core.transports.mqtt.session import Incoming, Session
from hub.errors import QueueUnavailable
from hub.testing.mosquitto import Mosquitto
from tests.core.test_bus_durable import ev, seqs
from tests.transports.test_mqtt_session import WAIT_S, running, transport

pytestmark = pytest.mark.mosquitto


def pipeline_into(queue: DurableQueue) -> Pipeline:
    fan_out = FanOut()
    fan_out.connect([SimpleNamespace(measurements=None, queue=queue)])  # type: ignore[list-item]
    return Pipeline([], fan_out)


def rows_on_disk(path: Path) -> int:
    """Committed rows, read by a connection of our own (WAL: a concurrent reader)."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        return int(db.execute("SELECT count(*) FROM queue").fetchone()[0])


@contextlib.contextmanager
def count_commits(
    monkeypatch: pytest.MonkeyPatch, fail: set[int] | None = None
) -> Iterator[list[int]]:
    """Count the queue's transactions; ``fail``: which ones (1-based) fail as on a full
    disk (fault injection in our own store: a real full disk is tests/test_durable_delivery)."""
    calls: list[int] = []
    write = Store.write

    def counted(self: Store, rows: Any, delete_below: int | None) -> None:
        calls.append(len(rows))
        if fail and len(calls) in fail:
            raise QueueUnavailable("injected: disk full", output=self.output, path=str(self.path))
        write(self, rows, delete_below)

    monkeypatch.setattr(Store, "write", counted)
    yield calls


async def consume(t: Any, emit: Any, n: int, got: list[int]) -> None:
    async with t.subscribe(["deferred/#"], qos=1) as messages:
        async for msg in messages:
            i = int(msg.payload)
            await emit(ev(i))
            got.append(i)
            if len(got) == n:
                break


async def test_each_puback_follows_the_commit_of_its_events(
    mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "q.sqlite"
    queue = DurableQueue(path, output="test[q]")
    emit = pipeline_into(queue).emitter("gate-a")
    acked_with_rows: list[int] = []
    settle = Session.settle

    def settle_and_look(self: Session, rec: Incoming) -> None:
        if not rec.acked:
            acked_with_rows.append(rows_on_disk(path))
        settle(self, rec)

    monkeypatch.setattr(Session, "settle", settle_and_look)
    pub, hub = transport(mosquitto, "pub"), transport(mosquitto, "hub", client_id="hub-deferred")
    n = 300
    got: list[int] = []
    with count_commits(monkeypatch) as commits:
        async with running(pub, hub):
            task = asyncio.create_task(consume(hub, emit, n, got))
            async with asyncio.timeout(WAIT_S):
                while "deferred/#" not in hub.session.subscribed:
                    await asyncio.sleep(0.01)
            await pub.publish_many([("deferred/a", str(i).encode()) for i in range(n)], qos=1)
            async with asyncio.timeout(WAIT_S):
                await task
                while hub.health()["unacknowledged"]:
                    await asyncio.sleep(0.01)
    assert got == list(range(n))
    # the k-th PUBACK went out when at least k events were on disk
    assert len(acked_with_rows) == n
    assert all(rows >= k for k, rows in enumerate(acked_with_rows, 1)), acked_with_rows
    # one commit covers several messages (a source handles one message at a time)
    assert sum(commits) == n and len(commits) <= n // 4, commits
    assert seqs(queue.peek_batch(n + 1)) == list(range(n))
    queue.close()


async def test_a_failed_commit_is_delivered_again_in_order_and_then_acknowledged(
    mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = DurableQueue(tmp_path / "q.sqlite", output="test[q]", retry_s=0.1)
    emit = pipeline_into(queue).emitter("gate-a")
    pub, hub = transport(mosquitto, "pub"), transport(mosquitto, "hub", client_id="hub-retry")
    n = 100
    got: list[int] = []
    with count_commits(monkeypatch, fail={2}) as commits:
        async with running(pub, hub):
            task = asyncio.create_task(consume(hub, emit, n, got))
            async with asyncio.timeout(WAIT_S):
                while "deferred/#" not in hub.session.subscribed:
                    await asyncio.sleep(0.01)
            await pub.publish_many([("deferred/a", str(i).encode()) for i in range(n)], qos=1)
            async with asyncio.timeout(WAIT_S):
                await task
                while hub.health()["unacknowledged"]:
                    await asyncio.sleep(0.01)
    assert len(commits) >= 3  # the failure and the retries
    assert got == list(range(n))  # the source saw each message once
    # what the failed commit held was put again: every event once, in order
    assert seqs(queue.peek_batch(n + 10)) == list(range(n))
    assert queue.dropped["unwritten"] > 0
    queue.close()
