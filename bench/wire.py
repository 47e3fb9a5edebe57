"""Just enough MQTT 3.1.1 on a blocking socket for the benchmark's publisher and subscriber.

Kept apart from the hub on purpose: the load generators must not share code
(or costs) with the thing they measure. No dependencies, no asyncio.
"""

from __future__ import annotations

import contextlib
import socket
import struct

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, DISCONNECT = 1, 2, 3, 4, 8, 9, 14


def vbi(n: int) -> bytes:
    """MQTT variable byte integer."""
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s: bytes) -> bytes:
    return struct.pack("!H", len(s)) + s


def packet(first: int, body: bytes) -> bytes:
    return bytes((first,)) + vbi(len(body)) + body


def publish(topic: bytes, payload: bytes, qos: int = 0, pid: int = 0) -> bytes:
    body = _str(topic) + (struct.pack("!H", pid) if qos else b"") + payload
    return packet(0x30 | (qos << 1), body)


def puback(pid: int) -> bytes:
    return b"\x40\x02" + struct.pack("!H", pid)


class Reader:
    """Splits a byte stream into ``(first byte, body)`` packets."""

    def __init__(self) -> None:
        self.buf = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self.buf + data if self.buf else data
        out = []
        pos, end = 0, len(buf)
        while end - pos >= 2:
            length, mult, i = 0, 1, pos + 1
            while True:
                if i >= end:
                    self.buf = buf[pos:]
                    return out
                b = buf[i]
                length += (b & 0x7F) * mult
                mult *= 128
                i += 1
                if not b & 0x80:
                    break
            if i + length > end:
                break
            out.append((buf[pos], buf[i : i + length]))
            pos = i + length
        self.buf = buf[pos:]
        return out


def connect(host: str, port: int, client_id: str, *, keepalive: int = 600) -> socket.socket:
    """Open a clean MQTT 3.1.1 session; returns the socket after a successful CONNACK."""
    sock = socket.create_connection((host, port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    body = _str(b"MQTT") + bytes((4, 0x02)) + struct.pack("!H", keepalive)
    sock.sendall(packet(CONNECT << 4, body + _str(client_id.encode())))
    reader = Reader()
    while True:
        data = sock.recv(4096)
        if not data:
            raise ConnectionError("broker closed the connection during CONNECT")
        for first, pkt in reader.feed(data):
            if first >> 4 == CONNACK:
                if pkt[1] != 0:
                    raise ConnectionError(f"CONNACK refused: {pkt[1]}")
                return sock


def subscribe(sock: socket.socket, filters: list[str], qos: int) -> None:
    body = struct.pack("!H", 1) + b"".join(_str(f.encode()) + bytes((qos,)) for f in filters)
    sock.sendall(packet(0x82, body))
    reader = Reader()
    while True:
        data = sock.recv(4096)
        if not data:
            raise ConnectionError("broker closed the connection during SUBSCRIBE")
        for first, pkt in reader.feed(data):
            if first >> 4 == SUBACK:
                if any(c >= 0x80 for c in pkt[2:]):
                    raise ConnectionError("subscription refused")
                return


def disconnect(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.sendall(b"\xe0\x00")
    sock.close()
