"""Identifiers in any text-carrying field are found; counts and our own ids are not."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub import Occupancy, PrivacyViolation, Provenance, Status
from hub.events import Event
from hub.privacy import (
    MAX_EXTRA_TEXT,
    RotatingHasher,
    check_event,
    classify_text,
    extra_problem,
    find_identifiers,
    screen_event,
)

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


# -- screen_event: allow, don't guess ----------------------------------------------------------


def status_event(detail: str | None = None, extras: dict[str, object] | None = None) -> Event:
    return Event.create(
        source="s1",
        kind="k",
        measurement=Status(detail=detail),
        provenance=PROV,
        observed_at=T0,
        extras=extras or {},
    )  # type: ignore[arg-type]


def test_screen_passes_a_clean_event_unchanged() -> None:
    e = status_event("rebooted", {"k": {"fw": "v2", "rssi": -61, "ok": True, "none": None}})
    s = screen_event(e)
    assert s.event is e and s.removed == () and s.forward


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ([{"t": 1781352000123, "speed": 1.37, "distance": 4.25}], "list"),
        ({"ssid": "Gemeente-Gast", "manufacturer": "Samsung"}, "object"),
        ('[{"t": 1781352000123}]', "list or object as text"),
        (' {"lat": 52.1} ', "list or object as text"),
        ("y" * (MAX_EXTRA_TEXT + 1), f"text over {MAX_EXTRA_TEXT} characters"),
        ("aa:bb:cc:dd:ee:ff", "MAC address"),
        ("10.17.3.21", "IPv4 address"),
    ],
)
def test_screen_removes_one_field_and_says_what_it_was(value: object, what: str) -> None:
    e = status_event(extras={"k": {"bad": value, "fw": "v2"}})
    s = screen_event(e)
    assert s.forward
    assert s.event.extras == {"k": {"fw": "v2"}}
    assert s.removed == (("extras.k.bad", what),)
    assert str(value) not in repr(s.removed)


def test_screen_drops_identifier_names_and_emptied_namespaces() -> None:
    s = screen_event(status_event(extras={"k": {"aa:bb:cc:dd:ee:ff": 1}}))
    assert s.event.extras == {} and s.removed == (("extras.k.<key>", "MAC address"),)


def test_screen_clears_an_optional_text_but_dead_letters_an_id() -> None:
    s = screen_event(status_event("client 192.168.1.23"))
    assert s.forward and s.event.measurement.model_dump()["detail"] is None
    assert s.removed == (("measurement.detail", "IPv4 address"),)
    e = Event.create(
        source="s1",
        kind="k",
        measurement=Occupancy(count=1),
        provenance=PROV,
        zone="a0b1c2d3e4f5",
        observed_at=T0,
        extras={"k": {"people": [1, 2]}},
    )
    s = screen_event(e)
    assert not s.forward and s.findings == (("zone", "MAC address"),)
    assert s.removed == (("extras.k.people", "list"),)


def test_extra_problem_allows_scalars_only() -> None:
    for ok in (None, True, 0, -3, 2.5, "", "v2.1", "x" * MAX_EXTRA_TEXT):
        assert extra_problem(ok) is None
    assert extra_problem(float("nan")) == "not a finite number"
    assert extra_problem((1, 2)) == "list"
