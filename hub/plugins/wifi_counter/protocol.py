"""ESP32-Paxcounter wire formats, sans-io: bytes in, typed readings out.

Covers the binary payloads (LoRaWAN FPort numbers, also used as the MQTT topic
suffix and the SPI frame's port byte) in both encoders:

* ``packed`` (PAYLOAD_ENCODER 2, the default): little-endian;
* ``plain`` (PAYLOAD_ENCODER 1): the same fields big-endian.

Port 1 (counter) is dispatched on its length like the official decoder
(``src/TTNv3/packed_decodeUplink.js``): 2 wifi; 4 wifi, ble; 8 wifi, ble,
PM10, PM2.5; 10 lat, lon, wifi; 12 lat, lon, wifi, ble; 15 wifi + GPS; 17
wifi, ble + GPS. Port 2 is the 20-byte device status, port 4 a GPS fix, port 8
the battery voltage. Other ports (config, button, BME, time, user sensors) carry
no count and decode to ``None``.

Also here: the MQTT body/topic rules and the SPI-slave frame decoder with its
CRC-16. The SD-card CSV is in :mod:`.sdcard`, TTN envelopes are in :mod:`.ttn`, Meraki in
:mod:`.meraki`. Error messages name the port/field and never echo payload bytes.
"""

from __future__ import annotations

__all__ = [
    "BATTERY_PORT",
    "COUNTER_PORT",
    "GPS_PORT",
    "STATUS_PORT",
    "Encoding",
    "GpsFix",
    "PaxBattery",
    "PaxCount",
    "PaxReading",
    "PaxStatus",
    "SpiFrame",
    "SpiFrameDecoder",
    "crc16_genibus",
    "decode_base64_body",
    "decode_counter",
    "decode_gps",
    "decode_payload",
    "decode_status",
    "encode_spi_frame",
    "parse_mqtt_topic",
    "spi_crc_candidates",
]

import base64
import binascii
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from hub.errors import MalformedInput

Encoding = Literal["packed", "plain"]

COUNTER_PORT = 1
STATUS_PORT = 2
GPS_PORT = 4
BATTERY_PORT = 8

COUNTER_LENGTHS = (2, 4, 8, 10, 12, 15, 17)
_UINT32_MAX = 0xFFFF_FFFF


@dataclass(frozen=True, slots=True)
class GpsFix:
    """Where the *device* is (not a person). Kept out of events unless configured."""

    latitude: float
    longitude: float
    sats: int | None = None
    hdop: float | None = None
    altitude_m: int | None = None


@dataclass(frozen=True, slots=True)
class PaxCount:
    """One port-1 counter payload: distinct devices seen in the last send cycle."""

    wifi: int
    ble: int | None = None
    gps: GpsFix | None = None
    pm10: float | None = None
    pm25: float | None = None
    split_known: bool = True
    """False when only the total (``pax``) is known, e.g. from a formatter; then ``wifi``
    holds the total and the event leaves ``wifi``/``ble`` empty."""

    @property
    def pax(self) -> int:
        """``wifi + ble``, as the official decoder computes it."""
        return self.wifi + (self.ble or 0)


@dataclass(frozen=True, slots=True)
class PaxStatus:
    """Port-2 device status."""

    voltage_mv: int
    uptime_s: int
    cputemp_c: int
    free_memory_bytes: int
    reset_reason: int
    restarts: int
    uptime_quirk: bool = False
    """True when the uptime was read like the JS codec does (see :func:`decode_status`)."""


@dataclass(frozen=True, slots=True)
class PaxBattery:
    """Port-8 battery/USB voltage."""

    voltage_mv: int


PaxReading = PaxCount | PaxStatus | GpsFix | PaxBattery


def _order(encoding: Encoding) -> str:
    return "<" if encoding == "packed" else ">"


def _gps(buf: bytes, enc: Encoding, *, full: bool) -> GpsFix:
    o = _order(enc)
    lat, lon = struct.unpack_from(f"{o}ii", buf, 0)
    if not full:
        return GpsFix(latitude=lat / 1e6, longitude=lon / 1e6)
    sats, hdop, alt = struct.unpack_from(f"{o}BHh", buf, 8)
    return GpsFix(
        latitude=round(lat / 1e6, 6),
        longitude=round(lon / 1e6, 6),
        sats=sats,
        hdop=round(hdop / 100, 2),
        altitude_m=alt,
    )


def decode_counter(payload: bytes, encoding: Encoding = "packed") -> PaxCount:
    """Decode a port-1 counter payload, dispatching on its length."""
    o = _order(encoding)
    n = len(payload)
    if n == 2:
        (wifi,) = struct.unpack(f"{o}H", payload)
        return PaxCount(wifi=wifi)
    if n == 4:
        wifi, ble = struct.unpack(f"{o}HH", payload)
        return PaxCount(wifi=wifi, ble=ble)
    if n == 8:
        wifi, ble, pm10, pm25 = struct.unpack(f"{o}HHHH", payload)
        # SDS011 fine dust: packed writes value*10, plain value*100 (src/payload.cpp)
        scale = 10 if encoding == "packed" else 100
        return PaxCount(wifi=wifi, ble=ble, pm10=pm10 / scale, pm25=pm25 / scale)
    if n == 10:
        (wifi,) = struct.unpack_from(f"{o}H", payload, 8)
        return PaxCount(wifi=wifi, gps=_gps(payload, encoding, full=False))
    if n == 12:
        wifi, ble = struct.unpack_from(f"{o}HH", payload, 8)
        return PaxCount(wifi=wifi, ble=ble, gps=_gps(payload, encoding, full=False))
    if n == 15:
        (wifi,) = struct.unpack_from(f"{o}H", payload, 0)
        return PaxCount(wifi=wifi, gps=_gps(payload[2:], encoding, full=True))
    if n == 17:
        wifi, ble = struct.unpack_from(f"{o}HH", payload, 0)
        return PaxCount(wifi=wifi, ble=ble, gps=_gps(payload[4:], encoding, full=True))
    raise MalformedInput(
        f"paxcounter counter payload (port 1) has {n} bytes; expected one of "
        f"{', '.join(map(str, COUNTER_LENGTHS))}. Check the device firmware/payload options"
    )


def decode_status(payload: bytes, encoding: Encoding = "packed") -> PaxStatus:
    """Decode the 20-byte port-2 status.

    The uptime is a uint64. The vendor codec's example (``2F 01 00 00 00 00 C0 4B
    03 00 ...``) only yields its stated 216000 s because JavaScript's ``<<``
    wraps at 32 bits, i.e. the JS decoder ORs the low and high 32-bit words.
    A real uptime never exceeds 2**32 s (136 years), so when the correct reading
    does, we read it like the official decoder and set ``uptime_quirk``.
    """
    if len(payload) != 20:
        raise MalformedInput(
            f"paxcounter status payload (port 2) has {len(payload)} bytes; expected 20"
        )
    o = _order(encoding)
    voltage, uptime, temp, mem, reset, restarts = struct.unpack(f"{o}HQBIBI", payload)
    quirk = False
    if uptime > _UINT32_MAX:
        quirk = True
        uptime = (uptime & _UINT32_MAX) | (uptime >> 32)
    return PaxStatus(
        voltage_mv=voltage,
        uptime_s=uptime,
        cputemp_c=temp,
        free_memory_bytes=mem,
        reset_reason=reset,
        restarts=restarts,
        uptime_quirk=quirk,
    )


def decode_gps(payload: bytes, encoding: Encoding = "packed") -> GpsFix:
    """Decode a port-4 GPS fix: 13 bytes (lat, lon, sats, hdop, alt) or 8 (lat, lon)."""
    if len(payload) == 13:
        return _gps(payload, encoding, full=True)
    if len(payload) == 8:
        return _gps(payload, encoding, full=False)
    raise MalformedInput(
        f"paxcounter GPS payload (port 4) has {len(payload)} bytes; expected 13 or 8"
    )


def decode_payload(port: int, payload: bytes, encoding: Encoding = "packed") -> PaxReading | None:
    """Decode one Paxcounter message by port; ``None`` for ports that carry no reading."""
    if port == COUNTER_PORT:
        return decode_counter(payload, encoding)
    if port == STATUS_PORT:
        return decode_status(payload, encoding)
    if port == GPS_PORT:
        return decode_gps(payload, encoding)
    if port == BATTERY_PORT:
        if len(payload) < 2:
            raise MalformedInput(
                f"paxcounter battery payload (port 8) has {len(payload)} bytes; expected 2"
            )
        (mv,) = struct.unpack_from(f"{_order(encoding)}H", payload, 0)
        return PaxBattery(voltage_mv=mv)
    return None


# -- MQTT ---------------------------------------------------------------------------------


def parse_mqtt_topic(topic: str, prefix: str = "paxout") -> int | None:
    """The port number of a ``<prefix>/<port>`` topic.

    ``None`` for the bare ``<prefix>`` topic (the device's client name on connect,
    which must never be emitted) and for topics outside the prefix. Raises
    :class:`MalformedInput` when the suffix is not a port number.
    """
    base = prefix.rstrip("/")
    if topic == base or not topic.startswith(base + "/"):
        return None
    suffix = topic[len(base) + 1 :]
    if not suffix.isdigit() or not 0 < int(suffix) < 256:
        raise MalformedInput(
            f"paxcounter MQTT topic under '{base}/' ends in a non-port suffix; "
            "expected '<prefix>/<port 1..255>'"
        )
    return int(suffix)


def decode_base64_body(body: bytes) -> bytes:
    """The binary payload of a Paxcounter MQTT body (base64, surrounding whitespace allowed)."""
    text = body.strip()
    if not text:
        raise MalformedInput("paxcounter MQTT body is empty; expected base64 of the payload")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedInput(
            f"paxcounter MQTT body ({len(body)} bytes) is not valid base64; "
            "the device publishes base64 of the binary payload"
        ) from None


# -- SPI-slave frames ----------------------------------------------------------------------


def crc16_genibus(data: bytes) -> int:
    """CRC-16/GENIBUS: poly 0x1021, init 0xFFFF, not reflected, xorout 0xFFFF.

    This is what the ESP32 ROM's ``crc16_be(0, buf, len)`` returns (the ROM
    inverts the seed and the result), the call in Paxcounter's
    ``src/spislave.cpp``. Check value for ``b"123456789"``: ``0xD64E``.
    """
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc ^ 0xFFFF


def _crc16_ccitt_raw(data: bytes, init: int) -> int:
    crc = init
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


SpiCrcMode = Literal["auto", "genibus", "ignore"]


def spi_crc_candidates(covered: bytes, mode: SpiCrcMode) -> frozenset[int]:
    """Header CRC field values (read big-endian) accepted for ``covered`` (port, len, payload).

    ``genibus``: CRC-16/GENIBUS (``crc16_be(0, …)``) in big-endian order.
    ``auto``: also the little-endian order (a ``uint16_t`` store on the ESP32) and
    the XMODEM / CCITT-FALSE readings of the same polynomial seen in bridges.
    """
    g = crc16_genibus(covered)
    if mode == "genibus":
        return frozenset({g})
    values = {g, _crc16_ccitt_raw(covered, 0x0000), _crc16_ccitt_raw(covered, 0xFFFF)}
    swapped = {((v & 0xFF) << 8) | (v >> 8) for v in values}
    return frozenset(values | swapped)


MAX_SPI_PORT = 32
"""Paxcounter uses ports 1..12 (counter, status, config, GPS, button, BME, battery, time,
user sensors); a header with a higher port is garbage and is skipped at once instead of
waiting for its claimed length."""
MAX_SPI_PAYLOAD = 222
"""The largest LoRaWAN application payload; Paxcounter's PAYLOAD_BUFFER_SIZE is 51."""


@dataclass(frozen=True, slots=True)
class SpiFrame:
    port: int
    payload: bytes


def encode_spi_frame(port: int, payload: bytes, *, crc: int | None = None, pad: int = 4) -> bytes:
    """Build one SPI frame: ``[crc16 BE][port][len]`` + payload, zero-padded to ``pad``.

    ``crc=None`` computes CRC-16/GENIBUS; pass another value to build a corrupt frame.
    """
    body = bytes([port, len(payload)]) + payload
    value = crc16_genibus(body) if crc is None else crc
    frame = value.to_bytes(2, "big") + body
    if pad > 1 and len(frame) % pad:
        frame += bytes(pad - len(frame) % pad)
    return frame


class SpiFrameDecoder:
    """Splits a byte stream of SPI-slave frames, checks the CRC and resynchronises.

    Frames are ``[crc16 (2, BE)][port (1)][len (1)]`` + payload, zero-padded to a
    multiple of 4. The firmware always adds 1-4 pad bytes (it pads even an
    aligned frame by 4) and an idle master reads all-zero words: all-zero
    4-byte words between frames are skipped. A bad CRC drops one byte and
    searches again; the burst counts as one error.
    """

    HEADER = 4

    def __init__(self, crc_mode: SpiCrcMode = "auto", *, max_buffer: int = 4096) -> None:
        self._buf = bytearray()
        self._crc_mode: SpiCrcMode = crc_mode
        self._max = max_buffer
        self._resyncing = False
        self._pad_left = 0
        self.discarded = 0

    def feed(self, data: bytes) -> Iterator[SpiFrame | MalformedInput]:
        """Add bytes; yield every complete frame, or a MalformedInput per bad burst."""
        self._buf += data
        if len(self._buf) > self._max:  # pragma: no cover - only with a runaway peer
            drop = len(self._buf) - self._max
            del self._buf[:drop]
            self.discarded += drop
        while True:
            # drop the zero padding after the previous frame (it may arrive late)
            while self._pad_left and self._buf and self._buf[0] == 0:
                del self._buf[0]
                self._pad_left -= 1
            if self._pad_left and self._buf:
                self._pad_left = 0  # shorter padding than documented: carry on
            # skip alignment/idle zero words
            while len(self._buf) >= self.HEADER and not any(self._buf[: self.HEADER]):
                del self._buf[: self.HEADER]
            if len(self._buf) < self.HEADER:
                return
            port, length = self._buf[2], self._buf[3]
            total = self.HEADER + length
            if not 0 < port <= MAX_SPI_PORT or length > MAX_SPI_PAYLOAD:
                error = self._slip(
                    f"impossible header (port {port}, length {length}); expected a port "
                    f"1..{MAX_SPI_PORT} and at most {MAX_SPI_PAYLOAD} payload bytes"
                )
                if error is not None:
                    yield error
                continue
            if len(self._buf) < total:
                return
            crc_field = int.from_bytes(self._buf[0:2], "big")
            covered = bytes(self._buf[2:total])
            if self._crc_mode != "ignore" and crc_field not in spi_crc_candidates(
                covered, self._crc_mode
            ):
                error = self._slip(
                    f"CRC-16 mismatch on a {length}-byte frame for port {port}; "
                    "frame dropped (check wiring/baud rate, or set spi_crc='ignore' "
                    "for firmware that leaves the CRC field 0)"
                )
                if error is not None:
                    yield error
                continue
            payload = bytes(self._buf[self.HEADER : total])
            del self._buf[:total]
            self._resyncing = False
            self._pad_left = (-total) % 4
            yield SpiFrame(port=port, payload=payload)

    def _slip(self, reason: str) -> MalformedInput | None:
        del self._buf[0]
        self.discarded += 1
        if self._resyncing:
            return None
        self._resyncing = True
        return MalformedInput(f"paxcounter SPI frame: {reason}")
