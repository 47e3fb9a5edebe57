"""Privacy by construction: nothing that identifies a person leaves the hub.

Three tools:

* :func:`screen_event` is what the core runs on every event between the source
  and the bus. It *allows* rather than guesses: ``extras`` values must be
  scalars (text of at most :data:`MAX_EXTRA_TEXT` characters, finite numbers,
  booleans, null). A list, an object (also written as JSON text), longer text
  or an identifier-shaped value is removed from the event, field by field, and
  reported in :attr:`Screened.removed` (the core counts it). An identifier in
  an optional measurement text (``Status.detail``, ``Alert.summary``) is
  removed the same way. Only an identifier where nothing can be removed (an
  id, a required text) is a :attr:`Screened.findings`: the whole event is then
  dead-lettered (field path and the *kind* of identifier, never the value) and
  reaches no sink.
* :func:`find_identifiers` scans every text value of an event (measurement,
  ids, extras, recursively) for MAC addresses, IPv4/IPv6 addresses, e-mail
  addresses and UUID-like track ids.
* :class:`RotatingHasher` lets a plugin count *distinct* devices per interval
  without keeping identifiers: values are hashed with a random key that lives
  only in memory and is replaced every interval, so hashes cannot be linked
  across intervals, sensors or restarts.
"""

from __future__ import annotations

__all__ = [
    "MAX_EXTRA_TEXT",
    "RotatingHasher",
    "Screened",
    "check_event",
    "classify_text",
    "extra_problem",
    "find_identifiers",
    "screen_event",
]

import hashlib
import hmac
import ipaddress
import math
import re
import secrets
from dataclasses import dataclass
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


def _cached(text: str) -> str | None:
    cache = _id_cache
    try:
        return cache[text]
    except KeyError:
        if len(cache) > 4096:
            cache.clear()
        kind = cache[text] = classify_text(text)
        return kind


def _any_identifier(value: Any) -> bool:
    """Fast yes/no over a JSON-like tree; paths are only built when this says yes."""
    if isinstance(value, str):
        return classify_text(value) is not None
    if isinstance(value, dict):
        for k, v in value.items():
            if _cached(str(k)) is not None:
                return True
            if not isinstance(v, int | float) and _any_identifier(v):
                return True
        return False
    if isinstance(value, list | tuple):
        return any(_any_identifier(v) for v in value)
    return False


def _walk(value: Any, path: str, out: list[tuple[str, str]]) -> None:
    if isinstance(value, str):
        kind = classify_text(value)
        if kind:
            out.append((path, kind))
    elif isinstance(value, dict):
        for k, v in value.items():
            kind = _cached(str(k))  # keys are a vocabulary: they repeat
            if kind:
                out.append((f"{path}.<key>", kind))
            _walk(v, f"{path}.{k}" if path else str(k), out)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _walk(v, f"{path}[{i}]", out)


# How each Event field is scanned. Every field must be in exactly one group (checked on
# first use), so a new text field cannot slip past the scan unnoticed.
_ID_FIELDS = ("source", "kind", "site", "zone", "line")  # short ids: results cached
_MODEL_FIELDS = ("measurement",)  # str attributes of the nested model
_TREE_FIELDS = ("extras",)  # walked recursively, keys and values
_NOT_TEXT = frozenset(
    {
        "observed_at",
        "observed_from",
        "observed_to",
        "received_at",
        "quality",
        "quality_reasons",
        "sequence",
    }
)  # datetimes, enums, ints
_LITERAL_ATTRS = frozenset({"type", "unit", "state"})  # fixed vocabularies in measurements
_id_cache: dict[str, str | None] = {}
_checked_fields = False


def _check_field_groups(event: Event) -> None:
    global _checked_fields
    known = {*_ID_FIELDS, *_MODEL_FIELDS, *_TREE_FIELDS, *_NOT_TEXT, *_SKIP}
    unknown = set(type(event).model_fields) - known
    if unknown:
        raise RuntimeError(f"hub.privacy does not know how to scan Event fields {unknown}")
    _checked_fields = True


def find_identifiers(event: Event) -> list[tuple[str, str]]:
    """Every ``(field path, identifier kind)`` found in the event's text values.

    Cheap enough for the per-event path: ids repeat and their verdicts are cached,
    fixed vocabularies (enums, literals) and numbers are not scanned.
    """
    if not _checked_fields:
        _check_field_groups(event)
    out: list[tuple[str, str]] = []
    for name in _ID_FIELDS:
        value = getattr(event, name)
        if value is not None:
            kind = _cached(value)
            if kind:
                out.append((name, kind))
    for name in _MODEL_FIELDS:
        for attr, value in getattr(event, name).__dict__.items():
            if isinstance(value, str) and attr not in _LITERAL_ATTRS:
                kind = classify_text(value)
                if kind:
                    out.append((f"{name}.{attr}", kind))
    for name in _TREE_FIELDS:
        value = getattr(event, name)
        if value and _any_identifier(value):
            _walk(value, name, out)
    return out


def check_event(event: Event) -> None:
    """Raise :class:`~hub.errors.PrivacyViolation` when the event carries an identifier."""
    findings = find_identifiers(event)
    if findings:
        raise PrivacyViolation(findings)


MAX_EXTRA_TEXT = 64
"""The longest text (characters) an ``extras`` value may be: a label, a firmware
version, a rule name; never free text."""


@dataclass(frozen=True, slots=True)
class Screened:
    """What :func:`screen_event` made of one event."""

    event: Event
    """The event to forward: extras and optional texts cleaned (the input when clean)."""
    removed: tuple[tuple[str, str], ...] = ()
    """``(field path, what)`` removed from the event, e.g. ``("extras.x.people", "list")``;
    ``what`` is ``list``, ``object``, ``text over 64 characters``, ``not a finite number``
    or an identifier kind (``MAC address``). Never the value."""
    findings: tuple[tuple[str, str], ...] = ()
    """``(field path, identifier kind)`` where nothing could be removed: do not forward."""

    @property
    def forward(self) -> bool:
        """False when the event must be dead-lettered (an identifier in an id)."""
        return not self.findings


def _looks_structured(text: str) -> bool:
    """JSON text of a list or an object (``to_string(persons)``): a structure in disguise."""
    t = text.strip()
    return len(t) >= 2 and (t[0], t[-1]) in (("[", "]"), ("{", "}"))


def extra_problem(value: Any) -> str | None:
    """Why ``value`` may not be an ``extras`` value (None when it is an allowed scalar)."""
    if value is None or isinstance(value, bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "not a finite number"
    if isinstance(value, str):
        if len(value) > MAX_EXTRA_TEXT:
            return f"text over {MAX_EXTRA_TEXT} characters"
        if _looks_structured(value):
            return "list or object as text"
        return _cached(value)
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


def _extras_clean(extras: dict[str, dict[str, Any]]) -> bool:
    for ns, values in extras.items():
        if _cached(ns):
            return False
        for name, value in values.items():
            if _cached(name) or extra_problem(value) is not None:
                return False
    return True


def _screen_extras(
    extras: dict[str, dict[str, Any]], removed: list[tuple[str, str]]
) -> dict[str, dict[str, Any]]:
    """The extras without what is not allowed; each removal appended to ``removed``."""
    clean: dict[str, dict[str, Any]] = {}
    for ns, values in extras.items():
        kind = _cached(ns)
        if kind:
            removed.append(("extras.<key>", kind))
            continue
        kept: dict[str, Any] = {}
        for name, value in values.items():
            kind = _cached(name)
            if kind:
                removed.append((f"extras.{ns}.<key>", kind))
                continue
            problem = extra_problem(value)
            if problem is not None:
                removed.append((f"extras.{ns}.{name}", problem))
                continue
            kept[name] = value
        if kept:
            clean[ns] = kept
    return clean


def screen_event(event: Event) -> Screened:
    """Clean one event for forwarding (see the module docstring); never raises for data.

    Cheap on the per-event path: a clean event is returned as it is, after one
    pass over its texts (ids cached, numbers and fixed vocabularies skipped).
    """
    if not _checked_fields:
        _check_field_groups(event)
    findings: list[tuple[str, str]] = []
    for name in _ID_FIELDS:
        value = getattr(event, name)
        if value is not None:
            kind = _cached(value)
            if kind:
                findings.append((name, kind))
    removed: list[tuple[str, str]] = []
    update: dict[str, Any] = {}
    m = event.measurement
    m_update: dict[str, Any] = {}
    for attr, value in m.__dict__.items():
        if isinstance(value, str) and attr not in _LITERAL_ATTRS:
            kind = classify_text(value)
            if kind is None:
                continue
            info = type(m).model_fields[attr]
            if info.is_required():
                findings.append((f"measurement.{attr}", kind))
            else:
                removed.append((f"measurement.{attr}", kind))
                m_update[attr] = info.get_default()
    if m_update:
        update["measurement"] = m.model_copy(update=m_update)
    if event.extras and not _extras_clean(event.extras):
        update["extras"] = _screen_extras(event.extras, removed)
    if findings:
        return Screened(event, tuple(removed), tuple(findings))
    if update:
        event = event.model_copy(update=update)
    return Screened(event, tuple(removed))


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
