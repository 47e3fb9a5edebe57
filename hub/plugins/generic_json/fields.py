"""Sans-io helpers of the mapping: dropping fields, privacy checks on values.

Sequence numbers are tracked with :class:`hub.quality.SequenceTracker`."""

from __future__ import annotations

__all__ = ["drop_path", "find_identifier", "safe_repr"]

from collections.abc import Collection
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


def find_identifier(value: Any) -> str | None:
    """The kind of identifier in ``value`` (recursively), or None."""
    if isinstance(value, str):
        return classify_text(value)
    if isinstance(value, dict):
        for k, v in value.items():
            found = classify_text(str(k)) or find_identifier(v)
            if found:
                return found
    elif isinstance(value, list):
        for v in value:
            found = find_identifier(v)
            if found:
                return found
    return None


def drop_path(node: Any, parts: tuple[str, ...], i: int = 0) -> None:
    key = parts[i]
    last = i == len(parts) - 1
    if isinstance(node, dict):
        if key == "*":
            if last:
                node.clear()
                return
            children: Collection[Any] = list(node.values())
        elif last:
            node.pop(key, None)
            return
        elif key in node:
            children = (node[key],)
        else:
            return
    elif isinstance(node, list) and key == "*":
        if last:
            node.clear()
            return
        children = node
    else:
        return
    for child in children:
        drop_path(child, parts, i + 1)
