"""The server side of MQTT packets for the embedded broker (sans-io: bytes in, values out).

CONNECT, SUBSCRIBE and UNSUBSCRIBE are decoded here, CONNACK, SUBACK and
UNSUBACK encoded; everything both sides share (PUBLISH, acknowledgements,
properties) is in :mod:`.codec`.
"""

from __future__ import annotations

__all__ = [
    "ConnectInfo",
    "ack_packet",
    "connack_packet",
    "decode_connect",
    "decode_subscribe",
    "decode_unsubscribe",
]

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from . import codec
from .codec import ProtocolViolation


@dataclass
class ConnectInfo:
    level: int
    clean: bool
    keepalive: int
    client_id: str
    will: tuple[str, bytes, int, bool] | None = None
    username: str | None = None
    password: bytes | None = None
    props: dict[int, Any] = field(default_factory=dict)


def _take(data: bytes, pos: int) -> tuple[bytes, int]:
    if pos + 2 > len(data):
        raise ProtocolViolation("truncated string")
    n = struct.unpack_from("!H", data, pos)[0]
    if pos + 2 + n > len(data):
        raise ProtocolViolation("truncated string")
    return data[pos + 2 : pos + 2 + n], pos + 2 + n


def _text(data: bytes, pos: int) -> tuple[str, int]:
    raw, pos = _take(data, pos)
    try:
        return raw.decode("utf-8"), pos
    except UnicodeDecodeError:
        raise ProtocolViolation("a string is not UTF-8") from None


def decode_connect(body: bytes) -> ConnectInfo:
    """CONNECT; ``level`` 4 is 3.1.1, 5 is 5.0 (others are answered 'unacceptable')."""
    name, pos = _take(body, 0)
    if name not in (b"MQTT", b"MQIsdp") or pos + 4 > len(body):
        raise ProtocolViolation("not an MQTT CONNECT")
    level, flags = body[pos], body[pos + 1]
    keepalive = struct.unpack_from("!H", body, pos + 2)[0]
    pos += 4
    if level not in (4, 5):
        return ConnectInfo(level, True, keepalive, "")
    if flags & 0x01:
        raise ProtocolViolation("reserved CONNECT flag set")
    props: dict[int, Any] = {}
    if level == 5:
        props, pos = codec.decode_properties(body, pos)
    client_id, pos = _text(body, pos)
    out = ConnectInfo(level, bool(flags & 0x02), keepalive, client_id, props=props)
    if flags & 0x04:
        if level == 5:
            _, pos = codec.decode_properties(body, pos)
        topic, pos = _text(body, pos)
        payload, pos = _take(body, pos)
        out.will = (topic, payload, min(1, (flags >> 3) & 3), bool(flags & 0x20))
    if flags & 0x80:
        out.username, pos = _text(body, pos)
    if flags & 0x40:
        out.password, pos = _take(body, pos)
    return out


def decode_subscribe(body: bytes, v5: bool) -> tuple[int, list[tuple[str, int]]]:
    """SUBSCRIBE: ``(packet id, [(filter, options byte)])``."""
    if len(body) < 2:
        raise ProtocolViolation("SUBSCRIBE without packet id")
    pid, pos = struct.unpack_from("!H", body)[0], 2
    if v5:
        _, pos = codec.decode_properties(body, pos)
    filters = []
    while pos < len(body):
        topic_filter, pos = _text(body, pos)
        if pos >= len(body):
            raise ProtocolViolation("SUBSCRIBE filter without options")
        filters.append((topic_filter, body[pos]))
        pos += 1
    if not filters:
        raise ProtocolViolation("SUBSCRIBE without filters")
    return pid, filters


def decode_unsubscribe(body: bytes, v5: bool) -> tuple[int, list[str]]:
    if len(body) < 2:
        raise ProtocolViolation("UNSUBSCRIBE without packet id")
    pid, pos = struct.unpack_from("!H", body)[0], 2
    if v5:
        _, pos = codec.decode_properties(body, pos)
    filters = []
    while pos < len(body):
        topic_filter, pos = _text(body, pos)
        filters.append(topic_filter)
    return pid, filters


def _props(items: list[tuple[int, bytes]]) -> bytes:
    raw = b"".join(bytes((pid,)) + value for pid, value in items)
    return codec.encode_vbi(len(raw)) + raw


def connack_packet(code: int, v5: bool, props: Sequence[tuple[int, bytes]] = ()) -> bytes:
    body = bytes((0, code)) + (_props(list(props)) if v5 else b"")
    return codec.encode_packet(codec.CONNACK << 4, body)


def ack_packet(kind: int, pid: int, codes: list[int], v5: bool) -> bytes:
    """SUBACK / UNSUBACK (v3.1.1 UNSUBACK has no codes)."""
    body = struct.pack("!H", pid) + (b"\x00" if v5 else b"")
    if v5 or kind == codec.SUBACK:
        body += bytes(codes)
    return codec.encode_packet(kind << 4, body)
