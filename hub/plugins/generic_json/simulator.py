"""Sans-io generators of real wire-format JSON for devices onboarded with ``generic_json``.

* :class:`VS133Simulator`: a Milesight VS133 ToF people counter on LoRaWAN, as
  The Things Stack v3 publishes its uplinks over MQTT (topic
  ``v3/{app}@{tenant}/devices/{device}/up``): ``frm_payload`` holds the real
  Milesight channel bytes (``03 D2`` + line 1 total in, u32 little-endian,
  ``04 D2`` total out, ``06``/``07`` line 2...), ``decoded_payload`` what the
  Milesight payload formatter makes of them. Totals are cumulative; faults:
  counter resets, lost uplinks (``f_cnt`` gaps), duplicated uplinks, and TTN's
  habit of omitting zero fields (``f_cnt`` 0 is absent).
* :func:`people_counter_readings`: the small per-interval people-counter JSON
  of the MQTT benchmark (``{"sensor", "zone", "ts", "in", "out"}``).

No I/O, no clock: callers pass times; output is ``(topic, payload bytes)``.
"""

from __future__ import annotations

__all__ = ["VS133Simulator", "people_counter_readings", "vs133_frm_payload", "vs133_uplink"]

import base64
import json
import random
import struct
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

_TOTAL_IN = {1: 0x03, 2: 0x06, 3: 0x09, 4: 0x0C}
_TOTAL_OUT = {1: 0x04, 2: 0x07, 3: 0x0A, 4: 0x0D}


def vs133_frm_payload(totals: dict[int, tuple[int, int]]) -> bytes:
    """The VS133 uplink bytes for line totals ``{line: (in, out)}`` (Milesight channels)."""
    out = bytearray()
    for line in sorted(totals):
        t_in, t_out = totals[line]
        out += bytes((_TOTAL_IN[line], 0xD2)) + struct.pack("<I", t_in)
        out += bytes((_TOTAL_OUT[line], 0xD2)) + struct.pack("<I", t_out)
    return bytes(out)


def _rfc3339_ns(t: datetime) -> str:
    """TTN's timestamps: UTC, nanosecond digits, 'Z'."""
    t = t.astimezone(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}{t.microsecond % 7:03d}Z"


def vs133_uplink(
    *,
    totals: dict[int, tuple[int, int]],
    f_cnt: int,
    received_at: datetime,
    device_id: str = "vs133-entrance",
    application_id: str = "crowd-counting",
) -> dict[str, Any]:
    """One The Things Stack v3 uplink message of a VS133 with a payload formatter set."""
    raw = vs133_frm_payload(totals)
    decoded: dict[str, Any] = {}
    for line in sorted(totals):
        decoded[f"line_{line}_total_in"], decoded[f"line_{line}_total_out"] = totals[line]
    uplink: dict[str, Any] = {
        "session_key_id": base64.b64encode(random.Random(f_cnt).randbytes(16)).decode(),
        "f_port": 85,
        "f_cnt": f_cnt,
        "frm_payload": base64.b64encode(raw).decode(),
        "decoded_payload": decoded,
        "rx_metadata": [
            {
                "gateway_ids": {"gateway_id": "eui-24e124fffef00001", "eui": "24E124FFFEF00001"},
                "time": _rfc3339_ns(received_at - timedelta(milliseconds=40)),
                "rssi": -71,
                "channel_rssi": -71,
                "snr": 9.5,
            }
        ],
        "settings": {
            "data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": 7}},
            "frequency": "868100000",
        },
        "received_at": _rfc3339_ns(received_at - timedelta(milliseconds=20)),
    }
    if f_cnt == 0:  # TTN omits zero and empty fields
        del uplink["f_cnt"]
    return {
        "end_device_ids": {
            "device_id": device_id,
            "application_ids": {"application_id": application_id},
            "dev_eui": "24E124538B223213",
            "dev_addr": "260B4A1C",
        },
        "correlation_ids": [f"as:up:01H{f_cnt:023d}"],
        "received_at": _rfc3339_ns(received_at),
        "uplink_message": uplink,
    }


class VS133Simulator:
    """A VS133 counting ``lines`` lines, reporting cumulative totals every ``interval_s``.

    Faults: ``reset_every`` (totals back to 0 every N uplinks), ``gap_every`` (an
    uplink is lost every N: ``f_cnt`` skips), ``duplicate_every`` (an uplink is
    delivered twice). ``self.sent_in`` / ``self.sent_out`` hold what really
    crossed per line, in the uplinks that were delivered (for checking deltas).
    """

    def __init__(
        self,
        *,
        lines: int = 2,
        rate_per_min: float = 30.0,
        interval_s: float = 60.0,
        start: datetime | None = None,
        seed: int | None = None,
        reset_every: int = 0,
        gap_every: int = 0,
        duplicate_every: int = 0,
        f_cnt: int = 0,
        device_id: str = "vs133-entrance",
        application_id: str = "crowd-counting",
        tenant: str = "ttn",
    ) -> None:
        if not 1 <= lines <= 4:
            raise ValueError("a VS133 has 1 to 4 counting lines")
        self.lines = lines
        self.rate_per_min = rate_per_min
        self.interval = timedelta(seconds=interval_s)
        self.now = start or datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
        self.rng = random.Random(seed)
        self.reset_every = reset_every
        self.gap_every = gap_every
        self.duplicate_every = duplicate_every
        self.f_cnt = f_cnt
        self.device_id = device_id
        self.application_id = application_id
        self.topic = f"v3/{application_id}@{tenant}/devices/{device_id}/up"
        self.totals = {line: [0, 0] for line in range(1, lines + 1)}
        self.sent: list[dict[int, tuple[int, int]]] = []
        """Per delivered uplink: the crossings since the previous uplink, per line."""

    def _poisson(self, mean: float) -> int:
        # Knuth; fine for the small means of one interval
        limit, k, p = pow(2.718281828459045, -mean), 0, 1.0
        while True:
            p *= self.rng.random()
            if p <= limit:
                return k
            k += 1

    def uplinks(self, n: int) -> Iterator[tuple[str, bytes]]:
        """``n`` reporting cycles (duplicates add messages, gaps remove them)."""
        mean = self.rate_per_min * self.interval.total_seconds() / 60.0 / 2
        pending: dict[int, tuple[int, int]] = {}
        for cycle in range(1, n + 1):
            self.now += self.interval
            if self.reset_every and cycle % self.reset_every == 0:
                self.totals = {line: [0, 0] for line in self.totals}
            for line, t in self.totals.items():
                d_in, d_out = self._poisson(mean), self._poisson(mean)
                t[0] += d_in
                t[1] += d_out
                p_in, p_out = pending.get(line, (0, 0))
                pending[line] = (p_in + d_in, p_out + d_out)
            f_cnt = self.f_cnt
            self.f_cnt += 1
            if self.gap_every and cycle % self.gap_every == 0:
                continue  # lost on air: its crossings show up in the next totals
            msg = vs133_uplink(
                totals={line: (t[0], t[1]) for line, t in self.totals.items()},
                f_cnt=f_cnt,
                received_at=self.now,
                device_id=self.device_id,
                application_id=self.application_id,
            )
            self.sent.append(pending)
            pending = {}
            payload = json.dumps(msg).encode()
            yield self.topic, payload
            if self.duplicate_every and cycle % self.duplicate_every == 0:
                yield self.topic, payload


def people_counter_readings(
    n: int,
    *,
    sensors: int = 50,
    zones: int = 5,
    start_ms: int = 1_780_000_000_000,
    epoch_ms: bool = True,
    strings: bool = False,
    seed: int | None = None,
) -> Iterator[tuple[str, bytes]]:
    """The benchmark's people-counter readings on ``sensors/<id>/raw``: per-interval in/out.

    ``strings`` writes the counts as strings (as several city feeds do).
    """
    rng = random.Random(seed)
    for i in range(n):
        sensor = i % sensors
        ts_ms = start_ms + i * 10
        c_in, c_out = rng.randint(0, 5), rng.randint(0, 5)
        body: dict[str, Any] = {
            "sensor": f"s{sensor}",
            "zone": f"z{sensor % zones + 1}",
            "ts": ts_ms if epoch_ms else ts_ms // 1000,
            "in": str(c_in) if strings else c_in,
            "out": str(c_out) if strings else c_out,
        }
        yield f"sensors/s{sensor}/raw", json.dumps(body, separators=(",", ":")).encode()
