"""The serial transport against real pseudo-terminals (hub.testing.PtyDevice) and a real
TCP peer on 127.0.0.1 for ``socket://`` URLs.

Device bytes are written on the pty's master side and must arrive through
``open()`` + ``read()``; commands the hub writes must reach the master; unplugging,
vanishing device nodes, silence and missing ports must raise DeviceUnavailable naming
the port, and a replugged device must work again with a fresh ``open()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import termios
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pluggy
import pytest

from hub import hookspecs
from hub.clock import SystemClock
from hub.core.transports import serial as serial_module
from hub.core.transports.serial import SerialPortTransport, SerialTransportConfig
from hub.errors import DeviceUnavailable
from hub.framing import FixedFrameDecoder, sum8_valid
from hub.plugin import Transport, TransportContext
from hub.testing.pty import PtyDevice
from hub.transports import ByteStream, SerialSettings, SerialTransport

# shared/samples/tfmini_frames.hex: TF-Luna 9-byte frames (two valid readings, a stray
# 0x59 before a frame, a distance of 0x5959 that puts header bytes in the payload)
TF_STREAM = bytes.fromhex(
    "59 59 7B 00 5E 01 C8 08 5C"
    "59 59 20 03 98 08 F8 08 75"
    "59 59 7B 00 5E 01 C8 08 5D"  # bad checksum
    "59 59 59 7B 00 5E 01 C8 08 5C"
    "59 59 59 59 5E 01 C8 08 93"
)
TF_FRAMES = [
    bytes.fromhex("59 59 7B 00 5E 01 C8 08 5C"),
    bytes.fromhex("59 59 20 03 98 08 F8 08 75"),
    bytes.fromhex("59 59 7B 00 5E 01 C8 08 5C"),
    bytes.fromhex("59 59 59 59 5E 01 C8 08 93"),
]
RPLIDAR_SCAN = b"\xa5\x20"
RPLIDAR_DESCRIPTOR = bytes.fromhex("A5 5A 05 00 00 40 81")
WAIT_S = 10.0  # generous: the machine is shared


def make_transport(**config: Any) -> SerialPortTransport:
    ctx = TransportContext(
        instance="default", kind="serial", clock=SystemClock(), log=logging.getLogger("t.serial")
    )
    return SerialPortTransport(SerialTransportConfig(**config), ctx)


@pytest.fixture
def transport() -> SerialPortTransport:
    return make_transport()


def settings_for(device: PtyDevice, read_timeout_s: float = WAIT_S, **kw: Any) -> SerialSettings:
    return SerialSettings(port=str(device.path), read_timeout_s=read_timeout_s, **kw)


async def read_frames(port: ByteStream, decoder: FixedFrameDecoder, n: int) -> list[bytes]:
    frames: list[bytes] = []
    async with asyncio.timeout(WAIT_S):
        while len(frames) < n:
            frames += decoder.feed(await port.read())
    return frames


async def read_exactly(port: ByteStream, n: int) -> bytes:
    data = bytearray()
    async with asyncio.timeout(WAIT_S):
        while len(data) < n:
            data += await port.read(n - len(data))
    return bytes(data)


# -- data flows ---------------------------------------------------------------------------


async def test_tf_luna_bytes_arrive_and_decode(
    transport: SerialPortTransport, serial_pty: PtyDevice
) -> None:
    decoder = FixedFrameDecoder(b"\x59\x59", 9, sum8_valid)
    async with transport.open(settings_for(serial_pty)) as port:
        serial_pty.write(TF_STREAM[:13])  # split inside a frame
        serial_pty.write(TF_STREAM[13:])
        assert await read_frames(port, decoder, len(TF_FRAMES)) == TF_FRAMES
    assert decoder.bad_frames == 2


async def test_a_command_reaches_the_device_and_the_answer_comes_back(
    transport: SerialPortTransport, serial_pty: PtyDevice
) -> None:
    async with transport.open(settings_for(serial_pty)) as port:
        await port.write(RPLIDAR_SCAN)
        assert await serial_pty.expect_written(RPLIDAR_SCAN) == RPLIDAR_SCAN
        serial_pty.write(RPLIDAR_DESCRIPTOR)
        assert await read_exactly(port, len(RPLIDAR_DESCRIPTOR)) == RPLIDAR_DESCRIPTOR
    assert serial_pty.read_written() == b""


async def test_bulk_data_passes_unchanged_with_a_small_read_buffer(serial_pty: PtyDevice) -> None:
    transport = make_transport(read_buffer_bytes=1024)  # reading pauses and resumes
    payload = bytes(range(256)) * 800  # every byte value, incl. \r \n XON XOFF
    async with transport.open(settings_for(serial_pty)) as port:
        sender = asyncio.create_task(serial_pty.send(payload), name="pty-send")
        assert await read_exactly(port, len(payload)) == payload
        await sender


async def test_line_settings_reach_the_port(
    transport: SerialPortTransport, serial_pty: PtyDevice
) -> None:
    # a pty keeps speed and stop bits but forces 8 data bits and no parity, so only
    # these two can be checked on it
    settings = settings_for(serial_pty, baudrate=9600, stopbits=2)
    async with transport.open(settings):
        fd = os.open(serial_pty.slave_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            _, _, cflag, _, ispeed, ospeed, _ = termios.tcgetattr(fd)
        finally:
            os.close(fd)
    assert cflag & termios.CSTOPB
    assert ispeed == ospeed == termios.B9600


async def test_a_cancelled_read_loses_no_bytes(
    transport: SerialPortTransport, serial_pty: PtyDevice
) -> None:
    async with transport.open(settings_for(serial_pty)) as port:
        reader = asyncio.create_task(port.read(), name="read-to-cancel")
        await asyncio.sleep(0)
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        serial_pty.write(b"still here")
        assert await read_exactly(port, 10) == b"still here"


# -- the device goes away -----------------------------------------------------------------


async def test_unplug_raises_device_unavailable_naming_the_port(
    transport: SerialPortTransport, serial_pty: PtyDevice
) -> None:
    # read_timeout_s is long: the unplug itself must be noticed, not the silence
    async with transport.open(settings_for(serial_pty, read_timeout_s=60)) as port:
        reader = asyncio.create_task(port.read(), name="read-until-unplug")
        await asyncio.sleep(0.05)
        serial_pty.unplug()
        async with asyncio.timeout(WAIT_S):
            with pytest.raises(DeviceUnavailable, match=str(serial_pty.path)) as info:
                await reader
        assert "backoff" in str(info.value)
        with pytest.raises(DeviceUnavailable, match=str(serial_pty.path)):
            await port.write(RPLIDAR_SCAN)
    assert transport.health()["open_ports"] == 0


async def test_bytes_received_before_the_unplug_are_still_returned(
    transport: SerialPortTransport, serial_pty: PtyDevice
) -> None:
    async with transport.open(settings_for(serial_pty, read_timeout_s=60)) as port:
        serial_pty.write(TF_FRAMES[0])
        first = await port.read(1)
        serial_pty.unplug()
        rest = bytearray()
        with pytest.raises(DeviceUnavailable):
            async with asyncio.timeout(WAIT_S):
                while True:
                    rest += await port.read()
        assert first + rest == TF_FRAMES[0]


async def test_replug_then_a_fresh_open_works_again(
    transport: SerialPortTransport, serial_pty: PtyDevice
) -> None:
    decoder = FixedFrameDecoder(b"\x59\x59", 9, sum8_valid)
    with pytest.raises(DeviceUnavailable):
        async with transport.open(settings_for(serial_pty, read_timeout_s=60)) as port:
            serial_pty.unplug()
            async with asyncio.timeout(WAIT_S):
                await port.read()
    with pytest.raises(DeviceUnavailable, match="does not exist"):
        async with transport.open(settings_for(serial_pty)):
            pass
    serial_pty.replug()
    assert serial_pty.plug_count == 2
    async with transport.open(settings_for(serial_pty)) as port:
        await port.write(RPLIDAR_SCAN)
        assert await serial_pty.expect_written(RPLIDAR_SCAN) == RPLIDAR_SCAN
        serial_pty.write(TF_FRAMES[1])
        assert await read_frames(port, decoder, 1) == [TF_FRAMES[1]]
    assert transport.health()["opened"] == 2


async def test_a_vanished_device_node_is_noticed_before_the_read_timeout(
    transport: SerialPortTransport, serial_pty: PtyDevice
) -> None:
    loop = asyncio.get_running_loop()
    async with transport.open(settings_for(serial_pty, read_timeout_s=60)) as port:
        serial_pty.path.unlink()  # the node goes, the fd stays readable (a stuck driver)
        started = loop.time()
        with pytest.raises(DeviceUnavailable, match="disappeared") as info:
            async with asyncio.timeout(WAIT_S):
                await port.read()
    assert loop.time() - started < WAIT_S
    assert str(serial_pty.path) in str(info.value)


async def test_silence_raises_device_unavailable_after_read_timeout(
    transport: SerialPortTransport, serial_pty: PtyDevice
) -> None:
    loop = asyncio.get_running_loop()
    async with transport.open(settings_for(serial_pty, read_timeout_s=0.3)) as port:
        serial_pty.write(b"x")
        assert await port.read() == b"x"
        started = loop.time()
        with pytest.raises(DeviceUnavailable, match=r"no data for 0\.3 s") as info:
            async with asyncio.timeout(WAIT_S):
                await port.read()
    assert loop.time() - started >= 0.29
    assert str(serial_pty.path) in str(info.value)


# -- opening ------------------------------------------------------------------------------


async def test_opening_a_missing_path_raises_device_unavailable(
    transport: SerialPortTransport, tmp_path: Path
) -> None:
    missing = tmp_path / "ttyACM7"
    with pytest.raises(DeviceUnavailable, match="does not exist") as info:
        async with transport.open(SerialSettings(port=str(missing))):
            pytest.fail("opened a missing port")
    assert str(missing) in str(info.value)
    assert isinstance(info.value.__cause__, OSError)  # translated, not swallowed
    assert transport.health()["open_failures"] == 1


async def test_a_file_that_is_not_a_tty_cannot_be_opened(
    transport: SerialPortTransport, tmp_path: Path
) -> None:
    not_a_tty = tmp_path / "notes.txt"
    not_a_tty.write_text("hello")
    with pytest.raises(DeviceUnavailable, match=str(not_a_tty)):
        async with transport.open(SerialSettings(port=str(not_a_tty))):
            pass


async def test_a_port_has_one_owner(transport: SerialPortTransport, serial_pty: PtyDevice) -> None:
    async with transport.open(settings_for(serial_pty)):
        with pytest.raises(DeviceUnavailable, match="already open by another source"):
            async with transport.open(settings_for(serial_pty)):
                pass
        # another hub (another program) is kept out by the exclusive lock
        with pytest.raises(DeviceUnavailable, match="in use by another program"):
            async with make_transport().open(settings_for(serial_pty)):
                pass
    async with transport.open(settings_for(serial_pty)):  # free again once closed
        pass


async def test_a_url_without_a_file_descriptor_is_refused(
    transport: SerialPortTransport,
) -> None:
    with pytest.raises(DeviceUnavailable, match="no file descriptor"):
        async with transport.open(SerialSettings(port="loop://")):
            pass


async def test_an_unknown_url_scheme_is_device_unavailable(
    transport: SerialPortTransport,
) -> None:
    with pytest.raises(
        DeviceUnavailable, match=r"cannot open serial port nope://<host>: the setting is invalid"
    ):
        async with transport.open(SerialSettings(port="nope://x")):
            pass


# -- socket:// (a serial-to-Ethernet converter) --------------------------------------------


Peer = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@contextlib.asynccontextmanager
async def tcp_device() -> AsyncIterator[tuple[int, asyncio.Queue[Peer]]]:
    """A real TCP peer on 127.0.0.1 standing in for a serial-to-Ethernet converter."""
    peers: asyncio.Queue[Peer] = asyncio.Queue()
    writers: list[asyncio.StreamWriter] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await peers.put((reader, writer))

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], peers
    finally:
        server.close()
        for w in writers:
            w.close()
            with contextlib.suppress(ConnectionError):
                await w.wait_closed()
        await server.wait_closed()


async def test_socket_url_carries_bytes_both_ways_and_eof_is_unavailable(
    transport: SerialPortTransport,
) -> None:
    async with tcp_device() as (tcp_port, peers):
        settings = SerialSettings(port=f"socket://127.0.0.1:{tcp_port}", read_timeout_s=WAIT_S)
        async with transport.open(settings) as port:
            async with asyncio.timeout(WAIT_S):
                peer_reader, peer = await peers.get()
                peer.write(TF_FRAMES[0])
                assert await read_exactly(port, 9) == TF_FRAMES[0]
                await port.write(RPLIDAR_SCAN)
                assert await peer_reader.readexactly(2) == RPLIDAR_SCAN
            peer.close()
            with pytest.raises(DeviceUnavailable, match="end of file") as info:
                async with asyncio.timeout(WAIT_S):
                    await port.read()
    message = str(info.value)
    assert f"socket://<host>:{tcp_port}" in message
    assert "127.0.0.1" not in message  # addresses stay out of messages


async def test_socket_url_refused_is_device_unavailable_without_the_address(
    transport: SerialPortTransport,
) -> None:
    async with tcp_device() as (tcp_port, _):
        pass  # the port is free again: nothing listens there now
    with pytest.raises(DeviceUnavailable) as info:
        async with transport.open(SerialSettings(port=f"socket://127.0.0.1:{tcp_port}")):
            pass
    assert "127.0.0.1" not in str(info.value)
    assert f"socket://<host>:{tcp_port}" in str(info.value)


# -- the plugin ---------------------------------------------------------------------------


def test_registered_through_the_hook_with_a_default_config() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(serial_module)
    registered: list[type[Transport[Any]]] = []
    pm.hook.register_transports(register=registered.append)
    assert registered == [SerialPortTransport]
    assert SerialPortTransport.kind == "serial"
    default = SerialPortTransport.config_model.model_validate({})
    assert default.id == "default" and isinstance(default, SerialTransportConfig)
    assert default.exclusive is True


async def test_run_waits_until_cancelled_and_open_matches_the_seam(
    transport: SerialPortTransport,
) -> None:
    seam: SerialTransport = transport  # the protocol sources cast to
    assert seam is transport
    task = asyncio.create_task(transport.run(), name="serial-run")
    await asyncio.sleep(0.01)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
