"""Privacy by construction: nothing that identifies a person leaves the hub.

Two tools:

* :func:`find_identifiers` scans every text value of an event (measurement,
  ids, extras, recursively) for MAC addresses, IPv4/IPv6 addresses, e-mail
  addresses and UUID-like track ids. The core runs it on every event between
  the source and the bus; an event with a finding is dead-lettered (with the
  field path and the *kind* of identifier, never the value) and never reaches
  a sink.
* :class:`RotatingHasher` lets a plugin count *distinct* devices per interval
  without keeping identifiers: values are hashed with a random key that lives
  only in memory and is replaced every interval, so hashes cannot be linked
  across intervals, sensors or restarts.
"""

from __future__ import annotations

__all__ = ["RotatingHasher", "check_event", "classify_text", "find_identifiers"]

import hashlib
import hmac
import ipaddress
import re
import secrets
from typing import TYPE_CHECKING, Any

from hub.errors import PrivacyViolation

if TYPE_CHECKING:
    from hub.events import Event

_MAC = re.compile(
    r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}(?![0-9A-Fa-f])"
    r"|(?<![0-9A-Fa-f.])[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}(?![0-9A-Fa-f.])"
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_UUID = re.compile(
    r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?"
    r"[0-9A-Fa-f]{12}(?![0-9A-Fa-f])"
)
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_SPLIT = re.compile(r"[\s,;\"'()\[\]<>/=|]+")
_BARE_MAC = re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{12}(?![0-9A-Fa-f])")

# fields the hub itself fills (its own hash, package metadata), not device data
_SKIP = frozenset({"event_id", "schema_version", "provenance"})


def classify_text(text: str) -> str | None:
    """Return the kind of identifier found in ``text`` ('MAC address', ...), or None."""
    if len(text) < 7:
        return None
    if _MAC.search(text):
        return "MAC address"
    if "@" in text and _EMAIL.search(text):
        return "e-mail address"
    if _UUID.search(text):
        return "UUID-like id"
    for m in _IPV4.finditer(text):
        try:
            ipaddress.IPv4Address(m.group(0))
        except ValueError:
            continue
        return "IPv4 address"
    if text.count(":") >= 2:
        for token in _SPLIT.split(text):
            if token.count(":") < 2:
                continue
            try:
                ipaddress.IPv6Address(token.split("%", 1)[0].rstrip("."))
            except ValueError:
                continue
            return "IPv6 address"
    if _BARE_MAC.search(text) and not text.isdigit():
        return "MAC address"
    return None


def _walk(value: Any, path: str, out: list[tuple[str, str]]) -> None:
    if isinstance(value, str):
        kind = classify_text(value)
        if kind:
            out.append((path, kind))
    elif isinstance(value, dict):
        for k, v in value.items():
            kind = classify_text(str(k))
            if kind:
                out.append((f"{path}.<key>", kind))
            _walk(v, f"{path}.{k}" if path else str(k), out)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _walk(v, f"{path}[{i}]", out)


def find_identifiers(event: Event) -> list[tuple[str, str]]:
    """Every ``(field path, identifier kind)`` found in the event's text values."""
    out: list[tuple[str, str]] = []
    for name in type(event).model_fields:
        if name in _SKIP:
            continue
        value = getattr(event, name)
        if value is None or isinstance(value, int | float):
            continue
        if hasattr(value, "model_dump"):
            value = value.model_dump(mode="json")
        elif not isinstance(value, str | dict | list | tuple):
            continue
        _walk(value, name, out)
    return out


def check_event(event: Event) -> None:
    """Raise :class:`~hub.errors.PrivacyViolation` when the event carries an identifier."""
    findings = find_identifiers(event)
    if findings:
        raise PrivacyViolation(findings)


class RotatingHasher:
    """Keyed hashing of identifiers with a key that rotates every ``interval_s``.

    The key is random, held only in this object's memory, and replaced on
    :meth:`rotate` (call it at each interval boundary). Hashes of the same MAC
    in different intervals differ, so no long-lived pseudonym exists.
    """

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def rotate(self) -> None:
        """Forget the current key; start a new one."""
        self._key = secrets.token_bytes(32)

    def digest(self, identifier: str) -> bytes:
        """A 16-byte keyed digest of ``identifier`` (normalised: lower case, no separators)."""
        norm = re.sub(r"[^0-9a-z]", "", identifier.lower()).encode()
        return hmac.new(self._key, norm, hashlib.blake2b).digest()[:16]
