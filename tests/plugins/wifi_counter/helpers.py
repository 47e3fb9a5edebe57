"""Fixture access for the wifi_counter tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"


def hex_lines(name: str) -> list[bytes]:
    """The non-comment lines of a ``.hex`` fixture, one bytes object per line."""
    out = []
    for line in (FIXTURES / name).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(bytes.fromhex(line))
    return out


def load_json(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def variants() -> list[tuple[str, int, bytes, dict[str, Any]]]:
    """``paxcounter_variants.txt``: (encoding, port, payload, expected decode)."""
    out = []
    for line in (FIXTURES / "paxcounter_variants.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        enc, port, hexpart, expected = (p.strip() for p in line.split("|", 3))
        out.append((enc, int(port), bytes.fromhex(hexpart), json.loads(expected)))
    return out


# real-looking identifiers that must never leave the plugin
MERAKI_IDENTIFIERS = (
    "18:fe:34:fc:5a:7f",
    "74:da:38:56:0a:80",
    "00:18:0a:13:dd:b0",
    "192.168.0.38",
    "192.168.0.15",
    ".interwebs",
    "Espressif",
    "Edimax",
    "Generic Linux",
    "e4:7f:b2:10:9c:3e",
    "7a:41:c5:0d:22:91",
    "da:a1:19:6b:0e:74",
    "f0:18:98:2c:7d:51",
    "3e:92:0b:77:a4:c8",
    "0c:8d:db:6e:40",
    "10.17.3.21",
    "fe80::d8a1",
    "Gemeente-Gast",
    "Samsung",
    "supersecret",
)


def retimed(name: str, *times: datetime) -> Any:
    """A Meraki fixture with its observation times replaced: observation ``i`` gets
    ``times[i]`` (the last one repeats), in every field the body spells a time in
    (v2 ``seenTime``/``seenEpoch``, v3 ``latestRecord.time`` and ``locations[].time``)."""
    doc = load_json(name)
    for i, obs in enumerate(doc["data"]["observations"]):
        if not isinstance(obs, dict):
            continue
        t = times[min(i, len(times) - 1)].astimezone(UTC)
        stamp = t.strftime("%Y-%m-%dT%H:%M:%SZ")
        if "seenTime" in obs:
            obs["seenTime"] = stamp
            obs["seenEpoch"] = int(t.timestamp())
        if isinstance(obs.get("latestRecord"), dict):
            obs["latestRecord"]["time"] = stamp
        for loc in obs.get("locations") or []:
            if isinstance(loc, dict) and "time" in loc:
                loc["time"] = stamp
    return doc
