"""Conformance cases: the folder format vendors write, and how events are compared.

One case is a folder ``<cases>/<name>/`` with ``case.toml`` (what to run and
feed) and ``expected.json`` (what must come out). ``contrib/conformance.md``
documents the format; :func:`load_cases` reads it and reports every mistake
with the file and key, so a vendor's typo is a clear failure, not a crash.
"""

from __future__ import annotations

__all__ = [
    "Case",
    "CaseError",
    "CaseInput",
    "Expected",
    "compare_events",
    "event_view",
    "load_case",
    "load_cases",
]

import base64
import binascii
import json
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from hub.events import Event
from hub.site import Line, Site, Zone

TransportName = Literal["mqtt", "serial", "http", "none"]
TRANSPORTS: tuple[str, ...] = ("mqtt", "serial", "http", "none")
_PAYLOAD_KEYS = ("text", "hex", "base64", "file", "json")
_INPUT_KEYS = frozenset(
    {*_PAYLOAD_KEYS, "advance_s", "topic", "method", "content_type", "headers", "query", "note"}
)
_CASE_KEYS = frozenset(
    {"description", "transport", "topic", "start", "site", "source", "inputs", "settle_s"}
)
_EXPECTED_KEYS = frozenset(
    {"events", "ordered", "expected_malformed", "expected_http_status", "allow_extra_events"}
)
_EVENT_FIELDS = frozenset(Event.model_fields)
DEFAULT_START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DEFAULT_INSTANCE = "conformance"


class CaseError(ValueError):
    """A case folder is not in the documented format (message names file and key)."""


@dataclass(frozen=True)
class CaseInput:
    """One thing fed to the source: a payload (MQTT message, serial bytes, HTTP request) or,
    with ``payload=None``, only a clock advance."""

    payload: bytes | None
    advance_s: float = 0.0
    topic: str | None = None
    method: str = "POST"
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)

    def with_payload(self, payload: bytes) -> CaseInput:
        return CaseInput(
            payload,
            self.advance_s,
            self.topic,
            self.method,
            self.content_type,
            self.headers,
            self.query,
        )


@dataclass(frozen=True)
class Expected:
    """What a case must produce (``expected.json``)."""

    events: list[dict[str, Any]]
    ordered: bool = True
    allow_extra_events: bool = False
    malformed: int = 0
    http_status: list[int] | None = None


@dataclass(frozen=True)
class Case:
    name: str
    path: Path
    description: str
    transport: TransportName
    config: dict[str, Any]
    site: Site
    start: datetime
    inputs: list[CaseInput]
    expected: Expected
    settle_s: float = 2.0

    @property
    def payload_inputs(self) -> list[CaseInput]:
        return [i for i in self.inputs if i.payload is not None]

    @property
    def instance(self) -> str:
        return str(self.config.get("id", DEFAULT_INSTANCE))


def load_cases(directory: str | Path) -> list[Case]:
    """Every case under ``directory`` (sub-folders with a ``case.toml``), sorted by name.

    Raises :class:`CaseError` listing every broken case, one per line.
    """
    root = Path(directory)
    if not root.is_dir():
        raise CaseError(f"{root}: no such cases folder")
    cases: list[Case] = []
    errors: list[str] = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        if not (sub / "case.toml").exists():
            continue
        try:
            cases.append(load_case(sub))
        except CaseError as err:
            errors.append(str(err))
    if errors:
        raise CaseError("\n".join(errors))
    if not cases:
        raise CaseError(f"{root}: no cases (sub-folders with a case.toml)")
    return cases


def load_case(folder: str | Path) -> Case:
    """Read one case folder; raises :class:`CaseError` naming the file and key."""
    folder = Path(folder)
    toml_path = folder / "case.toml"
    try:
        raw = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise CaseError(f"{toml_path}: cannot read: {err}") from None
    where = str(toml_path)
    unknown = sorted(set(raw) - _CASE_KEYS)
    if unknown:
        raise CaseError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(_CASE_KEYS)}")
    transport = raw.get("transport", "none")
    if transport not in TRANSPORTS:
        raise CaseError(f"{where}: transport must be one of {list(TRANSPORTS)}, not {transport!r}")
    config = raw.get("source", {})
    if not isinstance(config, dict):
        raise CaseError(f"{where}: [source] must be a table (the source's config)")
    config = {"id": DEFAULT_INSTANCE, **config}
    start = _start(raw.get("start"), where)
    site = _site(raw.get("site"), config, where)
    inputs = [
        _input(item, i, folder, where, transport, raw.get("topic"))
        for i, item in enumerate(_list(raw.get("inputs", []), f"{where}: inputs"))
    ]
    if transport == "none" and any(i.payload is not None for i in inputs):
        raise CaseError(f"{where}: transport 'none' takes no payloads, only advance_s")
    settle = raw.get("settle_s", 2.0)
    if not isinstance(settle, int | float) or settle <= 0:
        raise CaseError(f"{where}: settle_s must be a positive number of seconds")
    return Case(
        name=folder.name,
        path=folder,
        description=str(raw.get("description", "")),
        transport=transport,
        config=config,
        site=site,
        start=start,
        inputs=inputs,
        expected=_expected(folder / "expected.json"),
        settle_s=float(settle),
    )


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise CaseError(f"{where}: must be an array of tables ([[inputs]])")
    return value


def _start(value: Any, where: str) -> datetime:
    if value is None:
        return DEFAULT_START
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise CaseError(f"{where}: start: not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise CaseError(f"{where}: start needs a time zone (e.g. 2026-06-01T12:00:00Z)")
    return parsed.astimezone(UTC)


def _site(raw: Any, config: dict[str, Any], where: str) -> Site:
    if raw is not None:
        try:
            return Site.model_validate(raw)
        except ValidationError as err:
            raise CaseError(f"{where}: [site]: {_first_error(err)}") from None
    # no [site]: a site with just the zone/line the source refers to
    zone, line = config.get("zone"), config.get("line")
    zones: list[Zone] = []
    lines: list[Line] = []
    try:
        if isinstance(zone, str):
            zones.append(Zone(id=zone, area_m2=100.0))
        if isinstance(line, str):
            if not zones:
                zones.append(Zone(id="conformance-zone", area_m2=100.0))
            lines.append(Line(id=line, zone=zones[0].id, width_m=1.0))
        return Site(id="conformance", zones=tuple(zones), lines=tuple(lines))
    except ValidationError as err:
        raise CaseError(f"{where}: [source] zone/line: {_first_error(err)}") from None


def _first_error(err: ValidationError) -> str:
    e = err.errors()[0]
    loc = ".".join(str(p) for p in e["loc"])
    return f"{loc}: {e['msg']}" if loc else e["msg"]


def _input(
    item: Any, index: int, folder: Path, where: str, transport: str, default_topic: Any
) -> CaseInput:
    label = f"{where}: inputs[{index}]"
    if not isinstance(item, dict):
        raise CaseError(f"{label}: must be a table")
    unknown = sorted(set(item) - _INPUT_KEYS)
    if unknown:
        raise CaseError(f"{label}: unknown key(s) {unknown}; allowed: {sorted(_INPUT_KEYS)}")
    given = [k for k in _PAYLOAD_KEYS if k in item]
    if len(given) > 1:
        raise CaseError(f"{label}: give one of {list(_PAYLOAD_KEYS)}, not {given}")
    payload = _payload(item, given[0], folder, label) if given else None
    advance = item.get("advance_s", 0.0)
    if not isinstance(advance, int | float) or advance < 0:
        raise CaseError(f"{label}: advance_s must be a number >= 0")
    topic = item.get("topic", default_topic)
    if transport == "mqtt" and payload is not None and not isinstance(topic, str):
        raise CaseError(f"{label}: an MQTT input needs a topic (here or at the top of the case)")
    for key in ("headers", "query"):
        if not isinstance(item.get(key, {}), dict):
            raise CaseError(f"{label}: {key} must be a table of strings")
    return CaseInput(
        payload=payload,
        advance_s=float(advance),
        topic=topic if isinstance(topic, str) else None,
        method=str(item.get("method", "POST")).upper(),
        content_type=str(item.get("content_type", "application/json")),
        headers={str(k): str(v) for k, v in item.get("headers", {}).items()},
        query={str(k): str(v) for k, v in item.get("query", {}).items()},
    )


def _payload(item: dict[str, Any], key: str, folder: Path, label: str) -> bytes:
    value = item[key]
    if key == "json":
        return json.dumps(value, separators=(",", ":")).encode()
    if not isinstance(value, str):
        raise CaseError(f"{label}: {key} must be a string")
    if key == "text":
        return value.encode()
    if key == "hex":
        try:
            return bytes.fromhex("".join(value.split()))
        except ValueError:
            raise CaseError(f"{label}: hex is not valid hexadecimal") from None
    if key == "base64":
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise CaseError(f"{label}: base64 is not valid base64") from None
    path = (folder / value).resolve()
    if not path.is_file():
        raise CaseError(f"{label}: file {value!r} not found next to case.toml")
    data = path.read_bytes()
    if path.suffix == ".hex":  # hex dumps: whitespace and '#' comments allowed
        lines = [ln.split("#", 1)[0] for ln in data.decode("ascii", "replace").splitlines()]
        try:
            return bytes.fromhex("".join("".join(lines).split()))
        except ValueError:
            raise CaseError(f"{label}: {value} is not a valid hex dump") from None
    return data


def _expected(path: Path) -> Expected:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CaseError(f"{path}: missing (the events the case must produce)") from None
    except (OSError, ValueError) as err:
        raise CaseError(f"{path}: not valid JSON: {err}") from None
    if isinstance(raw, list):
        raw = {"events": raw}
    if not isinstance(raw, dict):
        raise CaseError(f"{path}: must be an object with an 'events' array")
    unknown = sorted(set(raw) - _EXPECTED_KEYS)
    if unknown:
        raise CaseError(f"{path}: unknown key(s) {unknown}; allowed: {sorted(_EXPECTED_KEYS)}")
    events = raw.get("events", [])
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise CaseError(f"{path}: 'events' must be an array of objects")
    for i, ev in enumerate(events):
        bad = sorted(set(ev) - _EVENT_FIELDS)
        if bad:
            raise CaseError(f"{path}: events[{i}]: {bad} are not event fields")
    status = raw.get("expected_http_status")
    if status is not None and (
        not isinstance(status, list) or not all(isinstance(s, int) for s in status)
    ):
        raise CaseError(f"{path}: expected_http_status must be an array of status codes")
    malformed = raw.get("expected_malformed", 0)
    if not isinstance(malformed, int) or malformed < 0:
        raise CaseError(f"{path}: expected_malformed must be a count >= 0")
    return Expected(
        events=events,
        ordered=bool(raw.get("ordered", True)),
        allow_extra_events=bool(raw.get("allow_extra_events", False)),
        malformed=malformed,
        http_status=status,
    )


# -- comparison ---------------------------------------------------------------------------


def _as_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) < 16 or value[4:5] != "-":
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _diff(path: str, want: Any, got: Any, out: list[str]) -> None:
    if isinstance(want, dict):
        if not isinstance(got, dict):
            out.append(f"{path}: expected an object, got {got!r}")
            return
        for key, sub in want.items():
            if key not in got:
                out.append(f"{path}.{key}: missing")
            else:
                _diff(f"{path}.{key}", sub, got[key], out)
        return
    if path == "quality_reasons" and isinstance(want, list) and isinstance(got, list):
        if sorted(map(str, want)) != sorted(map(str, got)):
            out.append(f"{path}: expected {sorted(want)}, got {sorted(got)}")
        return
    tw, tg = _as_time(want), _as_time(got)
    if tw is not None and tg is not None:
        if tw != tg:
            out.append(f"{path}: expected {want}, got {got}")
        return
    numbers = isinstance(want, int | float) and isinstance(got, int | float)
    if numbers and (isinstance(want, float) or isinstance(got, float)):
        if abs(float(want) - float(got)) > 1e-9 * max(1.0, abs(float(want))):
            out.append(f"{path}: expected {want}, got {got}")
        return
    if want != got:
        out.append(f"{path}: expected {want!r}, got {got!r}")


def event_view(event: Event) -> dict[str, Any]:
    """An event as JSON-able data, the way expected events are written."""
    return event.model_dump(mode="json", by_alias=True)


def _mismatches(want: dict[str, Any], event: Event) -> list[str]:
    out: list[str] = []
    got = event_view(event)
    for key, value in want.items():
        _diff(key, value, got.get(key), out)
    return out


def compare_events(
    expected: list[dict[str, Any]],
    actual: list[Event],
    *,
    ordered: bool = True,
    allow_extra: bool = False,
) -> list[str]:
    """Problems found comparing ``actual`` with ``expected`` (empty list: they match).

    Only the fields an expected event names are compared (nested objects such as
    ``measurement`` or ``extras`` likewise); times are compared as instants and
    ``quality_reasons`` as a set.
    """
    problems: list[str] = []
    if ordered:
        for i, want in enumerate(expected):
            if i >= len(actual):
                problems.append(f"event #{i + 1}: missing (got only {len(actual)} event(s))")
                break
            for m in _mismatches(want, actual[i]):
                problems.append(f"event #{i + 1}: {m}")
        if len(actual) > len(expected) and not allow_extra:
            extra = actual[len(expected)]
            problems.append(
                f"{len(actual) - len(expected)} unexpected event(s) after the expected "
                f"{len(expected)}; the first: {extra.measurement.type} at {extra.time.isoformat()}"
            )
        return problems
    unmatched = list(range(len(actual)))
    for i, want in enumerate(expected):
        hit = next((j for j in unmatched if not _mismatches(want, actual[j])), None)
        if hit is None:
            best = min(
                (_mismatches(want, actual[j]) for j in unmatched), key=len, default=["no events"]
            )
            problems.append(f"expected event #{i + 1} not produced (closest: {'; '.join(best)})")
        else:
            unmatched.remove(hit)
    if unmatched and not allow_extra:
        problems.append(f"{len(unmatched)} unexpected event(s) not listed in expected.json")
    return problems
