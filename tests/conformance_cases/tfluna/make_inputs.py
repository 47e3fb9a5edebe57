"""Regenerates the serial inputs of the ``tfluna`` conformance case (run from the repo root).

The bytes are computed here from the vendor's published layout, independently of the
plugin (see SOURCES.md): Benewake TF-Luna 9-byte/cm frames. What the frames *mean* (who
passes the beam) is written next to them as comments, and ``expected.json`` follows from
that meaning, not from running the plugin::

    .venv/bin/python tests/conformance_cases/tfluna/make_inputs.py
"""

from __future__ import annotations

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
    out = HERE / "single_beam_serial"
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


if __name__ == "__main__":
    tfluna()
