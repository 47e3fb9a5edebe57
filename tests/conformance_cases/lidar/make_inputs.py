"""Regenerates the serial inputs of the ``lidar`` conformance cases (run from the repo root).

The bytes are computed here from the vendors' published layouts, independently of the
plugin (see SOURCES.md): Benewake TF-Luna 9-byte/cm frames and Slamtec RPLIDAR A1
legacy-protocol responses. What the frames *mean* (who passes, how many people stand
in the zone) is written next to them as comments, and ``expected.json`` follows from
that meaning, not from running the plugin::

    .venv/bin/python tests/conformance_cases/lidar/make_inputs.py
"""

from __future__ import annotations

import math
from pathlib import Path

HERE = Path(__file__).resolve().parent

# -- Benewake TF-Luna: 59 59 Dist_L Dist_H Amp_L Amp_H Temp_L Temp_H Checksum ------------


def tf_frame(dist_cm: int, amp: int = 1200, temp_c: float = 25.0) -> bytes:
    """One 9-byte/cm frame; Temp = (temp_c + 256) * 8; checksum = low byte of bytes 0..7."""
    raw_t = round((temp_c + 256.0) * 8)
    body = bytes([0x59, 0x59, dist_cm & 0xFF, dist_cm >> 8, amp & 0xFF, amp >> 8])
    body += bytes([raw_t & 0xFF, raw_t >> 8])
    return body + bytes([sum(body) & 0xFF])


class HexDump:
    """A ``.hex`` input: one frame per line, ``#`` comments saying what it is."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.frames = 0

    def note(self, text: str) -> None:
        self.lines.append(f"# {text}")

    def raw(self, data: bytes, comment: str) -> None:
        self.lines.append(f"{data.hex(' ').upper():<29} # {comment}")

    def frames_of(self, n: int, dist_cm: int, comment: str, *, amp: int = 1200) -> None:
        self.note(f"{n} frames: {comment}")
        for _ in range(n):
            self.lines.append(tf_frame(dist_cm, amp).hex(" ").upper())
        self.frames += n

    def write(self, path: Path) -> None:
        path.write_text("\n".join(self.lines) + "\n", encoding="ascii")


def tfluna() -> None:
    out = HERE / "tfluna_serial"
    floor = 249  # sensor 2.5 m above the floor; a person: below 150 cm
    # burst 1, 12:00:04 (2 s at 100 Hz): one person, the resync cases of the shared sample
    d = HexDump()
    d.note("burst 1, 12:00:04Z: 2 s at 100 Hz, 200 valid frames, ONE person")
    d.raw(b"\x59", "a stray 0x59 before the first frame: one rejected candidate")
    d.frames_of(49, floor, "floor (249 cm), beam clear")
    d.frames_of(40, 95, "a person (95 cm) for 400 ms: passage 1")
    d.frames_of(30, floor, "floor")
    d.frames_of(5, 0, "amplitude 45 < 100: unreliable (low signal)", amp=45)
    d.frames_of(2, 30, "amplitude 65535: unreliable (overexposed)", amp=65535)
    bad = bytearray(tf_frame(floor))
    bad[8] = (bad[8] + 1) & 0xFF
    d.raw(bytes(bad), "checksum + 1: a corrupt frame, rejected (one candidate)")
    d.raw(tf_frame(0x5959, amp=350), "distance 0x5959: header bytes inside a valid frame")
    d.frames += 1
    d.frames_of(200 - d.frames, floor, "floor")
    assert d.frames == 200
    d.write(out / "burst-1.hex")
    # burst 2, 12:00:14: two people, a blip, one person with a swinging arm
    d = HexDump()
    d.note("burst 2, 12:00:14Z: 2 s at 100 Hz, 200 frames, THREE people")
    d.frames_of(30, floor, "floor")
    d.frames_of(30, 100, "person A (100 cm), 300 ms")
    d.frames_of(15, floor, "150 ms clear (> min_gap 100 ms): A has passed")
    d.frames_of(30, 110, "person B (110 cm), 300 ms")
    d.frames_of(40, floor, "floor")
    d.frames_of(3, 90, "a 30 ms blip (< min_dwell 60 ms): not a person")
    d.frames_of(10, floor, "floor")
    d.frames_of(12, 100, "person C, 120 ms")
    d.frames_of(5, floor, "50 ms clear (< min_gap): C's arm swings, still person C")
    d.frames_of(12, 100, "person C, 120 ms")
    d.frames_of(200 - d.frames, floor, "floor")
    d.write(out / "burst-2.hex")
    for n, t in ((3, "12:00:24Z"), (4, "12:00:34Z")):
        d = HexDump()
        d.note(f"burst {n}, {t}: 2 s at 100 Hz, nobody")
        d.frames_of(200, floor, "floor")
        d.write(out / f"burst-{n}.hex")


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
    out = HERE / "rplidar_serial"
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
    tfluna()
    rplidar()
