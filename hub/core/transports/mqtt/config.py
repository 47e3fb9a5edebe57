"""``[[transports.mqtt]]``: the settings of one broker connection."""

from __future__ import annotations

__all__ = ["MqttTransportConfig"]

import secrets
from typing import Literal, Self

from pydantic import Field, FilePath, SecretStr, model_validator

from hub.plugin import TransportConfig


def _client_id() -> str:
    return f"crowdhub-{secrets.token_hex(6)}"


class MqttTransportConfig(TransportConfig):
    """``[[transports.mqtt]]``: one broker connection, shared by sources and sinks."""

    host: str = Field(default="127.0.0.1", description="broker host name or address")
    port: int | None = Field(
        default=None, ge=1, le=65535, description="broker port (default 1883, 8883 with TLS)"
    )
    protocol: Literal["3.1.1", "5"] = Field(default="5", description="MQTT version: 3.1.1 or 5")
    client_id: str = Field(
        default_factory=_client_id,
        min_length=1,
        max_length=128,
        description="MQTT client id (default: crowdhub-<random>); unique per connection",
    )
    clean_start: bool | None = Field(
        default=None,
        description="start a fresh session on every connect; default: false when client_id "
        "is set (a persistent session: the broker keeps our subscriptions and queues QoS 1/2 "
        "messages while the hub is away), true with the random default client_id",
    )
    session_expiry_s: int | None = Field(
        default=None,
        ge=0,
        le=0xFFFFFFFF,
        description="MQTT 5: how long the broker keeps a persistent session after a "
        "disconnect; default 86400 (one day) when persistent, else 0",
    )
    username: str | None = Field(default=None, description="user name, if the broker needs one")
    password: SecretStr | None = Field(
        default=None, description='password; write password = "${MQTT_PASSWORD}"'
    )
    tls: bool = Field(default=False, description="connect with TLS")
    ca_file: FilePath | None = Field(
        default=None, description="CA certificate(s) to verify the broker (default: system CAs)"
    )
    cert_file: FilePath | None = Field(default=None, description="client certificate (PEM)")
    key_file: FilePath | None = Field(
        default=None, description="client private key (PEM; default: inside cert_file)"
    )
    server_name: str | None = Field(
        default=None, description="name to verify in the broker's certificate (default: host)"
    )
    keepalive_s: int = Field(
        default=30, ge=0, le=65535, description="keep-alive interval; 0 turns pings off"
    )
    connect_timeout_s: float = Field(
        default=10.0, gt=0, description="TCP + TLS + CONNACK must complete within this time"
    )
    reconnect_initial_s: float = Field(default=0.5, gt=0, description="first reconnect delay")
    reconnect_max_s: float = Field(
        default=30.0, gt=0, description="longest reconnect delay (also used after a refusal)"
    )
    max_queued: int = Field(
        default=1000,
        ge=1,
        le=65_000,
        description="QoS 1/2 publishes sent but not yet acknowledged; more wait (backpressure)",
    )
    max_packet_bytes: int = Field(
        default=1 << 20,
        ge=1024,
        le=268_435_460,
        description="largest packet accepted from the broker (MQTT 5 tells the broker, "
        "which then drops larger messages; 3.1.1: the connection is closed and retried)",
    )
    unrouted_hold_s: float = Field(
        default=30.0,
        gt=0,
        description="how long QoS 1/2 messages that arrive before their source subscribed "
        "(a resumed session) are held unacknowledged before they are dropped",
    )
    write_buffer_bytes: int = Field(
        default=1 << 20,
        ge=4096,
        description="bytes buffered for the socket before QoS 0 publishers wait",
    )

    @model_validator(mode="after")
    def _tls_files(self) -> Self:
        if not self.tls and (self.ca_file or self.cert_file or self.key_file):
            raise ValueError("ca_file / cert_file / key_file need tls = true")
        if self.key_file and not self.cert_file:
            raise ValueError("key_file needs cert_file (the client certificate)")
        if self.password is not None and self.username is None:
            raise ValueError("password needs username")
        return self

    @property
    def persistent(self) -> bool:
        """Whether the broker keeps our session between connections."""
        if self.clean_start is not None:
            return not self.clean_start
        return "client_id" in self.model_fields_set

    @property
    def effective_session_expiry(self) -> int:
        if self.session_expiry_s is not None:
            return self.session_expiry_s
        return 86_400 if self.persistent else 0

    @property
    def effective_port(self) -> int:
        return self.port or (8883 if self.tls else 1883)
