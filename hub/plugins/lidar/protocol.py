"""Sans-io decoders for the serial lidars: Benewake TF-Luna/TFmini and Slamtec RPLIDAR A1.

Bytes in, typed readings out; no asyncio, no I/O. Both decoders are
incremental: ``feed()`` takes whatever chunk the port delivered and returns
the complete items in order. Corrupt input never raises: it comes back as a
:class:`Malformed` item (with a reason that never contains raw bytes) and the
decoder resynchronises by itself.

Benewake (TF-Luna manual, appendix I; TFmini-S/Plus use the same frame)::

    59 59 Dist_L Dist_H Amp_L Amp_H Temp_L Temp_H Checksum

checksum = low byte of the sum of bytes 0..7. 0x59 may occur inside a frame,
so a header is only accepted when its checksum matches; otherwise the decoder
moves on by one byte. Variants: 9-byte/cm (default), 9-byte/mm, PIX (ASCII
metres, ``"1.23\\r\\n"``) and the original TFmini (bytes 6/7 are not a
temperature).

RPLIDAR A1 legacy protocol: after ``A5 20`` (SCAN) the device answers with
the descriptor ``A5 5A 05 00 00 40 81`` and then 5-byte nodes::

    b0 = quality<<2 | !S<<1 | S    b1 = angle_q6[6:0]<<1 | C    b2 = angle_q6[14:7]
    b3, b4 = distance_q2 (little-endian)

S marks the first node of a revolution and must differ from !S; C must be 1.
"""

from __future__ import annotations

__all__ = [
    "RPLIDAR_GET_HEALTH",
    "RPLIDAR_SCAN",
    "RPLIDAR_SCAN_DESCRIPTOR",
    "RPLIDAR_STOP",
    "TF_HEADER",
    "Malformed",
    "RplidarDecoder",
    "RplidarDescriptor",
    "RplidarHealth",
    "RplidarInfo",
    "ScanNode",
    "TfDecoder",
    "TfReading",
    "tf_checksum",
]

from dataclasses import dataclass
from typing import Literal

from hub.framing import DelimiterDecoder, FixedFrameDecoder, FrameDecoder, sum8_valid

TF_HEADER = b"\x59\x59"
TF_FRAME_LEN = 9
_TF_MAX_PIX_LINE = 16

RPLIDAR_SCAN = b"\xa5\x20"
RPLIDAR_STOP = b"\xa5\x25"
RPLIDAR_GET_HEALTH = b"\xa5\x52"
RPLIDAR_SCAN_DESCRIPTOR = b"\xa5\x5a\x05\x00\x00\x40\x81"
_RP_SYNC = b"\xa5\x5a"
_RP_TYPE_MEASUREMENT = 0x81
_RP_TYPE_HEALTH = 0x06
_RP_TYPE_INFO = 0x04
_RP_MAX_ANGLE_Q6 = 360 * 64
_RP_LOCK_NODES = 10
_RP_RESYNC_NODES = 3
"""Nodes that must validate in a row to lock onto a stream whose descriptor was missed."""
_MAX_BUFFER = 65536


@dataclass(frozen=True, slots=True)
class Malformed:
    """A corrupt frame or node; ``reason`` is safe to log (no raw bytes)."""

    reason: str


# -- Benewake TF-Luna / TFmini -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TfReading:
    """One distance reading."""

    distance_cm: float
    amplitude: int | None
    """Signal strength (None in PIX mode, which does not carry it)."""
    temperature_c: float | None
    """Chip temperature (None for the original TFmini and PIX mode)."""
    reliable: bool
    """False when Amp < min_amplitude, Amp == 65535 (overexposed) or Dist == 65535."""


def tf_checksum(frame: bytes) -> int:
    """Low byte of the sum of bytes 0..7."""
    return sum(frame[:8]) & 0xFF


class TfDecoder:
    """Incremental decoder of a Benewake serial stream (on :mod:`hub.framing`).

    ``fmt``: ``"cm"`` (9-byte/cm, default), ``"mm"`` (9-byte/mm) or ``"pix"``
    (ASCII metres). ``temperature=False`` for the original TFmini, whose bytes
    6/7 are a mode indicator and a raw quality, not a temperature. Each
    rejected candidate frame (bad checksum, bad PIX line) is one
    :class:`Malformed` item.
    """

    def __init__(
        self,
        *,
        fmt: Literal["cm", "mm", "pix"] = "cm",
        temperature: bool = True,
        min_amplitude: int = 100,
    ) -> None:
        self.fmt = fmt
        self.temperature = temperature
        self.min_amplitude = min_amplitude
        self.framer: FrameDecoder = (
            DelimiterDecoder(b"\n", max_length=_TF_MAX_PIX_LINE)
            if fmt == "pix"
            else FixedFrameDecoder(TF_HEADER, TF_FRAME_LEN, sum8_valid)
        )
        self.bad_lines = 0

    @property
    def frames(self) -> int:
        return self.framer.frames - self.bad_lines

    @property
    def bad_frames(self) -> int:
        return self.framer.bad_frames + self.bad_lines

    @property
    def discarded_bytes(self) -> int:
        return self.framer.discarded_bytes

    def feed(self, data: bytes) -> list[TfReading | Malformed]:
        before = self.framer.bad_frames
        frames = self.framer.feed(data)
        out: list[TfReading | Malformed] = []
        if self.framer.bad_frames > before:
            what = "PIX line too long" if self.fmt == "pix" else "TF frame checksum mismatch"
            out += [Malformed(f"{what}; resynchronising")] * (self.framer.bad_frames - before)
        for frame in frames:
            if self.fmt == "pix":
                item = self._pix(frame)
                if item is None:
                    continue
                if isinstance(item, Malformed):
                    self.bad_lines += 1
                out.append(item)
            else:
                out.append(self._decode(frame))
        return out

    def _decode(self, frame: bytes) -> TfReading:
        dist = frame[2] | frame[3] << 8
        amp = frame[4] | frame[5] << 8
        raw_temp = frame[6] | frame[7] << 8
        reliable = amp >= self.min_amplitude and amp != 0xFFFF and dist != 0xFFFF
        distance_cm = dist / 10.0 if self.fmt == "mm" else float(dist)
        temp = raw_temp / 8.0 - 256.0 if self.temperature else None
        return TfReading(distance_cm, amp, temp, reliable)

    @staticmethod
    def _pix(line: bytes) -> TfReading | Malformed | None:
        text = line.strip(b"\r \t\x00")
        if not text:
            return None
        try:
            metres = float(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            return Malformed("TF PIX line is not a number in metres")
        if not 0 <= metres < 1000:
            return Malformed("TF PIX distance out of range")
        return TfReading(round(metres * 100.0, 3), None, None, True)


# -- Slamtec RPLIDAR A1 --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScanNode:
    """One measurement of a scan."""

    start: bool
    """First node of a new 360° revolution (S = 1)."""
    quality: int
    angle_deg: float
    distance_mm: float
    """0 means no valid measurement at this angle."""


@dataclass(frozen=True, slots=True)
class RplidarDescriptor:
    """A response descriptor (``A5 5A len(30 bit) mode(2 bit) type``)."""

    length: int
    mode: int
    data_type: int


@dataclass(frozen=True, slots=True)
class RplidarHealth:
    """GET_HEALTH answer: 0 good, 1 warning, 2 error."""

    status: int
    error_code: int

    @property
    def state(self) -> str:
        return {0: "good", 1: "warning", 2: "error"}.get(self.status, "unknown")


@dataclass(frozen=True, slots=True)
class RplidarInfo:
    """GET_INFO answer (the device serial number is deliberately not kept)."""

    model: int
    firmware: str
    hardware: int


RplidarItem = ScanNode | RplidarDescriptor | RplidarHealth | RplidarInfo | Malformed


def _node_ok(b: bytes | bytearray, at: int) -> bool:
    b0, b1 = b[at], b[at + 1]
    s, not_s = b0 & 1, (b0 >> 1) & 1
    angle_q6 = (b1 >> 1) | b[at + 2] << 7
    return s != not_s and b1 & 1 == 1 and angle_q6 <= _RP_MAX_ANGLE_Q6


def _node(b: bytes | bytearray, at: int) -> ScanNode:
    b0 = b[at]
    angle_q6 = (b[at + 1] >> 1) | b[at + 2] << 7
    dist_q2 = b[at + 3] | b[at + 4] << 8
    return ScanNode(bool(b0 & 1), b0 >> 2, angle_q6 / 64.0, dist_q2 / 4.0)


class RplidarDecoder:
    """Incremental decoder of the RPLIDAR legacy serial protocol (SCAN, GET_HEALTH, GET_INFO).

    Waits for a response descriptor; after the scan descriptor it yields
    :class:`ScanNode` items. A node failing its check bits yields one
    :class:`Malformed` per burst and the decoder slides byte by byte until three
    consecutive nodes validate again (at most one of them starting a revolution).
    A scan stream whose descriptor was missed is locked onto after ten
    consecutive valid nodes.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._scanning = False
        self._resyncing = False
        self.nodes = 0
        self.bad_nodes = 0

    @property
    def scanning(self) -> bool:
        return self._scanning

    def feed(self, data: bytes) -> list[RplidarItem]:
        self._buf += data
        out: list[RplidarItem] = []
        i = 0
        buf = self._buf
        while True:
            if buf.startswith(_RP_SYNC, i):
                step = self._descriptor(buf, i, out)
                if step is None:
                    break  # need more bytes
                if step:
                    i += step
                    continue
            if not self._scanning:
                if self._locks_on(buf, i):
                    self._scanning = True
                    continue
                if len(buf) - i <= 5 * _RP_LOCK_NODES:
                    j = buf.find(_RP_SYNC, i + 1)
                    if j < 0:
                        break
                    i = j
                    continue
                i += 1
                continue
            if len(buf) - i < (5 * _RP_RESYNC_NODES if self._resyncing else 5):
                break
            ok = self._relocks(buf, i) if self._resyncing else _node_ok(buf, i)
            if ok:
                self._resyncing = False
                out.append(_node(buf, i))
                self.nodes += 1
                i += 5
                continue
            if not self._resyncing:
                self.bad_nodes += 1
                self._resyncing = True
                out.append(Malformed("RPLIDAR node check bits invalid; resynchronising"))
            i += 1
        del buf[:i]
        if len(buf) > _MAX_BUFFER:
            del buf[: len(buf) - _MAX_BUFFER]
        return out

    @staticmethod
    def _relocks(buf: bytearray, i: int) -> bool:
        """After a bad node: three valid nodes in a row, at most one starting a revolution."""
        at = range(i, i + 5 * _RP_RESYNC_NODES, 5)
        return all(_node_ok(buf, k) for k in at) and sum(buf[k] & 1 for k in at) <= 1

    def _locks_on(self, buf: bytearray, i: int) -> bool:
        """A node stream whose descriptor was missed: ten valid nodes in a row."""
        end = i + 5 * _RP_LOCK_NODES
        if len(buf) < end:
            return False
        return all(_node_ok(buf, k) for k in range(i, end, 5))

    def _descriptor(self, buf: bytearray, i: int, out: list[RplidarItem]) -> int | None:
        """Handle a descriptor at ``i``: bytes consumed, 0 if it is not one, None: wait."""
        if len(buf) - i < 7:
            return None
        raw = bytes(buf[i : i + 7])
        size = int.from_bytes(raw[2:6], "little")
        length, mode, dtype = size & 0x3FFFFFFF, size >> 30, raw[6]
        if raw == RPLIDAR_SCAN_DESCRIPTOR:
            self._scanning = True
            self._resyncing = False
            out.append(RplidarDescriptor(length, mode, dtype))
            return 7
        if dtype == _RP_TYPE_HEALTH and length == 3 and mode == 0:
            if len(buf) - i < 10:
                return None
            status = buf[i + 7]
            code = buf[i + 8] | buf[i + 9] << 8
            out.append(RplidarHealth(status, code))
            return 10
        if dtype == _RP_TYPE_INFO and length == 20 and mode == 0:
            if len(buf) - i < 27:
                return None
            b = buf[i + 7 : i + 27]
            out.append(RplidarInfo(b[0], f"{b[2]}.{b[1]:02d}", b[3]))
            return 27
        if self._scanning:
            return 0  # inside a node stream A5 5A is just data
        if mode == 0 and length <= 256:
            if len(buf) - i < 7 + length:
                return None
            out.append(RplidarDescriptor(length, mode, dtype))
            return 7 + length
        out.append(RplidarDescriptor(length, mode, dtype))
        return 7
