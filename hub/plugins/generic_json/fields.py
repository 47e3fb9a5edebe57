"""Sans-io helper of the mapping: payload values fit for an error message."""

from __future__ import annotations

__all__ = ["safe_repr"]

from typing import Any

from hub.privacy import classify_text


def safe_repr(value: Any) -> str:
    """A payload value fit for an error message: short, scalar, not identifier-like."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str) and len(value) <= 32 and classify_text(value) is None:
        return repr(value)
    return "<value withheld>"
