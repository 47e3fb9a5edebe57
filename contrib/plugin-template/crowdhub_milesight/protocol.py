"""Sans-io decoding of Milesight VS133/VS135 uplinks and The Things Stack v3 uplink JSON.

No asyncio, no I/O: bytes in, typed readings out; every problem is a
:class:`hub.MalformedInput` whose message names the record and byte offset,
never the payload itself.

The device payload is a sequence of records ``channel (1 B) | type (1 B) |
data``, integers little-endian (Milesight's published VS13x payload table):

==========  ====  =====================================================
channel     type  data
==========  ====  =====================================================
0x03/06/09/0C 0xD2  line 1..4 total in, uint32 (cumulative)
0x04/07/0A/0D 0xD2  line 1..4 total out, uint32 (cumulative)
0x05/08/0B/0E 0xCC  line 1..4 period in uint16 + period out uint16
0x0F        0xE3  region 1..4 people count, 4 x uint8 (occupancy now)
0x10        0xE4  region uint8, average dwell uint16, max dwell uint16 (s)
0xFF        0x01  IPSO version (1 B); 0x09 hardware (2 B); 0x0A firmware (2 B);
                  0xFF TSL version (2 B); 0x16 serial number (8 B, dropped);
                  0x0F LoRaWAN class (1 B); 0xFE reset event (1 B);
                  0x0B device status (1 B)
==========  ====  =====================================================

There is no length byte: a record this module does not know makes the rest of
the payload unreadable, so it is rejected as a whole.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

import hub

LINE_CHANNELS = {3: 1, 4: 1, 5: 1, 6: 2, 7: 2, 8: 2, 9: 3, 10: 3, 11: 3, 12: 4, 13: 4, 14: 4}
"""Channel → device line number (1..4)."""
_ATTRIBUTE_LENGTHS = {0x01: 1, 0x09: 2, 0x0A: 2, 0xFF: 2, 0x16: 8, 0x0F: 1, 0xFE: 1, 0x0B: 1}


@dataclass(frozen=True)
class Dwell:
    average_s: int
    maximum_s: int


@dataclass
class Uplink:
    """What one VS13x payload reported. Lines and regions are numbered 1..4 as on the device."""

    total_in: dict[int, int] = field(default_factory=dict)
    total_out: dict[int, int] = field(default_factory=dict)
    period: dict[int, tuple[int, int]] = field(default_factory=dict)
    regions: tuple[int, int, int, int] | None = None
    dwell: dict[int, Dwell] = field(default_factory=dict)
    reset: bool = False
    firmware: str | None = None
    hardware: str | None = None
    device_status: int | None = None

    @property
    def empty(self) -> bool:
        return not (self.total_in or self.total_out or self.period or self.regions)


def _u16(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 2], "little")


def decode_payload(data: bytes) -> Uplink:
    """Decode one VS133/VS135 payload (the LoRaWAN ``frm_payload`` bytes)."""
    if not data:
        raise hub.MalformedInput("empty payload: a VS13x uplink has at least one record")
    out = Uplink()
    i = 0
    while i < len(data):
        if i + 2 > len(data):
            raise hub.MalformedInput(f"payload ends inside a record header at byte {i}")
        channel, kind = data[i], data[i + 1]
        body = i + 2
        size = _record_size(channel, kind)
        if size is None:
            raise hub.MalformedInput(
                f"unknown record channel 0x{channel:02X} type 0x{kind:02X} at byte {i}: not a "
                "VS133/VS135 payload, or newer firmware (update crowdhub-milesight)"
            )
        if body + size > len(data):
            raise hub.MalformedInput(
                f"record 0x{channel:02X} 0x{kind:02X} at byte {i} needs {size} data bytes, "
                f"only {len(data) - body} left (truncated payload)"
            )
        chunk = data[body : body + size]
        _apply(out, channel, kind, chunk)
        i = body + size
    return out


def _record_size(channel: int, kind: int) -> int | None:
    if channel in LINE_CHANNELS:
        expected = 0xCC if (channel - 3) % 3 == 2 else 0xD2
        return 4 if kind == expected else None
    if channel == 0x0F and kind == 0xE3:
        return 4
    if channel == 0x10 and kind == 0xE4:
        return 5
    if channel == 0xFF:
        return _ATTRIBUTE_LENGTHS.get(kind)
    return None


def _apply(out: Uplink, channel: int, kind: int, chunk: bytes) -> None:
    if channel in LINE_CHANNELS:
        line = LINE_CHANNELS[channel]
        role = (channel - 3) % 3
        if role == 0:
            out.total_in[line] = int.from_bytes(chunk, "little")
        elif role == 1:
            out.total_out[line] = int.from_bytes(chunk, "little")
        else:
            out.period[line] = (_u16(chunk, 0), _u16(chunk, 2))
    elif channel == 0x0F:
        out.regions = (chunk[0], chunk[1], chunk[2], chunk[3])
    elif channel == 0x10:
        region = chunk[0]
        if not 1 <= region <= 4:
            raise hub.MalformedInput(f"dwell-time record for region {region}; regions are 1..4")
        out.dwell[region] = Dwell(_u16(chunk, 1), _u16(chunk, 3))
    elif kind == 0x0A:
        out.firmware = f"v{chunk[0]}.{chunk[1]:02x}"
    elif kind == 0x09:
        out.hardware = f"v{chunk[0]}.{chunk[1] >> 4}"
    elif kind == 0xFE:
        out.reset = True
    elif kind == 0x0B:
        out.device_status = chunk[0]
    # 0x01 IPSO, 0xFF TSL, 0x0F class: not needed; 0x16 serial number: never kept


# -- The Things Stack v3 ------------------------------------------------------------------


@dataclass(frozen=True)
class TtnUplink:
    """The parts of a TTS v3 uplink message the source uses (no EUIs, no gateway data)."""

    device_id: str
    f_port: int | None
    f_cnt: int | None
    received_at: datetime | None
    payload: bytes


def parse_time(value: object) -> datetime | None:
    """RFC 3339 with up to nanoseconds (``2026-06-01T12:00:00.123456789Z``) → aware UTC."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    if "." in text:  # Python takes at most 6 fraction digits
        head, rest = text.split(".", 1)
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:digits][:6].ljust(6, '0')}{rest[digits:]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise hub.MalformedInput("received_at is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise hub.MalformedInput("received_at has no UTC offset")
    return parsed.astimezone(UTC)


def parse_ttn_uplink(body: bytes) -> TtnUplink:
    """Parse the JSON TTS v3 publishes on ``v3/<app>@<tenant>/devices/<device>/up``."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise hub.MalformedInput(f"uplink is not JSON ({type(err).__name__})") from None
    if not isinstance(doc, dict):
        raise hub.MalformedInput("uplink is not a JSON object")
    up = doc.get("uplink_message")
    if not isinstance(up, dict):
        raise hub.MalformedInput("no uplink_message: not a TTS v3 uplink (check the topic)")
    ids = doc.get("end_device_ids")
    device = ids.get("device_id") if isinstance(ids, dict) else None
    if not isinstance(device, str) or not device:
        raise hub.MalformedInput("uplink without end_device_ids.device_id")
    raw = up.get("frm_payload")
    if not isinstance(raw, str) or not raw:
        raise hub.MalformedInput("uplink without frm_payload (empty uplink or no payload)")
    try:
        payload = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise hub.MalformedInput("frm_payload is not valid base64") from None
    f_port, f_cnt = up.get("f_port"), up.get("f_cnt", 0)  # TTS omits zero values
    if f_port is not None and not isinstance(f_port, int):
        raise hub.MalformedInput("f_port is not an integer")
    if not isinstance(f_cnt, int) or f_cnt < 0:
        raise hub.MalformedInput("f_cnt is not a non-negative integer")
    when = parse_time(up.get("received_at")) or parse_time(doc.get("received_at"))
    return TtnUplink(device, f_port, f_cnt, when, payload)
