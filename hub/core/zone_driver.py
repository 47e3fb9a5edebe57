"""The zone stage and its driver: the crowd picture inside a running hub.

::

    source.emit ─▶ privacy ─▶ ZoneStage ─▶ (views) ─▶ FanOut ─▶ sinks
                                 │ ingest                 ▲
                                 ▼                        │ zone_state, line_flow, alert
                             ZoneModel ◀── tick ── ZoneDriver (a task, ~1/s and after an action)

:class:`ZoneStage` passes every event on and hands it to the model (a few dict
operations). :class:`ZoneDriver` ticks the model about once a second, and at once
after an operator action, and puts the derived events through the stages after the
zone stage to every sink, with the same back-pressure as a source's events. It keeps,
in the data dir:

* ``zones-state.json``: the model's snapshot (atomic write every ``snapshot_s``, after
  each action and at stop), restored at start, also with an edited ``[zones]`` table;
* ``alerts.jsonl``: the alert and measures log, appended each tick;
* ``zones.json``: the picture of the last tick (``hub zones`` reads it), rewritten each
  tick like ``status.json``;
* ``control.sock``: the operators' actions (``hub alerts``), see :mod:`hub.core.zone_control`.
"""

from __future__ import annotations

__all__ = ["STATE_FILE", "ZoneDriver", "ZoneStage", "restore_model"]

import asyncio
import contextlib
import json
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from hub.clock import Clock
from hub.core.zone_control import control_server
from hub.errors import EventNotKept
from hub.events import Alert, Event
from hub.site import Site
from hub.zones import ZoneModel, ZonesConfig
from hub.zones.actions import ZoneActions
from hub.zones.log import read_jsonl, to_jsonl

log = logging.getLogger("hub.zones")

STATE_FILE = "zones-state.json"
PICTURE_FILE = "zones.json"
LOG_FILE = "alerts.jsonl"
_MAX_UNSENT = 10_000  # derived events held while an output cannot keep them

Emit = Callable[[Event], Awaitable[None]]


class ZoneStage:
    """Pass every event on; record it in the zone model (figures are derived on tick)."""

    name = "zones"

    def __init__(self, model: ZoneModel) -> None:
        self._ingest = model.ingest

    def handle(self, event: Event, source: str) -> Sequence[Event]:
        self._ingest(event)
        return (event,)


def write_atomic(path: Path, text: str, *, sync: bool = False) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it over ``path``."""
    tmp = path.with_name(f"{path.name}.{threading.get_ident()}.tmp")  # one per writer
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        tmp.replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _last_seq(path: Path) -> int:
    """The highest ``seq`` in the tail of the log file (0 when there is none)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 65536))
            tail = f.read().decode("utf-8", "replace").splitlines()[1:] or []
    except OSError:
        return 0
    return max((int(r.get("seq", 0)) for r in read_jsonl(tail)), default=0)


def restore_model(site: Site, config: ZonesConfig, data_dir: Path) -> ZoneModel:
    """The model from the snapshot in ``data_dir``, or a new one (a bad file is kept aside)."""
    path = data_dir / STATE_FILE
    model: ZoneModel | None = None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        model = ZoneModel.from_dict(site, config, data)
        log.info("restored the crowd picture from %s", path)
    except FileNotFoundError:
        pass
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as err:
        bad = path.with_name(path.name + ".bad")
        with contextlib.suppress(OSError):
            path.replace(bad)
        log.warning(
            "cannot restore the crowd picture from %s (%s: %s); starting without it "
            "(occupancy and levels rebuild from the next readings); the file is kept as %s",
            path,
            type(err).__name__,
            err,
            bad,
        )
    if model is None:
        model = ZoneModel(site, config)
    log_seq = _last_seq(data_dir / LOG_FILE)
    model.alerts.log.seq = max(model.alerts.log.seq, log_seq)
    return model


class ZoneDriver:
    """Ticks the model, delivers what it derives, and keeps its files in the data dir."""

    def __init__(
        self,
        site: Site,
        config: ZonesConfig,
        data_dir: Path,
        clock: Clock,
        *,
        tick_s: float = 1.0,
        snapshot_s: float = 5.0,
    ) -> None:
        self.data_dir = data_dir
        self.clock = clock
        self.tick_s = tick_s
        self.snapshot_s = snapshot_s
        self.model = restore_model(site, config, data_dir)
        self.stage = ZoneStage(self.model)
        self.actions = ZoneActions(self.model, clock.now, self.wake)
        self.ticks = 0
        self._emit: Emit | None = None
        self._written = self.model.alerts.log.seq
        self._saved_at: float | None = None
        self._dirty = False
        self._wake: asyncio.Event | None = None
        self._unsent: list[Event] = []
        self._save_failed = False
        self.after_tick: list[Callable[[datetime], None]] = []
        """Called with the tick's time after every tick (e.g. the dashboard provider's
        ``update``), before the derived events are delivered."""

    def connect(self, emit: Emit) -> None:
        """Where derived events go: the pipeline after the zone stage."""
        self._emit = emit

    def wake(self) -> None:
        """Tick (and persist) now: an operator acted."""
        self._dirty = True
        if self._wake is not None:
            self._wake.set()

    # --- the task -------------------------------------------------------------------------

    async def run(self) -> None:
        """Tick until cancelled; then persist the snapshot and mark the picture stopped."""
        self._wake = asyncio.Event()
        try:
            async with control_server(self.actions, self.data_dir):
                while True:
                    await self.step()
                    await self._sleep()
        finally:
            self._persist(stopped=True)

    async def _sleep(self) -> None:
        assert self._wake is not None
        if self._wake.is_set():
            self._wake.clear()
            return
        sleeper = asyncio.ensure_future(self.clock.sleep(self.tick_s))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait((sleeper, waker), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()
        self._wake.clear()

    async def step(self) -> list[Event]:
        """One tick: derive, deliver, log, write the picture (and the snapshot when due)."""
        now = self.clock.now()
        events = self.model.tick(now)
        self.ticks += 1
        for listener in self.after_tick:
            listener(now)
        await self._deliver(events)
        for event in events:
            if isinstance(event.measurement, Alert):
                self._say(event)
        self._append_log()
        self._write_picture(stopped=False)
        mono = self.clock.monotonic()
        if self._dirty or self._saved_at is None or mono - self._saved_at >= self.snapshot_s:
            # the fsync waits for the disk: off the event loop
            self._dirty = False
            text = json.dumps(self.model.to_dict())
            await asyncio.to_thread(self._write_snapshot, text)
        return events

    async def _deliver(self, events: list[Event]) -> None:
        """Emit this tick's events after those a failing output could not keep before."""
        if self._emit is None:
            return
        todo = [*self._unsent, *events]
        for i, event in enumerate(todo):
            try:
                await self._emit(event)
            except EventNotKept as err:
                if not self._unsent:  # once per outage
                    log.warning("zone events not kept (%s); sending them again next tick", err)
                self._unsent = todo[i:][-_MAX_UNSENT:]
                return
        if self._unsent:
            log.info("zone events kept again (%d held back were sent)", len(self._unsent))
        self._unsent = []

    # --- files ----------------------------------------------------------------------------

    def save(self) -> None:
        """Write the snapshot atomically (errors are logged, the hub keeps running)."""
        self._dirty = False
        self._write_snapshot(json.dumps(self.model.to_dict()))

    def _write_snapshot(self, text: str) -> None:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            write_atomic(self.data_dir / STATE_FILE, text, sync=True)
            self._saved_at = self.clock.monotonic()
        except OSError as err:
            self._saved_at = self.clock.monotonic()  # try again after snapshot_s
            if not self._save_failed:  # once until it works again
                log.error("cannot write %s: %s", self.data_dir / STATE_FILE, err)
            self._save_failed = True
        else:
            if self._save_failed:
                log.info("%s written again", self.data_dir / STATE_FILE)
            self._save_failed = False

    def _persist(self, *, stopped: bool) -> None:
        self._append_log()
        self.save()
        self._write_picture(stopped=stopped)

    def _append_log(self) -> None:
        records = self.model.alerts.log.since(self._written)
        if not records:
            return
        try:
            with open(self.data_dir / LOG_FILE, "a", encoding="utf-8") as f:
                f.write(to_jsonl(records))
            self._written = records[-1]["seq"]
        except OSError as err:
            log.error("cannot append to %s: %s", self.data_dir / LOG_FILE, err)

    def _write_picture(self, *, stopped: bool) -> None:
        doc = {
            "state": "stopped" if stopped else "running",
            "time": self.clock.now().isoformat(),
            "pid": os.getpid(),
            "heartbeat_interval_s": self.tick_s,
            **self.actions.picture(),
        }
        try:
            write_atomic(self.data_dir / PICTURE_FILE, json.dumps(doc, indent=1))
        except OSError as err:
            log.debug("cannot write the picture: %s", err)

    def _say(self, event: Event) -> None:
        m = event.measurement
        assert isinstance(m, Alert)
        ref = f"{m.rule}/{event.line or event.zone}"
        hint = ""
        if m.state == "firing":
            hint = f"; acknowledge: hub alerts --data-dir {self.data_dir} ack {ref} --by NAME"
        log.log(
            logging.WARNING if m.state == "firing" else logging.INFO,
            "alert %s %s%s: %s%s",
            m.alert_id,
            m.state,
            " (escalated)" if m.escalated else "",
            m.summary or m.rule,
            hint,
        )

    # --- status and metrics ---------------------------------------------------------------

    def status(self) -> Mapping[str, Any]:
        """Per zone and line what ``hub status`` and ``/metrics`` show."""
        open_alerts: dict[str, dict[str, int]] = {}
        for a in self.model.open_alerts():
            per = open_alerts.setdefault(a.subject, {})
            per[a.state] = per.get(a.state, 0) + 1
        zones = {
            k: {
                "level": v.level,
                "level_index": v.level_index,
                "levels": [lv.name for lv in v.levels.levels],
                "occupancy": v.occupancy,
                "density": v.density,
                "capacity_use": v.capacity_use,
                "method": v.method,
                "stale": not v.fresh,
                "age_s": v.age_s,
                "alerts": open_alerts.get(k, {}),
            }
            for k, v in self.model.zones().items()
        }
        lines = {
            k: {
                "zone": v.zone,
                "level": v.level,
                "level_index": v.level_index,
                "in_per_m_min": v.in_per_m_min,
                "out_per_m_min": v.out_per_m_min,
                "stale": not v.fresh,
                "alerts": open_alerts.get(k, {}),
            }
            for k, v in self.model.lines().items()
        }
        return {"zones": zones, "lines": lines, "ticks": self.ticks}
