"""Opening one MQTT connection: TCP (+ TLS), CONNECT, CONNACK and the limits it announces.

Private to :mod:`.client`. MQTT 5 CONNACK properties read here: Receive Maximum
(0x21), Server Keep Alive (0x13), Maximum QoS (0x24), Retain Available (0x25),
Maximum Packet Size (0x27) and Subscription Identifiers Available (0x29).
"""

from __future__ import annotations

__all__ = ["dial"]

import asyncio
import ssl

from hub.errors import AuthenticationFailed, DeviceUnavailable, TransportError

from . import codec
from .config import MqttTransportConfig
from .connection import Connection, Receiver
from .session import Session


def _ssl_context(cfg: MqttTransportConfig, label: str) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=cfg.ca_file)
        if cfg.cert_file is not None:
            context.load_cert_chain(cfg.cert_file, cfg.key_file)
    except (OSError, ssl.SSLError) as err:
        raise TransportError(f"{label}: cannot load TLS files: {err}") from err
    return context


async def dial(
    cfg: MqttTransportConfig, label: str, receiver: Receiver, session: Session
) -> Connection:
    """Connect, send CONNECT, wait for CONNACK; the connection, with the broker's limits.

    Raises DeviceUnavailable (retry later) or AuthenticationFailed (refused credentials).
    """
    loop = asyncio.get_running_loop()
    context = _ssl_context(cfg, label) if cfg.tls else None
    conn: Connection | None = None
    try:
        async with asyncio.timeout(cfg.connect_timeout_s):
            _, conn = await loop.create_connection(
                lambda: Connection(
                    receiver,
                    session,
                    label=label,
                    v5=cfg.protocol == "5",
                    max_inflight=cfg.max_queued,
                    write_buffer_bytes=cfg.write_buffer_bytes,
                    max_packet_bytes=cfg.max_packet_bytes,
                ),
                cfg.host,
                cfg.effective_port,
                ssl=context,
                server_hostname=(cfg.server_name or cfg.host) if context else None,
            )
            password = cfg.password.get_secret_value().encode() if cfg.password else None
            conn.write(
                codec.connect_packet(
                    client_id=cfg.client_id,
                    v5=conn.v5,
                    keepalive=cfg.keepalive_s,
                    clean_start=not cfg.persistent,
                    username=cfg.username,
                    password=password,
                    session_expiry=cfg.effective_session_expiry,
                    max_packet=cfg.max_packet_bytes,
                )
            )
            present, code, props = await conn.connack
    except BaseException as err:
        _close(conn)
        if isinstance(err, ssl.SSLError):
            raise DeviceUnavailable(
                f"{label}: TLS handshake failed ({err.reason or err}); check ca_file, "
                "the broker's certificate name and the client certificate"
            ) from err
        if isinstance(err, TimeoutError):
            raise DeviceUnavailable(
                f"{label}: no answer within {cfg.connect_timeout_s:g} s"
            ) from err
        if isinstance(err, OSError):
            raise DeviceUnavailable(
                f"{label}: cannot connect ({err.strerror or err}); is the broker running?"
            ) from err
        raise
    if code != 0:
        _close(conn)
        text = codec.reason_text(code, conn.v5)
        if code in (codec.AUTH_REASONS if conn.v5 else {4, 5}):
            raise AuthenticationFailed(
                f"{label}: broker refused our credentials ({text}); check username "
                "and password (or the client certificate)"
            )
        hint = ""
        if code == 2 and not conn.v5 and cfg.keepalive_s:
            hint = "; if the broker limits keep-alive (Mosquitto max_keepalive), lower keepalive_s"
        raise DeviceUnavailable(f"{label}: broker refused the connection ({text}){hint}")
    if 0x21 in props:
        conn.max_inflight = max(1, min(cfg.max_queued, props[0x21]))
    conn.sub_ids = props.get(0x29, 1) == 1
    conn.keepalive = props.get(0x13, cfg.keepalive_s)
    conn.max_qos = props.get(0x24, 2)
    conn.retain_ok = props.get(0x25, 1) == 1
    conn.max_out_packet = props.get(0x27, conn.max_out_packet)
    conn.session_present = present and cfg.persistent
    return conn


def _close(conn: Connection | None) -> None:
    if conn is not None and conn.transport is not None:
        conn.transport.abort()
