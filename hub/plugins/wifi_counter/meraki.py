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
"""

from __future__ import annotations

__all__ = [
    "AddResult",
    "IntervalCounts",
    "MerakiCounter",
    "ZoneMapper",
    "normalise_mac",
    "secret_matches",
]

import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from hub.errors import MalformedInput
from hub.privacy import RotatingHasher

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


@dataclass(frozen=True, slots=True)
class IntervalCounts:
    """Distinct devices per zone in one closed interval (no identifiers)."""

    zone: str
    wifi: int
    ble: int

    @property
    def count(self) -> int:
        return self.wifi + self.ble


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


class MerakiCounter:
    """Counts distinct client devices per zone and interval.

    ``add(body)`` hashes each client MAC with the current key and adds it to the
    zone's set; ``close()`` returns the counts, clears the sets and rotates the
    key, so nothing links one interval to the next.
    """

    def __init__(self, mapper: ZoneMapper, hasher: RotatingHasher | None = None) -> None:
        self.mapper = mapper
        self._hasher = hasher or RotatingHasher()
        self._seen: dict[tuple[str, Radio], set[bytes]] = {}
        self.posts = 0
        self.unmapped = 0

    def add(self, body: Any) -> AddResult:
        """Add one parsed POST body (secret already checked).

        Raises MalformedInput naming the field when the body is not a Scanning API
        v2/v3 post; observations without a usable ``clientMac`` are skipped and
        counted in the result.
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
        self.posts += 1
        ap_v2 = data.get("apMac") if isinstance(data.get("apMac"), str) else None
        tags_v2 = _strings(data.get("apTags"))
        floors_v2 = _strings(data.get("apFloors"))
        counted = unmapped = bad = 0
        for obs in observations:
            client = obs.get("clientMac") if isinstance(obs, dict) else None
            if not isinstance(client, str) or len(normalise_mac(client)) != 12:
                bad += 1
                continue
            if major == "2":
                zone = self.mapper.zone_for(ap_v2, tags_v2, floors_v2)
            else:
                zone = self.mapper.zone_for(*_v3_place(obs))
            if zone is None:
                unmapped += 1
                continue
            digest = self._hasher.digest(client)
            self._seen.setdefault((zone, radio), set()).add(digest)
            counted += 1
        self.unmapped += unmapped
        return AddResult(radio=radio, counted=counted, unmapped=unmapped, invalid=bad)

    def close(self, zones: Iterable[str] = ()) -> list[IntervalCounts]:
        """End the interval: counts for every zone seen (and every zone in ``zones``,
        with 0), then forget all digests and rotate the key."""
        names = set(zones) | {z for z, _ in self._seen}
        out = [
            IntervalCounts(
                zone=z,
                wifi=len(self._seen.get((z, "wifi"), ())),
                ble=len(self._seen.get((z, "ble"), ())),
            )
            for z in sorted(names)
        ]
        self._seen.clear()
        self._hasher.rotate()
        self.posts = 0
        self.unmapped = 0
        return out
