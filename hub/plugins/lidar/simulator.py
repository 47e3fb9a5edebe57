"""Simulated lidar devices: real wire-format bytes/JSON for tests, the demo and ``hub simulate``.

Sans-io generators, deterministic for a given ``seed``:

* :func:`tf_beam_stream` / :func:`tf_pair_streams`: Benewake frame streams (9-byte
  cm/mm or PIX) for people passing under one beam or a pair, with distance
  noise, corrupt checksums, stray bytes and unreliable (low-amplitude) frames.
* :func:`rplidar_scan`: an RPLIDAR A1 SCAN response (descriptor + 5-byte nodes)
  seeing N people (circles) at given positions, ray-cast per angle.
* :func:`xovis_logics_push` / :func:`xovis_logics_sequence`: Xovis logics pushes
  with package-id gaps and repeats; :func:`xovis_live_push`: a live push.
"""

from __future__ import annotations

__all__ = [
    "rplidar_health",
    "rplidar_node",
    "rplidar_scan",
    "tf_beam_stream",
    "tf_frame",
    "tf_pair_streams",
    "xovis_live_push",
    "xovis_logics_push",
    "xovis_logics_sequence",
]

import math
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from .protocol import RPLIDAR_SCAN_DESCRIPTOR, tf_checksum

# -- Benewake TF-Luna / TFmini -----------------------------------------------------------


def tf_frame(
    distance_cm: float,
    amplitude: int = 1200,
    temperature_c: float = 25.0,
    *,
    fmt: Literal["cm", "mm", "pix"] = "cm",
    corrupt: bool = False,
) -> bytes:
    """One frame. ``corrupt`` adds one to the checksum (PIX: garbles the text)."""
    if fmt == "pix":
        text = f"{distance_cm / 100.0:.2f}\r\n".encode()
        return text.replace(b".", b"#") if corrupt else text
    dist = round(distance_cm * 10 if fmt == "mm" else distance_cm)
    dist = max(0, min(0xFFFF, dist))
    temp = max(0, min(0xFFFF, round((temperature_c + 256.0) * 8)))
    body = bytes(
        [
            0x59,
            0x59,
            dist & 0xFF,
            dist >> 8,
            amplitude & 0xFF,
            (amplitude >> 8) & 0xFF,
            temp & 0xFF,
            temp >> 8,
        ]
    )
    check = (tf_checksum(body) + (1 if corrupt else 0)) & 0xFF
    return body + bytes([check])


def tf_beam_stream(
    blocked: Sequence[tuple[float, float]],
    *,
    duration_s: float,
    rate_hz: float = 100.0,
    floor_cm: float = 250.0,
    person_cm: float = 80.0,
    noise_cm: float = 0.0,
    fmt: Literal["cm", "mm", "pix"] = "cm",
    corrupt_every: int = 0,
    unreliable_every: int = 0,
    stray_every: int = 0,
    seed: int = 0,
) -> bytes:
    """Frames at ``rate_hz`` for ``duration_s``; the beam sees a head (``person_cm``) during
    each ``(start_s, length_s)`` of ``blocked``, the floor otherwise.

    Faults: every ``corrupt_every``-th frame has a bad checksum, every
    ``unreliable_every``-th has amplitude 40 (< 100), every ``stray_every``-th is
    preceded by a stray 0x59 byte.
    """
    rng = random.Random(seed)
    out = bytearray()
    for k in range(round(duration_s * rate_hz)):
        t = k / rate_hz
        person = any(s <= t < s + d for s, d in blocked)
        dist = person_cm if person else floor_cm
        if noise_cm:
            dist += rng.uniform(-noise_cm, noise_cm)
        n = k + 1
        amp = 40 if unreliable_every and n % unreliable_every == 0 else 1200 + rng.randrange(50)
        if stray_every and n % stray_every == 0 and fmt != "pix":
            out += b"\x59"
        corrupt = bool(corrupt_every) and n % corrupt_every == 0
        out += tf_frame(dist, amp, 24.0 + rng.random(), fmt=fmt, corrupt=corrupt)
    return bytes(out)


def tf_pair_streams(
    passages: Sequence[tuple[float, Literal["a_to_b", "b_to_a"]]],
    *,
    duration_s: float,
    offset_s: float = 0.15,
    dwell_s: float = 0.3,
    **stream: Any,
) -> tuple[bytes, bytes]:
    """Two beam streams (A, B) for people crossing at ``(time_s, direction)``: the first
    beam is blocked from ``time_s`` for ``dwell_s``, the second ``offset_s`` later."""
    a: list[tuple[float, float]] = []
    b: list[tuple[float, float]] = []
    for t, direction in passages:
        first, second = (a, b) if direction == "a_to_b" else (b, a)
        first.append((t, dwell_s))
        second.append((t + offset_s, dwell_s))
    return (
        tf_beam_stream(a, duration_s=duration_s, **stream),
        tf_beam_stream(b, duration_s=duration_s, **{**stream, "seed": stream.get("seed", 0) + 1}),
    )


# -- Slamtec RPLIDAR A1 ------------------------------------------------------------------


def rplidar_node(
    angle_deg: float, distance_mm: float, *, quality: int = 47, start: bool = False
) -> bytes:
    """One 5-byte measurement node."""
    q6 = round(angle_deg * 64) % (360 * 64)
    q2 = max(0, min(0xFFFF, round(distance_mm * 4)))
    s = 1 if start else 0
    return bytes(
        [
            (quality & 0x3F) << 2 | (1 - s) << 1 | s,
            (q6 & 0x7F) << 1 | 1,
            q6 >> 7,
            q2 & 0xFF,
            q2 >> 8,
        ]
    )


def rplidar_health(status: int = 0, error_code: int = 0) -> bytes:
    """A GET_HEALTH response (descriptor + 3 bytes)."""
    return b"\xa5\x5a\x03\x00\x00\x00\x06" + bytes([status, error_code & 0xFF, error_code >> 8])


def _ray(angle_deg: float, people: Sequence[tuple[float, float]], radius: float) -> float | None:
    a = math.radians(angle_deg)
    dx, dy = math.cos(a), -math.sin(a)  # RPLIDAR angles grow clockwise
    best: float | None = None
    for cx, cy in people:
        along = dx * cx + dy * cy
        if along <= 0:
            continue
        off2 = cx * cx + cy * cy - along * along
        if off2 > radius * radius:
            continue
        hit = along - math.sqrt(radius * radius - off2)
        if best is None or hit < best:
            best = hit
    return best


def rplidar_scan(
    people: Sequence[tuple[float, float]],
    *,
    revolutions: int = 5,
    nodes_per_revolution: int = 360,
    person_radius_m: float = 0.2,
    wall_m: float | None = 8.0,
    descriptor: bool = True,
    corrupt_every: int = 0,
    seed: int = 0,
) -> bytes:
    """A SCAN response seeing ``people`` (x, y in metres, sensor frame) as circles.

    Rays that hit nobody return ``wall_m`` (None: distance 0 = invalid). One extra
    start node closes the last revolution. Every ``corrupt_every``-th node gets a
    cleared check bit.
    """
    rng = random.Random(seed)
    out = bytearray(RPLIDAR_SCAN_DESCRIPTOR if descriptor else b"")
    k = 0
    step = 360.0 / nodes_per_revolution
    jitter = rng.uniform(0, step / 2)
    for _ in range(revolutions):
        for i in range(nodes_per_revolution):
            angle = i * step + jitter
            hit = _ray(angle, people, person_radius_m)
            if hit is not None:
                dist_mm = hit * 1000
            else:
                dist_mm = wall_m * 1000 if wall_m is not None else 0.0
            node = bytearray(rplidar_node(angle, dist_mm, start=i == 0))
            k += 1
            if corrupt_every and k % corrupt_every == 0:
                node[1] &= 0xFE
            out += node
    out += rplidar_node(jitter, 0.0, start=True)
    return bytes(out)


# -- Xovis ---------------------------------------------------------------------------------


def _time(dt: datetime, fmt: Literal["iso", "ms"]) -> str | int:
    if fmt == "ms":
        return int(dt.timestamp() * 1000)
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def xovis_logics_push(
    package_id: int,
    *,
    start: datetime,
    bin_s: int = 60,
    bins: int = 1,
    lines: Mapping[int, Sequence[tuple[int, int]] | tuple[int, int]] | None = None,
    zones: Mapping[int, Sequence[int] | int] | None = None,
    samples: int = 1,
    samples_expected: int = 1,
    time_format: Literal["iso", "ms"] = "iso",
    agent_id: int = 1001,
    serial_number: str = "00:6E:02:00:12:34",
    counter_names: tuple[str, str] = ("fw", "bw"),
) -> dict[str, Any]:
    """A logics push: ``lines`` maps logic id → (fw, bw) (or one pair per bin), ``zones``
    maps logic id → balance (or one per bin); ``bins`` records of ``bin_s`` from ``start``."""
    logics: list[dict[str, Any]] = []

    def records(values: list[list[tuple[str, int]]], logic_id: int) -> list[dict[str, Any]]:
        out = []
        for b, counts in enumerate(values):
            t0 = start + timedelta(seconds=b * bin_s)
            out.append(
                {
                    "from": _time(t0, time_format),
                    "to": _time(t0 + timedelta(seconds=bin_s), time_format),
                    "samples": samples,
                    "samples_expected": samples_expected,
                    "counts": [
                        {"id": logic_id * 1000 + n + 1, "name": name, "value": v}
                        for n, (name, v) in enumerate(counts)
                    ],
                }
            )
        return out

    for logic_id, pairs in (lines or {}).items():
        per_bin = [pairs] * bins if isinstance(pairs, tuple) else list(pairs)
        values = [[(counter_names[0], fw), (counter_names[1], bw)] for fw, bw in per_bin]
        logics.append(
            {
                "id": logic_id,
                "name": f"Line {logic_id}",
                "info": "",
                "geometries": [{"id": logic_id % 100, "name": "Line", "type": "LINE"}],
                "records": records(values, logic_id),
            }
        )
    for logic_id, balances in (zones or {}).items():
        per_zone = [balances] * bins if isinstance(balances, int) else list(balances)
        logics.append(
            {
                "id": logic_id,
                "name": f"Zone {logic_id}",
                "info": "",
                "geometries": [{"id": logic_id % 100, "name": "Zone", "type": "ZONE"}],
                "records": records([[("balance", v)] for v in per_zone], logic_id),
            }
        )
    sensor_time = start + timedelta(seconds=bins * bin_s)
    return {
        "logics_data": {
            "package_info": {"version": "5.0", "id": package_id, "agent_id": agent_id},
            "sensor_info": {
                "serial_number": serial_number,
                "type": "SINGLE_SENSOR",
                "name": "Entrance-North",
                "time": _time(sensor_time, time_format),
            },
            "logics": logics,
        }
    }


def xovis_logics_sequence(
    count: int,
    *,
    start: datetime,
    first_id: int = 1000,
    bin_s: int = 60,
    line: int = 1008,
    zone: int | None = 1009,
    gaps_after: Sequence[int] = (),
    repeat_after: Sequence[int] = (),
    seed: int = 0,
    **push: Any,
) -> list[dict[str, Any]]:
    """``count`` consecutive one-bin pushes. After the i-th push (0-based): ``gaps_after``
    skips one package (lost: its id *and* its bin), ``repeat_after`` resends it verbatim."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    pid, t = first_id, start
    for i in range(count):
        fw, bw = rng.randrange(0, 40), rng.randrange(0, 40)
        zones = {zone: rng.randrange(0, 150)} if zone is not None else None
        doc = xovis_logics_push(
            pid, start=t, bin_s=bin_s, lines={line: (fw, bw)}, zones=zones, **push
        )
        out.append(doc)
        if i in repeat_after:
            out.append(doc)
        pid += 1
        t += timedelta(seconds=bin_s)
        if i in gaps_after:
            pid += 1
            t += timedelta(seconds=bin_s)
    return out


def xovis_live_push(
    objects: Sequence[tuple[int, str, float, float]],
    *,
    time: datetime,
    package_id: int = 1,
    agent_id: int = 1002,
    time_format: Literal["iso", "ms"] = "ms",
    serial_number: str = "00:6E:02:00:12:34",
) -> dict[str, Any]:
    """A live push with one frame of ``(track_id, type, x, y)`` tracked objects."""
    return {
        "live_data": {
            "package_info": {"version": "5.0", "id": package_id, "agent_id": agent_id},
            "sensor_info": {"serial_number": serial_number, "type": "SINGLE_SENSOR"},
            "frames": [
                {
                    "framenumber": package_id,
                    "time": _time(time, time_format),
                    "tracked_objects": [
                        {
                            "track_id": tid,
                            "type": kind,
                            "position": [x, y, 170.0],
                            "attributes": {"person_height": 170.0},
                        }
                        for tid, kind, x, y in objects
                    ],
                    "events": [],
                }
            ],
        }
    }
