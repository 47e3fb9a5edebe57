"""Who is looking: a token resolves to a :class:`DashboardView`; what they did goes to an audit.

The dashboard does not own the views: :class:`ViewAuth` is the seam to the stakeholder
views of ``[[views]]`` (``hub.views``). :class:`StaticViewAuth` is the plain
implementation (tests, ``hub demo``). :func:`DashboardView.from_policy` reads any object
with the attributes of a ``[[views]]`` view (id, name, zones, lines, measurements,
sensor_health, levels_only, noise, suppress_below, suppress_as, round_to,
time_resolution, delay_s, history_days, actions): the dashboard coarsens its numbers as
the view's outputs are coarsened (:mod:`hub.dashboard.coarse`) and shows a view with
``delay_s`` the picture as it was that long ago (:mod:`hub.dashboard.delay`).
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
from hub.views.config import RESOLUTIONS

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
    noise: bool = False
    """±1 on counts, fixed per place x field x interval x view (needs ``resolution_s``)."""
    suppress_below: int = 0
    suppress_as: str = "zero"
    """``zero``: a suppressed count reads 0; ``below``: 0 and marked (the page shows "<k")."""
    round_to: int = 1
    resolution_s: int = 0
    """The view's ``time_resolution``: a coarsened view's numbers are held per interval."""
    delay_s: float = 0.0
    """Show the picture as it was this many seconds ago; actions are refused."""
    noise_key: bytes | None = field(default=None, repr=False, compare=False)
    """The hub's noise key (``hub.views.load_or_create_key``); None: no noise possible."""

    def may(self, action: str) -> bool:
        return action in self.actions

    @property
    def coarsens_counts(self) -> bool:
        """Counts are changed (noise, suppression, rounding) and rates that undo it removed."""
        return not self.levels_only and (self.noise or self.suppress_below > 0 or self.round_to > 1)

    @property
    def holds(self) -> bool:
        """Numbers are one value per ``resolution_s`` interval (the last one completed)."""
        return self.coarsens_counts and self.resolution_s > 0

    def sees_zone(self, zone: str | None) -> bool:
        return zone is not None and (self.zones is None or zone in self.zones)

    def sees_line(self, line: str, zone: str) -> bool:
        return self.sees_zone(zone) and (self.lines is None or line in self.lines)

    def sees_type(self, measurement: str) -> bool:
        return self.measurements is None or measurement in self.measurements

    @classmethod
    def from_policy(cls, view: Any, noise_key: bytes | None = None) -> DashboardView:
        """A dashboard view from a ``[[views]]`` view (duck-typed: ``hub.views.View``)."""

        def ids(value: Any) -> frozenset[str] | None:
            return None if value == "all" or value is None else frozenset(value)

        return cls(
            id=view.id,
            name=getattr(view, "name", "") or view.id,
            zones=ids(getattr(view, "zones", "all")),
            lines=ids(getattr(view, "lines", "all")),
            measurements=ids(getattr(view, "measurements", "all")),
            sensor_health=bool(getattr(view, "sensor_health", False)),
            levels_only=bool(getattr(view, "levels_only", False)),
            actions=frozenset(str(a) for a in getattr(view, "actions", ())),
            history_days=float(getattr(view, "history_days", 30.0)),
            noise=bool(getattr(view, "noise", False)),
            suppress_below=int(getattr(view, "suppress_below", 0)),
            suppress_as=str(getattr(view, "suppress_as", "zero")),
            round_to=int(getattr(view, "round_to", 1)),
            resolution_s=RESOLUTIONS.get(str(getattr(view, "time_resolution", "raw")), 0),
            delay_s=float(getattr(view, "delay_s", 0.0)),
            noise_key=noise_key if getattr(view, "noise", False) else None,
        )


class ViewAuth(Protocol):
    """Resolves a secret token to its view; ``None`` for an unknown token."""

    def resolve(self, token: str) -> DashboardView | None: ...

    def all(self) -> list[DashboardView]:
        """Every view one can log in with (the dashboard prepares delay lines for them)."""
        ...


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

    def all(self) -> list[DashboardView]:
        return [v for _, v in self._views]


class PolicyViewAuth:
    """The ``[[views]]`` of the configuration (``hub.views.View``) as the dashboard's auth.

    Every view with a token is served: coarsened like its outputs, and a view with
    ``delay_s`` that much late (``noise_key``: the hub's, for views with ``noise``).
    """

    def __init__(self, views: Iterable[View], noise_key: bytes | None = None) -> None:
        self._views = [v for v in views if v.token is not None]
        self._mapped = {v.id: DashboardView.from_policy(v, noise_key) for v in self._views}
        missing = [v.id for v in self._mapped.values() if v.noise and not v.noise_key]
        if missing:
            raise ValueError(f"view(s) {', '.join(missing)} add noise: pass the hub's noise key")

    def resolve(self, token: str) -> DashboardView | None:
        view = view_for_token(self._views, token)
        return None if view is None else self._mapped[view.id]

    def all(self) -> list[DashboardView]:
        return list(self._mapped.values())


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
