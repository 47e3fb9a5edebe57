"""Precise hints for configuration mistakes: the closest allowed name, the model a nested
key belongs to, and the key a TOML file sets twice.

Pure functions on names, types and text; :mod:`hub.core.config` uses them to turn
pydantic's and tomllib's errors into one line that says what to write instead.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import types
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from hub.errors import ConfigProblem


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest choice, or ``""`` when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def allowed_keys(model: type[BaseModel]) -> list[str]:
    """The keys a TOML table for ``model`` may hold (aliases where a field has one)."""
    return sorted(info.alias or name for name, info in model.model_fields.items())


def unknown_key_message(key: str, model: type[BaseModel] | None) -> str:
    """``unknown field; did you mean 'capacity'? (allowed: ...)``."""
    if model is None:
        return "unknown field"
    allowed = allowed_keys(model)
    return f"unknown field{did_you_mean(key, allowed)} (allowed: {', '.join(allowed)})"


def _unwrap(tp: Any) -> Any:
    """Strip ``Annotated`` and ``X | None``; a union of several models stays as it is."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
            continue
        if origin is Union or origin is types.UnionType:
            members = [a for a in get_args(tp) if a is not type(None)]
            if len(members) == 1:
                tp = members[0]
                continue
        return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _step(tp: Any, part: int | str) -> Any:
    """The type one location part below ``tp`` (None when it cannot be followed)."""
    tp = _unwrap(tp)
    if _is_model(tp):
        if not isinstance(part, str):
            return None
        for name, info in tp.model_fields.items():
            if part in (name, info.alias):
                return info.annotation
        return None
    origin, args = get_origin(tp), get_args(tp)
    if origin in (list, tuple, set, frozenset) or (
        origin is not None and str(origin).startswith("<class 'collections.abc.")
    ):
        if not isinstance(part, int) or not args:
            return None
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return args[part] if part < len(args) else None
        return args[0]
    if origin is dict and len(args) == 2 and isinstance(part, str):
        return args[1]
    return None


def model_at(model: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The model whose table holds the last key of ``loc`` (for ``extra_forbidden`` errors).

    ``model_at(Site, ("zones", 0, "capcity"))`` is ``Zone``; None when the path leads
    through something that is not a plain model, list or mapping.
    """
    current: Any = model
    for part in loc[:-1]:
        current = _step(current, part)
        if current is None:
            return None
    current = _unwrap(current)
    return current if _is_model(current) else None


# -- TOML -------------------------------------------------------------------------------------

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?")
_KEY = re.compile(
    r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*="""
)
_DUPLICATE = ("Cannot overwrite a value", "Cannot declare", "Duplicate inline table key")


def _clean_key(key: str) -> str:
    return ".".join(p.strip().strip("\"'") for p in key.split("."))


def _first_failing_line(lines: list[str]) -> int | None:
    """The 1-based line at which tomllib first reports a value set twice."""
    for n in range(1, len(lines) + 1):
        try:
            tomllib.loads("\n".join(lines[:n]))
        except tomllib.TOMLDecodeError as err:
            if str(err).startswith(_DUPLICATE):
                return n
    return None


def _table_of(lines: list[str], line_no: int) -> tuple[str, int]:
    """The header (as written, e.g. ``[[site.zones]]``) in force at ``line_no`` and its line."""
    for n in range(line_no - 1, 0, -1):
        m = _HEADER.match(lines[n - 1])
        if m and not _KEY.match(lines[n - 1]):
            close = "]]" if m.group(1) == "[[" else "]"
            return f"{m.group(1)}{m.group(2)}{close}", n
    return "the top level", 0


def duplicate_key_problem(text: str, err: tomllib.TOMLDecodeError) -> ConfigProblem | None:
    """One precise line for a key or table set twice; None for other TOML errors.

    tomllib only says "Cannot overwrite a value" (often "at end of document"): find the
    line by parsing growing prefixes of the file, then name the key and both lines.
    """
    if not str(err).startswith(_DUPLICATE):
        return None
    lines = text.splitlines()
    line_no = _first_failing_line(lines)
    if line_no is None:
        return None
    line = lines[line_no - 1]
    table, start = _table_of(lines, line_no)
    key_match = _KEY.match(line)
    header = _HEADER.match(line)
    if key_match is None and header is not None:
        name = header.group(2).strip()
        first = next(
            (
                n
                for n in range(1, line_no)
                if (h := _HEADER.match(lines[n - 1])) and h.group(2).strip() == name
            ),
            None,
        )
        if first is None:
            return ConfigProblem(
                f"line {line_no}",
                f"table [{name}] redefines a key set earlier in the file; rename one of them",
            )
        return ConfigProblem(
            f"line {line_no}",
            f"table [{name}] is declared twice (first on line {first}); merge the two "
            "into one table",
        )
    if key_match is None:
        return ConfigProblem(f"line {line_no}", f"a key is set twice ({err}); keep one of them")
    key = _clean_key(key_match.group(1))
    if str(err).startswith("Duplicate inline table key"):
        return ConfigProblem(
            f"line {line_no}",
            f"{str(err).split(' (at ', 1)[0]} in {key!r}; keep one of them",
        )
    first = next(
        (
            n
            for n in range(start + 1, line_no)
            if (k := _KEY.match(lines[n - 1])) and _clean_key(k.group(1)) == key
        ),
        None,
    )
    where = f" (first on line {first})" if first else ""
    return ConfigProblem(
        f"line {line_no} in {table}",
        f"key {key!r} is set twice{where}; keep one of them",
    )
