from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hub import Event, Occupancy
from hub.dashboard import MemoryAudit, StaticViewAuth, ZoneModelProvider, make_dashboard_app
from hub.testing import FakeClock
from hub.zones import ZoneModel
from tests.dashboard.harness import FIXTURES, PROV, TOKENS, VIEWS, demo_site, zones_config

T0 = datetime(2026, 8, 14, 18, 0, tzinfo=UTC)


@dataclass
class Served:
    """The dashboard of a real ZoneModel on a real aiohttp server (loopback), fake time."""

    client: TestClient
    model: ZoneModel
    provider: ZoneModelProvider
    clock: FakeClock
    audit: MemoryAudit

    def feed(self, **counts: float) -> None:
        now = self.clock.now()
        for zone, count in counts.items():
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

    def tick(self, seconds: float = 1.0) -> None:
        self.clock.advance(seconds)
        self.model.tick(self.clock.now())
        self.provider.update(self.clock.now())

    def surge(self) -> None:
        """Plein to red (density 5 p/m² > 4.7) with its alert firing; the rest green."""
        for _ in range(3):
            self.feed(plein=7500, boulevard=300, strand=900, palace=200)
            self.tick()

    def auth(self, view: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKENS[view]}"}


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    clock = FakeClock(T0)
    model = ZoneModel(demo_site(), zones_config())
    provider = ZoneModelProvider(model, clock=clock)
    audit = MemoryAudit()
    auth = StaticViewAuth((TOKENS[k], v) for k, v in VIEWS.items())
    app = make_dashboard_app(provider, auth, audit, plan_dir=FIXTURES, heartbeat_s=0.2)
    server = TestServer(app, host="127.0.0.1")
    client = TestClient(server)
    await client.start_server()
    s = Served(client, model, provider, clock, audit)
    s.feed(plein=1000, boulevard=300, strand=900, palace=200)
    s.tick()
    try:
        yield s
    finally:
        await client.close()
