"""Serial ports for sources (pyserial + pyserial-asyncio-fast).

This is the only module that imports ``serial`` / ``serial_asyncio_fast``.
Sources reach it through :class:`hub.transports.SerialTransport`
(``ctx.serial()``) and get a :class:`hub.transports.ByteStream`::

    serial = self.ctx.serial()
    async with serial.open(self.config.serial) as port:
        await port.write(b"\\xa5\\x20")
        while True:
            for frame in decoder.feed(await port.read()):
                ...

``port`` is a device path (``/dev/ttyUSB0``, ``/dev/serial/by-id/...``) or a
pyserial URL backed by a file descriptor (``socket://host:port`` for
serial-to-Ethernet converters). Device paths are opened with an exclusive
lock, so another program (or a second source) cannot read the same port.

Everything that means "the device is not there right now" raises
:class:`~hub.errors.DeviceUnavailable` naming the port and what to check:
the port cannot be opened, it is unplugged (read error, end of file, its
device node vanished), or no byte arrived within ``read_timeout_s``. The
source lets it propagate; the supervisor retries with backoff and a fresh
``open()``. Bytes that arrived before the port went away are still returned
first.

The event loop never blocks: the port is opened and closed in the default
executor, reads and writes are non-blocking, and ``write`` returns once the
bytes are with the operating system.
"""

from __future__ import annotations

__all__ = ["SerialPortTransport", "SerialTransportConfig"]

import asyncio
import contextlib
import os
import termios
import urllib.parse
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, cast

import serial
import serial_asyncio_fast
from pydantic import Field

import hub
from hub.errors import DeviceUnavailable
from hub.plugin import Transport, TransportConfig, TransportContext
from hub.transports import ByteStream, SerialSettings

_NODE_CHECK_S = 0.5
"""While waiting for bytes, how often to check that the device node still exists."""
_CLOSE_TIMEOUT_S = 5.0


class SerialTransportConfig(TransportConfig):
    """``[[transports.serial]]``: optional; the default instance needs no table."""

    exclusive: bool = Field(
        default=True,
        description="lock device paths (flock) so no other program can open them at the same "
        "time; set false only for ports shared on purpose",
    )
    read_buffer_bytes: int = Field(
        default=65_536,
        ge=1024,
        description="bytes buffered per port before reading from the device pauses",
    )


def describe_port(port: str) -> str:
    """The port as shown in messages: a path as is, a URL without its host (it may be an IP)."""
    if "://" not in port:
        return port
    url = urllib.parse.urlsplit(port)
    if not url.netloc:
        return f"{url.scheme}://"
    try:
        suffix = f":{url.port}" if url.port is not None else ""
    except ValueError:
        suffix = ""
    return f"{url.scheme}://<host>{suffix}"


def _is_url(port: str) -> bool:
    return "://" in port


class _StreamProtocol(asyncio.Protocol):
    """Buffers received bytes and remembers why the connection ended."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.buffer = bytearray()
        self.readable = asyncio.Event()
        self.writable = asyncio.Event()
        self.writable.set()
        self.lost = asyncio.get_running_loop().create_future()
        self.closed = False
        self.eof = False
        self.error: BaseException | None = None
        self.transport: asyncio.Transport | None = None
        self.reading_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        # write() waits until the transport's own buffer is empty
        self.transport.set_write_buffer_limits(high=0)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.readable.set()
        if len(self.buffer) >= self.limit and self.transport and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.eof = True
        self.readable.set()
        return False  # let the transport close itself

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.error = exc
        self.readable.set()
        self.writable.set()
        if not self.lost.done():
            self.lost.set_result(None)

    def take(self, max_bytes: int) -> bytes:
        data = bytes(self.buffer[:max_bytes])
        del self.buffer[:max_bytes]
        if not self.buffer:
            self.readable.clear()
        if self.reading_paused and len(self.buffer) < self.limit // 2 and self.transport:
            self.reading_paused = False
            if not self.closed:
                self.transport.resume_reading()
        return data


class _SerialStream:
    """One open port: the :class:`hub.transports.ByteStream` handed to a source."""

    def __init__(
        self, settings: SerialSettings, transport: asyncio.Transport, protocol: _StreamProtocol
    ) -> None:
        self.settings = settings
        self.port = describe_port(settings.port)
        self._transport = transport
        self._protocol = protocol
        self._local_node = None if _is_url(settings.port) else settings.port

    def __repr__(self) -> str:
        return f"<serial port {self.port}>"

    def _gone(self) -> DeviceUnavailable:
        p = self._protocol
        if p.eof or (p.closed and p.error is None):
            what = "closed the connection (end of file)"
        elif p.error is not None:
            what = f"failed: {_reason(p.error, self.settings.port)}"
        else:
            what = "is closed"
        return DeviceUnavailable(
            f"serial port {self.port} {what}; the device was unplugged or reset. "
            "Check the cable and power; the hub reopens the port with backoff"
        )

    def _vanished(self) -> DeviceUnavailable:
        return DeviceUnavailable(
            f"serial port {self.port} disappeared (device node removed: unplugged?); "
            "reconnect the device; the hub reopens the port with backoff"
        )

    async def read(self, max_bytes: int = 4096) -> bytes:
        """At least one byte; DeviceUnavailable when the port is gone or silent too long."""
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        p = self._protocol
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.read_timeout_s
        while not p.buffer:
            if p.closed or p.eof:
                raise self._gone()
            remaining = deadline - loop.time()
            if remaining <= 0:
                if self._local_node is not None and not _node_exists(self._local_node):
                    raise self._vanished()
                raise DeviceUnavailable(
                    f"serial port {self.port}: no data for {self.settings.read_timeout_s:g} s; "
                    "check that the device is powered, wired (TX/RX) and set to "
                    f"{self.settings.baudrate} baud, or raise read_timeout_s; "
                    "the hub reopens the port with backoff"
                )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, _NODE_CHECK_S)):
                    await p.readable.wait()
            if not p.buffer and self._local_node is not None and not _node_exists(self._local_node):
                raise self._vanished()
        return p.take(max_bytes)

    async def write(self, data: bytes) -> None:
        """Send ``data``; returns once the operating system has it."""
        p = self._protocol
        if p.closed or self._transport.is_closing():
            raise self._gone()
        if not data:
            return
        self._transport.write(data)
        try:
            await asyncio.wait_for(p.writable.wait(), self.settings.read_timeout_s)
        except TimeoutError:
            raise DeviceUnavailable(
                f"serial port {self.port}: the device did not accept "
                f"{len(data)} bytes within {self.settings.read_timeout_s:g} s "
                "(flow control stuck?); the hub reopens the port with backoff"
            ) from None
        if p.closed:
            raise self._gone()

    async def aclose(self) -> None:
        """Close the port and wait until the file descriptor is released."""
        if not self._transport.is_closing():
            # abort, not close: write() already waited for the bytes to leave, and a
            # graceful close would tcdrain() a possibly stuck port in a thread
            self._transport.abort()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._protocol.lost), _CLOSE_TIMEOUT_S)


def _node_exists(path: str) -> bool:
    # a stat() of a /dev entry does not block
    return os.path.exists(path)


def _reason(err: BaseException, port: str) -> str:
    """A short reason from a library exception, without network addresses.

    pyserial's messages name a device path (fine to show); socket errors name
    the peer's address, so for URLs only the OS error text is kept, and the
    host is masked in any other message.
    """
    code = getattr(err, "errno", None)
    if _is_url(port) and isinstance(code, int):
        return os.strerror(code)
    text = str(err).strip() or type(err).__name__
    if _is_url(port):
        text = text.replace(port, describe_port(port))
        host = urllib.parse.urlsplit(port).hostname
        if host:
            text = text.replace(host, "<host>")
    return text if len(text) <= 200 else text[:200] + "..."


class SerialPortTransport(Transport[SerialTransportConfig]):
    """The ``serial`` transport: opens serial ports for sources, one owner per port."""

    kind = "serial"
    config_model = SerialTransportConfig
    description = "serial ports (USB-UART, RS-232/485, socket:// converters) via pyserial"

    def __init__(self, config: SerialTransportConfig, ctx: TransportContext) -> None:
        super().__init__(config, ctx)
        self._open_ports: set[str] = set()
        self._opened = 0
        self._open_failures = 0

    async def run(self) -> None:
        """Nothing to maintain: ports are opened per source. Waits until cancelled."""
        await asyncio.get_running_loop().create_future()

    def health(self) -> Mapping[str, Any]:
        return {
            "open_ports": len(self._open_ports),
            "opened": self._opened,
            "open_failures": self._open_failures,
        }

    @contextlib.asynccontextmanager
    async def open(self, settings: SerialSettings) -> AsyncIterator[ByteStream]:
        """Open ``settings.port``; DeviceUnavailable when it does not exist or cannot open."""
        name = describe_port(settings.port)
        if settings.port in self._open_ports:
            self._open_failures += 1
            raise DeviceUnavailable(
                f"serial port {name} is already open by another source of this hub; "
                "give each port to exactly one source"
            )
        self._open_ports.add(settings.port)
        try:
            stream = await self._connect(settings)
            self._opened += 1
            self.ctx.log.debug("serial port %s open", name)
            try:
                yield stream
            finally:
                await stream.aclose()
                self.ctx.log.debug("serial port %s closed", name)
        finally:
            self._open_ports.discard(settings.port)

    async def _connect(self, settings: SerialSettings) -> _SerialStream:
        loop = asyncio.get_running_loop()
        name = describe_port(settings.port)
        kwargs: dict[str, Any] = {
            "baudrate": settings.baudrate,
            "bytesize": settings.bytesize,
            "parity": settings.parity,
            "stopbits": settings.stopbits,
        }
        limit = self.config.read_buffer_bytes

        def factory() -> _StreamProtocol:
            return _StreamProtocol(limit)

        try:
            if urllib.parse.urlsplit(settings.port).scheme == "socket":
                transport, protocol = await serial_asyncio_fast.create_serial_connection(
                    loop, factory, settings.port, **kwargs
                )
            else:
                if not _is_url(settings.port):
                    kwargs["exclusive"] = self.config.exclusive
                instance = await _open_in_executor(
                    loop, lambda: serial.serial_for_url(settings.port, **kwargs)
                )
                try:
                    instance.fileno()
                except Exception as err:
                    await loop.run_in_executor(None, instance.close)
                    raise DeviceUnavailable(
                        f"serial port {name}: this kind of pyserial URL has no file "
                        "descriptor and cannot be read without blocking; use a device "
                        "path or socket://host:port"
                    ) from err
                transport, protocol = await serial_asyncio_fast.connection_for_serial(
                    loop, factory, instance
                )
        except DeviceUnavailable:
            self._open_failures += 1
            raise
        except termios.error as err:  # pyserial lets tcsetattr() errors through
            self._open_failures += 1
            raise DeviceUnavailable(
                f"cannot open serial port {name}: the driver refused the line settings "
                f"({settings.baudrate} baud, {settings.bytesize}{settings.parity}"
                f"{settings.stopbits:g}: {_reason(err, settings.port)}); check serial.baudrate, "
                "bytesize, parity and stopbits; the hub retries with backoff"
            ) from err
        except (serial.SerialException, OSError, ValueError) as err:
            self._open_failures += 1
            raise DeviceUnavailable(_open_failure_message(settings, name, err)) from err
        # connection_made runs on the next loop iteration
        await asyncio.sleep(0)
        return _SerialStream(
            settings, cast(asyncio.Transport, transport), cast(_StreamProtocol, protocol)
        )


async def _open_in_executor(
    loop: asyncio.AbstractEventLoop, opener: Callable[[], serial.Serial]
) -> serial.Serial:
    """Open in a thread; if cancelled meanwhile, close the port once it is open."""
    future = loop.run_in_executor(None, opener)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:

        def close_when_open(done: asyncio.Future[serial.Serial]) -> None:
            if not done.cancelled() and done.exception() is None:
                done.result().close()

        future.add_done_callback(close_when_open)
        raise


def _open_failure_message(settings: SerialSettings, name: str, err: BaseException) -> str:
    errno_ = getattr(err, "errno", None)
    if errno_ == 2 or (not _is_url(settings.port) and not _node_exists(settings.port)):
        hint = "it does not exist (is the device plugged in, and is the path right?)"
    elif errno_ == 13:
        hint = "permission denied (add the hub's user to the 'dialout' group)"
    elif errno_ == 11 or "exclusively lock" in str(err):
        hint = "it is in use by another program (stop it or free the port)"
    elif "Could not configure port" in str(err):
        hint = f"it is not a serial device ({_reason(err, settings.port)})"
    elif isinstance(err, ValueError):
        hint = f"the setting is invalid ({_reason(err, settings.port)}); fix serial.port"
    else:
        hint = f"{_reason(err, settings.port)}; check the device and its settings"
    return f"cannot open serial port {name}: {hint}; the hub retries with backoff"


@hub.hookimpl
def register_transports(register: Callable[[type[Transport[Any]]], None]) -> None:
    """Register the ``serial`` transport."""
    register(SerialPortTransport)
