"""The zone stage and its driver on a manual clock, with the data dir as it is on disk:
derived events through the rest of the pipeline, snapshot and restore (also with edited
thresholds), the alert/measures log, operator actions waking the driver, the control
socket, and the running hub's status and /metrics."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub import Event, Occupancy, Provenance
from hub.cli.zones import _Failed, call
from hub.core.config import HubConfig, HubSettings, PluginSettings
from hub.core.metrics import render_metrics
from hub.core.pipeline import FanOut, Pipeline
from hub.core.plugins import load_plugins
from hub.core.runtime import Hub
from hub.core.zone_driver import LOG_FILE, PICTURE_FILE, STATE_FILE, ZoneDriver, ZoneStage
from hub.errors import EventNotKept
from hub.events import Alert, ZoneState
from hub.site import Line, Site, Zone
from hub.testing import ManualClock
from hub.zones import AlertRule, Level, LevelSet, ZoneModel, ZonesConfig
from tests.core.test_runtime import FlakyConfig, MemoryConfig, MemorySink, TestPlugin, run_until

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PROV = Provenance(plugin="test", plugin_version="1.0", transport="simulated")
SITE = Site(
    id="s",
    timezone="Europe/Amsterdam",
    zones=(Zone(id="pier", area_m2=100.0, capacity=400, levels="quick"),),
    lines=(Line(id="gate", zone="pier", width_m=2.0),),
)


def config(red_at: float = 2.0) -> ZonesConfig:
    quick = LevelSet(
        metric="density",
        pending_s=0,
        hold_s=0,
        levels=(Level(name="green"), Level(name="red", colour="red", enter=red_at)),
    )
    rule = AlertRule(id="level-red", kind="level", level="red", hold_s=0, close_after_s=60)
    return ZonesConfig(level_sets={"quick": quick}, rules=(rule,), heartbeat_s=3600)


def reading(count: float, at: datetime) -> Event:
    return Event.create(
        source="cam",
        kind="camera",
        measurement=Occupancy(count=count),
        provenance=PROV,
        zone="pier",
        observed_at=at,
        received_at=at,
    )


class Emitted:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type[object]) -> list[Event]:
        return [e for e in self.events if isinstance(e.measurement, kind)]


def driver(tmp_path: Path, clock: ManualClock, cfg: ZonesConfig | None = None) -> ZoneDriver:
    d = ZoneDriver(SITE, cfg or config(), tmp_path, clock)
    return d


def test_the_stage_passes_every_event_on_and_records_it() -> None:
    model = ZoneModel(SITE, config())
    stage = ZoneStage(model)
    ev = reading(250, T0)
    assert stage.handle(ev, "cam") == (ev,)
    model.tick(T0)
    assert model.zones()["pier"].occupancy == 250


class Seen:
    """A stage that records what passes it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.types: list[str] = []

    def handle(self, event: Event, source: str) -> Sequence[Event]:
        self.types.append(event.measurement.type)
        return (event,)


async def test_derived_events_pass_only_the_stages_after_the_zone_stage(tmp_path: Path) -> None:
    d = driver(tmp_path, ManualClock(T0))
    before, after = Seen("privacy"), Seen("views")
    pipeline = Pipeline([before, d.stage, after], FanOut())
    d.connect(pipeline.emitter("zones", after=d.stage.name))
    await pipeline.emitter("cam")(reading(250, T0))
    events = await d.step()
    assert before.types == ["occupancy"]  # derived events do not come round again
    assert after.types == ["occupancy", "zone_state", "line_flow", "alert"]
    state = events[0]
    assert state.source == "zones" and state.zone == "pier"
    assert isinstance(state.measurement, ZoneState)
    assert state.measurement.level == "red" and state.measurement.occupancy == 250
    assert isinstance(events[-1].measurement, Alert) and events[-1].measurement.state == "firing"


async def test_state_survives_a_restart_and_a_threshold_change(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    first = driver(tmp_path, clock)
    first.stage.handle(reading(250, T0), "cam")
    await first.step()
    [alert] = first.model.open_alerts()
    first.save()
    assert json.loads((tmp_path / STATE_FILE).read_text())["version"] == 1

    clock.advance_to(clock.monotonic() + 5)
    # restarted with a higher red threshold: the level is kept by name (hysteresis decides)
    second = driver(tmp_path, clock, config(red_at=2.2))
    out = Emitted()
    second.connect(out)
    await second.step()
    view = second.model.zones()["pier"]
    assert view.occupancy == 250 and view.level == "red"  # not 0 and green
    assert [a.alert_id for a in second.model.open_alerts()] == [alert.alert_id]
    assert out.of(Alert) == []  # the firing alert is not notified again


async def test_a_broken_snapshot_is_kept_aside_and_the_hub_starts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / STATE_FILE).write_text('{"version": 1, "zones": {"pier": {"inputs": 7}}')
    d = driver(tmp_path, ManualClock(T0))
    assert d.model.zones() == {}
    assert (tmp_path / (STATE_FILE + ".bad")).exists()
    assert "cannot restore the crowd picture" in caplog.text and "kept as" in caplog.text


async def test_actions_wake_the_driver_and_go_to_the_measures_log(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    d = driver(tmp_path, clock)
    out = Emitted()
    d.connect(out)
    d.stage.handle(reading(250, T0), "cam")
    task = asyncio.create_task(d.run())
    try:
        async with asyncio.timeout(5):
            while not out.of(Alert):
                await asyncio.sleep(0.01)
            ticks = d.ticks
            d.actions.acknowledge("level-red/pier", by="control room", note="stewards sent")
            d.actions.log_measure("pier", "closed entrance B", by="control room")
            # no clock advance: the action itself makes the driver tick
            while len(out.of(Alert)) < 2:
                await asyncio.sleep(0.01)
        assert d.ticks > ticks  # ticked without a clock advance
        assert out.of(Alert)[-1].measurement.state == "acknowledged"  # type: ignore[union-attr]
        ticks = d.ticks
        async with asyncio.timeout(5):
            while d.ticks < ticks + 1:  # the regular tick, once the driver waits for it
                clock.advance_to(clock.monotonic() + 1.0)
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    log = [json.loads(line) for line in (tmp_path / LOG_FILE).read_text().splitlines()]
    assert [r["event"] for r in log] == ["fired", "acknowledged", "measure"]
    assert log[1]["by"] == "control room" and log[1]["note"] == "stewards sent"
    assert [r["seq"] for r in log] == [1, 2, 3]
    picture = json.loads((tmp_path / PICTURE_FILE).read_text())
    assert picture["state"] == "stopped"  # written at stop, with the snapshot
    assert picture["alerts"][0]["state"] == "acknowledged"
    saved = json.loads((tmp_path / STATE_FILE).read_text())
    assert saved["alerts"]["open"][0]["acked_by"] == "control room"
    # a restart continues the log's numbering, also when the snapshot is older than the log
    (tmp_path / STATE_FILE).unlink()
    again = driver(tmp_path, clock)
    again.actions.log_measure("pier", "opened entrance B", by="control room")
    await again.step()
    last = json.loads((tmp_path / LOG_FILE).read_text().splitlines()[-1])
    assert last["seq"] == 4 and last["note"] == "opened entrance B"


async def test_the_control_socket_acts_and_refuses_with_one_line(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    d = driver(tmp_path, clock)
    d.connect(Emitted())
    d.stage.handle(reading(250, T0), "cam")
    task = asyncio.create_task(d.run())
    try:
        sock = tmp_path / "control.sock"
        async with asyncio.timeout(5):
            while not d.model.open_alerts() or not sock.exists():
                await asyncio.sleep(0.01)
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        with pytest.raises(_Failed) as unknown:
            await asyncio.to_thread(call, tmp_path, "acknowledge", {"alert": "x/y", "by": "me"})
        assert str(unknown.value) == (
            "hub: no open alert 'x/y' (open: level-red/pier/1); `hub alerts` lists them"
        )
        with pytest.raises(_Failed) as no_by:
            await asyncio.to_thread(
                call, tmp_path, "acknowledge", {"alert": "level-red/pier", "by": " "}
            )
        assert "by: required" in str(no_by.value)
        done = await asyncio.to_thread(
            call, tmp_path, "acknowledge", {"alert": "level-red/pier/1", "by": "ops"}
        )
        assert done["state"] == "acknowledged" and done["acknowledged_by"] == "ops"
        s = await asyncio.to_thread(
            call,
            tmp_path,
            "silence",
            {"rule": "level-red", "duration": "30m", "reason": "drill", "by": "ops"},
        )
        assert s["silence_id"] == "silence-1" and s["until"].startswith("2026-06-01T12:30")
        with pytest.raises(_Failed) as bad:
            await asyncio.to_thread(
                call,
                tmp_path,
                "silence",
                {"rule": "level-red", "duration": "soon", "reason": "r", "by": "o"},
            )
        assert "give a number with a unit, like 30m" in str(bad.value)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert not (tmp_path / "control.sock").exists()
    with pytest.raises(_Failed) as down:
        call(tmp_path, "acknowledge", {"alert": "level-red/pier", "by": "ops"})
    assert "no running hub at" in str(down.value)


def zone_hub(tmp_path: Path) -> Hub:
    MemorySink.instances = []
    registry = load_plugins(entrypoints=False, extra=[("test", TestPlugin())])
    site = Site(id="s", zones=(Zone(id="boulevard", area_m2=1.0, levels="quick"),))
    cfg = HubConfig(
        HubSettings(data_dir=str(tmp_path), shutdown_timeout_s=5, status_interval_s=0.05),
        PluginSettings(),
        site,
        {},
        {"flaky": [FlakyConfig(id="cam", events=3)]},
        {"memory": [MemoryConfig(id="mem")]},
        tmp_path / "hub.toml",
        zones=config(),
    )
    return Hub(cfg, registry)


async def test_a_running_hub_delivers_zone_states_and_shows_them_in_metrics(
    tmp_path: Path,
) -> None:
    h = zone_hub(tmp_path)

    def red() -> bool:
        sink = MemorySink.instances[0]
        return any(isinstance(e.measurement, Alert) for e in sink.events)

    await run_until(h, red)
    sink = MemorySink.instances[0]
    assert {e.measurement.type for e in sink.events} >= {"occupancy", "zone_state", "alert"}
    status = h.status()["zones"]["zones"]["boulevard"]
    assert status["level"] == "red" and status["alerts"] == {"firing": 1}
    metrics = render_metrics(h.status).decode()
    assert 'crowdhub_zone_occupancy{zone="boulevard"} 2.0' in metrics
    assert 'crowdhub_zone_level{zone="boulevard"} 1.0' in metrics
    assert 'crowdhub_zone_level_state{level="red",zone="boulevard"} 1.0' in metrics
    assert 'crowdhub_zone_stale{zone="boulevard"} 0.0' in metrics
    assert 'crowdhub_alerts_open{state="firing",subject="boulevard"} 1.0' in metrics
    assert json.loads((tmp_path / STATE_FILE).read_text())["zones"]["boulevard"]


async def test_events_an_output_could_not_keep_are_sent_again_next_tick(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(T0)
    d = driver(tmp_path, clock)
    sent: list[str] = []
    failing = True

    async def emit(event: Event) -> None:
        if failing:
            raise EventNotKept("the durable queue of sqlite[db] cannot write", outputs=("x",))
        sent.append(event.measurement.type)

    d.connect(emit)
    ticked: list[datetime] = []
    d.after_tick.append(ticked.append)
    d.stage.handle(reading(250, T0), "cam")
    first = await d.step()
    assert sent == [] and "zone events not kept" in caplog.text
    failing = False
    clock.advance_to(clock.monotonic() + 1)
    await d.step()
    assert sent[: len(first)] == [e.measurement.type for e in first]  # held back, then in order
    assert ticked == [T0, T0 + timedelta(seconds=1)]
