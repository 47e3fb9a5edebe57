"""A real ZoneModel behind a real dashboard on loopback, driven with events in real time.

The server runs in its own thread and event loop, so a (blocking) browser driver can
talk to it from the test. Levels rise without a pending time here so a surge shows
within a tick; everything else is the zone model as the hub runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from hub import Event, Occupancy, Provenance, Site
from hub.dashboard import (
    DashboardView,
    MemoryAudit,
    StaticViewAuth,
    ZoneModelProvider,
    make_dashboard_app,
)
from hub.zones import Level, LevelSet, ZoneModel, ZonesConfig

FIXTURES = Path(__file__).parent / "fixtures"
PROV = Provenance(plugin="test", plugin_version="1.0", transport="simulated")

OPERATOR = DashboardView(
    id="municipality",
    name="Gemeente (operator)",
    actions=frozenset({"acknowledge", "log_measure", "silence"}),
)
POLICE = DashboardView(id="police", name="Politie", actions=frozenset({"log_measure"}))
ORGANISER = DashboardView(
    id="organiser",
    name="Organisator",
    zones=frozenset({"plein"}),
    lines=frozenset({"gate-plein"}),
    sensor_health=True,
    actions=frozenset({"acknowledge"}),
)
PUBLIC = DashboardView(
    id="public",
    name="Publiek",
    zones=frozenset({"boulevard"}),
    levels_only=True,
    sensor_health=False,
)
TOKENS = {
    "municipality": "tok-municipality-0123456789",
    "police": "tok-police-0123456789",
    "organiser": "tok-organiser-0123456789",
    "public": "tok-public-0123456789",
}
VIEWS = {"municipality": OPERATOR, "police": POLICE, "organiser": ORGANISER, "public": PUBLIC}


def _levels(*enter: float) -> LevelSet:
    names = ("green", "yellow", "orange", "red")
    measures = (
        "",
        "Extra stewards naar de ingangen; omroep aankondigen",
        "Instroom doseren: ingang Noord half dicht; tramhalte-uitgang sluiten",
        "Ingangen sluiten, verkeer omleiden, ontruimingsroutes vrijmaken",
    )
    levels = [Level(name="green", colour="green")]
    levels += [
        Level(name=n, colour=n, enter=e, exit=e * 0.9, measures=m)
        for n, e, m in zip(names[1:], enter, measures[1:], strict=True)
    ]
    return LevelSet(metric="density", levels=tuple(levels), pending_s=0.0, hold_s=2.0)


def demo_site() -> Site:
    return Site.model_validate(
        {
            "id": "scheveningen",
            "name": "Scheveningen",
            "timezone": "Europe/Amsterdam",
            "plan": {"image": "plan.svg", "width_px": 1200, "height_px": 800},
            "zones": [
                {
                    "id": "plein",
                    "name": "Plein",
                    "area_m2": 1500,
                    "capacity": 4000,
                    "type": "standing",
                    "stale_after_s": 20,
                    "plan_polygon": [[380, 430], [820, 430], [820, 770], [380, 770]],
                },
                {
                    "id": "boulevard",
                    "name": "Boulevard",
                    "area_m2": 2400,
                    "capacity": 3000,
                    "stale_after_s": 20,
                    "plan_polygon": [[0, 300], [1200, 300], [1200, 390], [0, 390]],
                },
                {
                    "id": "strand",
                    "name": "Strand",
                    "area_m2": 9000,
                    "stale_after_s": 20,
                    "plan_polygon": [
                        [0, 178],
                        [300, 160],
                        [600, 168],
                        [900, 148],
                        [1200, 152],
                        [1200, 298],
                        [0, 298],
                    ],
                },
                {
                    "id": "palace",
                    "name": "Palaceplein",
                    "area_m2": 1200,
                    "capacity": 2000,
                    "type": "standing",
                    "stale_after_s": 20,
                    "plan_polygon": [[860, 430], [1160, 430], [1160, 770], [860, 770]],
                },
            ],
            "lines": [
                {
                    "id": "gate-plein",
                    "zone": "plein",
                    "width_m": 12,
                    "in_direction": "naar het plein",
                    "plan_path": [[440, 430], [520, 430]],
                },
                {
                    "id": "gate-strand",
                    "zone": "strand",
                    "width_m": 8,
                    "in_direction": "naar het strand",
                    "plan_path": [[860, 300], [940, 300]],
                },
            ],
            "sensors": [
                {
                    "id": "cam-plein",
                    "name": "Camera plein",
                    "zone": "plein",
                    "plan_position": [400, 750],
                },
                {
                    "id": "cam-boulevard",
                    "name": "Camera boulevard",
                    "zone": "boulevard",
                    "plan_position": [150, 345],
                },
                {
                    "id": "cam-strand",
                    "name": "Camera strand",
                    "zone": "strand",
                    "plan_position": [1050, 230],
                },
                {
                    "id": "cam-palace",
                    "name": "Camera Palaceplein",
                    "zone": "palace",
                    "plan_position": [1140, 750],
                },
            ],
        }
    )


def zones_config() -> ZonesConfig:
    return ZonesConfig(
        level_sets={"moving": _levels(0.72, 1.08, 2.15), "standing": _levels(2.0, 3.0, 4.7)},
        publish_interval_s=1.0,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveHub:
    """The dashboard with a ticking zone model, served on 127.0.0.1 from a thread."""

    def __init__(
        self,
        tick_s: float = 0.25,
        heartbeat_s: float = 1.0,
        views: dict[str, tuple[str, DashboardView]] | None = None,
    ) -> None:
        """``views``: name -> (token, view); the four of :data:`VIEWS` when left out."""
        self.site = demo_site()
        self.model = ZoneModel(self.site, zones_config())
        self.provider = ZoneModelProvider(self.model)
        self.audit = MemoryAudit()
        chosen = views or {k: (TOKENS[k], v) for k, v in VIEWS.items()}
        self.tokens = {k: token for k, (token, _) in chosen.items()}
        self.auth = StaticViewAuth(chosen.values())
        self.tick_s = tick_s
        self.heartbeat_s = heartbeat_s
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="dashboard-test-hub", daemon=True)
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self.counts: dict[str, float] = {}

    # --- running ------------------------------------------------------------------------

    def start(self) -> LiveHub:
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the test hub did not start")
        return self

    def _run(self) -> None:
        try:
            self.loop.run_until_complete(self._main())
        finally:
            self.loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        app = make_dashboard_app(
            self.provider, self.auth, self.audit, plan_dir=FIXTURES, heartbeat_s=self.heartbeat_s
        )
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port)
        await site.start()
        self._started.set()
        try:
            while not self._stop.is_set():
                self._drive()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.tick_s)
        finally:
            await runner.cleanup()

    def _drive(self) -> None:
        now = datetime.now(UTC)
        for zone, count in self.counts.items():
            self.model.ingest(
                Event.create(
                    source=f"cam-{zone}",
                    kind="camera",
                    measurement=Occupancy(count=count),
                    provenance=PROV,
                    zone=zone,
                    observed_at=now,
                    received_at=now,
                )
            )
        self.model.tick(now)
        self.provider.update(now)

    def backfill(self, weeks: int = 3, hours: float = 4.0, now: datetime | None = None) -> None:
        """Past data before :meth:`start`: a quarter-hourly history of ``weeks`` (the normal
        band and the forecast rest on it) and the last ``hours`` minute by minute."""
        end = (now or datetime.now(UTC)).timestamp()
        quarter_from = end - weeks * 7 * 86400
        recent_from = end - hours * 3600
        t = quarter_from
        while t < recent_from:  # the history the band rests on: straight into its bins
            for zone, count in self._shape(t).items():
                self.model.history.add(zone, t, count)
            t += 900
        while t < end - 30:  # the last hours through the model, as the hub would run
            self._backfill_at(t)
            t += 60

    @staticmethod
    def _shape(ts: float) -> dict[str, float]:
        now = datetime.fromtimestamp(ts, UTC)
        hour = now.hour + now.minute / 60
        shape = 0.35 + 0.65 * max(0.0, math.sin((hour - 8) / 14 * math.pi))  # busy 13-17 h
        bases = {"plein": 1900, "boulevard": 1000, "strand": 3000, "palace": 800}
        return {
            zone: round(base * shape * (1 + 0.06 * math.sin(ts / 1700 + len(zone))))
            for zone, base in bases.items()
        }

    def _backfill_at(self, ts: float) -> None:
        now = datetime.fromtimestamp(ts, UTC)
        self.counts.update(self._shape(ts))
        ingest = self.model.ingest
        for zone, count in self.counts.items():
            ingest(
                Event.create(
                    source=f"cam-{zone}",
                    kind="camera",
                    measurement=Occupancy(count=count),
                    provenance=PROV,
                    zone=zone,
                    observed_at=now,
                    received_at=now,
                )
            )
        self.model.tick(now)
        self.provider.update(now)

    def stop(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(15)

    # --- driving from the test thread ---------------------------------------------------

    def set_counts(self, **counts: float) -> None:
        def apply() -> None:
            self.counts.update(counts)

        self.loop.call_soon_threadsafe(apply)

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` in the hub's loop and return its result."""

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)
