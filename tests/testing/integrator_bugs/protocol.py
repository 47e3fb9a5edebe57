"""Sans-io: one pushed counter report, ``{"seq": 7, "in": 3, "out": 1, "from": ISO, "to": ISO}``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import hub


@dataclass(frozen=True)
class Report:
    seq: int
    in_: int
    out: int
    start: datetime
    end: datetime


def _count(data: dict[str, object], name: str) -> int:
    value = data.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**31:
        raise hub.MalformedInput(f"counter report: '{name}' must be a non-negative integer")
    return value


def _time(data: dict[str, object], name: str) -> datetime:
    value = data.get(name)
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        raise hub.MalformedInput(f"counter report: '{name}' is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise hub.MalformedInput(f"counter report: '{name}' has no UTC offset")
    return when


def parse_report(body: bytes) -> Report:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise hub.MalformedInput("counter report: body is not JSON") from None
    if not isinstance(data, dict):
        raise hub.MalformedInput("counter report: body is not a JSON object")
    start, end = _time(data, "from"), _time(data, "to")
    if end <= start:
        raise hub.MalformedInput("counter report: 'to' is not after 'from'")
    return Report(_count(data, "seq"), _count(data, "in"), _count(data, "out"), start, end)
