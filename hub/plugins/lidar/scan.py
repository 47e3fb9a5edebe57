"""Sans-io occupancy estimation from 2D lidar scans (RPLIDAR A1).

Pipeline, one revolution at a time:

1. :class:`RevolutionAssembler` collects :class:`~.protocol.ScanNode` items; a node
   with S = 1 closes the previous revolution (the partial one before the first
   S = 1 is dropped).
2. :func:`to_points` turns nodes into points in metres. Sensor frame: x along
   the 0° direction, y 90° counter-clockwise from it; RPLIDAR angles grow
   clockwise seen from above, so a node at angle θ and distance d lies at
   ``(d·cos θ, -d·sin θ)``. ``sensor_position``/``sensor_rotation_deg`` then
   place the sensor in the polygon's coordinates (rotation counter-clockwise).
3. Points inside the configured polygon are clustered: two points closer than
   ``cluster_distance_m`` belong to one cluster (single linkage on a grid);
   clusters with fewer than ``min_points`` points are noise. Each remaining
   cluster is one person.
4. :class:`OccupancyWindow` reduces the per-revolution counts of each
   ``emit_interval_s`` window to one estimate (median by default).
"""

from __future__ import annotations

__all__ = [
    "OccupancyEstimate",
    "OccupancyWindow",
    "RevolutionAssembler",
    "ScanGeometry",
    "count_clusters",
    "point_in_polygon",
    "to_points",
]

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from .protocol import ScanNode

Point = tuple[float, float]


class RevolutionAssembler:
    """Groups scan nodes into 360° revolutions."""

    def __init__(self, *, max_nodes: int = 8192) -> None:
        self._nodes: list[ScanNode] = []
        self._started = False
        self.max_nodes = max_nodes
        self.revolutions = 0

    def add(self, node: ScanNode) -> list[ScanNode] | None:
        """Add a node; returns the completed revolution when ``node`` starts a new one."""
        done: list[ScanNode] | None = None
        if node.start:
            if self._started and self._nodes:
                done = self._nodes
                self.revolutions += 1
            self._nodes = []
            self._started = True
        if self._started and len(self._nodes) < self.max_nodes:
            self._nodes.append(node)
        return done

    def reset(self) -> None:
        self._nodes, self._started = [], False


def to_points(
    nodes: Iterable[ScanNode],
    *,
    position: Point = (0.0, 0.0),
    rotation_deg: float = 0.0,
    min_quality: int = 0,
    max_range_m: float = 12.0,
) -> list[Point]:
    """Valid nodes as points in polygon coordinates (metres)."""
    rot = math.radians(rotation_deg)
    cr, sr = math.cos(rot), math.sin(rot)
    px, py = position
    out: list[Point] = []
    for n in nodes:
        if n.distance_mm <= 0 or n.quality < min_quality:
            continue
        d = n.distance_mm / 1000.0
        if d > max_range_m:
            continue
        a = math.radians(n.angle_deg)
        x, y = d * math.cos(a), -d * math.sin(a)
        out.append((px + x * cr - y * sr, py + x * sr + y * cr))
    return out


def point_in_polygon(p: Point, polygon: Sequence[Point]) -> bool:
    """Even-odd rule (points exactly on an edge may fall either way)."""
    x, y = p
    inside = False
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y):
            xc = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < xc:
                inside = not inside
    return inside


def count_clusters(points: Sequence[Point], distance: float, min_points: int) -> int:
    """Clusters of at least ``min_points`` points, linked at ``distance`` (grid + union-find)."""
    n = len(points)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    grid: dict[tuple[int, int], list[int]] = {}
    for i, (x, y) in enumerate(points):
        grid.setdefault((math.floor(x / distance), math.floor(y / distance)), []).append(i)
    d2 = distance * distance
    for (cx, cy), members in grid.items():
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                other = grid.get((cx + dx, cy + dy))
                if not other:
                    continue
                for i in members:
                    xi, yi = points[i]
                    for j in other:
                        if j <= i:
                            continue
                        xj, yj = points[j]
                        if (xi - xj) ** 2 + (yi - yj) ** 2 <= d2:
                            ri, rj = find(i), find(j)
                            if ri != rj:
                                parent[ri] = rj
    sizes: dict[int, int] = {}
    for i in range(n):
        r = find(i)
        sizes[r] = sizes.get(r, 0) + 1
    return sum(1 for s in sizes.values() if s >= min_points)


@dataclass(frozen=True)
class ScanGeometry:
    """The configured zone and clustering parameters."""

    polygon: tuple[Point, ...]
    position: Point = (0.0, 0.0)
    rotation_deg: float = 0.0
    cluster_distance_m: float = 0.5
    min_points: int = 3
    min_quality: int = 0
    max_range_m: float = 12.0

    def count(self, revolution: Sequence[ScanNode]) -> int:
        """People (clusters) inside the polygon in one revolution."""
        pts = to_points(
            revolution,
            position=self.position,
            rotation_deg=self.rotation_deg,
            min_quality=self.min_quality,
            max_range_m=self.max_range_m,
        )
        inside = [p for p in pts if point_in_polygon(p, self.polygon)]
        return count_clusters(inside, self.cluster_distance_m, self.min_points)


@dataclass(frozen=True, slots=True)
class OccupancyEstimate:
    """One window's estimate, reported at ``t`` (the window end or the last revolution)."""

    window_start: float
    t: float
    count: float
    revolutions: int
    min_count: int
    max_count: int


class OccupancyWindow:
    """Per-revolution counts → one estimate per window aligned to ``interval_s``."""

    def __init__(
        self,
        interval_s: float,
        aggregate: Literal["median", "max", "mean", "last"] = "median",
    ) -> None:
        self.interval_s = interval_s
        self.aggregate = aggregate
        self._idx: int | None = None
        self._start = 0.0
        self._resume_at: float | None = None
        self._counts: list[int] = []
        self._last_t = 0.0

    def add(self, t: float, count: int) -> OccupancyEstimate | None:
        """Record one revolution's count at ``t``; returns the previous window once ``t``
        is past its end."""
        idx = math.floor(t / self.interval_s + 1e-9)
        done = None
        if self._idx is None:
            self._idx, self._start = idx, idx * self.interval_s
            if self._resume_at is not None:
                self._start = max(self._start, self._resume_at)
        elif idx > self._idx:
            if self._counts:
                done = self._estimate((self._idx + 1) * self.interval_s)
            self._idx, self._start, self._counts = idx, idx * self.interval_s, []
        self._counts.append(count)
        self._last_t = max(self._last_t, t)
        return done

    def finish(self) -> OccupancyEstimate | None:
        """The partial window so far (reported at the last revolution), then start afresh."""
        done = self._estimate(self._last_t) if self._counts else None
        self._idx, self._counts = None, []
        self._resume_at = self._last_t
        return done

    def _estimate(self, t: float) -> OccupancyEstimate:
        c = self._counts
        if self.aggregate == "median":
            value = float(statistics.median(c))
        elif self.aggregate == "max":
            value = float(max(c))
        elif self.aggregate == "mean":
            value = round(statistics.fmean(c), 2)
        else:
            value = float(c[-1])
        return OccupancyEstimate(self._start, t, value, len(c), min(c), max(c))
