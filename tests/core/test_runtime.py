"""Supervisor, bus and runtime: retries, backoff, isolation, backpressure, dead letters."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import hub
from hub.core.bus import MemoryQueue, SinkRunner
from hub.core.config import HubConfig, HubSettings, PluginSettings
from hub.core.plugins import load_plugins
from hub.core.runtime import Hub
from hub.core.supervisor import StartupFailed
from hub.errors import DeviceUnavailable, HubError, SinkRejected, SinkUnavailable
from hub.site import Site
from hub.testing import sink_context, source_context
from hub.zones import ZonesConfig


class FlakyConfig(hub.SourceConfig):
    fail_times: int = 0
    events: int = 3
    status_detail: str | None = None
    extras: dict[str, Any] | None = None


class FlakySource(hub.Source[FlakyConfig]):
    """Fails ``fail_times`` times, then emits ``events`` occupancy events and idles."""

    kind = "flaky"
    config_model = FlakyConfig
    attempts = 0

    async def run(self) -> None:
        self.attempts += 1
        if self.attempts <= self.config.fail_times:
            raise DeviceUnavailable(f"flaky[{self.ctx.instance}]: port gone")
        for i in range(self.config.events):
            await self.ctx.emit(
                self.ctx.event(
                    hub.Occupancy(count=i),
                    zone=self.config.zone or "boulevard",
                    observed_at=self.ctx.clock.now(),
                    key=f"{self.attempts}-{i}",
                    extras=self.config.extras,
                )
            )
        if self.config.status_detail:
            await self.ctx.emit(
                self.ctx.event(
                    hub.Status(detail=self.config.status_detail), observed_at=self.ctx.clock.now()
                )
            )
        await asyncio.Event().wait()


class MemoryConfig(hub.SinkConfig):
    fail_first: int = 0
    reject: bool = False


class MemorySink(hub.Sink[MemoryConfig]):
    kind = "memory"
    config_model = MemoryConfig
    instances: list[MemorySink] = []

    def __init__(self, config: MemoryConfig, ctx: hub.SinkContext) -> None:
        super().__init__(config, ctx)
        self.events: list[hub.Event] = []
        self.calls = 0
        self.closed = False
        MemorySink.instances.append(self)

    async def write(self, batch: Sequence[hub.Event]) -> None:
        self.calls += 1
        if self.config.reject:
            raise SinkRejected("HTTP 400: schema mismatch")
        if self.calls <= self.config.fail_first:
            raise SinkUnavailable("HTTP 503")
        self.events.extend(batch)

    async def close(self) -> None:
        self.closed = True


class TestPlugin:
    @hub.hookimpl
    def register_sources(self, register: Callable[[type[hub.Source[Any]]], None]) -> None:
        register(FlakySource)

    @hub.hookimpl
    def register_sinks(self, register: Callable[[type[hub.Sink[Any]]], None]) -> None:
        register(MemorySink)


def make_hub(
    tmp_path: Path, site: Site, sources: list[FlakyConfig], sinks: list[MemoryConfig]
) -> Hub:
    MemorySink.instances = []
    registry = load_plugins(entrypoints=False, extra=[("test", TestPlugin())])
    cfg = HubConfig(
        HubSettings(data_dir=str(tmp_path), shutdown_timeout_s=5, status_interval_s=0.05),
        PluginSettings(),
        site,
        {},
        {"flaky": list(sources)},
        {"memory": list(sinks)},
        tmp_path / "hub.toml",
        zones=ZonesConfig(enabled=False),  # the sources' events only; zones: test_zone_driver
    )
    return Hub(cfg, registry)


async def run_until(the_hub: Hub, cond: Callable[[], bool], timeout: float = 10) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(the_hub.run(stop))
    try:
        async with asyncio.timeout(timeout):
            while not cond():
                await asyncio.sleep(0.01)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_failing_source_is_retried_and_does_not_stop_others(
    tmp_path: Path, site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    h = make_hub(
        tmp_path,
        site,
        [
            FlakyConfig(id="good", events=2),
            FlakyConfig(id="bad", fail_times=3, events=2, retry_initial_s=0.01, retry_max_s=0.02),
        ],
        [MemoryConfig(id="mem")],
    )

    def done() -> bool:
        return len(MemorySink.instances[0].events) >= 4

    await run_until(h, done)
    sup = {s.ctx.instance: s for s in h.supervisors}
    assert sup["bad"].stats.restarts == 3
    assert sup["bad"].stats.state in ("running", "stopped")
    downs = [
        r for r in caplog.records if "bad" in r.getMessage() and "unavailable" in r.getMessage()
    ]
    backs = [
        r for r in caplog.records if "bad" in r.getMessage() and "back (after" in r.getMessage()
    ]
    assert len(downs) == 1 and len(backs) == 1  # logged once down, once back
    assert MemorySink.instances[0].closed


async def test_on_startup_error_fail_stops_the_hub(tmp_path: Path, site: Site) -> None:
    h = make_hub(
        tmp_path,
        site,
        [FlakyConfig(id="bad", fail_times=1, on_startup_error="fail")],
        [MemoryConfig(id="mem")],
    )
    with pytest.raises(StartupFailed) as info:
        await asyncio.wait_for(h.run(asyncio.Event()), 10)
    assert "sources.flaky[bad]: could not start: flaky[bad]: port gone" in str(info.value)


async def test_on_startup_error_ignore_disables_one_instance(tmp_path: Path, site: Site) -> None:
    h = make_hub(
        tmp_path,
        site,
        [
            FlakyConfig(id="bad", fail_times=1, on_startup_error="ignore"),
            FlakyConfig(id="good", events=1),
        ],
        [MemoryConfig(id="mem")],
    )
    await run_until(h, lambda: len(MemorySink.instances[0].events) >= 1)
    assert h.status()["sources"]["bad"]["state"] in ("disabled", "stopped")
    assert [s.stats.state for s in h.supervisors if s.ctx.instance == "bad"] == [
        "disabled"
    ] or h.status()["sources"]["bad"]["state"] == "stopped"


async def test_sink_unavailable_retries_the_same_batch(tmp_path: Path, site: Site) -> None:
    h = make_hub(
        tmp_path,
        site,
        [FlakyConfig(id="good", events=5)],
        [MemoryConfig(id="mem", fail_first=2, retry_initial_s=0.01, retry_max_s=0.02)],
    )
    await run_until(h, lambda: len(MemorySink.instances[0].events) >= 5)
    sink = MemorySink.instances[0]
    assert [e.measurement.count for e in sink.events] == [0, 1, 2, 3, 4]  # type: ignore
    st = h.status()["sinks"]["mem"]
    assert st["retries"] == 2 and st["dropped"] == {}


async def test_rejected_batch_is_dropped_and_counted(tmp_path: Path, site: Site) -> None:
    h = make_hub(
        tmp_path, site, [FlakyConfig(id="good", events=3)], [MemoryConfig(id="mem", reject=True)]
    )
    await run_until(h, lambda: sum(r.stats.dropped["rejected"] for r in h.runners) >= 3)
    assert h.status()["sinks"]["mem"]["dropped"]["rejected"] == 3


async def test_identifier_in_an_optional_text_is_removed_not_the_event(
    tmp_path: Path, site: Site
) -> None:
    h = make_hub(
        tmp_path,
        site,
        [FlakyConfig(id="leaky", events=1, status_detail="client aa:bb:cc:dd:ee:ff")],
        [MemoryConfig(id="a"), MemoryConfig(id="b")],
    )
    await run_until(h, lambda: all(len(s.events) >= 2 for s in MemorySink.instances))
    for sink in MemorySink.instances:
        (status,) = [e for e in sink.events if e.measurement.type == "status"]
        assert status.measurement.model_dump()["detail"] is None
        assert "aa:bb" not in sink.events[-1].model_dump_json()
    assert h.status()["sources"]["leaky"]["removed_fields"] == 1
    assert h.status()["removed_fields"] == {"MAC address": 1}
    assert h.status()["sources"]["leaky"]["dead_letters"] == 0
    assert not (tmp_path / "deadletter.jsonl").exists()


async def test_identifier_in_an_id_is_dead_lettered_never_forwarded(
    tmp_path: Path, site: Site
) -> None:
    h = make_hub(
        tmp_path,
        site,
        [FlakyConfig(id="good", events=1), FlakyConfig(id="leaky", events=1, zone="a0b1c2d3e4f5")],
        [MemoryConfig(id="a"), MemoryConfig(id="b")],
    )
    await run_until(
        h,
        lambda: (
            h.dead_letters["MAC address"] >= 1
            and all(len(s.events) >= 1 for s in MemorySink.instances)
        ),
    )
    for sink in MemorySink.instances:
        assert all(e.source == "good" for e in sink.events)
    record = json.loads((tmp_path / "deadletter.jsonl").read_text().splitlines()[0])
    assert record["findings"] == [{"field": "zone", "identifier": "MAC address"}]
    assert "a0b1c2" not in (tmp_path / "deadletter.jsonl").read_text()
    assert h.status()["sources"]["leaky"]["dead_letters"] == 1


async def test_extras_that_are_not_scalars_are_removed_and_counted(
    tmp_path: Path, site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    persons = [{"t": 1781352000123, "speed": 1.37, "distance": 4.25}]
    extras = {
        "persons": persons,
        "meta": {"ssid": "Gemeente-Gast"},
        "as_text": json.dumps(persons),
        "note": "x" * 65,
        "ap": "0c:8d:db:6e:40:12",
        "fw": "2.1",
        "rssi": -61,
        "ok": True,
    }
    h = make_hub(
        tmp_path, site, [FlakyConfig(id="vendor", events=2, extras=extras)], [MemoryConfig(id="m")]
    )
    await run_until(h, lambda: len(MemorySink.instances[0].events) >= 2)
    for event in MemorySink.instances[0].events:
        assert event.extras == {"flaky": {"fw": "2.1", "rssi": -61, "ok": True}}
    assert h.status()["removed_fields"] == {
        "list": 2,
        "object": 2,
        "list or object as text": 2,
        "text over 64 characters": 2,
        "MAC address": 2,
    }
    assert h.status()["sources"]["vendor"]["removed_fields"] == 10
    warnings = [r.getMessage() for r in caplog.records if "removed from an event" in r.getMessage()]
    assert len(warnings) == 1  # once per source
    assert "extras.flaky.persons (list)" in warnings[0]
    assert "1781352000123" not in caplog.text and "Gemeente" not in caplog.text


async def test_bus_backpressure_makes_sources_wait(site: Site) -> None:
    q = MemoryQueue(maxsize=3, overflow="block")
    ctx = source_context("x", emit=q.put, site=site)
    ev = ctx.event(hub.Occupancy(count=1), zone="beach", observed_at=ctx.clock.now())
    for _ in range(3):
        await q.put(ev)
    blocked = asyncio.create_task(q.put(ev))
    await asyncio.sleep(0.05)
    assert not blocked.done() and len(q) == 3  # full: the source waits, nothing dropped
    q.ack(2)
    await asyncio.wait_for(blocked, 2)
    assert len(q) == 2


async def test_runner_batches_and_flushes_on_close(site: Site) -> None:
    cfg = MemoryConfig(id="m", batch_size=4)
    sink = MemorySink(cfg, sink_context("memory", site=site))
    runner = SinkRunner(sink, cfg, "sinks.memory[m]")
    ctx = source_context("x", site=site)
    for i in range(10):
        await runner.put(
            ctx.event(
                hub.Occupancy(count=i),
                zone="beach",
                observed_at=ctx.clock.now() + timedelta(seconds=i),
            )
        )
    runner.close_input()
    await asyncio.wait_for(runner.run(), 5)
    assert len(sink.events) == 10 and sink.calls == 3  # 4 + 4 + 2


def test_hub_error_tree() -> None:
    assert issubclass(DeviceUnavailable, HubError)
    assert issubclass(SinkRejected, hub.SinkError)


class LifecyclePlugin:
    def __init__(self) -> None:
        self.calls: list[str] = []

    @hub.hookimpl
    def configure(self, config: Any) -> None:
        self.calls.append("configure")
        if any(s.id == "forbidden" for s in config.sources.get("simulated", [])):
            raise hub.ConfigError(
                [hub.ConfigProblem("sources.simulated[forbidden]", "this id is reserved")]
            )

    @hub.hookimpl
    def startup(self, hub: Any) -> Any:
        async def _start() -> None:
            self.calls.append(f"startup:{hub.site.id}:{sorted(hub.status()['sources'])}")

        return _start()

    @hub.hookimpl
    def shutdown(self, hub: Any) -> None:
        self.calls.append("shutdown")


async def test_lifecycle_hooks_are_called_in_order(tmp_path: Path) -> None:
    from hub.core.config import load_config

    plugin = LifecyclePlugin()
    registry = load_plugins(entrypoints=False, extra=[("life", plugin)])
    path = tmp_path / "hub.toml"
    path.write_text(
        '[site]\nid = "s"\n[[site.zones]]\nid = "z"\narea_m2 = 10\n'
        '[[sources.simulated]]\nid = "a"\nzone = "z"\nmeasurement = "occupancy"\n'
        "interval_s = 0.01\n"
    )
    cfg = load_config(path, registry)
    h = Hub(cfg, registry)
    await run_until(h, lambda: h.supervisors[0].ctx.counters.events >= 1)
    assert plugin.calls == ["configure", "startup:s:['a']", "shutdown"]
    path.write_text(path.read_text().replace('id = "a"', 'id = "forbidden"'))
    with pytest.raises(
        hub.ConfigError,
        match=r"sources.simulated\[forbidden\]: this id is "
        "reserved",
    ):
        load_config(path, registry)


class SwallowsCancel(hub.Source[FlakyConfig]):
    """Turns the hub's cancel into another error, like a port closed under a read."""

    kind = "flaky"
    config_model = FlakyConfig

    async def run(self) -> None:
        self.ctx.set_available()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise DeviceUnavailable("port closed while reading") from None


async def test_stop_is_not_turned_into_a_retry_by_a_source(site: Site) -> None:
    from hub.core.supervisor import SourceSupervisor

    cfg = FlakyConfig(id="s", retry_initial_s=0.01)
    ctx = source_context("flaky", "s", site=site)
    sup = SourceSupervisor(SwallowsCancel(cfg, ctx), cfg, ctx, "sources.flaky[s]")
    task = asyncio.create_task(sup.run())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    assert sup.stats.state == "stopped" and sup.stats.restarts == 0


async def test_each_sink_gets_the_queue_its_config_names(
    tmp_path: Path, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub.core.bus import QUEUES

    class Tagged(MemoryQueue):
        pass

    monkeypatch.setitem(QUEUES, "tagged", lambda spec: Tagged(spec.maxsize, spec.overflow))
    h = make_hub(
        tmp_path,
        site,
        [FlakyConfig(id="good", events=3)],
        [MemoryConfig(id="a", queue="tagged", queue_size=50), MemoryConfig(id="b")],
    )
    queues = {r.config.id: r.queue for r in h.runners}
    assert isinstance(queues["a"], Tagged) and not isinstance(queues["b"], Tagged)
    await run_until(h, lambda: all(len(s.events) >= 3 for s in MemorySink.instances))
    sinks = h.status()["sinks"]
    assert sinks["a"]["queue"] == "tagged" and sinks["a"]["queue_size"] == 50
    assert sinks["b"]["durable"] is True and sinks["b"]["overflow"] == "drop_oldest"
    assert sinks["b"]["queue"] == "durable" and sinks["b"]["queue_bytes"] == 0
    assert sinks["b"]["queue_path"] == str(tmp_path / "queues" / "memory-b.sqlite")


async def test_a_dead_output_at_shutdown_is_reported_not_called_clean(
    tmp_path: Path, site: Site
) -> None:
    from hub.core.runtime import EventsLost

    h = make_hub(
        tmp_path,
        site,
        [FlakyConfig(id="good", events=5)],
        [
            MemoryConfig(id="ok"),
            MemoryConfig(
                id="dead",
                queue="memory",
                fail_first=10**9,
                retry_initial_s=0.01,
                retry_max_s=0.02,
            ),
        ],
    )
    with pytest.raises(EventsLost) as info:
        await run_until(h, lambda: len(MemorySink.instances[0].events) >= 5)
    assert str(info.value) == (
        "stopped, but 5 queued event(s) were lost: sinks.memory[dead] 5 (the output kept "
        "failing at shutdown; they are counted as dropped 'shutdown' in hub status)"
    )
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["sinks"]["dead"]["dropped"] == {"shutdown": 5}
    assert status["sinks"]["ok"]["dropped"] == {} and status["sinks"]["ok"]["events_out"] == 5
