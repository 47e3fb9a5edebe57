"""Simulated Paxcounters and Meraki networks speaking the real wire formats (sans-io).

Used by ``hub simulate``, the demo and the tests. Everything returns bytes or
``(topic, body)`` pairs; nothing here does I/O. Randomness comes from a
seeded :class:`random.Random`, so runs are reproducible.

Paxcounter: :func:`pax_payload` builds every port-1 variant (packed/plain,
2/4/8/10/12/15/17 bytes), :func:`status_payload` and :func:`gps_payload` the
other ports; :class:`PaxcounterSimulator` produces a stream of send cycles with
faults (lost frames, repeats, counter resets, implausible spikes, corrupt CRC)
rendered as MQTT ``paxout/<port>`` messages, TTN v3 uplinks or SPI frames.

Meraki: :func:`meraki_v2_body` / :func:`meraki_v3_body` build POST bodies with
fake but real-looking client MACs (locally administered, like randomised phone
MACs), IPs, SSIDs and manufacturers: exactly what must never leave the hub.
"""

from __future__ import annotations

__all__ = [
    "PaxcounterSimulator",
    "SimFrame",
    "fake_mac",
    "gps_payload",
    "meraki_v2_body",
    "meraki_v3_body",
    "mqtt_connect_message",
    "mqtt_message",
    "pax_payload",
    "sdcard_csv",
    "spi_frame",
    "status_payload",
    "ttn_uplink",
]

import base64
import json
import random
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from .protocol import (
    COUNTER_PORT,
    STATUS_PORT,
    Encoding,
    GpsFix,
    crc16_genibus,
)

# -- Paxcounter payloads ---------------------------------------------------------------------


def _o(encoding: Encoding) -> str:
    return "<" if encoding == "packed" else ">"


def _gps_bytes(fix: GpsFix, encoding: Encoding, *, full: bool) -> bytes:
    o = _o(encoding)
    head = struct.pack(f"{o}ii", round(fix.latitude * 1e6), round(fix.longitude * 1e6))
    if not full:
        return head
    return head + struct.pack(
        f"{o}BHh", fix.sats or 0, round((fix.hdop or 0) * 100), fix.altitude_m or 0
    )


def pax_payload(
    wifi: int,
    ble: int | None = None,
    *,
    encoding: Encoding = "packed",
    gps: GpsFix | None = None,
    gps_first: bool = False,
    pm: tuple[float, float] | None = None,
) -> bytes:
    """A port-1 counter payload. ``ble=None``: BLE scan off (no ble field).

    ``gps`` appends a full fix (15/17 bytes); with ``gps_first`` it prepends
    lat/lon only (the openSenseMap layout, 10/12 bytes). ``pm`` (PM10, PM2.5)
    gives the 8-byte SDS011 layout (needs ``ble``).
    """
    o = _o(encoding)
    counts = struct.pack(f"{o}H", wifi) + (b"" if ble is None else struct.pack(f"{o}H", ble))
    if pm is not None:
        scale = 10 if encoding == "packed" else 100
        return struct.pack(f"{o}HHHH", wifi, ble or 0, round(pm[0] * scale), round(pm[1] * scale))
    if gps is None:
        return counts
    if gps_first:
        return _gps_bytes(gps, encoding, full=False) + counts
    return counts + _gps_bytes(gps, encoding, full=True)


def status_payload(
    *,
    voltage_mv: int = 4120,
    uptime_s: int = 3600,
    cputemp_c: int = 45,
    free_memory: int = 180_000,
    reset_reason: int = 1,
    restarts: int = 0,
    encoding: Encoding = "packed",
) -> bytes:
    """A 20-byte port-2 status payload."""
    return struct.pack(
        f"{_o(encoding)}HQBIBI",
        voltage_mv,
        uptime_s,
        cputemp_c,
        free_memory,
        reset_reason,
        restarts,
    )


def gps_payload(fix: GpsFix, encoding: Encoding = "packed") -> bytes:
    """A 13-byte port-4 GPS payload."""
    return _gps_bytes(fix, encoding, full=True)


def mqtt_message(port: int, payload: bytes, prefix: str = "paxout") -> tuple[str, bytes]:
    """The device's MQTT publish: ``<prefix>/<port>`` with a base64 body."""
    return f"{prefix}/{port}", base64.b64encode(payload)


def mqtt_connect_message(
    client_name: str = "paxcounter-3c71bf", prefix: str = "paxout"
) -> tuple[str, bytes]:
    """What the device publishes once on connect: its client name on the bare prefix."""
    return prefix, client_name.encode()


def spi_frame(
    port: int, payload: bytes, *, corrupt: bool = False, firmware_padding: bool = True
) -> bytes:
    """One SPI-slave frame ``[crc16 BE][port][len]`` + payload + zero padding.

    ``firmware_padding`` pads like ``src/spislave.cpp`` (always 1-4 bytes, 4
    when already aligned); otherwise to the next multiple of 4 (0-3 bytes).
    ``corrupt`` flips bits of the CRC so the frame must be rejected.
    """
    body = bytes([port, len(payload)]) + payload
    crc = crc16_genibus(body)
    if corrupt:
        crc ^= 0x5A5A
    frame = crc.to_bytes(2, "big") + body
    pad = 4 - len(frame) % 4 if firmware_padding else -len(frame) % 4
    return frame + bytes(pad)


def ttn_uplink(
    payload: bytes,
    *,
    f_port: int = COUNTER_PORT,
    f_cnt: int = 1,
    device_id: str = "paxcounter-01",
    application: str = "crowd-demo",
    tenant: str = "ttn",
    received_at: datetime | None = None,
    decoded: dict[str, Any] | None = None,
) -> tuple[str, bytes]:
    """A TTN v3 uplink ``(topic, JSON body)``; zero/empty fields omitted like TTN does."""
    when = (received_at or datetime(2026, 6, 1, 12, 0, tzinfo=UTC)).astimezone(UTC)
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"
    up: dict[str, Any] = {"session_key_id": "AXA50tHUGUucuzS/bCGMNw=="}
    if f_port:
        up["f_port"] = f_port
    if f_cnt:
        up["f_cnt"] = f_cnt
    if payload:
        up["frm_payload"] = base64.b64encode(payload).decode()
    if decoded:
        up["decoded_payload"] = decoded
    up["rx_metadata"] = [
        {"gateway_ids": {"gateway_id": "gtw1"}, "rssi": -61, "snr": 7.5, "channel_index": 2}
    ]
    up["settings"] = {
        "data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": 7}},
        "frequency": "868100000",
    }
    up["received_at"] = stamp
    doc = {
        "end_device_ids": {
            "device_id": device_id,
            "application_ids": {"application_id": application},
            "dev_eui": "70B3D57ED0000001",
            "dev_addr": "260B1234",
        },
        "correlation_ids": ["as:up:01E0WZGT6Y7657CPFPE5WEYDSQ"],
        "received_at": stamp,
        "uplink_message": up,
    }
    topic = f"v3/{application}@{tenant}/devices/{device_id}/up"
    return topic, json.dumps(doc).encode()


def sdcard_csv(rows: Iterable[tuple[datetime, int, int]], *, voltage: bool = False) -> str:
    """An SD-card file: header ``timestamp,wifi,ble[,voltage]`` and one row per cycle."""
    lines = ["timestamp,wifi,ble" + (",voltage" if voltage else "")]
    for t, wifi, ble in rows:
        row = f"{t.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ},{wifi},{ble}"
        lines.append(row + (",4100" if voltage else ""))
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class SimFrame:
    """One simulated message: what the device sends and the counts it carries."""

    port: int
    payload: bytes
    f_cnt: int
    time: datetime
    wifi: int | None = None
    ble: int | None = None
    repeat: bool = False
    """True for a repeated delivery of the previous frame (to be dropped)."""


class PaxcounterSimulator:
    """A Paxcounter's stream of send cycles, with optional faults.

    ``loss``: probability a frame is lost (a TTN ``f_cnt`` gap); ``repeat``:
    probability the previous uplink is delivered again; ``spike_every``: every
    n-th cycle reads an implausible count (like the real 15 → 31401);
    ``cumulative``: totals since start, ``reset_every`` restarting them;
    ``status_every``: a port-2 status frame every n cycles.
    """

    def __init__(
        self,
        *,
        seed: int = 1,
        encoding: Encoding = "packed",
        cycle_s: float = 60.0,
        mean_wifi: float = 40.0,
        mean_ble: float | None = 25.0,
        start: datetime | None = None,
        loss: float = 0.0,
        repeat: float = 0.0,
        spike_every: int = 0,
        cumulative: bool = False,
        reset_every: int = 0,
        status_every: int = 0,
    ) -> None:
        self.rng = random.Random(seed)
        self.encoding: Encoding = encoding
        self.cycle = timedelta(seconds=cycle_s)
        self.mean_wifi = mean_wifi
        self.mean_ble = mean_ble
        self.time = start or datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
        self.loss, self.repeat = loss, repeat
        self.spike_every, self.cumulative, self.reset_every = spike_every, cumulative, reset_every
        self.status_every = status_every
        self.f_cnt = 0
        self.cycles = 0
        self._totals = (0, 0)
        self._last: SimFrame | None = None

    def _count(self, mean: float) -> int:
        return max(0, round(self.rng.gauss(mean, max(1.0, mean * 0.2))))

    def frames(self, n: int) -> list[SimFrame]:
        """The next ``n`` send cycles' frames as delivered (lost ones are absent)."""
        out: list[SimFrame] = []
        for _ in range(n):
            out.extend(self._cycle())
        return out

    def _cycle(self) -> list[SimFrame]:
        self.cycles += 1
        self.time += self.cycle
        wifi = self._count(self.mean_wifi)
        ble = None if self.mean_ble is None else self._count(self.mean_ble)
        if self.spike_every and self.cycles % self.spike_every == 0:
            wifi = 31_401
        if self.cumulative:
            if self.reset_every and self.cycles % self.reset_every == 0:
                self._totals = (0, 0)
            self._totals = (self._totals[0] + wifi, self._totals[1] + (ble or 0))
            wifi = self._totals[0]
            ble = None if ble is None else self._totals[1]
        out: list[SimFrame] = []
        if self.repeat and self._last is not None and self.rng.random() < self.repeat:
            last = self._last
            out.append(
                SimFrame(
                    last.port, last.payload, last.f_cnt, last.time, last.wifi, last.ble, repeat=True
                )
            )
        self.f_cnt += 1
        frame = SimFrame(
            COUNTER_PORT,
            pax_payload(min(wifi, 0xFFFF), ble, encoding=self.encoding),
            self.f_cnt,
            self.time,
            wifi,
            ble,
        )
        if not (self.loss and self.rng.random() < self.loss):
            out.append(frame)
            self._last = frame
        if self.status_every and self.cycles % self.status_every == 0:
            self.f_cnt += 1
            payload = status_payload(
                uptime_s=int(self.cycles * self.cycle.total_seconds()), encoding=self.encoding
            )
            out.append(SimFrame(STATUS_PORT, payload, self.f_cnt, self.time))
        return out

    # renderings of a frame for each input path
    def as_mqtt(self, frame: SimFrame, prefix: str = "paxout") -> tuple[str, bytes]:
        return mqtt_message(frame.port, frame.payload, prefix)

    def as_ttn(self, frame: SimFrame, **kwargs: Any) -> tuple[str, bytes]:
        return ttn_uplink(
            frame.payload, f_port=frame.port, f_cnt=frame.f_cnt, received_at=frame.time, **kwargs
        )

    def as_spi(self, frame: SimFrame, *, corrupt: bool = False) -> bytes:
        return spi_frame(frame.port, frame.payload, corrupt=corrupt)


# -- Meraki ---------------------------------------------------------------------------------

_OUIS = ("18:fe:34", "74:da:38", "3c:22:fb", "f0:18:98", "a4:83:e7", "00:1a:11")
_VENDORS = ("Espressif", "Edimax Technology", "Apple", "Apple", "Samsung", "Google")


def fake_mac(rng: random.Random, *, randomised: bool = True) -> str:
    """A real-looking client MAC; ``randomised`` sets the locally-administered bit
    like a phone's private address."""
    if randomised:
        first = (rng.randrange(256) | 0x02) & 0xFE
        rest = [rng.randrange(256) for _ in range(5)]
        return ":".join(f"{b:02x}" for b in [first, *rest])
    oui = rng.choice(_OUIS)
    return oui + "".join(f":{rng.randrange(256):02x}" for _ in range(3))


def _client(rng: random.Random, mac: str, when: datetime) -> dict[str, Any]:
    return {
        "ipv4": f"/192.168.{rng.randrange(1, 255)}.{rng.randrange(2, 254)}",
        "location": {
            "lat": 52.1047,
            "lng": 4.2734,
            "unc": round(rng.uniform(1, 40), 3),
            "x": [],
            "y": [],
        },
        "seenTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ssid": rng.choice((".interwebs", "Gemeente-Gast", None)),
        "os": rng.choice(("Android", "iOS", "Generic Linux", None)),
        "clientMac": mac,
        "seenEpoch": int(when.timestamp()),
        "rssi": rng.randrange(10, 60),
        "ipv6": f"/fe80::{rng.randrange(0x10000):x}:{rng.randrange(0x10000):x}",
        "manufacturer": rng.choice(_VENDORS),
    }


def meraki_v2_body(
    secret: str,
    ap_mac: str,
    client_macs: Sequence[str],
    *,
    radio: Literal["wifi", "ble"] = "wifi",
    tags: Sequence[str] = (),
    floors: Sequence[str] = (),
    when: datetime | None = None,
    seed: int = 7,
    version: str = "2.0",
) -> bytes:
    """A Scanning API v2 POST body from one access point."""
    rng = random.Random(seed)
    t = when or datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC)
    doc = {
        "version": version,
        "secret": secret,
        "type": "DevicesSeen" if radio == "wifi" else "BluetoothDevicesSeen",
        "data": {
            "apMac": ap_mac,
            "apFloors": list(floors),
            "apTags": list(tags),
            "observations": [_client(rng, m, t) for m in client_macs],
        },
    }
    return json.dumps(doc).encode()


def meraki_v3_body(
    secret: str,
    clients: Sequence[tuple[str, str]],
    *,
    radio: Literal["wifi", "ble"] = "wifi",
    tags: Sequence[str] = (),
    floor: str | None = None,
    with_locations: bool = True,
    when: datetime | None = None,
    seed: int = 11,
) -> bytes:
    """A Scanning API v3 POST body for a network: ``clients`` are ``(client MAC,
    nearest AP MAC)`` pairs."""
    rng = random.Random(seed)
    t = when or datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC)
    stamp = t.strftime("%Y-%m-%dT%H:%M:%SZ")
    observations = []
    for mac, ap in clients:
        obs: dict[str, Any] = {
            "clientMac": mac,
            "ipv4": f"192.168.{rng.randrange(1, 255)}.{rng.randrange(2, 254)}",
            "ipv6": None,
            "ssid": rng.choice(("Gemeente-Gast", None)),
            "os": rng.choice(("Android", "iOS", None)),
            "manufacturer": rng.choice(_VENDORS),
            "userId": None,
            "latestRecord": {
                "time": stamp,
                "nearestApMac": ap,
                "nearestApRssi": -rng.randrange(40, 90),
            },
        }
        if with_locations:
            obs["locations"] = [
                {
                    "time": stamp,
                    "lat": 52.1047,
                    "lng": 4.2734,
                    "x": 12.5,
                    "y": 3.2,
                    "variance": 2.1,
                    "floorPlanId": "g_1234",
                    "floorPlanName": floor,
                    "nearestApTags": list(tags),
                    "rssiRecords": [{"apMac": ap, "rssi": -rng.randrange(40, 90)}],
                }
            ]
        observations.append(obs)
    doc = {
        "version": "3.0",
        "secret": secret,
        "type": "WiFi" if radio == "wifi" else "BLE",
        "data": {"networkId": "L_643451796760560107", "observations": observations},
    }
    return json.dumps(doc).encode()
