"""Sans-io building blocks of the mapping: compiled JMESPath expressions, numbers, times.

* :func:`compile_expression` compiles a JMESPath expression once, at config time.
  Plain field paths (``in``, ``uplink_message.f_cnt``, ``item.zone``) get a fast
  path that walks the dicts directly (same result as JMESPath, a fraction of the
  cost); anything else is evaluated by the ``jmespath`` package.
* :func:`to_number` accepts numbers and numbers written as strings.
* :func:`parse_interval` turns an ISO 8601 interval into aware UTC datetimes;
  single instants are read by :func:`hub.quality.parse_timestamp`
  (``TIME_FORMS`` maps ``time_format`` onto its forms).

Nothing here includes a payload value in an error message: values may be
identifiers. Errors are :class:`ValueError` (times: :class:`MalformedInput`) with a
short reason; the mapper adds the config field name.
"""

from __future__ import annotations

__all__ = [
    "TIME_FORMS",
    "Expression",
    "ExpressionError",
    "ExpressionFailed",
    "TimeFormat",
    "compile_expression",
    "parse_duration",
    "parse_interval",
    "selects_structure",
    "to_number",
]

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Literal

import jmespath
from jmespath import exceptions as jp_exc
from jmespath import functions as jp_functions

from hub.errors import MalformedInput
from hub.quality import TimeForm, parse_timestamp

TimeFormat = Literal["auto", "epoch_s", "epoch_ms", "rfc3339", "iso_interval"]

_KNOWN_FUNCTIONS = frozenset(jp_functions.Functions().FUNCTION_TABLE)


class ExpressionError(ValueError):
    """An expression does not compile (the message says why, without the payload)."""


class ExpressionFailed(MalformedInput):
    """Evaluating an expression raised (e.g. a function got the wrong type)."""


class Expression:
    """One compiled expression: ``expr.search(data)`` returns the value or None."""

    __slots__ = ("fast", "search", "text")

    def __init__(self, text: str, search: Callable[[Any], Any], fast: bool) -> None:
        self.text = text
        self.search = search
        self.fast = fast
        """True when the expression is a plain field path evaluated without jmespath."""

    def __repr__(self) -> str:
        return f"Expression({self.text!r}, fast={self.fast})"


def _condense(err: Exception) -> str:
    """jmespath's multi-line parse error (message, expression, caret) on one line."""
    lines = [ln.strip() for ln in str(err).splitlines()]
    return " ".join(ln for ln in lines if ln and set(ln) != {"^"})


def _field_path(node: Any) -> tuple[str, ...] | None:
    """The keys of a plain field path (``a``, ``a.b.c``), else None."""
    if not isinstance(node, dict):
        return None
    kind = node.get("type")
    if kind == "field" and isinstance(node.get("value"), str):
        return (node["value"],)
    if kind == "subexpression":
        keys: list[str] = []
        for child in node.get("children", ()):
            sub = _field_path(child)
            if sub is None:
                return None
            keys.extend(sub)
        return tuple(keys) if keys else None
    return None


def _unknown_functions(node: Any, out: list[str]) -> None:
    if isinstance(node, dict):
        if node.get("type") == "function_expression" and node.get("value") not in (
            _KNOWN_FUNCTIONS
        ):
            out.append(str(node.get("value")))
        for child in node.get("children", ()):
            _unknown_functions(child, out)
    elif isinstance(node, list):
        for child in node:
            _unknown_functions(child, out)


def _getter_1(k0: str) -> Callable[[Any], Any]:
    def get(data: Any) -> Any:
        return data.get(k0) if type(data) is dict else None

    return get


def _getter_2(k0: str, k1: str) -> Callable[[Any], Any]:
    def get(data: Any) -> Any:
        if type(data) is not dict:
            return None
        data = data.get(k0)
        return data.get(k1) if type(data) is dict else None

    return get


def _getter_n(keys: tuple[str, ...]) -> Callable[[Any], Any]:
    def get(data: Any) -> Any:
        for k in keys:
            if type(data) is not dict:
                return None
            data = data.get(k)
        return data

    return get


def _guarded(text: str, search: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def run(data: Any) -> Any:
        try:
            return search(data)
        except jp_exc.JMESPathError as err:  # the message may quote payload values: not kept
            raise ExpressionFailed(
                f"expression {text!r} failed on this payload ({type(err).__name__})"
            ) from None

    return run


def compile_expression(text: str) -> Expression:
    """Compile ``text``; raise :class:`ExpressionError` naming what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("empty expression")
    try:
        parsed = jmespath.compile(text)
    except jp_exc.JMESPathError as err:
        raise ExpressionError(f"invalid JMESPath expression: {_condense(err)}") from None
    ast = getattr(parsed, "parsed", None)
    unknown: list[str] = []
    _unknown_functions(ast, unknown)
    if unknown:
        raise ExpressionError(
            f"invalid JMESPath expression: unknown function {unknown[0]}() "
            f"(JMESPath functions: {', '.join(sorted(_KNOWN_FUNCTIONS))})"
        )
    keys = _field_path(ast)
    if keys is None:
        return Expression(text, _guarded(text, parsed.search), fast=False)
    if len(keys) == 1:
        return Expression(text, _getter_1(keys[0]), fast=True)
    if len(keys) == 2:
        return Expression(text, _getter_2(keys[0], keys[1]), fast=True)
    return Expression(text, _getter_n(keys), fast=True)


# -- what an expression can be seen to select ----------------------------------------------

_PROJECTION = "a list (a projection: `[]`, `[*]`, `*`, a slice or a filter `[?...]`)"
_LIST_FUNCTIONS = frozenset({"keys", "values", "sort", "sort_by", "to_array", "map", "reverse"})


def _selects(node: Any) -> str | None:
    if not isinstance(node, dict):
        return None
    kind = node.get("type")
    children = node.get("children") or []
    if kind in ("projection", "value_projection", "filter_projection", "flatten"):
        return _PROJECTION
    if kind == "multi_select_list":
        return "a list (a multiselect `[a, b]`)"
    if kind == "multi_select_dict":
        return "an object (a multiselect `{a: b}`)"
    if kind in ("current", "identity"):
        return "the whole document (`@`)"
    if kind == "literal":
        value = node.get("value")
        if isinstance(value, list):
            return "a list (a literal)"
        return "an object (a literal)" if isinstance(value, dict) else None
    if kind in ("subexpression", "pipe") and children:
        return _selects(children[-1])
    if kind in ("or_expression", "and_expression"):
        return next((w for w in map(_selects, children) if w), None)
    if kind == "function_expression":
        name = node.get("value")
        if name in _LIST_FUNCTIONS:
            return f"a list ({name}())"
        if name == "merge":
            return "an object (merge())"
        if name == "join":
            return "text joined from a list (join())"
        if name == "to_string" and children and _selects(children[0]):
            return "a list or object written as text (to_string())"
        if name == "not_null":
            return next((w for w in map(_selects, children) if w), None)
    return None


def selects_structure(text: str) -> str | None:
    """What ``text`` can be *seen* to select when it is a list or an object (or text made
    of one): e.g. ``"a list (a projection ...)"``; None when it may yield a scalar."""
    try:
        parsed = jmespath.compile(text)
    except jp_exc.JMESPathError:
        return None
    return _selects(getattr(parsed, "parsed", None))


# -- numbers -------------------------------------------------------------------------------


def to_number(value: Any) -> float | int:
    """A JSON number or a number written as a string (``"12"``, ``" 3.5 "``).

    Raises ValueError for anything else (booleans, NaN, infinity, ``"1,2"``).
    """
    t = type(value)
    if t is int:
        return int(value)
    if t is float:
        if math.isfinite(value):
            return float(value)
        raise ValueError("not a finite number")
    if t is str:
        s = value.strip()
        try:
            return int(s)
        except ValueError:
            pass
        try:
            f = float(s)
        except ValueError:
            raise ValueError("not a number") from None
        if math.isfinite(f):
            return f
        raise ValueError("not a finite number")
    if t is bool or value is None:
        raise ValueError("missing" if value is None else "a boolean, not a number")
    raise ValueError(f"a {type(value).__name__}, not a number")


# -- time ---------------------------------------------------------------------------------

_DURATION = re.compile(
    r"^P(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)

TIME_FORMS: dict[str, TimeForm] = {
    "auto": "auto",
    "epoch_s": "epoch_s",
    "epoch_ms": "epoch_ms",
    "rfc3339": "iso",
    "iso_interval": "auto",
}
"""``time_format`` → the :func:`hub.quality.parse_timestamp` form for one instant."""


def _iso(text: str, tz: tzinfo) -> datetime:
    try:
        return parse_timestamp(text, where="interval", tz=tz, form="iso")
    except MalformedInput as err:
        raise ValueError(str(err)) from None


def parse_duration(value: Any) -> timedelta:
    """An interval length: seconds (a number or numeric string) or an ISO 8601 duration
    (``PT15M``). Raises ValueError unless it is positive and at most 31 days."""
    try:
        if type(value) is str and value.strip().startswith("P"):
            seconds = _duration(value.strip()).total_seconds()
        else:
            seconds = float(to_number(value))
    except OverflowError:
        seconds = math.inf
    if not 0 < seconds <= _LONGEST.total_seconds():
        raise ValueError("not a length between 0 s and 31 days")
    return timedelta(seconds=seconds)


_LONGEST = timedelta(days=31)


def _duration(text: str) -> timedelta:
    m = _DURATION.match(text.strip())
    if m is None or not any(m.groupdict().values()):
        raise ValueError("not an ISO 8601 duration")
    g = {k: float(v) if v else 0.0 for k, v in m.groupdict().items()}
    return timedelta(weeks=g["w"], days=g["d"], hours=g["h"], minutes=g["m"], seconds=g["s"])


def parse_interval(value: Any, tz: tzinfo = UTC) -> tuple[datetime, datetime]:
    """An ISO 8601 interval ``start/end``, ``start/duration`` or ``duration/end``."""
    if type(value) is not str or value.count("/") != 1:
        raise ValueError("not an ISO 8601 interval 'start/end'")
    a, b = (part.strip() for part in value.split("/"))
    if not a or not b:
        raise ValueError("not an ISO 8601 interval 'start/end'")
    try:
        if a.startswith("P"):
            end = _iso(b, tz)
            start = end - _duration(a)
        elif b.startswith("P"):
            start = _iso(a, tz)
            end = start + _duration(b)
        else:
            start = _iso(a, tz)
            end = _iso(b, tz)
    except OverflowError:
        raise ValueError("interval out of range") from None
    if end < start:
        raise ValueError("interval ends before it starts")
    return start, end
