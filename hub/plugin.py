"""What a plugin implements: sources, sinks and transports, their configs and contexts.

Hooks *register* these classes at startup (see :mod:`hub.hookspecs`); the core
then creates one object per configured instance and runs it:

* a :class:`Source` turns device bytes/messages into :class:`~hub.events.Event`
  objects and hands them to ``ctx.emit``; its ``run()`` loops until cancelled
  and raises :class:`~hub.errors.DeviceUnavailable` when the device goes away
  (the supervisor retries with backoff);
* a :class:`Sink` receives batches in ``write(batch)``; returning means the
  batch is delivered (the acknowledgement), raising
  :class:`~hub.errors.SinkUnavailable` means "retry this batch later" and
  :class:`~hub.errors.SinkRejected` "drop it, for this reason". The core owns the
  queue in front of each sink, so it can become durable without changing sinks;
* a :class:`Transport` owns a shared connection or server (an MQTT broker
  connection, the HTTP ingest server, serial port access) that sources use
  through the typed accessors ``ctx.mqtt(id)``, ``ctx.serial()``,
  ``ctx.http_server(id)`` and ``ctx.http_client(id)`` (``ctx.transport(kind, id)``
  is the untyped escape hatch for third-party transport kinds).
"""

from __future__ import annotations

__all__ = [
    "HubHandle",
    "InstanceConfig",
    "OnStartupError",
    "Sink",
    "SinkConfig",
    "SinkContext",
    "Source",
    "SourceConfig",
    "SourceContext",
    "Transport",
    "TransportConfig",
    "TransportContext",
]

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, Protocol, TypeAlias, TypeVar

from pydantic import BaseModel

from hub.clock import Clock, SystemClock
from hub.errors import TransportError
from hub.events import (
    Crossing,
    Density,
    Devices,
    Event,
    Occupancy,
    Provenance,
    Quality,
    QualityReason,
    Status,
    event_id_for,
)
from hub.instance_config import (
    InstanceConfig,
    OnStartupError,
    SinkConfig,
    SourceConfig,
    TransportConfig,
)
from hub.site import Site
from hub.transports import HttpClient, HttpIngest, MessageTransport, SerialTransport

ConfigT = TypeVar("ConfigT", bound=BaseModel)


def _lookup(
    lookup: TransportLookup | None, owner: str, kind: str, instance: str | None
) -> Transport[Any]:
    if lookup is None:
        raise TransportError(f"{owner}: no transports available")
    return lookup(kind, instance)


def _wrong_kind(owner: str, kind: str, instance: str | None, found: object, protocol: str) -> str:
    return (
        f"{owner}: transport {kind}[{instance or 'default'}] is a {type(found).__name__}, "
        f"which does not implement hub.transports.{protocol}; register a transport of "
        f"kind {kind!r} that does"
    )


@dataclass
class _Counters:
    events: int = 0
    malformed: int = 0
    last_event_monotonic: float | None = None
    malformed_logged_at: float = field(default=-1e9)
    malformed_suppressed: int = 0


class SourceContext:
    """Everything a source may touch: its identity, the site, time, transports, ``emit``.

    Created by the core (or by :mod:`hub.testing` in tests); plugins never build one.
    """

    def __init__(
        self,
        *,
        instance: str,
        kind: str,
        plugin: str,
        plugin_version: str,
        site: Site,
        emit: Callable[[Event], Awaitable[None]],
        transports: TransportLookup | None = None,
        clock: Clock | None = None,
        logger: logging.Logger | None = None,
        transport_name: str | None = None,
    ) -> None:
        self.instance = instance
        self.kind = kind
        self.site = site
        self.clock: Clock = clock or SystemClock()
        self.log = logger or logging.getLogger(f"hub.sources.{kind}.{instance}")
        self.counters = _Counters()
        self._emit = emit
        self._transports = transports
        self._owner = f"{kind}[{instance}]"
        self._available: Callable[[bool], None] | None = None
        self.provenance = Provenance(
            plugin=plugin, plugin_version=plugin_version, transport=transport_name
        )

    # -- building and emitting events ------------------------------------------------
    def event(
        self,
        measurement: Crossing | Occupancy | Devices | Density | Status,
        *,
        key: str | int | None = None,
        observed_at: datetime | None = None,
        observed_from: datetime | None = None,
        observed_to: datetime | None = None,
        zone: str | None = None,
        line: str | None = None,
        quality: Quality = Quality.OK,
        quality_reasons: Sequence[QualityReason] = (),
        sequence: int | None = None,
        extras: Mapping[str, Any] | None = None,
        transport: str | None = None,
    ) -> Event:
        """Build a validated event for this instance.

        ``zone`` and ``line`` default to the zone/line of the line in the site
        model; ``extras`` is stored under this plugin's kind as namespace.
        ``key`` makes ``event_id`` deterministic (sequence number, bin start).
        """
        if line is not None and zone is None:
            ln = self.site.line(line)
            zone = ln.zone if ln else None
        prov = self.provenance
        if transport is not None and transport != prov.transport:
            prov = prov.model_copy(update={"transport": transport})
        return Event(
            event_id=event_id_for(self.instance, measurement.type, key, line or zone),
            source=self.instance,
            kind=self.kind,
            measurement=measurement,
            provenance=prov,
            received_at=self.clock.now(),
            site=self.site.id,
            zone=zone,
            line=line,
            observed_at=observed_at,
            observed_from=observed_from,
            observed_to=observed_to,
            quality=quality,
            quality_reasons=tuple(quality_reasons),
            sequence=sequence,
            extras={self.kind: dict(extras)} if extras else {},
        )

    async def emit(self, event: Event) -> None:
        """Hand one event to the hub. Waits only while an output with ``overflow = "block"``
        is full (backpressure)."""
        self.counters.events += 1
        self.counters.last_event_monotonic = time.monotonic()
        if self._available is not None:
            self._available(True)
        await self._emit(event)

    def malformed(self, reason: str) -> None:
        """Count one malformed frame/message; log the first of each burst (10 s window).

        ``reason`` must not contain the raw payload (it may hold identifiers).
        """
        c = self.counters
        c.malformed += 1
        now = time.monotonic()
        if now - c.malformed_logged_at >= 10.0:
            extra = (
                f" (+{c.malformed_suppressed} more since last report)"
                if c.malformed_suppressed
                else ""
            )
            self.log.warning(
                "%s[%s]: malformed input: %s%s", self.kind, self.instance, reason, extra
            )
            c.malformed_logged_at = now
            c.malformed_suppressed = 0
        else:
            c.malformed_suppressed += 1

    def set_available(self, available: bool = True) -> None:
        """Tell the supervisor the device is (again) reachable, before the first event."""
        if self._available is not None:
            self._available(available)

    def on_availability(self, callback: Callable[[bool], None] | None) -> None:
        """Route :meth:`set_available` (and the first emitted event) to ``callback``.

        Called by whoever runs the source (the hub's supervisor, a test harness);
        plugins call :meth:`set_available`, never this.
        """
        self._available = callback

    # -- transports ------------------------------------------------------------------
    def mqtt(self, instance: str | None = None) -> MessageTransport:
        """The shared MQTT connection ``[[transports.mqtt]]`` with id ``instance``
        (``None``: the one with id ``default``).

        Raises :class:`~hub.errors.TransportError` naming what is configured.
        """
        found = self.transport("mqtt", instance)
        if isinstance(found, MessageTransport):
            return found
        raise TransportError(_wrong_kind(self._owner, "mqtt", instance, found, "MessageTransport"))

    def serial(self) -> SerialTransport:
        """The hub's serial port access (``[[transports.serial]]``, always present)."""
        found = self.transport("serial", None)
        if isinstance(found, SerialTransport):
            return found
        raise TransportError(_wrong_kind(self._owner, "serial", None, found, "SerialTransport"))

    def http_server(self, instance: str | None = None) -> HttpIngest:
        """The hub's HTTP ingest server ``[[transports.http]]`` with id ``instance``."""
        found = self.transport("http", instance)
        if isinstance(found, HttpIngest):
            return found
        raise TransportError(_wrong_kind(self._owner, "http", instance, found, "HttpIngest"))

    def http_client(self, instance: str | None = None) -> HttpClient:
        """The shared HTTP client ``[[transports.http_client]]`` with id ``instance``."""
        found = self.transport("http_client", instance)
        if isinstance(found, HttpClient):
            return found
        raise TransportError(_wrong_kind(self._owner, "http_client", instance, found, "HttpClient"))

    def transport(self, kind: str, instance: str | None = None) -> Transport[Any]:
        """The shared transport ``kind``, instance ``instance``, untyped.

        The escape hatch for third-party transport kinds; for the built-in kinds
        use :meth:`mqtt`, :meth:`serial`, :meth:`http_server` or :meth:`http_client`.
        Raises :class:`~hub.errors.TransportError` naming what is configured.
        """
        return _lookup(self._transports, self._owner, kind, instance)


class SinkContext:
    """What a sink may touch: its identity, the site, time and transports."""

    def __init__(
        self,
        *,
        instance: str,
        kind: str,
        site: Site,
        data_dir: str = ".",
        transports: TransportLookup | None = None,
        clock: Clock | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.instance = instance
        self.kind = kind
        self.site = site
        self.data_dir = data_dir
        self.clock: Clock = clock or SystemClock()
        self.log = logger or logging.getLogger(f"hub.sinks.{kind}.{instance}")
        self._transports = transports
        self._owner = f"{kind}[{instance}]"

    def mqtt(self, instance: str | None = None) -> MessageTransport:
        """The shared MQTT connection with id ``instance`` (to publish on)."""
        found = self.transport("mqtt", instance)
        if isinstance(found, MessageTransport):
            return found
        raise TransportError(_wrong_kind(self._owner, "mqtt", instance, found, "MessageTransport"))

    def http_client(self, instance: str | None = None) -> HttpClient:
        """The shared HTTP client with id ``instance`` (to post batches with)."""
        found = self.transport("http_client", instance)
        if isinstance(found, HttpClient):
            return found
        raise TransportError(_wrong_kind(self._owner, "http_client", instance, found, "HttpClient"))

    def transport(self, kind: str, instance: str | None = None) -> Transport[Any]:
        """The shared transport ``kind``/``instance``, untyped: the escape hatch for
        third-party transport kinds (use :meth:`mqtt` / :meth:`http_client` otherwise)."""
        return _lookup(self._transports, self._owner, kind, instance)


@dataclass
class TransportContext:
    """What a transport gets from the core: identity, clock, a logger and the hub's state."""

    instance: str
    kind: str
    clock: Clock
    log: logging.Logger
    status: Callable[[], Mapping[str, Any]] = field(default=lambda: {})
    """Snapshot of hub state (sources, sinks, counters) for health/metrics endpoints."""
    metrics_text: Callable[[], bytes] = field(default=lambda: b"")
    """Prometheus exposition of the hub's metrics (for ``GET /metrics``)."""


class HubHandle(Protocol):
    """What ``startup``/``shutdown`` hooks receive: a read-only view of the running hub."""

    @property
    def site(self) -> Site: ...

    def status(self) -> Mapping[str, Any]:
        """Per-instance state and counters, as shown by ``hub status`` and ``/healthz``."""
        ...


class Source(ABC, Generic[ConfigT]):
    """A device adapter. Subclass with ``kind``, ``config_model`` and ``run()``.

    ``run()`` reads from a transport and emits events until cancelled. Raise
    :class:`~hub.errors.DeviceUnavailable` when the device goes away; the
    supervisor logs it once and calls ``run()`` again with jittered backoff.
    Catch :class:`~hub.errors.MalformedInput` per message and call
    ``ctx.malformed(reason)``: one bad frame never stops a source.
    """

    kind: ClassVar[str]
    config_model: ClassVar[type[SourceConfig]]
    transport_kind: ClassVar[str | None] = None
    """The transport this source reads through ('serial', 'mqtt', 'http'), for docs/status."""
    description: ClassVar[str] = ""

    def __init__(self, config: ConfigT, ctx: SourceContext) -> None:
        self.config = config
        self.ctx = ctx

    @classmethod
    def required_transports(cls, config: Any) -> Sequence[tuple[str, str | None]]:
        """The ``(transport kind, instance id)`` pairs this instance will ask for.

        The core checks them at config time, so ``broker = "typo"`` is reported
        before anything starts. ``None`` as id means the kind's default instance.
        """
        return ()

    @classmethod
    def retired_kind_hint(cls, kind: str, table: Mapping[str, Any]) -> str | None:
        """One line saying what to write instead of a ``[[sources.<kind>]]`` table of a kind
        no longer registered (renamed or split by this plugin); ``None`` if not yours.

        ``table`` is one raw instance table. The core asks only for unknown kinds, and
        reports the answer for that instance in place of "unknown source kind".
        """
        return None

    @abstractmethod
    async def run(self) -> None:
        """Read the device and ``await self.ctx.emit(...)`` events until cancelled."""

    def status(self) -> Mapping[str, Any]:
        """Plugin-specific counters (ignored, duplicates, gaps...) for ``hub status``,
        ``/healthz`` and ``/metrics``. Numbers only; never identifiers."""
        return {}


class Sink(ABC, Generic[ConfigT]):
    """An output. Subclass with ``kind``, ``config_model`` and ``write()``."""

    kind: ClassVar[str]
    config_model: ClassVar[type[SinkConfig]]
    description: ClassVar[str] = ""
    leaves_machine: ClassVar[bool] = False
    """True when this output sends events off the machine: it must then name a view."""

    def __init__(self, config: ConfigT, ctx: SinkContext) -> None:
        self.config = config
        self.ctx = ctx

    @classmethod
    def required_transports(cls, config: Any) -> Sequence[tuple[str, str | None]]:
        """Like :meth:`Source.required_transports`."""
        return ()

    async def open(self) -> None:
        """Acquire resources (files, connections). Raise SinkUnavailable to be retried."""

    @abstractmethod
    async def write(self, batch: Sequence[Event]) -> None:
        """Deliver ``batch``. Returning acknowledges it; raise SinkUnavailable/SinkRejected."""

    async def close(self) -> None:
        """Flush and release. Called once at shutdown after the last write."""


class Transport(ABC, Generic[ConfigT]):
    """A shared connection or server. ``run()`` maintains it until cancelled."""

    kind: ClassVar[str]
    config_model: ClassVar[type[TransportConfig]]
    description: ClassVar[str] = ""

    def __init__(self, config: ConfigT, ctx: TransportContext) -> None:
        self.config = config
        self.ctx = ctx

    @abstractmethod
    async def run(self) -> None:
        """Keep the connection/server alive (reconnecting with backoff) until cancelled."""

    def health(self) -> Mapping[str, Any]:
        """A small JSON-able status (``connected``, ``reconnects``...) for /healthz."""
        return {}


TransportLookup: TypeAlias = Callable[[str, str | None], Transport[Any]]
"""How a context finds a shared transport: ``(kind, instance id or None) -> transport``;
raises :class:`~hub.errors.TransportError` naming what is configured."""
