"""Identifiers in any text-carrying field are found; counts and our own ids are not."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub import Occupancy, PrivacyViolation, Provenance, Status
from hub.events import Event
from hub.privacy import RotatingHasher, check_event, classify_text, find_identifiers

IDENTIFIERS = {
    "aa:bb:cc:dd:ee:ff": "MAC address",
    "AC-CC-8E-12-34-56": "MAC address",
    "accc.8e12.3456": "MAC address",
    "ACCC8E123456": "MAC address",
    "client 192.168.1.23 seen": "IPv4 address",
    "fe80::1ff:fe23:4567:890a": "IPv6 address",
    "2001:db8::1": "IPv6 address",
    "jan.jansen@example.nl": "e-mail address",
    "550e8400-e29b-41d4-a716-446655440000": "UUID-like id",
    "track 550e8400e29b41d4a716446655440000": "UUID-like id",
}
HARMLESS = [
    "gate-a",
    "2026-11-24T10:00:00+02:00",
    "boulevard north",
    "123456789012",
    "v2.3",
    "crossing",
    "10:15:30",
]

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PROV = Provenance(plugin="x", plugin_version="1.2.3.4")


@pytest.mark.parametrize(("text", "kind"), IDENTIFIERS.items())
def test_identifiers_are_classified(text: str, kind: str) -> None:
    assert classify_text(text) == kind


@pytest.mark.parametrize("text", HARMLESS)
def test_harmless_text_passes(text: str) -> None:
    assert classify_text(text) is None


@pytest.mark.parametrize("text", IDENTIFIERS)
@pytest.mark.parametrize(
    "where", ["detail", "extras_value", "extras_nested", "extras_key", "extras_list"]
)
def test_identifier_in_every_text_field_is_found(text: str, where: str) -> None:
    detail = text if where == "detail" else None
    extras: dict[str, object] = {}
    if where == "extras_value":
        extras = {"vendor": {"device": text}}
    elif where == "extras_nested":
        extras = {"vendor": {"a": {"b": [1, {"c": text}]}}}
    elif where == "extras_key":
        extras = {"vendor": {text: 1}}
    elif where == "extras_list":
        extras = {"vendor": {"ids": ["ok", text]}}
    e = Event.create(
        source="s1",
        kind="k",
        measurement=Status(detail=detail),
        provenance=PROV,
        observed_at=T0,
        extras=extras,
    )  # type: ignore[arg-type]
    findings = find_identifiers(e)
    assert findings, f"{text!r} in {where} not found"
    with pytest.raises(PrivacyViolation) as info:
        check_event(e)
    assert text not in str(info.value)  # the message names the field, never the value


def test_clean_event_passes_including_its_own_event_id_and_provenance() -> None:
    e = Event.create(
        source="s1",
        kind="k",
        measurement=Occupancy(count=3),
        provenance=PROV,
        zone="z",
        observed_at=T0,
        key="x",
        extras={"k": {"firmware": "v2"}},
    )
    assert find_identifiers(e) == []


def test_rotating_hasher_unlinks_intervals() -> None:
    h = RotatingHasher()
    a = h.digest("AA:BB:CC:DD:EE:FF")
    assert a == h.digest("aa-bb-cc-dd-ee-ff")  # normalised within an interval
    h.rotate()
    assert h.digest("AA:BB:CC:DD:EE:FF") != a
    assert b"aabbcc" not in a
