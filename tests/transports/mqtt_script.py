"""A scripted MQTT broker for the client tests: a small asyncio server on 127.0.0.1 whose
test decides every byte it sends, for what Mosquitto cannot be made to do (a session
it claims to hold, a keep-alive it imposes, limits it announces, an oversized packet).
It is a mock of a broker, used only where a real one cannot produce the case."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator

from hub.core.transports.mqtt import codec

WAIT_S = 10.0


def connack(present: bool = False, code: int = 0, props: bytes | None = None) -> bytes:
    """CONNACK; ``props`` (MQTT 5) is the encoded property list, ``None`` for 3.1.1."""
    body = bytes((1 if present else 0, code))
    if props is not None:
        body += codec.encode_vbi(len(props)) + props
    return codec.encode_packet(0x20, body)


def suback(pid: int, codes: list[int], v5: bool) -> bytes:
    return codec.encode_packet(
        0x90, struct.pack("!H", pid) + (b"\x00" if v5 else b"") + bytes(codes)
    )


def publish(
    topic: str, payload: bytes, qos: int, pid: int, *, v5: bool, dup: bool = False
) -> bytes:
    return codec.encode_publish(topic.encode(), payload, qos, False, pid, v5, dup)


class Peer:
    """One client connection the scripted broker accepted."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = codec.StreamDecoder()
        self.pending: list[tuple[int, bytes]] = []
        self.seen: list[int] = []
        """Packet types received, in order (PINGREQ included)."""

    async def packet(self, *, skip_pings: bool = True) -> tuple[int, bytes]:
        """The next packet from the client; raises EOFError when it closed."""
        async with asyncio.timeout(WAIT_S):
            while True:
                while not self.pending:
                    data = await self.reader.read(65536)
                    if not data:
                        raise EOFError("the client closed the connection")
                    self.pending += self.decoder.feed(data)
                first, body = self.pending.pop(0)
                self.seen.append(first >> 4)
                if skip_pings and first >> 4 == codec.PINGREQ:
                    self.send(b"\xd0\x00")
                    continue
                return first, body

    async def expect(self, kind: int) -> tuple[int, bytes]:
        first, body = await self.packet()
        assert first >> 4 == kind, f"expected packet type {kind}, got {first >> 4}"
        return first, body

    async def closed(self) -> None:
        """Wait until the client closes the connection (packets meanwhile are ignored)."""
        with contextlib.suppress(EOFError):
            while True:
                await self.packet()

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    def close(self) -> None:
        self.writer.close()


class ScriptedBroker:
    """``async with ScriptedBroker() as broker``: ``broker.port``; ``await broker.accept()``."""

    def __init__(self) -> None:
        self.port = 0
        self._peers: asyncio.Queue[Peer] = asyncio.Queue()
        self._server: asyncio.Server | None = None
        self._all: list[Peer] = []

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer(reader, writer)
        self._all.append(peer)
        await self._peers.put(peer)

    async def accept(self) -> Peer:
        async with asyncio.timeout(WAIT_S):
            return await self._peers.get()

    async def session(
        self, *, present: bool = False, props: bytes | None = None
    ) -> tuple[Peer, bytes]:
        """Accept a connection, read its CONNECT, answer CONNACK; ``(peer, CONNECT body)``."""
        peer = await self.accept()
        _, body = await peer.expect(codec.CONNECT)
        peer.send(connack(present, 0, props))
        return peer, body

    async def __aenter__(self) -> ScriptedBroker:
        self._server = await asyncio.start_server(self._on_client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for peer in self._all:
            peer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@contextlib.asynccontextmanager
async def scripted() -> AsyncIterator[ScriptedBroker]:
    async with ScriptedBroker() as broker:
        yield broker
