"""One timestamp parser for every plugin (:func:`parse_timestamp`). Part of
:mod:`hub.quality`."""

from __future__ import annotations

__all__ = ["EARLIEST", "LATEST", "TimeForm", "parse_timestamp"]

import math
import re
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal

from hub.errors import MalformedInput
from hub.events import EARLIEST, LATEST

TimeForm = Literal["auto", "epoch", "epoch_s", "epoch_ms", "iso"]

# EARLIEST / LATEST (2000..2100) are the event schema's bounds (hub.events): a time
# outside them is refused by default, a device clock that was never set or a wrong unit.

_SLASH_DATE = re.compile(r"^(\d{4})/(\d{2})/(\d{2})")
_FRACTION = re.compile(r"(T|\s|^)(\d{1,2}:\d{2}:\d{2})[.,](\d+)")
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")


def _epoch_seconds(n: float) -> float:
    """Seconds, milliseconds, microseconds or nanoseconds since 1970, by magnitude."""
    a = abs(n)
    if a < 1e11:
        return n
    if a < 1e14:
        return n / 1e3
    if a < 1e17:
        return n / 1e6
    return n / 1e9


def _from_epoch(n: int | float, form: TimeForm, where: str) -> datetime:
    if isinstance(n, int) and abs(n) > 10**20:
        raise MalformedInput(f"{where}: epoch time out of range")
    x = float(n)
    if not math.isfinite(x):
        raise MalformedInput(f"{where}: not a finite number")
    if form == "epoch_ms":
        x /= 1e3
    elif form in ("auto", "epoch"):
        x = _epoch_seconds(x)
    try:
        return datetime.fromtimestamp(x, UTC)
    except (OverflowError, OSError, ValueError):
        raise MalformedInput(f"{where}: epoch time out of range") from None


def _from_iso(text: str, tz: tzinfo, where: str) -> datetime:
    text = _SLASH_DATE.sub(r"\1-\2-\3", text)
    if text[-1:] in ("z", "Z"):
        text = text[:-1] + "+00:00"
    # at most microseconds (TTN gives nanoseconds)
    text = _FRACTION.sub(lambda m: f"{m[1]}{m[2]}.{m[3][:6].ljust(6, '0')}", text, count=1)
    try:
        t = datetime.fromisoformat(text)
        if t.tzinfo is None:
            t = t.replace(tzinfo=tz)
        return t.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        raise MalformedInput(
            f"{where}: not an RFC 3339 / ISO 8601 time (expected e.g. 2024-05-01T12:00:00+02:00)"
        ) from None


def parse_timestamp(
    value: Any,
    *,
    where: str = "time",
    tz: tzinfo = UTC,
    form: TimeForm = "auto",
    earliest: datetime = EARLIEST,
    latest: datetime = LATEST,
) -> datetime:
    """One instant → an aware UTC datetime; :class:`MalformedInput` for anything else.

    * numbers and numeric strings are epoch times. ``form="auto"`` takes the
      unit from the magnitude: below 10^11 seconds (10^11 s is the year 5138;
      10^11 ms would be 1973), below 10^14 milliseconds, below 10^17
      microseconds, else nanoseconds; ``form="epoch"`` does the same but
      refuses text. ``epoch_s``/``epoch_ms`` fix the unit.
    * strings are RFC 3339 / ISO 8601 (``form="auto"`` or ``"iso"``): ``T`` or
      a space, ``Z`` or an offset, any number of fraction digits (cut to
      microseconds), ``YYYY/MM/DD`` dates. A time without an offset is local
      time in ``tz`` (an IANA zone such as ``ZoneInfo("Europe/Amsterdam")``).
    * the result must lie in ``[earliest, latest)`` (default 2000..2100): a
      device clock that was never set, or a wrong unit, is refused.

    The message is ``"<where>: <what is wrong>"`` and never repeats the value.
    """
    if value is None:
        raise MalformedInput(f"{where}: missing")
    if isinstance(value, bool):
        raise MalformedInput(f"{where}: expected a time, got a boolean")
    if isinstance(value, int | float):
        if form == "iso":
            raise MalformedInput(f"{where}: expected an RFC 3339 time string, got a number")
        t = _from_epoch(value, form, where)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise MalformedInput(f"{where}: empty time")
        if len(text) > 64:
            raise MalformedInput(f"{where}: too long for a time")
        if _NUMBER.match(text):
            if form == "iso":
                raise MalformedInput(f"{where}: expected an RFC 3339 time string, got a number")
            try:
                num: int | float = int(text)
            except ValueError:
                num = float(text)
            t = _from_epoch(num, form, where)
        elif form != "auto" and form != "iso":
            raise MalformedInput(f"{where}: expected an epoch time, got text")
        else:
            t = _from_iso(text, tz, where)
    else:
        raise MalformedInput(f"{where}: expected a time, got a {type(value).__name__}")
    if not earliest <= t < latest:
        raise MalformedInput(
            f"{where}: time outside {earliest.year}..{latest.year} "
            "(check the device clock and the time unit)"
        )
    return t
