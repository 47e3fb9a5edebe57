"""DEFECT: the event key is the hub's arrival time, so a device's retry is a new event."""

from __future__ import annotations

from .base import CounterPushSource
from .protocol import Report


class ArrivalKeySource(CounterPushSource):
    kind = "arrival_key_counter"

    def key(self, report: Report) -> int:
        return int(self.ctx.clock.now().timestamp())  # DEFECT: when it arrived, not what it is
