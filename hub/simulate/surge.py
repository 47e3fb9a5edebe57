"""A scripted crowd surge for simulated devices (sans-io: a function of time).

``--surge PEAK[:CALM:RISE:HOLD:FALL:REST]`` (people and seconds) makes a device's
area fill from its calm level to ``PEAK`` people and empty again, then rest and
repeat: calm ``CALM`` s, rising ``RISE`` s, at the peak ``HOLD`` s, falling ``FALL`` s,
resting ``REST`` s. The demo drives a zone green -> red -> green with it; a device
turns :meth:`Surge.people` into its own wire format (running totals, occupancy).
"""

from __future__ import annotations

__all__ = ["Surge", "add_surge"]

import argparse
from dataclasses import dataclass


@dataclass(frozen=True)
class Surge:
    peak: int
    calm_s: float = 20.0
    rise_s: float = 40.0
    hold_s: float = 30.0
    fall_s: float = 40.0
    rest_s: float = 60.0
    base: int = 20
    """People in the area outside the surge."""

    @property
    def period_s(self) -> float:
        return self.calm_s + self.rise_s + self.hold_s + self.fall_s + self.rest_s

    def people(self, t: float) -> float:
        """People in the area ``t`` seconds after the start."""
        t %= self.period_s
        span = self.peak - self.base
        for length, start, end in (
            (self.calm_s, 0.0, 0.0),
            (self.rise_s, 0.0, 1.0),
            (self.hold_s, 1.0, 1.0),
            (self.fall_s, 1.0, 0.0),
        ):
            if t < length:
                return self.base + span * (start + (end - start) * t / length)
            t -= length
        return float(self.base)

    @classmethod
    def parse(cls, text: str) -> Surge:
        """``PEAK[:CALM:RISE:HOLD:FALL:REST]``."""
        parts = text.split(":")
        try:
            peak = int(parts[0])
            times = [float(p) for p in parts[1:]]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--surge {text!r}: give PEAK[:CALM:RISE:HOLD:FALL:REST], e.g. 900:20:40:30:40:60"
            ) from None
        if peak <= 0 or len(times) > 5 or any(t < 0 for t in times):
            raise argparse.ArgumentTypeError(
                f"--surge {text!r}: a positive peak and at most five durations >= 0 seconds"
            )
        defaults = cls(peak)
        calm, rise, hold, fall, rest = (
            *times,
            *(defaults.calm_s, defaults.rise_s, defaults.hold_s, defaults.fall_s, defaults.rest_s)[
                len(times) :
            ],
        )
        surge = cls(peak, calm, rise, hold, fall, rest, base=min(defaults.base, peak // 10))
        if surge.period_s <= 0:
            raise argparse.ArgumentTypeError(f"--surge {text!r}: the durations add up to 0")
        return surge


def add_surge(p: argparse.ArgumentParser) -> None:
    """Add ``--surge`` to a device that can script the people in its area."""
    p.add_argument(
        "--surge",
        type=Surge.parse,
        metavar="PEAK[:CALM:RISE:HOLD:FALL:REST]",
        help="script a surge: the area fills to PEAK people and empties again, repeating "
        "(seconds; default 20:40:30:40:60)",
    )
