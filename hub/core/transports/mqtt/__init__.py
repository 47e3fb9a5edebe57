"""MQTT for the hub: the client transport (kind ``mqtt``) and the embedded broker
(kind ``mqtt_broker``).

* :mod:`.client`: :class:`MqttTransport`, one shared connection per broker
  (implements :class:`hub.transports.MessageTransport`);
* :mod:`.dial`: opening a connection (TCP/TLS, CONNECT, CONNACK and the broker's limits);
* :mod:`.connection`: one connection as an asyncio protocol;
* :mod:`.session`: what outlives a connection (packet ids, messages in flight
  both ways, the subscriptions the broker holds);
* :mod:`.routing`: subscriptions, routing, acknowledgement after handling, flow control;
* :mod:`.codec`: MQTT 3.1.1/5 packets, sans-io;
* :mod:`.broker` + :mod:`.broker_packets`: the embedded broker for demos and
  small sites.

Only this package speaks MQTT; swapping the client changes nothing outside it.
"""

from __future__ import annotations

__all__ = ["MqttTransport", "MqttTransportConfig"]

from .client import MqttTransport, MqttTransportConfig
