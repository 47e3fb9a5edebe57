"""The live shared picture in a browser: map, zone panels, alerts, served by the hub.

Wiring (the hub's HTTP server, at ``/``)::

    provider = ZoneModelProvider(model, clock=clock)   # zone stage: provider.update(now)
    view_auth = PolicyViewAuth(views)                   # the [[views]] (hub.views.View)
    dashboard = Dashboard(provider, view_auth, audit_log, plan_dir=config_dir)
    dashboard.install(app)                              # the hub's aiohttp Application

or ``make_dashboard_app(provider, view_auth, audit)`` for a stand-alone application or a
sub-application. Everything a view sees passes :func:`hub.dashboard.policy.for_view`.
"""

from hub.dashboard.access import (
    ACTIONS,
    Audit,
    DashboardView,
    MemoryAudit,
    PolicyViewAuth,
    StaticViewAuth,
    ViewAuth,
)
from hub.dashboard.app import COOKIE, DASHBOARD, Dashboard, make_dashboard_app
from hub.dashboard.policy import for_view
from hub.dashboard.provider import Change, PictureProvider, ZoneModelProvider

__all__ = [
    "ACTIONS",
    "COOKIE",
    "DASHBOARD",
    "Audit",
    "Change",
    "Dashboard",
    "DashboardView",
    "MemoryAudit",
    "PictureProvider",
    "PolicyViewAuth",
    "StaticViewAuth",
    "ViewAuth",
    "ZoneModelProvider",
    "for_view",
    "make_dashboard_app",
]
