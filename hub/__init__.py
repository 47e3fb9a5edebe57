"""crowdhub: a plugin-based IoT integration hub for crowd safety.

The public API. Everything a plugin needs is importable from here; ``hub.core``
is private. See ``contrib/`` for the plugin-writing guide and hook reference.
"""

from importlib.metadata import PackageNotFoundError, version

import pluggy

from hub import quality
from hub.clock import Clock, SystemClock
from hub.config_view import ConfigView
from hub.errors import (
    AuthenticationFailed,
    ConfigError,
    ConfigProblem,
    DeviceUnavailable,
    EventNotKept,
    HubError,
    MalformedInput,
    PluginError,
    PrivacyViolation,
    SinkError,
    SinkRejected,
    SinkUnavailable,
    SourceError,
    TransportError,
)
from hub.events import (
    SCHEMA_VERSION,
    Alert,
    Crossing,
    Density,
    Devices,
    Event,
    Level,
    LineFlow,
    Measurement,
    MeasurementType,
    Occupancy,
    Provenance,
    Quality,
    QualityReason,
    Status,
    ZoneState,
)
from hub.json_memo import event_json
from hub.plugin import (
    HubHandle,
    InstanceConfig,
    Sink,
    SinkConfig,
    SinkContext,
    Source,
    SourceConfig,
    SourceContext,
    Transport,
    TransportConfig,
    TransportContext,
)
from hub.site import Line, Site, Zone

try:
    __version__ = version("crowdhub")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

hookimpl = pluggy.HookimplMarker("crowdhub")
"""Decorate plugin functions with this: ``@hub.hookimpl def register_sources(register): ...``"""

__all__ = [
    "SCHEMA_VERSION",
    "Alert",
    "AuthenticationFailed",
    "Clock",
    "ConfigError",
    "ConfigProblem",
    "ConfigView",
    "Crossing",
    "Density",
    "DeviceUnavailable",
    "Devices",
    "Event",
    "EventNotKept",
    "HubError",
    "HubHandle",
    "InstanceConfig",
    "Level",
    "Line",
    "LineFlow",
    "MalformedInput",
    "Measurement",
    "MeasurementType",
    "Occupancy",
    "PluginError",
    "PrivacyViolation",
    "Provenance",
    "Quality",
    "QualityReason",
    "Sink",
    "SinkConfig",
    "SinkContext",
    "SinkError",
    "SinkRejected",
    "SinkUnavailable",
    "Site",
    "Source",
    "SourceConfig",
    "SourceContext",
    "SourceError",
    "Status",
    "SystemClock",
    "Transport",
    "TransportConfig",
    "TransportContext",
    "TransportError",
    "Zone",
    "ZoneState",
    "__version__",
    "event_json",
    "hookimpl",
    "quality",
]
