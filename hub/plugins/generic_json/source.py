"""The ``generic_json`` source: a thin loop around :class:`~.protocol.Mapper`.

MQTT: subscribe to ``topics`` on ``broker``; every message is one JSON document
(the topic is the default ``device``, so per-device state stays apart).
HTTP: serve ``POST /ingest/<id>`` on the hub's ingest server; answers 204, or
400 with the reason when nothing in the body could be mapped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast
from zoneinfo import ZoneInfo

from pydantic import ValidationError

import hub
from hub.transports import IngestRequest, IngestResponse

from .config import GenericJsonConfig
from .protocol import Mapper, MapResult


class GenericJsonSource(hub.Source[GenericJsonConfig]):
    kind = "generic_json"
    config_model = GenericJsonConfig
    description = "any JSON counter over MQTT or HTTP push, mapped with JMESPath in the config"

    def __init__(self, config: GenericJsonConfig, ctx: hub.SourceContext) -> None:
        super().__init__(config, ctx)
        site = ctx.site
        self.mapper = Mapper(
            config,
            tz=ZoneInfo(config.timezone or site.timezone),
            lines=[ln.id for ln in site.lines],
            zones=[z.id for z in site.zones],
            line_zones={ln.id: ln.zone for ln in site.lines},
        )
        self.duplicates = 0
        """Messages dropped as replays: sequence number seen recently, or (cumulative,
        no sequence) the same totals at the same device time."""
        self.undirected = 0
        """Readings whose azimuth was neither in nor out (``direction_expr``)."""
        if ctx.provenance.transport is None:  # one kind, two transports: say which per instance
            ctx.provenance = ctx.provenance.model_copy(update={"transport": config.transport})

    @classmethod
    def required_transports(cls, config: Any) -> Sequence[tuple[str, str | None]]:
        cfg = cast(GenericJsonConfig, config)
        return [("mqtt", cfg.broker)] if cfg.transport == "mqtt" else [("http", None)]

    async def run(self) -> None:
        if self.config.transport == "mqtt":
            await self._run_mqtt()
        else:
            await self._run_http()

    # -- MQTT ----------------------------------------------------------------------------
    async def _run_mqtt(self) -> None:
        cfg, ctx = self.config, self.ctx
        mqtt = ctx.mqtt(cfg.broker)
        async with mqtt.subscribe(list(cfg.topics), qos=cfg.qos) as messages:
            ctx.set_available()
            async for msg in messages:
                try:
                    await self.handle(msg.payload, stream=msg.topic)
                except hub.MalformedInput as err:
                    ctx.malformed(str(err))

    # -- HTTP ----------------------------------------------------------------------------
    async def _run_http(self) -> None:
        cfg, ctx = self.config, self.ctx
        http = ctx.http_server()
        http.add_route(
            ctx.instance,
            self._on_request,
            auth=cfg.auth,
            content_types=cfg.content_types,
            max_body_bytes=cfg.max_body_bytes,
            rate_per_s=cfg.rate_per_s,
        )
        try:
            ctx.set_available()
            await asyncio.Event().wait()
        finally:
            http.remove_route(ctx.instance)

    async def _on_request(self, request: IngestRequest) -> IngestResponse | None:
        if request.method != "POST":
            return IngestResponse(
                405, "POST a JSON document to this URL", headers={"Allow": "POST"}
            )
        try:
            result = await self.handle(request.body)
        except hub.MalformedInput as err:
            self.ctx.malformed(str(err))
            raise
        if result.problems and not result.used:
            return IngestResponse(400, "; ".join(result.problems[:5]))
        return None

    # -- shared --------------------------------------------------------------------------
    async def handle(self, payload: bytes | str, *, stream: str = "") -> MapResult:
        """Map one payload and emit its events. Raises MalformedInput for an unusable
        message; per-reading problems are counted here and returned.

        Sequence numbers and totals advance only once every event was accepted (each
        ``emit`` returned) and something in the message was usable: a message refused
        (400, or cancelled while the outputs were behind) and sent again is mapped afresh.
        """
        ctx = self.ctx
        result = self.mapper.map_payload(
            payload, received_at=ctx.clock.now(), stream=stream, commit=False
        )
        for problem in result.problems:
            ctx.malformed(problem)
        self.undirected += result.undirected
        if result.duplicate or (result.repeats and not result.readings):
            self.duplicates += 1
            return result
        accepted = []
        for r in result.readings:
            try:
                event = ctx.event(
                    r.to_measurement(),
                    key=r.key,
                    observed_at=r.observed_at,
                    observed_from=r.observed_from,
                    observed_to=r.observed_to,
                    line=r.line,
                    zone=r.zone,
                    quality=r.quality,
                    quality_reasons=r.reasons,
                    sequence=r.sequence,
                    extras=r.extras,
                )
            except ValidationError as err:  # never echo the input values: they may identify
                msg = "reading rejected by the event schema: " + "; ".join(
                    f"{_field(e['loc'])}: {e['msg']}" for e in err.errors(include_input=False)
                )
                result.problems.append(msg)
                ctx.malformed(msg)
                continue
            await ctx.emit(event)
            accepted.append(r)
        result.readings[:] = accepted
        if result.used:
            self.mapper.commit(result)
        return result

    def status(self) -> dict[str, int]:
        """Messages dropped as replays, readings neither in nor out (azimuth)."""
        return {"duplicates": self.duplicates, "undirected": self.undirected}


def _field(loc: tuple[int | str, ...]) -> str:
    """A schema error location in config words: ``in_`` is the ``in`` value."""
    text = ".".join(map(str, loc)) or "event"
    return "in" if text == "in_" else text
