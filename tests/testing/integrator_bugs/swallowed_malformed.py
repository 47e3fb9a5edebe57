"""DEFECT: a malformed push is answered ``200 OK`` and counted nowhere."""

from __future__ import annotations

import hub
from hub.transports import IngestRequest, IngestResponse

from .base import CounterPushSource
from .protocol import parse_report


class SwallowedMalformedSource(CounterPushSource):
    kind = "swallowed_malformed_counter"

    async def handle(self, request: IngestRequest) -> IngestResponse:
        try:
            parse_report(request.body)
        except hub.MalformedInput:
            self.ctx.log.debug("ignoring a push we could not read")  # DEFECT: no 400, no count
            return IngestResponse(200, "OK")
        return await super().handle(request)
