"""The ``[dashboard]`` table: whether and where the running hub serves the dashboard."""

from __future__ import annotations

__all__ = [
    "DashboardSettings",
    "dashboard_problems",
    "live_views",
    "missing_for_dashboard",
    "served_views",
]

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from hub.errors import ConfigProblem
from hub.views import View


class DashboardSettings(BaseModel):
    """``[dashboard]``: the live picture in a browser, on the hub's HTTP server.

    Left out (``enabled`` unset) the dashboard is served when the configuration has
    zones, a ``[[transports.http]]`` server and at least one ``[[views]]`` view with a
    token; ``enabled = true`` makes each of these a configuration error.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool | None = Field(
        default=None,
        description="serve the dashboard (unset: when there are zones, an HTTP server "
        "and a view with a token; true: each of these is required; false: never)",
    )
    transport: str = Field(
        default="default",
        description="id of the [[transports.http]] server that serves it, at /",
    )
    secure_cookie: bool = Field(
        default=False,
        description="send the login cookie only over HTTPS (set behind a TLS proxy)",
    )
    heartbeat_s: float = Field(
        default=5.0, gt=0, le=60, description="stream heartbeat; the page says not live after 2.5"
    )


def served_views(views: Iterable[View]) -> list[View]:
    """The views a person can log in with: those with a token.

    A view with ``delay_s`` is served that much late (:mod:`hub.dashboard.delay`)."""
    return [v for v in views if v.token is not None]


live_views = served_views
"""The former name of :func:`served_views` (delayed views were not served then)."""


def missing_for_dashboard(
    settings: DashboardSettings, *, zones: bool, http_ids: Iterable[str], live_views: int | None
) -> str | None:
    """What the configuration lacks for the dashboard (one line saying what to add), or None.

    ``live_views``: how many views have a token (None: not known yet)."""
    if not zones:
        return "there are no zones to show; add [[site.zones]] tables (and keep [zones] enabled)"
    ids = sorted(http_ids)
    if settings.transport not in ids:
        have = f" (have: {', '.join(ids)})" if ids else ""
        return (
            f"no [[transports.http]] server with id = {settings.transport!r}{have}; add one "
            "(host, port) or set [dashboard] transport to the id of yours"
        )
    if live_views == 0:
        return (
            "no [[views]] view with a token to log in with; add one, e.g. [[views]] "
            'id = "operator", token = "${OPERATOR_TOKEN}", actions = ["acknowledge", '
            '"log_measure", "silence"]'
        )
    return None


def dashboard_problems(
    settings: DashboardSettings, *, zones: bool, http_ids: Iterable[str], live_views: int | None
) -> list[ConfigProblem]:
    """``enabled = true`` and something the dashboard needs is missing: one problem line."""
    if settings.enabled is not True:
        return []
    missing = missing_for_dashboard(settings, zones=zones, http_ids=http_ids, live_views=live_views)
    return [] if missing is None else [ConfigProblem("dashboard.enabled", f"true, but {missing}")]
