"""Cisco Meraki Scanning API (v2 and v3) push bodies, sans-io, privacy first.

The Meraki cloud POSTs raw client MAC addresses, IP addresses, SSIDs,
manufacturers, operating systems and locations. This module reads only what it
needs to count, and turns each client MAC into a keyed digest *at once*
(:class:`hub.privacy.RotatingHasher`, key rotated every interval, held only in
memory). No raw identifier is stored in any object, returned, or put in an
error message. Access-point MACs, tags and floor names are used only to pick a
zone and are never returned either.

* v2 (``version`` "2.x"): ``type`` ``DevicesSeen`` (WiFi) or
  ``BluetoothDevicesSeen`` (BLE); ``data{apMac, apTags[], apFloors[],
  observations[{clientMac, ...}]}``: one POST per access point.
* v3 (``version`` "3.x"): ``type`` ``WiFi`` or ``BLE``; ``data{networkId,
  observations[{clientMac, locations[{rssiRecords[{apMac, rssi}],
  nearestApTags[], floorPlanId, floorPlanName, ...}], latestRecord{time,
  nearestApMac, nearestApRssi}}]}``: one POST per network. The access point is
  ``latestRecord.nearestApMac`` or the strongest ``rssiRecords`` entry of the
  newest location.

**Time.** Each device counts in the interval of its *observation*, not of the
POST's arrival: v2 ``seenEpoch`` / ``seenTime``, v3 ``latestRecord.time`` (else
the newest ``locations[].time``); an observation without any time counts at
arrival (``untimed``). Every open interval has its own hashing key, dropped when
the interval closes, so a device seen in two intervals cannot be linked. An
interval closes ``grace_s`` after its end (the cloud pushes about once a
minute, so observations arrive up to a minute or more after they were made).
Not counted, only reported in :class:`AddResult`:

* ``stale``: more than ``max_age_s`` older than the hub clock (a replay, a
  backlog, a wrong clock): never current;
* ``late``: the observation's interval has closed already (its count went out,
  or is due): a closed interval is never counted again, so its event id never
  carries a second, different number;
* ``future``: more than ``max_age_s`` ahead of the hub clock (a wrong clock).

Counting is idempotent per interval: a POST delivered twice (a retry after a
``503`` or a lost answer) adds the same digests to the same sets.
"""

from __future__ import annotations

__all__ = [
    "AddResult",
    "ClosedInterval",
    "IntervalCounts",
    "MerakiCounter",
    "ZoneMapper",
    "normalise_mac",
    "observation_time",
    "secret_matches",
]

import hmac
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from hub.errors import MalformedInput
from hub.privacy import RotatingHasher
from hub.quality import parse_timestamp

Radio = Literal["wifi", "ble"]

_TYPES: dict[str, Radio] = {
    "devicesseen": "wifi",
    "wifi": "wifi",
    "bluetoothdevicesseen": "ble",
    "ble": "ble",
}
_HEX = re.compile(r"[^0-9a-f]")


def normalise_mac(value: str) -> str:
    """Lower-case hex digits only (``00:18:0A:13:DD:B0`` → ``00180a13ddb0``)."""
    return _HEX.sub("", value.lower())


def secret_matches(given: Any, expected: str) -> bool:
    """Constant-time comparison of the POST's ``secret`` with the configured one."""
    if not isinstance(given, str):
        return False
    # surrogatepass: a lone surrogate (valid in JSON "\ud800") is just a wrong secret
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


class ZoneMapper:
    """Maps an access point to a site zone: by AP MAC first, then AP tag, then floor,
    then the default zone (``None``: drop the observation)."""

    def __init__(
        self,
        *,
        ap_zones: Mapping[str, str] | None = None,
        tag_zones: Mapping[str, str] | None = None,
        floor_zones: Mapping[str, str] | None = None,
        default_zone: str | None = None,
    ) -> None:
        self._ap = {normalise_mac(k): v for k, v in (ap_zones or {}).items()}
        self._tag = {k.strip().lower(): v for k, v in (tag_zones or {}).items()}
        self._floor = {k.strip().lower(): v for k, v in (floor_zones or {}).items()}
        self.default_zone = default_zone

    @property
    def zones(self) -> set[str]:
        """Every zone this mapper can produce."""
        out = set(self._ap.values()) | set(self._tag.values()) | set(self._floor.values())
        if self.default_zone:
            out.add(self.default_zone)
        return out

    def zone_for(
        self, ap_mac: str | None, tags: Iterable[str] = (), floors: Iterable[str] = ()
    ) -> str | None:
        if ap_mac:
            zone = self._ap.get(normalise_mac(ap_mac))
            if zone:
                return zone
        for tag in tags:
            zone = self._tag.get(tag.strip().lower())
            if zone:
                return zone
        for floor in floors:
            zone = self._floor.get(floor.strip().lower())
            if zone:
                return zone
        return self.default_zone


@dataclass(frozen=True, slots=True)
class AddResult:
    """What one POST contributed (numbers only)."""

    radio: Radio
    counted: int
    unmapped: int
    invalid: int
    """Observations without a usable ``clientMac``."""
    bad_time: int = 0
    """Observations whose time is present but not a time."""
    stale: int = 0
    late: int = 0
    future: int = 0
    untimed: int = 0
    """Observations without a time, counted at arrival."""


@dataclass(frozen=True, slots=True)
class IntervalCounts:
    """Distinct devices per zone in one closed interval (no identifiers)."""

    zone: str
    wifi: int
    ble: int

    @property
    def count(self) -> int:
        return self.wifi + self.ble


@dataclass(frozen=True, slots=True)
class ClosedInterval:
    """The counts of one interval ``[start, end)``, every zone of the mapper included."""

    start: datetime
    end: datetime
    counts: tuple[IntervalCounts, ...]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _v3_place(obs: Mapping[str, Any]) -> tuple[str | None, list[str], list[str]]:
    ap: str | None = None
    tags: list[str] = []
    floors: list[str] = []
    latest = obs.get("latestRecord")
    if isinstance(latest, dict) and isinstance(latest.get("nearestApMac"), str):
        ap = latest["nearestApMac"]
    locations = obs.get("locations")
    if isinstance(locations, list) and locations:
        newest = [loc for loc in locations if isinstance(loc, dict)]
        newest.sort(key=lambda loc: str(loc.get("time") or ""))
        if newest:
            loc = newest[-1]
            tags = _strings(loc.get("nearestApTags"))
            floors = _strings(loc.get("floorPlanName")) + _strings(loc.get("floorPlanId"))
            plan = loc.get("floorPlan")
            if isinstance(plan, dict):
                floors += _strings(plan.get("name")) + _strings(plan.get("id"))
            if ap is None:
                raw = loc.get("rssiRecords")
                records = [
                    r
                    for r in (raw if isinstance(raw, list) else [])
                    if isinstance(r, dict) and isinstance(r.get("apMac"), str)
                ]
                if records:
                    best = max(records, key=lambda r: _rssi(r.get("rssi")))
                    ap = best["apMac"]
    return ap, tags, floors


def _rssi(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("-inf")


def observation_time(obs: Mapping[str, Any], major: str) -> datetime | None:
    """When the client was seen: v2 ``seenEpoch`` (seconds) or ``seenTime`` (RFC 3339), v3
    ``latestRecord.time`` or else the newest ``locations[].time``. None without any time;
    MalformedInput (naming the field, never the value) when one is given but none parses."""
    candidates: list[tuple[str, Any]] = []
    if major == "2":
        candidates = [("seenEpoch", obs.get("seenEpoch")), ("seenTime", obs.get("seenTime"))]
    else:
        latest = obs.get("latestRecord")
        if isinstance(latest, dict):
            candidates.append(("latestRecord.time", latest.get("time")))
        locations = obs.get("locations")
        if isinstance(locations, list):
            candidates += [
                ("locations[].time", loc.get("time")) for loc in locations if isinstance(loc, dict)
            ]
    given = [(where, value) for where, value in candidates if value is not None]
    if not given:
        return None
    problem: MalformedInput | None = None
    found: list[datetime] = []
    for where, value in given:
        try:
            found.append(parse_timestamp(value, where=f"meraki: observation {where}"))
        except MalformedInput as err:
            problem = problem or err
        if found and (major == "2" or where == "latestRecord.time"):
            return found[0]
    if found:
        return max(found)  # v3 without latestRecord: the newest location
    assert problem is not None
    raise problem


class _Interval:
    """One open interval: its own hashing key and the digests seen per zone and radio."""

    __slots__ = ("hasher", "seen")

    def __init__(self, hasher: RotatingHasher) -> None:
        self.hasher = hasher
        self.seen: dict[tuple[str, Radio], set[bytes]] = {}


class MerakiCounter:
    """Counts distinct client devices per zone and interval of observation.

    ``add(body, now)`` hashes each client MAC with the key of the interval its
    observation falls in and adds the digest to that interval's zone set;
    ``close_due(now)`` returns the intervals whose grace has passed and forgets
    their digests and keys. ``now`` is the hub clock; this class reads no clock.
    """

    def __init__(
        self,
        mapper: ZoneMapper,
        *,
        interval_s: float = 60.0,
        max_age_s: float = 180.0,
        grace_s: float = 60.0,
        hasher_factory: Callable[[], RotatingHasher] = RotatingHasher,
    ) -> None:
        if interval_s <= 0 or max_age_s <= 0 or grace_s < 0:
            raise ValueError("interval_s and max_age_s must be positive, grace_s not negative")
        self.mapper = mapper
        self.interval_s = interval_s
        self.max_age_s = max_age_s
        self.grace_s = grace_s
        self._new_hasher = hasher_factory
        self._open: dict[float, _Interval] = {}

    # -- time -------------------------------------------------------------------------
    def interval_of(self, t: float) -> float:
        """Start (epoch seconds) of the interval holding ``t``."""
        return math.floor(t / self.interval_s) * self.interval_s

    def closes_at(self, start: float) -> float:
        """When the interval starting at ``start`` closes: its end plus the grace."""
        return start + self.interval_s + self.grace_s

    def next_close(self, now: datetime) -> float:
        """The next closing time (epoch seconds) after ``now``."""
        n = now.timestamp()
        return (math.floor((n - self.grace_s) / self.interval_s) + 1) * self.interval_s + (
            self.grace_s
        )

    @property
    def open_intervals(self) -> list[datetime]:
        """Starts of the intervals that hold data and have not closed."""
        return [datetime.fromtimestamp(s, UTC) for s in sorted(self._open)]

    def _interval(self, start: float) -> _Interval:
        iv = self._open.get(start)
        if iv is None:
            iv = self._open[start] = _Interval(self._new_hasher())
        return iv

    # -- counting ---------------------------------------------------------------------
    def add(self, body: Any, now: datetime) -> AddResult:
        """Add one parsed POST body (secret already checked), received at ``now``.

        Raises MalformedInput naming the field when the body is not a Scanning API
        v2/v3 post, before anything is counted; observations that cannot be counted
        are skipped and counted in the result.
        """
        if not isinstance(body, dict):
            raise MalformedInput("meraki: body is not a JSON object")
        version = str(body.get("version") or "")
        major = version.split(".", 1)[0].strip()
        if major not in ("2", "3"):
            raise MalformedInput(
                "meraki: unsupported 'version' (expected 2.x or 3.x Scanning API posts)"
            )
        kind = body.get("type")
        radio = _TYPES.get(kind.lower()) if isinstance(kind, str) else None
        if radio is None:
            raise MalformedInput(
                "meraki: 'type' must be DevicesSeen/BluetoothDevicesSeen (v2) or WiFi/BLE (v3)"
            )
        data = body.get("data")
        if not isinstance(data, dict):
            raise MalformedInput("meraki: 'data' object missing")
        observations = data.get("observations")
        if observations is None:
            observations = []
        if not isinstance(observations, list):
            raise MalformedInput("meraki: data.observations is not a list")
        ap_v2 = data.get("apMac") if isinstance(data.get("apMac"), str) else None
        tags_v2 = _strings(data.get("apTags"))
        floors_v2 = _strings(data.get("apFloors"))
        n = now.timestamp()
        tally = dict.fromkeys(
            ("counted", "unmapped", "invalid", "bad_time", "stale", "late", "future", "untimed"),
            0,
        )
        for obs in observations:
            client = obs.get("clientMac") if isinstance(obs, dict) else None
            if not isinstance(client, str) or len(normalise_mac(client)) != 12:
                tally["invalid"] += 1
                continue
            assert isinstance(obs, dict)
            try:
                seen = observation_time(obs, major)
            except MalformedInput:
                tally["bad_time"] += 1
                continue
            if seen is None:
                tally["untimed"] += 1
                t = n
            else:
                t = seen.timestamp()
            if n - t > self.max_age_s:
                tally["stale"] += 1
                continue
            if t - n > self.max_age_s:
                tally["future"] += 1
                continue
            start = self.interval_of(t)
            if self.closes_at(start) <= n:
                tally["late"] += 1
                continue
            if major == "2":
                zone = self.mapper.zone_for(ap_v2, tags_v2, floors_v2)
            else:
                zone = self.mapper.zone_for(*_v3_place(obs))
            if zone is None:
                tally["unmapped"] += 1
                continue
            iv = self._interval(start)
            iv.seen.setdefault((zone, radio), set()).add(iv.hasher.digest(client))
            tally["counted"] += 1
        not_current = tally["bad_time"] + tally["stale"] + tally["late"] + tally["future"]
        if not observations or not_current < len(observations):
            # the access points reported now: the current interval has data, even if it
            # is "nobody" (an interval without any POST emits nothing: no data is not zero)
            self._interval(self.interval_of(n))
        return AddResult(radio=radio, **tally)

    def close_due(self, now: datetime) -> list[ClosedInterval]:
        """The intervals whose grace has passed at ``now``, oldest first, with every zone of
        the mapper (0 included); their digests and keys are forgotten."""
        n = now.timestamp()
        due = sorted(s for s in self._open if self.closes_at(s) <= n)
        return [self._close(s) for s in due]

    def _close(self, start: float) -> ClosedInterval:
        iv = self._open.pop(start)
        names = self.mapper.zones | {z for z, _ in iv.seen}
        counts = tuple(
            IntervalCounts(
                zone=z,
                wifi=len(iv.seen.get((z, "wifi"), ())),
                ble=len(iv.seen.get((z, "ble"), ())),
            )
            for z in sorted(names)
        )
        iv.seen.clear()
        iv.hasher.rotate()  # the key is gone even if someone still holds the hasher
        return ClosedInterval(
            start=datetime.fromtimestamp(start, UTC),
            end=datetime.fromtimestamp(start + self.interval_s, UTC),
            counts=counts,
        )
