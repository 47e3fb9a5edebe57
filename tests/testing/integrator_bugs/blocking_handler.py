"""DEFECT: ``time.sleep(0.3)`` inside the HTTP handler (blocks every other source)."""

from __future__ import annotations

import time

from hub.transports import IngestRequest, IngestResponse

from .base import CounterPushSource


class BlockingHandlerSource(CounterPushSource):
    kind = "blocking_handler_counter"
    blocked_once = False

    async def handle(self, request: IngestRequest) -> IngestResponse:
        if not BlockingHandlerSource.blocked_once:  # once per process keeps the suite fast
            BlockingHandlerSource.blocked_once = True
            time.sleep(0.3)  # DEFECT: "give the camera time to finish its upload"
        return await super().handle(request)
