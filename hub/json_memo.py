"""An event's JSON, made once however many queues and outputs need it.

An event usually becomes JSON more than once on its way out: the durable queue
of each output stores it, and most outputs send or store it again (MQTT, webhook,
JSON lines, the sqlite ``json`` column). :func:`event_json` remembers the JSON of
the events it made most recently, by identity (events are frozen), so the second
and later calls cost a dictionary look-up. Outputs call it instead of
``model_dump_json()``; the bytes are the same.

The memory is bounded: the last :data:`REMEMBER` events (their JSON and a
reference that keeps them alive until they drop out; a few MB). An output far
behind (a backlog) misses and serialises again, as it would without this.
"""

from __future__ import annotations

from collections import deque

from hub.events import Event

__all__ = ["REMEMBER", "event_json"]

REMEMBER = 1024
"""Events whose JSON is remembered (newest first out of the window: oldest dropped)."""

_to_json = Event.__pydantic_serializer__.to_json


class _EventJson:
    """``event -> bytes`` with a bounded identity memo (see the module doc)."""

    __slots__ = ("_order", "_seen", "_size")

    def __init__(self, size: int) -> None:
        self._size = size
        self._seen: dict[int, tuple[Event, bytes]] = {}
        self._order: deque[int] = deque()

    def __call__(self, event: Event) -> bytes:
        key = id(event)
        hit = self._seen.get(key)
        if hit is not None and hit[0] is event:
            return hit[1]
        body: bytes = _to_json(event)
        seen, order = self._seen, self._order
        if hit is None:
            if len(order) >= self._size:
                del seen[order.popleft()]
            order.append(key)
        seen[key] = (event, body)
        return body

    def clear(self) -> None:
        self._seen.clear()
        self._order.clear()


event_json = _EventJson(REMEMBER)
"""The event's JSON as bytes (UTF-8), the same as ``event.model_dump_json().encode()``."""
