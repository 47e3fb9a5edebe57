"""``console`` output: one readable line per event on stdout, or JSON lines."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import Field

import hub
from hub import Event, Sink, SinkConfig


class ConsoleConfig(SinkConfig):
    format: Literal["text", "json"] = Field(
        default="text", description="'text': one readable line per event; 'json': JSON lines"
    )
    stream: Literal["stdout", "stderr"] = Field(default="stdout", description="where to print")


def describe(event: Event) -> str:
    """A one-line human summary of an event."""
    m = event.measurement
    if m.type == "crossing":
        what = f"in={m.in_:<4} out={m.out:<4}"
    elif m.type == "occupancy":
        what = f"occupancy={m.count:g}"
    elif m.type == "devices":
        split = f" (wifi={m.wifi}, ble={m.ble})" if m.wifi is not None or m.ble is not None else ""
        what = f"devices={m.count}{split}"
    elif m.type == "density":
        what = f"density={m.value:.2f} p/m2"
    elif m.type == "level":
        what = f"level={m.level}" + ("" if m.fresh else " (stale)")
    elif m.type == "zone_state":
        occ = "?" if m.occupancy is None else f"{m.occupancy:g}"
        what = f"level={m.level} occupancy={occ} method={m.method or '-'}"
    elif m.type == "line_flow":
        what = f"flow in={m.in_per_m_min:.1f} out={m.out_per_m_min:.1f} p/m/min level={m.level}"
    elif m.type == "alert":
        what = f"alert {m.rule} {m.state} {m.severity}"
    else:
        what = f"status={m.state}" + (f" {m.detail}" if m.detail else "")
    if event.observed_at is not None:
        when = event.observed_at.strftime("%H:%M:%S")
    else:
        assert event.observed_from is not None and event.observed_to is not None
        when = f"{event.observed_from:%H:%M:%S}-{event.observed_to:%H:%M:%S}"
    where = (event.line and f"line {event.line}") or (event.zone and f"zone {event.zone}") or "-"
    reasons = ",".join(event.quality_reasons)
    quality = (
        ""
        if event.quality == "ok"
        else f" [{event.quality}: {reasons}]"
        if reasons
        else f" [{event.quality}]"
    )
    return f"{when}Z {event.source:<16} {m.type:<9} {where:<20} {what}{quality}"


class ConsoleSink(Sink[ConsoleConfig]):
    kind = "console"
    config_model = ConsoleConfig
    description = "print events to the terminal"

    async def write(self, batch: Sequence[Event]) -> None:
        out = sys.stdout if self.config.stream == "stdout" else sys.stderr
        if self.config.format == "json":
            text = "\n".join(e.model_dump_json() for e in batch)
        else:
            text = "\n".join(describe(e) for e in batch)
        out.write(text + "\n")
        out.flush()


@hub.hookimpl
def register_sinks(register: Callable[[type[Sink[Any]]], None]) -> None:
    register(ConsoleSink)
