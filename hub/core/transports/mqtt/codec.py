"""MQTT 3.1.1 and 5.0 packets, sans-io: bytes in, packets out; packets in, bytes out.

Used by :mod:`hub.core.transports.mqtt` (the asyncio part). Only what a client
needs: CONNECT/CONNACK, PUBLISH and its acknowledgements, SUBSCRIBE/SUBACK,
UNSUBSCRIBE/UNSUBACK, PINGREQ/PINGRESP, DISCONNECT. MQTT 5 properties are
decoded generically (the client reads Receive Maximum, Server Keep Alive,
Assigned Client Identifier and Reason String); it sends none on PUBLISH.

References: OASIS MQTT 3.1.1 (2014) and MQTT 5.0 (2019) standards, section 2
(packet format) and section 3 (one subsection per packet).
"""

from __future__ import annotations

__all__ = [
    "AUTH_REASONS",
    "PacketTooLarge",
    "ProtocolViolation",
    "StreamDecoder",
    "check_filter",
    "connect_packet",
    "decode_ack",
    "decode_connack",
    "decode_properties",
    "decode_publish",
    "decode_suback",
    "encode_publish",
    "pid_packet",
    "reason_text",
    "subscribe_packet",
    "topic_matches",
    "unsubscribe_packet",
]

import struct
from typing import Any

from hub.transports import topic_matches

# packet types (high nibble of the first byte)
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = range(8, 16)

PINGREQ_BYTES = b"\xc0\x00"
DISCONNECT_BYTES = b"\xe0\x00"
MAX_PACKET = 268_435_455

CONNACK_V3 = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}
_REASONS_V5 = {
    0x80: "unspecified error",
    0x81: "malformed packet",
    0x82: "protocol error",
    0x83: "implementation specific error",
    0x84: "unsupported protocol version",
    0x85: "client identifier not valid",
    0x86: "bad user name or password",
    0x87: "not authorized",
    0x88: "server unavailable",
    0x89: "server busy",
    0x8A: "banned",
    0x8B: "server shutting down",
    0x8C: "bad authentication method",
    0x8D: "keep alive timeout",
    0x8E: "session taken over",
    0x8F: "topic filter invalid",
    0x90: "topic name invalid",
    0x91: "packet identifier in use",
    0x93: "receive maximum exceeded",
    0x95: "packet too large",
    0x97: "quota exceeded",
    0x99: "payload format invalid",
    0x9A: "retain not supported",
    0x9B: "QoS not supported",
    0x9C: "use another server",
    0x9D: "server moved",
    0x9E: "shared subscriptions not supported",
    0x9F: "connection rate exceeded",
    0xA1: "subscription identifiers not supported",
    0xA2: "wildcard subscriptions not supported",
}
AUTH_REASONS = frozenset({0x86, 0x87, 0x8C})
"""MQTT 5 reason codes meaning 'your credentials are not good enough'."""


class ProtocolViolation(Exception):
    """The peer sent bytes that are not valid MQTT; the connection must be closed."""


class PacketTooLarge(ProtocolViolation):
    """The peer announced a packet larger than we accept; the connection must be closed."""


def reason_text(code: int, v5: bool = True) -> str:
    """Human text for a CONNACK/SUBACK/PUBACK reason code."""
    if not v5:
        return CONNACK_V3.get(code, f"refused (code {code})")
    return _REASONS_V5.get(code, f"code 0x{code:02x}")


# -- encoding ----------------------------------------------------------------------------


def encode_vbi(n: int) -> bytes:
    if n < 128:
        return bytes((n,))
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def encode_str(b: bytes) -> bytes:
    if len(b) > 0xFFFF:
        raise ValueError("MQTT strings are at most 65,535 bytes")
    return struct.pack("!H", len(b)) + b


def encode_packet(first: int, body: bytes) -> bytes:
    if len(body) > MAX_PACKET:
        raise ValueError("MQTT packets are at most 256 MB")
    return bytes((first,)) + encode_vbi(len(body)) + body


def connect_packet(
    *,
    client_id: str,
    v5: bool,
    keepalive: int,
    clean_start: bool,
    username: str | None = None,
    password: bytes | None = None,
    session_expiry: int = 0,
    receive_maximum: int = 65_535,
    max_packet: int = 0,
) -> bytes:
    flags = 0x02 if clean_start else 0
    if username is not None:
        flags |= 0x80
    if password is not None:
        flags |= 0x40
    body = encode_str(b"MQTT") + bytes((5 if v5 else 4, flags)) + struct.pack("!H", keepalive)
    if v5:
        props = b""
        if session_expiry:
            props += b"\x11" + struct.pack("!I", session_expiry)
        if receive_maximum != 65_535:
            props += b"\x21" + struct.pack("!H", receive_maximum)
        if max_packet:
            props += b"\x27" + struct.pack("!I", max_packet)
        body += encode_vbi(len(props)) + props
    body += encode_str(client_id.encode())
    if username is not None:
        body += encode_str(username.encode())
    if password is not None:
        body += encode_str(password)
    return encode_packet(CONNECT << 4, body)


def encode_publish(
    topic: bytes, payload: bytes, qos: int, retain: bool, pid: int, v5: bool, dup: bool = False
) -> bytes:
    """One PUBLISH packet. ``topic`` is UTF-8 encoded; ``pid`` is ignored at QoS 0."""
    head = struct.pack("!H", len(topic)) + topic
    if qos:
        head += struct.pack("!H", pid)
    if v5:
        head += b"\x00"  # no properties
    n = len(head) + len(payload)
    first = 0x30 | (qos << 1) | (1 if retain else 0) | (0x08 if dup else 0)
    if n < 128:
        return bytes((first, n)) + head + payload
    return bytes((first,)) + encode_vbi(n) + head + payload


def pid_packet(kind: int, pid: int) -> bytes:
    """PUBACK / PUBREC / PUBREL / PUBCOMP with success (no reason code needed in v5)."""
    first = (kind << 4) | (0x02 if kind == PUBREL else 0)
    return bytes((first, 2)) + struct.pack("!H", pid)


def subscribe_packet(
    pid: int, filters: list[tuple[str, int]], v5: bool, sub_id: int | None = None
) -> bytes:
    """SUBSCRIBE; ``sub_id`` (MQTT 5) comes back in every PUBLISH this subscription matches.
    MQTT 5 asks for retained messages only when the subscription is new (retain handling
    1), so subscribing again to a filter a resumed session holds sends no duplicates."""
    body = struct.pack("!H", pid)
    if v5:
        props = b"\x0b" + encode_vbi(sub_id) if sub_id else b""
        body += encode_vbi(len(props)) + props
    options = 0x10 if v5 else 0
    for topic_filter, qos in filters:
        body += encode_str(topic_filter.encode()) + bytes((qos | options,))
    return encode_packet(0x82, body)


def unsubscribe_packet(pid: int, filters: list[str], v5: bool) -> bytes:
    body = struct.pack("!H", pid) + (b"\x00" if v5 else b"")
    for topic_filter in filters:
        body += encode_str(topic_filter.encode())
    return encode_packet(0xA2, body)


# -- decoding ----------------------------------------------------------------------------


class StreamDecoder:
    """Splits the byte stream from the broker into ``(first byte, body)`` packets.

    Linear in the bytes fed: the chunks of a packet that is still incomplete are
    kept in a list and joined once, when the whole packet is there. A packet
    announced larger than ``max_packet`` bytes (fixed header included) raises
    :class:`PacketTooLarge` as soon as its length is read, before its body; the
    packets before it are returned first (the error is then in :attr:`error` and
    raised by the next call).
    """

    def __init__(self, max_packet: int = MAX_PACKET + 5) -> None:
        self._buf = b""
        self._parts: list[bytes] = []
        self._have = 0
        self._need = 0
        """Bytes the incomplete packet at the start of the buffer needs (0: unknown)."""
        self.max_packet = max_packet
        self.error: ProtocolViolation | None = None

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        if self.error is not None:
            raise self.error
        if self._need:
            self._parts.append(data)
            self._have += len(data)
            if self._have < self._need:
                return []
            buf = b"".join(self._parts)
            self._parts.clear()
            self._need = 0
        else:
            buf = self._buf + data if self._buf else data
        out: list[tuple[int, bytes]] = []
        pos, end = 0, len(buf)
        while end - pos >= 2:
            b = buf[pos + 1]
            if b < 128:  # one-byte length: the common case
                start, length = pos + 2, b
            else:
                length, mult, i = 0, 1, pos + 1
                while True:
                    if i >= end:
                        self._buf = buf[pos:]
                        return out
                    if i - pos > 4:
                        raise ProtocolViolation("remaining length longer than 4 bytes")
                    b = buf[i]
                    length += (b & 0x7F) * mult
                    mult *= 128
                    i += 1
                    if b < 128:
                        break
                start = i
                if length + start - pos > self.max_packet:
                    self.error = PacketTooLarge(
                        f"a packet of {length + start - pos:,} bytes (the limit is "
                        f"{self.max_packet:,})"
                    )
                    if not out:
                        raise self.error
                    self._buf = b""
                    return out
            stop = start + length
            if stop > end:
                if stop - pos > 65_536:  # a large packet: collect its chunks, join once
                    self._parts = [buf[pos:]]
                    self._have = end - pos
                    self._need = stop - pos
                    self._buf = b""
                    return out
                break
            out.append((buf[pos], buf[start:stop]))
            pos = stop
        self._buf = buf[pos:]
        return out


def _read_vbi(data: bytes, pos: int) -> tuple[int, int]:
    value, mult = 0, 1
    for i in range(4):
        if pos + i >= len(data):
            break
        b = data[pos + i]
        value += (b & 0x7F) * mult
        if b < 128:
            return value, pos + i + 1
        mult *= 128
    raise ProtocolViolation("bad variable byte integer")


_BYTE = {0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A}
_TWO = {0x13, 0x21, 0x22, 0x23}
_FOUR = {0x02, 0x11, 0x18, 0x27}
_STR = {0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F}
_BIN = {0x09, 0x16}


def decode_properties(data: bytes, pos: int) -> tuple[dict[int, Any], int]:
    """MQTT 5 property block at ``pos``: ``({id: value}, position after it)``."""
    length, pos = _read_vbi(data, pos)
    stop = pos + length
    if stop > len(data):
        raise ProtocolViolation("property block longer than the packet")
    props: dict[int, Any] = {}
    try:
        while pos < stop:
            pid = data[pos]
            pos += 1
            if pid in _BYTE:
                props[pid] = data[pos]
                pos += 1
            elif pid in _TWO:
                props[pid] = struct.unpack_from("!H", data, pos)[0]
                pos += 2
            elif pid in _FOUR:
                props[pid] = struct.unpack_from("!I", data, pos)[0]
                pos += 4
            elif pid == 0x0B:  # subscription identifier: may repeat
                value, pos = _read_vbi(data, pos)
                props.setdefault(pid, []).append(value)
            elif pid in _STR or pid in _BIN:
                n = struct.unpack_from("!H", data, pos)[0]
                raw = data[pos + 2 : pos + 2 + n]
                props[pid] = raw.decode("utf-8", "replace") if pid in _STR else raw
                pos += 2 + n
            elif pid == 0x26:  # user property: a string pair (kept as a list)
                n = struct.unpack_from("!H", data, pos)[0]
                m = struct.unpack_from("!H", data, pos + 2 + n)[0]
                pos += 4 + n + m
            else:
                raise ProtocolViolation(f"unknown MQTT 5 property 0x{pid:02x}")
    except (IndexError, struct.error) as err:
        raise ProtocolViolation("truncated MQTT 5 property") from err
    if pos != stop:
        raise ProtocolViolation("property block length mismatch")
    return props, stop


def decode_connack(body: bytes, v5: bool) -> tuple[bool, int, dict[int, Any]]:
    """``(session present, reason code, properties)``."""
    if len(body) < 2:
        raise ProtocolViolation("CONNACK shorter than 2 bytes")
    props: dict[int, Any] = {}
    if v5 and len(body) > 2:
        props, _ = decode_properties(body, 2)
    return bool(body[0] & 1), body[1], props


def decode_publish(
    first: int, body: bytes, v5: bool
) -> tuple[str, bytes, int, int, tuple[int, ...]]:
    """``(topic, payload, qos, packet id, subscription ids)``; retain is ``first & 1``,
    dup ``first & 8``. Subscription ids (MQTT 5) say which subscriptions matched."""
    qos = (first >> 1) & 3
    if qos == 3:
        raise ProtocolViolation("PUBLISH with QoS 3")
    try:
        n = (body[0] << 8) | body[1]
        pos = 2 + n
        topic = body[2:pos].decode("utf-8")
        pid = 0
        ids: tuple[int, ...] = ()
        if qos:
            pid = (body[pos] << 8) | body[pos + 1]
            pos += 2
        if v5:
            if body[pos] == 0:
                pos += 1
            else:
                props, pos = decode_properties(body, pos)
                ids = tuple(props.get(0x0B, ()))
    except (IndexError, UnicodeDecodeError) as err:
        raise ProtocolViolation("malformed PUBLISH") from err
    return topic, body[pos:], qos, pid, ids


def decode_ack(body: bytes, v5: bool) -> tuple[int, int]:
    """PUBACK/PUBREC/PUBREL/PUBCOMP: ``(packet id, reason code)``."""
    if len(body) < 2:
        raise ProtocolViolation("acknowledgement shorter than 2 bytes")
    reason = body[2] if v5 and len(body) > 2 else 0
    return (body[0] << 8) | body[1], reason


def decode_suback(body: bytes, v5: bool) -> tuple[int, list[int]]:
    """SUBACK/UNSUBACK: ``(packet id, reason codes)``."""
    if len(body) < 2:
        raise ProtocolViolation("SUBACK shorter than 2 bytes")
    pos = 2
    if v5:
        _, pos = decode_properties(body, pos)
    return (body[0] << 8) | body[1], list(body[pos:])


def check_filter(topic_filter: str) -> str | None:
    """What is wrong with a topic filter, or None when it is valid."""
    f = topic_filter
    if f.startswith("$share/"):
        parts = f.split("/", 2)
        if len(parts) < 3 or not parts[1] or "+" in parts[1] or "#" in parts[1]:
            return "a shared subscription is $share/<group>/<filter>"
        f = parts[2]
    if not f:
        return "a topic filter cannot be empty"
    levels = f.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            return "'#' must be a whole level and the last one"
        if "+" in level and level != "+":
            return "'+' must be a whole level"
    return None
