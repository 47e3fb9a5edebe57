"""The ``simulated`` source: emits a reading every ``interval_s``."""

from __future__ import annotations

from datetime import timedelta

import hub

from .config import SimulatedConfig
from .protocol import CrowdModel


class SimulatedSource(hub.Source[SimulatedConfig]):
    kind = "simulated"
    config_model = SimulatedConfig
    transport_kind = "simulated"
    description = "simulated crowd counter (demo and tests)"

    def __init__(self, config: SimulatedConfig, ctx: hub.SourceContext) -> None:
        super().__init__(config, ctx)
        self.model = CrowdModel(config.rate_per_min, config.capacity, config.seed)
        self.readings = 0

    async def run(self) -> None:
        cfg, ctx = self.config, self.ctx
        ctx.set_available()
        while True:
            await ctx.clock.sleep(cfg.interval_s)
            self.readings += 1
            if cfg.fail_every and self.readings % cfg.fail_every == 0:
                raise hub.DeviceUnavailable(
                    f"simulated[{ctx.instance}]: simulated outage (fail_every = {cfg.fail_every})"
                )
            r = self.model.step(cfg.interval_s)
            now = ctx.clock.now()
            start = now - timedelta(seconds=cfg.interval_s)
            if cfg.measurement == "crossing":
                m: hub.Crossing | hub.Occupancy | hub.Devices = hub.Crossing(in_=r.in_, out=r.out)
                event = ctx.event(
                    m, line=cfg.line, observed_from=start, observed_to=now, key=self.readings
                )
            elif cfg.measurement == "devices":
                m = hub.Devices(count=r.occupancy)
                event = ctx.event(
                    m, zone=cfg.zone, observed_from=start, observed_to=now, key=self.readings
                )
            else:
                m = hub.Occupancy(count=r.occupancy)
                event = ctx.event(m, zone=cfg.zone, observed_at=now, key=self.readings)
            await ctx.emit(event)
