"""Reusable stream decoders: turn a serial byte stream into complete frames.

Sans-io: no asyncio, no I/O. A source feeds whatever ``read()`` returned and
gets the complete frames back; partial frames stay buffered until the next
``feed``::

    decoder = FixedFrameDecoder(b"\\x59\\x59", 9, sum8_valid)
    async with serial.open(settings) as port:
        while True:
            for frame in decoder.feed(await port.read()):
                ...

Serial lines lose and corrupt bytes, and a sync pattern can also occur inside
a frame (TF-Luna: distance 0x5959 is ``59 59 59 59 ...``). So a candidate frame
that fails validation is never skipped whole: the decoder drops **one byte**
and looks again, which finds the real frame start even when it lies inside the
rejected candidate.

Every decoder counts what it did, for ``hub status`` and ``ctx.malformed``:

* ``frames``: complete, valid frames returned;
* ``bad_frames``: candidates rejected (bad checksum, impossible length,
  over-long line);
* ``discarded_bytes``: bytes dropped that belonged to no returned frame.

At any time ``bytes fed == bytes in returned frames (+ delimiters) +
discarded_bytes + buffered``.
"""

from __future__ import annotations

__all__ = [
    "DelimiterDecoder",
    "FixedFrameDecoder",
    "FrameDecoder",
    "LengthPrefixedDecoder",
    "sum8_valid",
]

from collections.abc import Callable
from typing import Protocol


def sum8_valid(frame: bytes) -> bool:
    """True when the last byte is the low byte of the sum of all bytes before it.

    The Benewake TF-Luna / TFmini checksum (byte 8 = sum of bytes 0..7 & 0xFF).
    """
    return len(frame) >= 2 and sum(frame[:-1]) & 0xFF == frame[-1]


class FrameDecoder(Protocol):
    """What every decoder in this module offers."""

    frames: int
    bad_frames: int
    discarded_bytes: int

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the frames completed by them, oldest first."""
        ...

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        ...


class _Counters:
    def __init__(self) -> None:
        self.frames = 0
        self.bad_frames = 0
        self.discarded_bytes = 0
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buf)

    def _discard(self, n: int) -> None:
        del self._buf[:n]
        self.discarded_bytes += n

    def reset(self) -> None:
        """Forget buffered bytes (e.g. after reopening the port); counters are kept."""
        self._buf.clear()


class FixedFrameDecoder(_Counters):
    """Fixed-length frames that start with ``sync`` and pass ``valid(frame)``.

    ``length`` includes the sync bytes. Bytes before a sync pattern are
    discarded; a candidate that fails ``valid`` costs one byte and the search
    goes on from the next one.
    """

    def __init__(self, sync: bytes, length: int, valid: Callable[[bytes], bool]) -> None:
        if not sync:
            raise ValueError("sync must be at least one byte")
        if length < len(sync):
            raise ValueError(f"length {length} is shorter than the sync pattern")
        super().__init__()
        self.sync = bytes(sync)
        self.length = length
        self.valid = valid

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        buf = self._buf
        while buf:
            start = buf.find(self.sync)
            if start < 0:
                # keep a tail that may be the beginning of the sync pattern
                self._discard(len(buf) - self._partial_sync_tail())
                break
            if start:
                self._discard(start)
            if len(buf) < self.length:
                break
            candidate = bytes(buf[: self.length])
            if self.valid(candidate):
                del buf[: self.length]
                self.frames += 1
                out.append(candidate)
            else:
                self.bad_frames += 1
                self._discard(1)
        return out

    def _partial_sync_tail(self) -> int:
        """Length of the longest buffer suffix that is a proper prefix of ``sync``."""
        for n in range(min(len(self.sync) - 1, len(self._buf)), 0, -1):
            if self._buf.endswith(self.sync[:n]):
                return n
        return 0


class DelimiterDecoder(_Counters):
    """Delimited records (text lines by default); frames are returned without the delimiter.

    A record longer than ``max_length`` bytes (delimiter excluded) is dropped
    with its delimiter and counted once in ``bad_frames``; its bytes are not
    kept while the decoder waits for the delimiter that ends it. Empty records
    are returned as ``b""``; strip ``\\r`` yourself for CRLF devices or use
    ``delimiter=b"\\r\\n"``.
    """

    def __init__(self, delimiter: bytes = b"\n", max_length: int = 4096) -> None:
        if not delimiter:
            raise ValueError("delimiter must be at least one byte")
        if max_length < 1:
            raise ValueError("max_length must be positive")
        super().__init__()
        self.delimiter = bytes(delimiter)
        self.max_length = max_length
        self._skipping = False
        """Inside an over-long record: drop bytes up to and including the next delimiter."""

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        buf = self._buf
        dlen = len(self.delimiter)
        while buf:
            end = buf.find(self.delimiter)
            if self._skipping:
                if end < 0:
                    keep = dlen - 1
                    if len(buf) > keep:
                        self._discard(len(buf) - keep)
                    break
                self._discard(end + dlen)
                self._skipping = False
                continue
            if end < 0:
                if len(buf) > self.max_length + dlen - 1:
                    # cannot end within max_length any more: drop it now, skip the rest
                    self.bad_frames += 1
                    self._skipping = True
                    continue
                break
            if end > self.max_length:
                self.bad_frames += 1
                self._discard(end + dlen)
                continue
            out.append(bytes(buf[:end]))
            del buf[: end + dlen]
            self.frames += 1
        return out

    def reset(self) -> None:
        super().reset()
        self._skipping = False


class LengthPrefixedDecoder(_Counters):
    """Frames whose header says how long the whole frame is.

    ``frame_length(header)`` gets the first ``header_length`` bytes of a
    candidate and returns the total frame length (header included, padding
    included) or ``None`` when the header is impossible. ``valid(frame)``
    (optional) checks the complete frame, e.g. a CRC. A rejected header or
    frame costs one byte and the search goes on from the next one; lengths
    outside ``header_length..max_length`` are rejected without waiting for them.

    Example, Paxcounter SPI frames ``[crc16 BE][port][len] payload`` padded to
    a multiple of four::

        LengthPrefixedDecoder(4, lambda h: (4 + h[3]) // 4 * 4 + 4, crc_ok, max_length=260)
    """

    def __init__(
        self,
        header_length: int,
        frame_length: Callable[[bytes], int | None],
        valid: Callable[[bytes], bool] | None = None,
        max_length: int = 4096,
    ) -> None:
        if header_length < 1:
            raise ValueError("header_length must be positive")
        if max_length < header_length:
            raise ValueError("max_length is shorter than the header")
        super().__init__()
        self.header_length = header_length
        self.frame_length = frame_length
        self.valid = valid
        self.max_length = max_length

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        buf = self._buf
        while len(buf) >= self.header_length:
            n = self.frame_length(bytes(buf[: self.header_length]))
            if n is None or not self.header_length <= n <= self.max_length:
                self.bad_frames += 1
                self._discard(1)
                continue
            if len(buf) < n:
                break
            candidate = bytes(buf[:n])
            if self.valid is None or self.valid(candidate):
                del buf[:n]
                self.frames += 1
                out.append(candidate)
            else:
                self.bad_frames += 1
                self._discard(1)
        return out
