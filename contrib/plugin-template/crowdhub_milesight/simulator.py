"""Sans-io generator of real VS13x payloads and TTS v3 uplink JSON (tests, demos, cases)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any


def encode_payload(
    *,
    totals: Mapping[int, tuple[int, int]] | None = None,
    periods: Mapping[int, tuple[int, int]] | None = None,
    regions: Sequence[int] | None = None,
    reset: bool = False,
    firmware: tuple[int, int] | None = None,
) -> bytes:
    """Records as the device writes them (little-endian; channel layout in protocol.py)."""
    out = bytearray()
    if reset:
        out += bytes([0xFF, 0xFE, 0xFF])
    if firmware is not None:
        out += bytes([0xFF, 0x0A, firmware[0], firmware[1]])
    for line, (tin, tout) in sorted((totals or {}).items()):
        base = 3 * line
        out += bytes([base, 0xD2]) + tin.to_bytes(4, "little")
        out += bytes([base + 1, 0xD2]) + tout.to_bytes(4, "little")
    for line, (pin, pout) in sorted((periods or {}).items()):
        out += bytes([3 * line + 2, 0xCC]) + pin.to_bytes(2, "little") + pout.to_bytes(2, "little")
    if regions is not None:
        out += bytes([0x0F, 0xE3, *regions])
    return bytes(out)


def ttn_uplink(
    payload: bytes,
    *,
    f_cnt: int,
    received_at: datetime | str,
    device_id: str = "vs133-gate-a",
    application_id: str = "crowd-counters",
    f_port: int = 85,
) -> dict[str, Any]:
    """A The Things Stack v3 uplink message (the fields TTS sends; EUIs are made up)."""
    when = received_at if isinstance(received_at, str) else received_at.isoformat()
    when = when.replace("+00:00", "Z")
    return {
        "end_device_ids": {
            "device_id": device_id,
            "application_ids": {"application_id": application_id},
            "dev_eui": "24E1240000000001",
        },
        "received_at": when,
        "uplink_message": {
            "f_port": f_port,
            "f_cnt": f_cnt,
            "frm_payload": base64.b64encode(payload).decode(),
            "rx_metadata": [{"gateway_ids": {"gateway_id": "gw-1"}, "rssi": -80, "snr": 7.5}],
            "received_at": when,
        },
    }


def ttn_uplink_json(payload: bytes, **kwargs: Any) -> bytes:
    return json.dumps(ttn_uplink(payload, **kwargs), indent=2).encode()
