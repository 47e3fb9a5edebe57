"""The ``mqtt`` sink: publish every event as JSON to a topic built from its fields.

Each event goes to ``topic`` with its fields filled in, as the
:class:`hub.Event` JSON (``hub schema`` prints its JSON Schema). Names the
template may use: ``site``, ``zone``, ``line``, ``source``, ``kind`` and
``measurement`` (crossing, occupancy, devices, density, status); a missing
value becomes ``-``. An unknown name is a configuration error.

A batch is one ``publish_many`` on the shared ``[[transports.mqtt]]``
connection named by ``broker``: it returns once written (QoS 0) or
acknowledged by the broker (QoS 1/2). While the broker is unreachable the
batch is retried later (:class:`~hub.errors.SinkUnavailable`).

Deduplication: delivery is at-least-once (a batch whose acknowledgement was
lost is published again; a durable queue sends what was not acknowledged again
after a restart; QoS 1 itself may redeliver). Every payload carries the event's
stable ``event_id`` (the same for every copy of one event); a subscriber that
keeps the ids it has seen (or stores by ``event_id``) handles each event once.
Errors name the output and repeat the transport's error, which never carries
the broker password.

.. code-block:: toml

    [[transports.mqtt]]
    id = "default"
    host = "broker.example.org"
    username = "hub"
    password = "${MQTT_PASSWORD}"

    [[sinks.mqtt]]
    id = "events"
    broker = "default"
    topic = "crowdhub/{site}/{zone}/{measurement}"
    qos = 1
    view = "internal"               # it leaves the machine: name a view (docs/privacy.md)
"""

from __future__ import annotations

__all__ = ["MqttSink", "MqttSinkConfig"]

import string
from collections.abc import Callable, Sequence
from typing import Any, Literal, cast

from pydantic import Field, field_validator

import hub
from hub import event_json
from hub.errors import AuthenticationFailed, DeviceUnavailable, SinkUnavailable, TransportError
from hub.events import Event
from hub.plugin import Sink, SinkConfig
from hub.transports import MessageTransport

TOPIC_FIELDS = ("site", "zone", "line", "source", "kind", "measurement")
"""Names a topic template may use."""


def _template_fields(template: str) -> list[str]:
    """The names used in ``template``; ValueError with the reason when it is not valid."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as err:
        raise ValueError(f"topic template is not valid ({err}); use {{name}} fields") from None
    names = []
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in TOPIC_FIELDS:
            raise ValueError(
                f"unknown field {{{name}}} in topic template; "
                f"available: {', '.join('{' + f + '}' for f in TOPIC_FIELDS)}"
            )
        if spec or conversion:
            raise ValueError(f"{{{name}}}: format specs and conversions are not supported")
        names.append(name)
    return names


class MqttSinkConfig(SinkConfig):
    """``[[sinks.mqtt]]``: where to publish events."""

    broker: str = Field(default="default", description="id of the [[transports.mqtt]] to use")
    topic: str = Field(
        default="crowdhub/{site}/{zone}/{measurement}",
        min_length=1,
        description="topic template; names: site, zone, line, source, kind, measurement "
        "(missing values become '-')",
    )
    qos: Literal[0, 1, 2] = Field(default=1, description="MQTT QoS of the published events")
    retain: bool = Field(
        default=False, description="ask the broker to keep the last event per topic"
    )

    @field_validator("topic")
    @classmethod
    def _topic(cls, v: str) -> str:
        _template_fields(v)
        if "+" in v or "#" in v:
            raise ValueError("a topic to publish to cannot contain the wildcards + or #")
        return v


def _topic_function(template: str) -> Callable[[Event], str]:
    """A fast ``event -> topic`` for ``template``."""
    names = _template_fields(template)
    if not names:
        return lambda _event: template
    fmt = template.format  # ids cannot hold '/', '+' or '#' (hub.site.ID_PATTERN)

    def topic(e: Event) -> str:
        return fmt(
            site=e.site or "-",
            zone=e.zone or "-",
            line=e.line or "-",
            source=e.source,
            kind=e.kind,
            measurement=e.measurement.type,
        )

    return topic


class MqttSink(Sink[MqttSinkConfig]):
    kind = "mqtt"
    leaves_machine = True
    config_model = MqttSinkConfig
    description = "publish events as JSON to an MQTT broker (topic template from event fields)"

    def __init__(self, config: MqttSinkConfig, ctx: hub.SinkContext) -> None:
        super().__init__(config, ctx)
        self._topic = _topic_function(config.topic)
        self._mqtt: MessageTransport | None = None

    @classmethod
    def required_transports(cls, config: Any) -> Sequence[tuple[str, str | None]]:
        return [("mqtt", cast(MqttSinkConfig, config).broker)]

    async def open(self) -> None:
        self._mqtt = self.ctx.mqtt(self.config.broker)

    async def write(self, batch: Sequence[Event]) -> None:
        mqtt = self._mqtt
        if mqtt is None:
            mqtt = self._mqtt = self.ctx.mqtt(self.config.broker)
        topic = self._topic
        messages = [(topic(e), event_json(e)) for e in batch]  # made once (hub.event_json)
        try:
            await mqtt.publish_many(messages, qos=self.config.qos, retain=self.config.retain)
        except DeviceUnavailable as err:
            raise SinkUnavailable(f"mqtt[{self.ctx.instance}]: {err}") from err
        except (AuthenticationFailed, TransportError) as err:
            # the broker refuses us (credentials, ACL): retried slowly until fixed
            raise SinkUnavailable(f"mqtt[{self.ctx.instance}]: {err}", retry_after=30) from err


@hub.hookimpl
def register_sinks(register: Callable[[type[Sink[Any]]], None]) -> None:
    """Register the ``mqtt`` sink."""
    register(MqttSink)
