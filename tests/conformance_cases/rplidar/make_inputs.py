"""Regenerates the serial inputs of the ``rplidar`` conformance case (run from the repo root).

The bytes are computed here from the vendor's published layout, independently of the
plugin (see SOURCES.md): Slamtec RPLIDAR A1 legacy-protocol responses. What the frames
*mean* (how many people stand in the zone) is written next to them as comments, and
``expected.json`` follows from that meaning, not from running the plugin::

    .venv/bin/python tests/conformance_cases/rplidar/make_inputs.py
"""

from __future__ import annotations

import math
from pathlib import Path

HERE = Path(__file__).resolve().parent

# -- Slamtec RPLIDAR A1 legacy SCAN: descriptor A5 5A 05 00 00 40 81 + 5-byte nodes ------

SCAN_DESCRIPTOR = bytes.fromhex("A55A0500004081")
HEALTH_GOOD = bytes.fromhex("A55A0300000006") + bytes([0, 0, 0])
STEP_DEG = 2.0
QUALITY = 47


def rp_node(start: bool, angle_deg: float, dist_mm: float, *, check: int = 1) -> bytes:
    """b0 = quality<<2 | !S<<1 | S; b1 = angle_q6[6:0]<<1 | C; b2 = angle_q6[14:7];
    b3, b4 = distance_q2 little-endian (0 = no return)."""
    q = QUALITY if dist_mm > 0 else 0
    s = 1 if start else 0
    angle_q6 = round(angle_deg * 64)
    dist_q2 = round(dist_mm * 4)
    b0 = q << 2 | (1 - s) << 1 | s
    return bytes([b0, (angle_q6 & 0x7F) << 1 | check, angle_q6 >> 7, dist_q2 & 0xFF, dist_q2 >> 8])


Person = tuple[float, float]
"""A body's centre (x, y) in the sensor frame (m); a person is a 0.25 m radius circle."""
RADIUS_M = 0.25


def ray_mm(theta_deg: float, people: list[Person]) -> float:
    """Distance along the ray at RPLIDAR angle theta (clockwise from the 0° mark: direction
    (cos, -sin) in the sensor frame): the nearest body, else the back wall (x = -1 m) or
    the far wall (x = 6 m, outside the zone), else no return (0)."""
    a = math.radians(theta_deg)
    dx, dy = math.cos(a), -math.sin(a)
    best: float | None = None
    for cx, cy in people:
        along = cx * dx + cy * dy
        miss2 = (cx * cx + cy * cy) - along * along
        if along > 0 and miss2 <= RADIUS_M * RADIUS_M:
            hit = along - math.sqrt(RADIUS_M * RADIUS_M - miss2)
            best = hit if best is None else min(best, hit)
    if best is not None:
        return best * 1000.0
    if dx > 0.5:
        return 6.0 / dx * 1000.0
    if dx < -0.3:
        return 1.0 / -dx * 1000.0
    return 0.0


def revolution(
    people: list[Person], *, stray: tuple[float, float] | None = None, corrupt_at: float = -1.0
) -> bytes:
    """One 360° revolution; ``stray`` = (angle, mm) of a single spurious return."""
    out = b""
    for k in range(int(360 / STEP_DEG)):
        theta = k * STEP_DEG
        dist = ray_mm(theta, people)
        if stray is not None and theta == stray[0]:
            dist = stray[1]
        out += rp_node(k == 0, theta, dist, check=0 if theta == corrupt_at else 1)
    return out


def write_hex(path: Path, comment: str, data: bytes) -> None:
    lines = [f"# {line}" for line in comment.splitlines()]
    lines += [data[i : i + 20].hex(" ").upper() for i in range(0, len(data), 20)]
    path.write_text("\n".join(lines) + "\n", encoding="ascii")


def rplidar() -> None:
    out = HERE / "zone_serial"
    write_hex(out / "health.hex", "GET_HEALTH answer: status 0 (good), error code 0", HEALTH_GOOD)
    start_only = rp_node(True, 0.0, ray_mm(0.0, []))
    w1: list[list[Person]] = [
        [(2.0, 0.5), (3.0, -1.0)],
        [(2.05, 0.5), (3.0, -0.95)],
        [(2.1, 0.5), (3.0, -0.9), (1.2, 1.5)],
    ]
    data = SCAN_DESCRIPTOR + b"".join(revolution(p) for p in w1) + start_only
    write_hex(
        out / "scan-1.hex",
        "12:00:01Z: the SCAN descriptor, then three revolutions (2 deg steps):\n"
        "two people in the zone, two, three (a third walks in); then the first node of the next",
        data,
    )
    # revolution 4 continues the start node above (its 0 deg node is the far wall)
    w2: list[list[Person]] = [[(2.5, 0.3)], [(2.55, 0.35)], []]
    rev4 = revolution(w2[0], corrupt_at=120.0)[5:]
    rev5 = revolution(w2[1], stray=(30.0, 1500.0))
    rev6 = revolution(w2[2])
    write_hex(
        out / "scan-2.hex",
        "12:00:06Z: the rest of revolution 4 (one person; the 120 deg node has check bit C = 0:\n"
        "one corrupt node), revolution 5 (one person and a single stray point: noise, not a\n"
        "person), revolution 6 (nobody); then the first node of revolution 7",
        rev4 + rev5 + rev6 + start_only,
    )
    write_hex(
        out / "scan-3.hex",
        "12:00:11Z: the rest of revolution 7 (nobody), then the first node of revolution 8",
        revolution([])[5:] + start_only,
    )


if __name__ == "__main__":
    rplidar()
