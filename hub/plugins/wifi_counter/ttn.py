"""The Things Stack (TTN) v3 MQTT uplinks carrying Paxcounter payloads, sans-io.

Topic ``v3/{application id}@{tenant id}/devices/{device id}/up``; body JSON::

    {"end_device_ids": {"device_id", "application_ids": {...}, "dev_eui", ...},
     "received_at": "...",
     "uplink_message": {"f_port", "f_cnt", "frm_payload" (base64),
                        "decoded_payload" (only with a payload formatter),
                        "rx_metadata": [...], "settings": {...}, "received_at"}}

TTN omits every empty or zero field: a missing ``f_port`` is 0 (a MAC-only
frame, no counter), a missing ``f_cnt`` is 0, a missing ``frm_payload`` is an
empty payload. Nothing but the device id (for per-device state, never put in
an event), the port, the frame counter, the payload and the time is read.
"""

from __future__ import annotations

__all__ = ["TtnUplink", "decoded_reading", "parse_ttn_uplink", "ttn_topic"]

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.errors import MalformedInput
from hub.events import MAX_PLAUSIBLE_COUNT
from hub.quality import parse_count, parse_timestamp

from .protocol import COUNTER_PORT, STATUS_PORT, PaxCount, PaxStatus


def ttn_topic(application: str, tenant: str | None = "ttn", device: str = "+") -> str:
    """The uplink topic filter for one application (and one device, or ``+`` for all)."""
    app = f"{application}@{tenant}" if tenant else application
    return f"v3/{app}/devices/{device}/up"


@dataclass(frozen=True, slots=True)
class TtnUplink:
    device_id: str | None
    f_port: int
    f_cnt: int
    payload: bytes
    decoded: dict[str, Any] | None
    received_at: datetime | None
    simulated: bool = False


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return parse_timestamp(value, where="TTN uplink: received_at", form="iso")


def _int(value: Any, field: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool):
        raise MalformedInput(f"TTN uplink: uplink_message.{field} is not an integer")
    if isinstance(value, int):
        result = value
    elif isinstance(value, str) and value.strip().isdigit():
        result = int(value)
    else:
        raise MalformedInput(f"TTN uplink: uplink_message.{field} is not an integer")
    if result < 0:
        raise MalformedInput(f"TTN uplink: uplink_message.{field} is negative")
    if result > _LIMITS.get(field, 2**32 - 1):
        raise MalformedInput(
            f"TTN uplink: uplink_message.{field} is beyond its {_BITS.get(field, 32)}-bit range"
        )
    return result


_DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_LIMITS = {"f_port": 255, "f_cnt": 2**32 - 1}
_BITS = {"f_port": 8, "f_cnt": 32}


def device_from_topic(topic: str | None) -> str | None:
    if not topic:
        return None
    parts = topic.split("/")
    if len(parts) >= 4 and parts[0] == "v3" and parts[2] == "devices":
        return parts[3] if _DEVICE_ID.match(parts[3]) else None
    return None


def parse_ttn_uplink(body: bytes | str, topic: str | None = None) -> TtnUplink:
    """Parse one TTN v3 uplink message; raises MalformedInput naming the field."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedInput("TTN uplink: body is not valid JSON") from None
    except RecursionError:
        raise MalformedInput("TTN uplink: body is JSON nested too deeply to read") from None
    if not isinstance(doc, dict):
        raise MalformedInput("TTN uplink: body is not a JSON object")
    up = doc.get("uplink_message")
    if not isinstance(up, dict):
        raise MalformedInput(
            "TTN uplink: no 'uplink_message' object (subscribe to the '/up' topic only)"
        )
    ids = doc.get("end_device_ids")
    device_id = ids.get("device_id") if isinstance(ids, dict) else None
    if isinstance(device_id, str) and device_id and not _DEVICE_ID.match(device_id):
        raise MalformedInput(
            "TTN uplink: end_device_ids.device_id is not a TTN device id "
            "(letters, digits, '-', at most 64)"
        )
    if not isinstance(device_id, str) or not device_id:
        device_id = device_from_topic(topic)
    raw = up.get("frm_payload")
    if raw is None or raw == "":
        payload = b""
    elif isinstance(raw, str):
        try:
            payload = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedInput("TTN uplink: uplink_message.frm_payload is not base64") from None
    else:
        raise MalformedInput("TTN uplink: uplink_message.frm_payload is not a string")
    decoded = up.get("decoded_payload")
    received = _time(up.get("received_at")) or _time(doc.get("received_at"))
    return TtnUplink(
        device_id=device_id,
        f_port=_int(up.get("f_port"), "f_port"),
        f_cnt=_int(up.get("f_cnt"), "f_cnt"),
        payload=payload,
        decoded=decoded if isinstance(decoded, dict) and decoded else None,
        received_at=received,
        simulated=bool(doc.get("simulated")),
    )


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | str):
        try:
            return float(value)
        except (ValueError, OverflowError):
            return None
    return None


def _count(value: Any) -> int | None:
    """A non-negative 64-bit count, or None (also for NaN, infinities and fractions)."""
    n = _num(value)
    if n is None:
        return None
    try:
        return parse_count(n, "decoded_payload")
    except MalformedInput:
        return None


def decoded_reading(port: int, decoded: dict[str, Any]) -> PaxCount | PaxStatus | None:
    """A reading from a payload formatter's ``decoded_payload``, when it has the
    Paxcounter decoder's fields (``wifi``/``ble``/``pax`` on port 1, the status
    fields on port 2); ``None`` otherwise (then decode ``frm_payload``). Counts no event
    could carry are MalformedInput."""
    if port == COUNTER_PORT:
        wifi, ble, pax = (_count(decoded.get(k)) for k in ("wifi", "ble", "pax"))
        if max((wifi or 0) + (ble or 0), pax or 0) > MAX_PLAUSIBLE_COUNT:
            raise MalformedInput(
                "TTN uplink: decoded_payload wifi/ble/pax beyond any plausible count "
                f"({MAX_PLAUSIBLE_COUNT})"
            )
        if wifi is None and ble is None:
            if pax is None:
                return None
            return PaxCount(wifi=pax, split_known=False)
        return PaxCount(wifi=wifi or 0, ble=ble)
    if port == STATUS_PORT:
        needed = ("voltage", "uptime", "cputemp", "memory")
        if not all(_count(decoded.get(k)) is not None for k in needed):
            return None
        return PaxStatus(
            voltage_mv=_count(decoded["voltage"]) or 0,
            uptime_s=_count(decoded["uptime"]) or 0,
            cputemp_c=_count(decoded["cputemp"]) or 0,
            free_memory_bytes=_count(decoded["memory"]) or 0,
            reset_reason=_count(decoded.get("reset0")) or 0,
            restarts=_count(decoded.get("restarts")) or 0,
        )
    return None
