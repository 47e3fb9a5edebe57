"""The source supervisor retries a failure whatever structure of tasks the source uses.

On Python 3.11 a ``TaskGroup`` whose child fails while the parent waits at the end of
the group leaves the parent task marked as cancelling (the group cancels the parent and
never takes the request back). A supervisor that awaited ``source.run()`` in its own
task took that mark for the hub stopping: state ``stopped``, nothing logged, no retry.
The source below reproduces the pattern; it is a real source run by the real
supervisor, nothing is mocked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

import hub
from hub.core.supervisor import SourceSupervisor
from hub.errors import DeviceUnavailable
from hub.site import Site
from hub.testing import source_context

WAIT_S = 10.0


class GroupConfig(hub.SourceConfig):
    fail_times: int = 2


class GroupSource(hub.Source[GroupConfig]):
    """Runs its device loop as a child of a ``TaskGroup`` and waits at the end of the group,
    like a source reading two ports at once. The child fails ``fail_times`` times (the
    port vanished), then is up and idles."""

    kind = "group"
    config_model = GroupConfig

    def __init__(self, config: GroupConfig, ctx: hub.SourceContext) -> None:
        super().__init__(config, ctx)
        self.attempts = 0
        self.up = asyncio.Event()
        self.cancelled_children = 0

    async def _device(self) -> None:
        await asyncio.sleep(0)  # the parent is in the group's __aexit__ by now
        if self.attempts <= self.config.fail_times:
            raise DeviceUnavailable(f"group[{self.ctx.instance}]: port /dev/ttyUSB9 vanished")
        self.ctx.set_available()
        self.up.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled_children += 1
            raise

    async def run(self) -> None:
        self.attempts += 1
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._device(), name="device")


async def until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_S):
        while not check():
            await asyncio.sleep(0.005)


def _supervised(site: Site, **config: object) -> tuple[SourceSupervisor, GroupSource]:
    cfg = GroupConfig(id="pair", retry_initial_s=0.01, retry_max_s=0.02, **config)  # type: ignore[arg-type]
    ctx = source_context("group", "pair", site=site)
    src = GroupSource(cfg, ctx)
    return SourceSupervisor(src, cfg, ctx, "sources.group[pair]"), src


def _lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "hub.supervisor" and text in r.getMessage()
    ]


async def test_a_failing_child_of_a_task_group_is_retried_not_taken_for_a_stop(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sup, src = _supervised(site, fail_times=3)
    task = asyncio.create_task(sup.run(), name="supervisor-under-test")
    try:
        await asyncio.wait_for(src.up.wait(), WAIT_S)
        await until(lambda: sup.stats.state == "running")
        # the supervisor's own task is not left marked as cancelling
        assert not task.done() and task.cancelling() == 0
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, WAIT_S)
    assert src.attempts == 4 and sup.stats.restarts == 3 and sup.stats.errors == 3
    assert sup.stats.last_error == "group[pair]: port /dev/ttyUSB9 vanished"
    down = _lines(caplog, "unavailable")
    assert down == [
        "sources.group[pair]: unavailable: group[pair]: port /dev/ttyUSB9 vanished; "
        "retrying with backoff"
    ]
    assert _lines(caplog, ": back (") == ["sources.group[pair]: back (after 3 retries)"]
    # a hub error inside the group is logged by its message, without a traceback
    assert not any(r.exc_info for r in caplog.records if "unavailable" in r.getMessage())
    assert sup.stats.state == "stopped" and src.cancelled_children == 1


async def test_a_hub_stop_still_stops_a_task_group_source_promptly(site: Site) -> None:
    sup, src = _supervised(site, fail_times=0)
    task = asyncio.create_task(sup.run(), name="supervisor-under-test")
    await asyncio.wait_for(src.up.wait(), WAIT_S)
    loop = asyncio.get_running_loop()
    began = loop.time()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, WAIT_S)
    assert loop.time() - began < 1.0  # no retry, no backoff wait
    assert sup.stats.state == "stopped" and sup.stats.restarts == 0
    assert src.attempts == 1 and src.cancelled_children == 1  # the source itself was stopped


async def test_a_hub_stop_during_the_backoff_wait_stops(site: Site) -> None:
    cfg = GroupConfig(id="pair", retry_initial_s=30, retry_max_s=30, fail_times=99)
    ctx = source_context("group", "pair", site=site)
    src = GroupSource(cfg, ctx)
    sup = SourceSupervisor(src, cfg, ctx, "sources.group[pair]")
    task = asyncio.create_task(sup.run(), name="supervisor-under-test")
    await until(lambda: sup.stats.state == "retrying")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, WAIT_S)
    assert sup.stats.state == "stopped" and src.attempts == 1


async def test_a_run_that_ends_cancelled_by_itself_is_retried(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    """A source whose run() ends with CancelledError although the hub is running (a task
    of its own was cancelled) is a failure: retried and logged, not a silent stop."""

    class CancelsItself(GroupSource):
        async def run(self) -> None:
            self.attempts += 1
            if self.attempts == 1:
                raise asyncio.CancelledError
            self.ctx.set_available()
            self.up.set()
            await asyncio.Event().wait()

    caplog.set_level(logging.WARNING)
    cfg = GroupConfig(id="pair", retry_initial_s=0.01, retry_max_s=0.02)
    ctx = source_context("group", "pair", site=site)
    src = CancelsItself(cfg, ctx)
    sup = SourceSupervisor(src, cfg, ctx, "sources.group[pair]")
    task = asyncio.create_task(sup.run(), name="supervisor-under-test")
    try:
        await asyncio.wait_for(src.up.wait(), WAIT_S)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, WAIT_S)
    assert src.attempts == 2 and sup.stats.restarts == 1
    assert len(_lines(caplog, "ended cancelled although the hub is not stopping")) == 1
