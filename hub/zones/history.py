"""Quarter-hour history per zone: the normal band and a short forecast.

The model adds the zone's occupancy at every tick to the current quarter-hour bin
(kept as sum and sample count, so a bin's value is the mean occupancy over the
quarter). Bins are keyed by UTC quarter (POSIX seconds // 900); weekday and
quarter-hour are taken in the site's local time when a slot is looked up, so
daylight-saving changes keep comparing 18:00 with 18:00.

* :meth:`History.band`: p10 / p50 / p90 of the same local weekday and quarter over the
  previous weeks, with how many weeks had data.
* :meth:`History.forecast`: Amsterdam's crowd-monitoring method. For each of the next
  quarters, the median of the same weekday and quarter over the previous weeks,
  smoothed 0.25 / 0.5 / 0.25 with its neighbours, times a factor *now / median*
  (mean of the ratios over the last 12 quarters with rising weights 1..12, capped,
  1 when unknown).
"""

from __future__ import annotations

__all__ = ["QUARTER_S", "Band", "Forecast", "History", "percentile"]

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

QUARTER_S = 900
_BLEND = 12


def percentile(sorted_values: list[float], p: float) -> float:
    """Linear-interpolated percentile (0..100) of an ascending list."""
    n = len(sorted_values)
    if n == 1:
        return sorted_values[0]
    pos = (n - 1) * p / 100.0
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


@dataclass(frozen=True)
class Band:
    """What is usual for one zone at one local weekday and quarter-hour."""

    p10: float
    p50: float
    p90: float
    weeks: int


@dataclass(frozen=True)
class Forecast:
    """Expected occupancy per coming quarter (``starts`` are the quarters' starts)."""

    starts: tuple[datetime, ...]
    values: tuple[float, ...]
    factor: float
    weeks: int

    def reliable(self, min_weeks: int = 3) -> bool:
        return self.weeks >= min_weeks


class History:
    """Quarter-hour bins of occupancy for every zone."""

    def __init__(self, tz: str = "UTC", weeks: int = 8) -> None:
        self.tz = ZoneInfo(tz)
        self.weeks = weeks
        self.bins: dict[str, dict[int, list[float]]] = {}
        self._medians: dict[tuple[str, int], tuple[float | None, int, tuple[float, ...]]] = {}

    def add(self, zone: str, now: float, occupancy: float) -> None:
        q = int(now // QUARTER_S)
        bins = self.bins.get(zone)
        if bins is None:
            bins = self.bins[zone] = {}
        b = bins.get(q)
        if b is None:
            bins[q] = [occupancy, 1.0]
        else:
            b[0] += occupancy
            b[1] += 1.0

    def value(self, zone: str, quarter: int) -> float | None:
        """The mean occupancy of one quarter (UTC quarter index), if recorded."""
        b = self.bins.get(zone, {}).get(quarter)
        return None if b is None else b[0] / b[1]

    def prune(self, now: float) -> None:
        """Forget bins older than the kept weeks (plus a day) and stale cache entries."""
        edge = int(now // QUARTER_S) - (self.weeks * 7 + 1) * 96
        for bins in self.bins.values():
            for q in [q for q in bins if q < edge]:
                del bins[q]
        self._medians = {k: v for k, v in self._medians.items() if k[1] >= edge + 7 * 96}

    def _same_slot(self, zone: str, quarter: int) -> tuple[float | None, int, tuple[float, ...]]:
        """(median, weeks with data, sorted values) of the same local slot in past weeks."""
        key = (zone, quarter)
        hit = self._medians.get(key)
        if hit is not None:
            return hit
        local = datetime.fromtimestamp(quarter * QUARTER_S, UTC).astimezone(self.tz)
        values = []
        bins = self.bins.get(zone, {})
        for k in range(1, self.weeks + 1):
            # wall-clock arithmetic within one tzinfo: same local weekday and time
            past = (local - timedelta(weeks=k)).replace(tzinfo=None)
            ts = past.replace(tzinfo=self.tz).timestamp()
            b = bins.get(int(ts // QUARTER_S))
            if b is not None:
                values.append(b[0] / b[1])
        values.sort()
        result = (percentile(values, 50) if values else None, len(values), tuple(values))
        self._medians[key] = result
        return result

    def band(self, zone: str, now: float) -> Band | None:
        """The normal band for the quarter containing ``now``."""
        _, weeks, values = self._same_slot(zone, int(now // QUARTER_S))
        if not weeks:
            return None
        v = list(values)
        return Band(percentile(v, 10), percentile(v, 50), percentile(v, 90), weeks)

    def forecast(self, zone: str, now: float, quarters: int = 8, cap: float = 4.0) -> Forecast:
        """Expected occupancy for the next ``quarters`` quarter-hours."""
        q0 = int(now // QUARTER_S)
        med = {q: self._same_slot(zone, q) for q in range(q0 - _BLEND, q0 + quarters + 2)}
        ratios = 0.0
        weights = 0.0
        for i, q in enumerate(range(q0 - _BLEND + 1, q0 + 1), start=1):
            m = med[q][0]
            actual = self.value(zone, q)
            if m is not None and m > 0 and actual is not None:
                ratios += i * (actual / m)
                weights += i
        factor = min(cap, ratios / weights) if weights else 1.0
        starts = []
        values = []
        for q in range(q0 + 1, q0 + quarters + 1):
            parts = [(0.25, med[q - 1][0]), (0.5, med[q][0]), (0.25, med[q + 1][0])]
            num = sum(w * m for w, m in parts if m is not None)
            den = sum(w for w, m in parts if m is not None)
            starts.append(datetime.fromtimestamp(q * QUARTER_S, UTC))
            values.append(num / den * factor if den else 0.0)
        weeks = max((med[q][1] for q in range(q0 + 1, q0 + quarters + 1)), default=0)
        return Forecast(tuple(starts), tuple(values), factor, weeks)

    def to_dict(self) -> dict[str, Any]:
        return {
            zone: {str(q): [round(b[0], 3), b[1]] for q, b in bins.items()}
            for zone, bins in self.bins.items()
        }

    def load(self, data: dict[str, Any]) -> None:
        self.bins = {
            zone: {int(q): [float(b[0]), float(b[1])] for q, b in bins.items()}
            for zone, bins in data.items()
        }
        self._medians.clear()
