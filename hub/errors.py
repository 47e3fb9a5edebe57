"""The crowdhub exception tree.

Plugins raise these; the core catches, logs and decides (retry, disable, stop).
Library exceptions (pyserial, aiohttp, socket and TLS errors) are translated at the
transport boundary with ``raise DeviceUnavailable(...) from err``, so a plugin
never has to know which library sits underneath.

::

    HubError
    ├── ConfigError                 bad configuration; the hub does not start (exit 2)
    ├── PluginError                 a plugin could not be loaded or is inconsistent
    ├── SourceError                 raised by a source (device adapter)
    │   ├── DeviceUnavailable       retry later: port gone, broker down, timeout
    │   │   └── EventNotKept        ``ctx.emit`` could not put the event in the durable
    │   │                           queue of every output that takes it: acknowledge
    │   │                           nothing upstream (HTTP push: 503), keep the source's
    │   │                           sequence/dedup state as it was, let it be sent again
    │   ├── AuthenticationFailed    bad credentials: retried slowly, needs a human
    │   └── MalformedInput          one frame/message is bad: counted, logged once
    │                               per burst, never stops the source
    ├── SinkError                   raised by a sink's ``write``
    │   ├── SinkUnavailable         retry the same batch later (5xx, timeout, disk busy)
    │   ├── SinkRejected            the output refuses this batch for good (4xx):
    │   │                           dropped with a reason, counted; or only some
    │   │                           events of it (``events``), the rest is written
    │   └── QueueUnavailable        an output's durable queue cannot keep events
    │                               (read-only or full disk, file deleted): what it
    │                               refused was not kept; acknowledge nothing upstream
    ├── TransportError              a transport cannot be set up or used
    └── PrivacyViolation            an event carries an identifier; it is
                                    dead-lettered, never forwarded

Every message says *where* (plugin / instance / field), *what* went wrong and
*what to do*. Messages never contain the offending identifier itself.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationFailed",
    "ConfigError",
    "ConfigProblem",
    "DeviceUnavailable",
    "EventNotKept",
    "HubError",
    "MalformedInput",
    "PluginError",
    "PrivacyViolation",
    "QueueUnavailable",
    "SinkError",
    "SinkRejected",
    "SinkUnavailable",
    "SourceError",
    "TransportError",
]

from collections.abc import Mapping
from dataclasses import dataclass


class HubError(Exception):
    """Base of every error crowdhub raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a configuration file.

    ``location`` is a dotted path such as ``sources.tfluna[gate-a].baudrate``.
    """

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class ConfigError(HubError):
    """The configuration is invalid. Carries every problem found, not just the first."""

    def __init__(self, problems: list[ConfigProblem], file: str | None = None) -> None:
        self.problems = problems
        self.file = file
        super().__init__(self.render())

    def render(self) -> str:
        prefix = f"{self.file}: " if self.file else ""
        return "\n".join(f"{prefix}{p}" for p in self.problems)


class PluginError(HubError):
    """A plugin failed to import, registered something invalid, or misspelled a hook."""


class SourceError(HubError):
    """Base for errors raised by sources."""


class DeviceUnavailable(SourceError):
    """The device or peer cannot be reached right now; the supervisor retries with backoff."""


class EventNotKept(DeviceUnavailable):
    """Raised by ``ctx.emit``: the event is not in the durable queue of every output that
    takes it (a read-only or full disk, a queue file gone).

    Acknowledge nothing of it upstream and do not advance the source's sequence or dedup
    state for it: the sender must send it again (an HTTP push is answered ``503``,
    "nothing of this was kept, send it again"; an MQTT QoS 1/2 message is not acknowledged
    and comes again). Outputs that did keep it do not get it twice when the same event
    (same ``event_id``) is emitted again. ``outputs`` names the outputs (``kind[id]``)
    that could not keep it.
    """

    def __init__(self, message: str, *, outputs: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.outputs = outputs


class AuthenticationFailed(SourceError):
    """The peer rejected our credentials. Retried at the slowest backoff; fix the config."""


class MalformedInput(SourceError):
    """One frame or message could not be understood.

    Raised by sans-io protocol code; the source counts it and carries on.
    """


class SinkError(HubError):
    """Base for errors raised by ``Sink.write``."""


class SinkUnavailable(SinkError):
    """The output cannot take the batch now; the core retries the same batch later.

    ``retry_after`` (seconds), when set, overrides the backoff (HTTP 429 ``Retry-After``).
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SinkRejected(SinkError):
    """The output refuses this batch permanently; it is dropped with this reason.

    ``events``, when given, maps the ``event_id`` of each refused event to why
    (a value the output cannot store, say) and means the *other* events of the
    batch were written: the core acknowledges the batch, and dead-letters and
    counts only these. Without it the whole batch is refused.
    """

    def __init__(self, message: str, *, events: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.events: dict[str, str] | None = None if events is None else dict(events)


class QueueUnavailable(SinkError):
    """An output's durable queue cannot store events now (read-only or full disk, file gone).

    ``output`` names the output (``kind[id]``) and ``path`` the queue file. Events whose
    write failed are not counted as queued; the caller must not acknowledge them upstream.
    """

    def __init__(self, message: str, *, output: str, path: str) -> None:
        super().__init__(message)
        self.output = output
        self.path = path


class TransportError(HubError):
    """A transport cannot be configured or used as asked."""


class PrivacyViolation(HubError):
    """An event carries an identifier (MAC, IP, e-mail, track id) and must not leave the hub.

    ``findings`` lists ``(field path, identifier type)`` pairs, never the value.
    """

    def __init__(self, findings: list[tuple[str, str]]) -> None:
        self.findings = findings
        what = ", ".join(f"{path}: {kind}" for path, kind in findings)
        super().__init__(f"identifier found in event ({what})")
