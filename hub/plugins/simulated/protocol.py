"""Sans-io crowd model: a seeded random walk of arrivals and departures."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Reading:
    in_: int
    out: int
    occupancy: int


class CrowdModel:
    """Arrivals are Poisson with the given rate; departures follow occupancy."""

    def __init__(self, rate_per_min: float, capacity: int, seed: int | None = None) -> None:
        self.rate_per_min = rate_per_min
        self.capacity = capacity
        self.occupancy = 0
        self._rng = random.Random(seed)

    def _poisson(self, lam: float) -> int:
        if lam <= 0:
            return 0
        if lam > 30:
            return max(0, round(self._rng.gauss(lam, math.sqrt(lam))))
        limit, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= self._rng.random()
            if p <= limit:
                return k
            k += 1

    def step(self, seconds: float) -> Reading:
        lam = self.rate_per_min * seconds / 60.0
        arrivals = min(self._poisson(lam), self.capacity - self.occupancy)
        fill = self.occupancy / self.capacity
        departures = min(self.occupancy + arrivals, self._poisson(lam * (0.5 + fill)))
        self.occupancy += arrivals - departures
        return Reading(arrivals, departures, self.occupancy)
