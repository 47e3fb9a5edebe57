"""Sans-io helpers of the mapping: payload values fit for an error message
(:func:`safe_repr`) or for an event's extras (:func:`extra_values`: scalars only),
and an azimuth as in/out over a line (:func:`side_of`)."""

from __future__ import annotations

__all__ = ["extra_values", "safe_repr", "side_of"]

from collections.abc import Sequence
from typing import Any

from hub.privacy import classify_text, extra_problem

from .expressions import Expression


def safe_repr(value: Any) -> str:
    """A payload value fit for an error message: short, scalar, not identifier-like."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str) and len(value) <= 32 and classify_text(value) is None:
        return repr(value)
    return "<value withheld>"


_EXTRA_HINT = {
    "list": "a list",
    "object": "an object",
    "list or object as text": "a list or an object written as text",
}


def extra_values(
    extras: Sequence[tuple[str, Expression]], ctx: Any, problems: list[str]
) -> dict[str, Any] | None:
    """The configured extras that are allowed scalars (:func:`hub.privacy.extra_problem`);
    each one that is not is left out and named in ``problems`` (never its value)."""
    out: dict[str, Any] = {}
    for name, expr in extras:
        value = expr.search(ctx)
        if value is None:
            continue
        problem = extra_problem(value)
        if problem is not None:
            problems.append(
                f"extras.{name}: {_EXTRA_HINT.get(problem, 'a ' + problem)}; not copied "
                "(an extras value is one scalar: select one value)"
            )
            continue
        out[name] = value
    return out or None


def side_of(azimuth: float, in_azimuth: float, tolerance: float) -> str | None:
    """'in' when ``azimuth`` (degrees of walking direction) is within ``tolerance`` of
    ``in_azimuth``, 'out' when within it of the opposite direction, else None."""
    off = abs((azimuth - in_azimuth + 180.0) % 360.0 - 180.0)  # 0..180 from 'in'
    if off <= tolerance:
        return "in"
    if 180.0 - off <= tolerance:
        return "out"
    return None
