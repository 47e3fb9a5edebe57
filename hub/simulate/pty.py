"""A serial device on a real pseudo-terminal: ``hub simulate``'s serial devices and tests.

:class:`PtyDevice` plays the device: the hub opens :attr:`PtyDevice.path` (a
symlink like ``/dev/ttyUSB0`` pointing at the pty's slave side) through the
real serial transport, and the test writes the device's bytes on the master
side and reads what the hub sent::

    def test_lidar(serial_pty: PtyDevice) -> None:
        settings = SerialSettings(port=str(serial_pty.path), read_timeout_s=2)
        async with transport.open(settings) as port:
            serial_pty.write(bytes.fromhex("59 59 7B 00 5E 01 C8 08 5C"))
            ...
            assert await serial_pty.expect_written(b"\\xa5\\x20") == b"\\xa5\\x20"

:meth:`unplug` closes the pty and removes the symlink, as a USB unplug removes
``/dev/ttyUSB0``; :meth:`replug` makes a fresh pty and points the symlink at it.

The pty is in raw mode (no echo, no newline translation), so bytes pass
unchanged in both directions. pyserial discards pending input when it opens a
port: write device bytes *after* the hub opened it. POSIX only.

Tests import it as :class:`hub.testing.pty.PtyDevice` (re-exported there).
"""

from __future__ import annotations

__all__ = ["PtyDevice"]

import asyncio
import errno
import os
import tty
from collections.abc import Callable
from pathlib import Path
from types import TracebackType


class PtyDevice:
    """A pseudo-terminal pair behind a stable device path (see the module docstring)."""

    def __init__(self, directory: str | os.PathLike[str], name: str = "ttyUSB0") -> None:
        self.path = Path(directory) / name
        """The stable device path the hub opens (a symlink to the current slave)."""
        self._master: int | None = None
        self._slave: int | None = None
        self._received = bytearray()
        self.plug_count = 0
        self.plug()

    # -- plugging ------------------------------------------------------------------------

    @property
    def plugged(self) -> bool:
        return self._master is not None

    @property
    def slave_path(self) -> str:
        """The current ``/dev/pts/N`` behind :attr:`path`."""
        if self._slave is None:
            raise RuntimeError(f"{self.path} is unplugged")
        return os.ttyname(self._slave)

    def plug(self) -> None:
        """Create the pty and point :attr:`path` at it (no-op when plugged)."""
        if self.plugged:
            return
        master, slave = os.openpty()
        tty.setraw(slave)  # the line settings are shared by both sides
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self._received.clear()
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, self.path)  # atomic: the path never dangles during a replug
        self.plug_count += 1

    def unplug(self) -> None:
        """Close the pty (the hub's reads fail) and remove :attr:`path`."""
        self.path.unlink(missing_ok=True)
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None

    def replug(self) -> None:
        """Unplug (if plugged), then plug a fresh pty in at the same path."""
        self.unplug()
        self.plug()

    def close(self) -> None:
        """Release everything; idempotent."""
        self.unplug()

    def __enter__(self) -> PtyDevice:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "plugged" if self.plugged else "unplugged"
        return f"<PtyDevice {self.path} {state}>"

    # -- device -> hub -------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Send ``data`` to the hub now (up to a few KiB; use :meth:`send` for more)."""
        master = self._require_master()
        view = memoryview(data)
        while view:
            try:
                n = os.write(master, view)
            except BlockingIOError:
                raise BlockingIOError(
                    errno.EAGAIN,
                    f"{self.path}: the pty buffer is full; use 'await send(...)' for bulk data",
                ) from None
            view = view[n:]

    async def send(self, data: bytes, *, timeout_s: float = 10.0) -> None:
        """Send ``data`` to the hub, waiting while the pty's buffer is full."""
        master = self._require_master()
        view = memoryview(data)
        async with asyncio.timeout(timeout_s):
            while view:
                try:
                    view = view[os.write(master, view) :]
                except BlockingIOError:
                    await asyncio.sleep(0.005)  # the reader drains the buffer meanwhile

    # -- hub -> device -------------------------------------------------------------------

    def read_written(self) -> bytes:
        """Everything the hub wrote that was not returned yet (possibly ``b""``)."""
        self._drain()
        data = bytes(self._received)
        self._received.clear()
        return data

    async def read_written_async(self, min_bytes: int = 1, *, timeout_s: float = 10.0) -> bytes:
        """Wait until the hub wrote at least ``min_bytes`` more bytes; return all of them."""
        await self._wait(lambda: len(self._received) >= min_bytes, timeout_s)
        return self.read_written()

    async def expect_written(self, expected: bytes, *, timeout_s: float = 10.0) -> bytes:
        """Wait until ``expected`` appears in what the hub wrote; return the bytes up to and
        including it (later bytes stay for the next read). TimeoutError if it never does."""
        await self._wait(lambda: expected in self._received, timeout_s)
        end = self._received.index(expected) + len(expected)
        data = bytes(self._received[:end])
        del self._received[:end]
        return data

    # -- internals -----------------------------------------------------------------------

    def _require_master(self) -> int:
        if self._master is None:
            raise RuntimeError(f"{self.path} is unplugged; call replug() first")
        return self._master

    def _drain(self) -> None:
        master = self._master
        if master is None:
            return
        while True:
            try:
                chunk = os.read(master, 65536)
            except BlockingIOError:
                return
            except OSError as err:  # EIO: no slave side open
                if err.errno == errno.EIO:
                    return
                raise
            if not chunk:
                return
            self._received += chunk

    async def _wait(self, check: Callable[[], bool], timeout_s: float) -> None:
        master = self._require_master()
        loop = asyncio.get_running_loop()
        readable = asyncio.Event()
        loop.add_reader(master, readable.set)
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    self._drain()
                    if check():
                        return
                    readable.clear()
                    await readable.wait()
        finally:
            loop.remove_reader(master)
