"""The ``xovis`` source: Xovis 3D people counters pushing *logics* data over HTTP or MQTT.

The work (transport loops, package → events, live-push refusal) is in
:mod:`.xovis_handler`; parsing is sans-io in :mod:`.xovis`.
"""

from __future__ import annotations

__all__ = ["XovisSource"]

from collections.abc import Mapping, Sequence
from typing import Any, cast

import hub

from .config import XovisConfig
from .migration import lidar_hint
from .xovis_handler import XovisHandler


class XovisSource(hub.Source[XovisConfig]):
    """Xovis PC2/PC3 logics push: LINE logics become crossings, ZONE logics occupancy."""

    kind = "xovis"
    config_model = XovisConfig
    description = (
        "Xovis 3D people counters, logics data push over HTTP or MQTT: LINE logics as "
        "crossings, ZONE logics as occupancy; per-person live data never leaves the hub"
    )

    def __init__(self, config: XovisConfig, ctx: hub.SourceContext) -> None:
        super().__init__(config, ctx)
        self._xovis = XovisHandler(config, ctx)

    @classmethod
    def required_transports(cls, config: Any) -> Sequence[tuple[str, str | None]]:
        cfg = cast(XovisConfig, config)
        return [("mqtt", cfg.broker)] if cfg.transport == "mqtt" else [("http", None)]

    @classmethod
    def retired_kind_hint(cls, kind: str, table: Mapping[str, Any]) -> str | None:
        return lidar_hint(kind, table)

    def status(self) -> Mapping[str, Any]:
        """Refused live pushes (422), records already emitted, malformed records."""
        return self._xovis.status()

    async def run(self) -> None:
        if self.config.transport == "mqtt":
            await self._xovis.run_mqtt()
        else:
            await self._xovis.run_http()
