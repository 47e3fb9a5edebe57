"""Who is looking: a token resolves to a :class:`DashboardView`; what they did goes to an audit.

The dashboard does not own the views: :class:`ViewAuth` is the seam to the stakeholder
views of ``[[views]]`` (``hub.views``). :class:`StaticViewAuth` is the plain
implementation (tests, ``hub demo``). :func:`DashboardView.from_policy` reads any object
with the attributes of a ``[[views]]`` view (id, name, zones, lines, measurements,
sensor_health, levels_only, actions; noise, suppress_below or round_to make it levels-only
here, because the dashboard shows current numbers, which such a view must not see exact).
"""

from __future__ import annotations

__all__ = [
    "ACTIONS",
    "Audit",
    "DashboardView",
    "MemoryAudit",
    "PolicyViewAuth",
    "StaticViewAuth",
    "ViewAuth",
]

import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from hub.views import View, view_for_token

ACTIONS = ("acknowledge", "log_measure", "silence")


@dataclass(frozen=True)
class DashboardView:
    """What one logged-in party may see and do. ``None`` for zones/lines/measurements: all."""

    id: str
    name: str = ""
    zones: frozenset[str] | None = None
    lines: frozenset[str] | None = None
    measurements: frozenset[str] | None = None
    sensor_health: bool = True
    levels_only: bool = False
    actions: frozenset[str] = frozenset()
    history_days: float = 30.0

    def may(self, action: str) -> bool:
        return action in self.actions

    def sees_zone(self, zone: str | None) -> bool:
        return zone is not None and (self.zones is None or zone in self.zones)

    def sees_line(self, line: str, zone: str) -> bool:
        return self.sees_zone(zone) and (self.lines is None or line in self.lines)

    def sees_type(self, measurement: str) -> bool:
        return self.measurements is None or measurement in self.measurements

    @classmethod
    def from_policy(cls, view: Any) -> DashboardView:
        """A dashboard view from a ``[[views]]`` view (duck-typed: ``hub.views.View``)."""

        def ids(value: Any) -> frozenset[str] | None:
            return None if value == "all" or value is None else frozenset(value)

        coarse = bool(
            getattr(view, "noise", False)
            or getattr(view, "suppress_below", 0)
            or getattr(view, "round_to", 1) > 1
        )
        return cls(
            id=view.id,
            name=getattr(view, "name", "") or view.id,
            zones=ids(getattr(view, "zones", "all")),
            lines=ids(getattr(view, "lines", "all")),
            measurements=ids(getattr(view, "measurements", "all")),
            sensor_health=bool(getattr(view, "sensor_health", False)),
            levels_only=bool(getattr(view, "levels_only", False)) or coarse,
            actions=frozenset(str(a) for a in getattr(view, "actions", ())),
            history_days=float(getattr(view, "history_days", 30.0)),
        )


class ViewAuth(Protocol):
    """Resolves a secret token to its view; ``None`` for an unknown token."""

    def resolve(self, token: str) -> DashboardView | None: ...


class StaticViewAuth:
    """Tokens fixed at construction, compared in constant time."""

    def __init__(self, views: Iterable[tuple[str, DashboardView]]) -> None:
        self._views = [(t.encode(), v) for t, v in views]
        if any(not t for t, _ in self._views):
            raise ValueError("a dashboard token must not be empty")

    def resolve(self, token: str) -> DashboardView | None:
        given = token.encode()
        found = None
        for secret, view in self._views:
            if hmac.compare_digest(secret, given):  # no early exit: constant in the match
                found = view
        return found


class PolicyViewAuth:
    """The ``[[views]]`` of the configuration (``hub.views.View``) as the dashboard's auth.

    A view with ``delay_s`` is not served: the dashboard is live, and showing such a view
    in real time would break its policy (its token answers 401 like a wrong one).
    """

    def __init__(self, views: Iterable[View]) -> None:
        self._views = [v for v in views if v.token is not None and not v.delay_s]
        self._mapped = {v.id: DashboardView.from_policy(v) for v in self._views}

    def resolve(self, token: str) -> DashboardView | None:
        view = view_for_token(self._views, token)
        return None if view is None else self._mapped[view.id]


class Audit(Protocol):
    """Where API access and actions are recorded (``hub.views.audit.AuditLog`` fits)."""

    def access(self, time: datetime, *, view: str, endpoint: str, status: int) -> Any: ...

    def action(
        self,
        time: datetime,
        *,
        view: str,
        endpoint: str,
        action: str,
        target: str | None = None,
        allowed: bool = True,
    ) -> Any: ...


@dataclass
class MemoryAudit:
    """An audit that keeps records in a list (tests, the demo)."""

    records: list[dict[str, Any]] = field(default_factory=list)

    def access(self, time: datetime, *, view: str, endpoint: str, status: int) -> None:
        self.records.append(
            {"kind": "access", "time": time, "view": view, "endpoint": endpoint, "status": status}
        )

    def action(
        self,
        time: datetime,
        *,
        view: str,
        endpoint: str,
        action: str,
        target: str | None = None,
        allowed: bool = True,
    ) -> None:
        self.records.append(
            {
                "kind": "action",
                "time": time,
                "view": view,
                "endpoint": endpoint,
                "action": action,
                "target": target,
                "allowed": allowed,
            }
        )
