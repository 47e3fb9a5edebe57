"""A deliberately broken source: the conformance kit must fail it, one precise reason per defect.

Defects (each marked ``DEFECT``):

1. the config model sets ``extra="ignore"``: a misspelled key is silently accepted;
2. a MAC address leaks into the event extras;
3. ``run()`` blocks the event loop with ``time.sleep`` (a "blocking connect");
4. ``run()`` swallows ``asyncio.CancelledError`` and carries on;
5. garbage input crashes ``run()`` with ``ValueError`` instead of being counted.

Readings arrive over MQTT as JSON: ``{"seq": 1, "in": 3, "out": 1, "sensor": "<mac>"}``.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from typing import Any

from pydantic import ConfigDict, Field

import hub


class BrokenConfig(hub.SourceConfig):
    model_config = ConfigDict(extra="ignore", frozen=True)  # DEFECT 1
    topic: str = Field(default="broken/+/count", description="topic filter to subscribe to")
    interval_s: float = Field(default=60.0, gt=0, description="seconds each reading covers")


def parse_reading(payload: bytes) -> dict[str, Any]:
    try:
        data = json.loads(payload)
        return {"seq": int(data["seq"]), "in": int(data["in"]), "out": int(data["out"]),
                "sensor": str(data.get("sensor", ""))}  # fmt: skip
    except (KeyError, TypeError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"not a counter reading: {err}") from err  # DEFECT 5 (not MalformedInput)


class BrokenSource(hub.Source[BrokenConfig]):
    kind = "broken_counter"
    config_model = BrokenConfig
    blocked_once = False

    async def run(self) -> None:
        mqtt = self.ctx.mqtt()
        if not BrokenSource.blocked_once:  # once per process keeps the test suite fast
            BrokenSource.blocked_once = True
            time.sleep(0.3)  # DEFECT 3
        while True:
            try:
                async with mqtt.subscribe([self.config.topic]) as messages:
                    self.ctx.set_available()
                    async for msg in messages:
                        reading = parse_reading(msg.payload)  # DEFECT 5: ValueError escapes
                        now = self.ctx.clock.now()
                        event = self.ctx.event(
                            hub.Crossing(in_=reading["in"], out=reading["out"]),
                            line=self.config.line,
                            observed_from=now - timedelta(seconds=self.config.interval_s),
                            observed_to=now,
                            key=reading["seq"],
                            sequence=reading["seq"],
                            extras={"sensor": reading["sensor"]},  # DEFECT 2: a MAC
                        )
                        await self.ctx.emit(event)
            except asyncio.CancelledError:  # DEFECT 4
                continue


@hub.hookimpl
def register_sources(register: Any) -> None:
    register(BrokenSource)
