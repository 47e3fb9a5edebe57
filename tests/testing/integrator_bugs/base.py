"""A correct HTTP push counter; each defect module overrides one method."""

from __future__ import annotations

import asyncio

from pydantic import Field

import hub
from hub.transports import HttpAuth, IngestRequest, IngestResponse

from .protocol import Report, parse_report


class CounterPushConfig(hub.SourceConfig):
    auth: HttpAuth = Field(default_factory=HttpAuth, description="how pushes authenticate")


class CounterPushSource(hub.Source[CounterPushConfig]):
    kind = "counter_push"
    config_model = CounterPushConfig

    async def run(self) -> None:
        http = self.ctx.http_server()
        http.add_route(self.ctx.instance, self.handle, auth=self.config.auth)
        self.ctx.set_available()
        try:
            await asyncio.Event().wait()
        finally:
            http.remove_route(self.ctx.instance)

    def key(self, report: Report) -> int:
        """What makes the report unique at the device: its sequence number."""
        return report.seq

    async def handle(self, request: IngestRequest) -> IngestResponse:
        try:
            report = parse_report(request.body)
        except hub.MalformedInput as err:
            self.ctx.malformed(str(err))  # counted, logged once per burst
            raise  # answered 400 with the reason
        event = self.ctx.event(
            hub.Crossing(in_=report.in_, out=report.out),
            line=self.config.line,
            observed_from=report.start,
            observed_to=report.end,
            key=self.key(report),
            sequence=report.seq,
        )
        await self.ctx.emit(event)
        return IngestResponse(204)
