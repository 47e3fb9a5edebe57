"""Drive a ZoneModel on a fake clock: feed events as devices would, tick as the driver would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hub import Crossing, Devices, Event, Occupancy, Provenance, Quality, QualityReason, Site
from hub.testing import FakeClock
from hub.zones import ZoneModel, ZonesConfig, ZoneView

PROV = Provenance(plugin="test", plugin_version="1.0", transport="simulated")
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # a Monday


class Harness:
    def __init__(
        self,
        site: Site,
        config: ZonesConfig | None = None,
        start: datetime = T0,
        model: ZoneModel | None = None,
    ) -> None:
        self.clock = FakeClock(start)
        self.model = model or ZoneModel(site, config)
        self.out: list[Event] = []

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def occupancy(
        self,
        zone: str,
        count: float,
        source: str = "cam-1",
        quality: Quality = Quality.OK,
        reasons: tuple[QualityReason, ...] = (),
        at: datetime | None = None,
    ) -> None:
        self.model.ingest(
            Event.create(
                source=source,
                kind="camera",
                measurement=Occupancy(count=count),
                provenance=PROV,
                zone=zone,
                observed_at=at or self.now,
                received_at=self.now,
                quality=quality,
                quality_reasons=reasons,
            )
        )

    def crossing(
        self,
        line: str,
        n_in: int,
        n_out: int = 0,
        source: str | None = None,
        seconds: float = 60.0,
        end: datetime | None = None,
        reasons: tuple[QualityReason, ...] = (),
    ) -> None:
        end = end or self.now
        self.model.ingest(
            Event.create(
                source=source or f"{line}-counter",
                kind="lidar",
                measurement=Crossing(in_=n_in, out=n_out),
                provenance=PROV,
                line=line,
                observed_from=end - timedelta(seconds=seconds),
                observed_to=end,
                received_at=self.now,
                quality_reasons=reasons,
            )
        )

    def devices(self, zone: str, count: int, source: str = "wifi-1") -> None:
        self.model.ingest(
            Event.create(
                source=source,
                kind="wifi_counter",
                measurement=Devices(count=count),
                provenance=PROV,
                zone=zone,
                observed_from=self.now - timedelta(minutes=1),
                observed_to=self.now,
                received_at=self.now,
            )
        )

    def tick(self) -> list[Event]:
        events = self.model.tick(self.now)
        self.out.extend(events)
        return events

    def advance(self, seconds: float, step: float = 1.0) -> list[Event]:
        """Move the clock in steps, ticking after each (the driver's once-a-second tick)."""
        events: list[Event] = []
        done = 0.0
        while done < seconds:
            self.clock.advance(step)
            done += step
            events += self.tick()
        return events

    def zone(self, zone: str) -> ZoneView:
        return self.model.zones()[zone]

    def of(self, type_: str, events: list[Event] | None = None) -> list[Any]:
        return [e for e in (self.out if events is None else events) if e.measurement.type == type_]
