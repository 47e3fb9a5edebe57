"""The dashboard in the running hub: on its HTTP server, fed by its zone driver.

::

    ZoneDriver ── after_tick ──▶ ZoneModelProvider ──▶ Dashboard ──▶ /, /api/v1/…, stream
        │ actions (the ones `hub alerts` uses) ◀── acknowledge, silence, measure ──┘
    HttpIngestServer.extensions ◀── Dashboard.install (routes on the same aiohttp app)

The dashboard is served when the configuration has zones, the ``[[transports.http]]``
server ``[dashboard] transport`` names, and at least one ``[[views]]`` view with a
token (``hub.dashboard.PolicyViewAuth``; a view with ``delay_s`` is served that late, a
view with ``noise`` gets the noise key of the views' outputs). Without one of them it
is not served and the hub says once what to add; ``[dashboard] enabled = true`` turns that into a
configuration error (``hub check-config``). Nothing is served without a token.

History reads the ``[[sinks.sqlite]]`` output ``[dashboard] history`` names (unset: the
only one with full detail) through :class:`hub.dashboard.store.StoreHistory`, read-only;
without one, the zone model's memory (the hub says which, once). The same store seeds the
delay lines of the views with ``delay_s`` at start (:mod:`hub.dashboard.seed`), so a
delayed view shows the picture of ``delay_s`` ago right after a restart; without a store
it reads ``unknown`` until the hub has run ``delay_s`` (the hub says so, once).
"""

from __future__ import annotations

__all__ = ["history_store", "served_views", "wire_dashboard"]

import logging
from pathlib import Path
from typing import Any, Protocol

from hub.clock import Clock
from hub.core.config import HubConfig
from hub.core.transports.http_server import HttpIngestServer
from hub.core.view_routing import ViewRouting
from hub.core.zone_driver import ZoneDriver
from hub.dashboard import Dashboard, PolicyViewAuth, ZoneModelProvider
from hub.dashboard.seed import StoreSeed
from hub.dashboard.settings import history_output, missing_for_dashboard, served_views
from hub.dashboard.store import StoreHistory
from hub.errors import ConfigError, ConfigProblem
from hub.plugin import Transport
from hub.views import load_or_create_key

log = logging.getLogger("hub.dashboard")


class _Hub(Protocol):
    """The parts of :class:`hub.core.runtime.Hub` the dashboard is wired to."""

    config: HubConfig
    clock: Clock
    zones: ZoneDriver | None
    transports: dict[tuple[str, str], Transport[Any]]
    views: ViewRouting


def wire_dashboard(hub: _Hub) -> Dashboard | None:
    """Add the dashboard to the hub's HTTP server, or say once why it is not served.

    API access and actions are recorded in the views' audit log of the running hub
    (``hub.views.audit``): one writer per ``audit.jsonl`` keeps its hash chain whole.
    """
    config, zones, transports = hub.config, hub.zones, hub.transports
    settings = config.dashboard
    if settings.enabled is False:
        return None
    http_ids = [i for (kind, i) in transports if kind == "http"]
    served = served_views(config.views)
    missing = missing_for_dashboard(
        settings, zones=zones is not None, http_ids=http_ids, live_views=len(served)
    )
    if missing is not None:
        if settings.enabled:
            problem = ConfigProblem("dashboard.enabled", f"true, but {missing}")
            raise ConfigError([problem], str(config.path) if config.path else None)
        if zones is not None and http_ids:  # a dashboard was likely wanted
            log.info("dashboard not served: %s", missing)
        return None
    assert zones is not None
    server = transports[("http", settings.transport)]
    if not isinstance(server, HttpIngestServer):  # another plugin's "http" transport
        log.warning("dashboard not served: http[%s] is not the hub's server", settings.transport)
        return None
    noisy = any(v.noise for v in served)  # the key the views' outputs use (views.key)
    store = history_store(hub)
    provider = ZoneModelProvider(zones.model, clock=hub.clock, actions=zones.actions, store=store)
    zones.after_tick.append(provider.update)
    dashboard = Dashboard(
        provider,
        PolicyViewAuth(served, load_or_create_key(config.data_dir) if noisy else None),
        hub.views.audit,
        plan_dir=config.path.parent if config.path else Path.cwd(),
        heartbeat_s=settings.heartbeat_s,
        secure_cookie=settings.secure_cookie,
    )
    delayed = [v.id for v in served if v.delay_s]
    if delayed and store is not None:
        dashboard.pictures.seeder = StoreSeed(store, zones.model)
    elif delayed:
        log.info(
            "dashboard: delayed view(s) %s read 'unknown' for their delay after a start: "
            "no sqlite output to seed them from",
            ", ".join(delayed),
        )
    server.extensions.append(dashboard.install)
    log.info(
        "dashboard on http[%s] at / for %d view(s): %s",
        settings.transport,
        len(served),
        ", ".join(v.id + (f" ({v.delay_s / 60:g} min late)" if v.delay_s else "") for v in served),
    )
    return dashboard


def history_store(hub: _Hub) -> StoreHistory | None:
    """The reader of the sqlite output history comes from, or None (memory); logs which."""
    config = hub.config
    choice = history_output(config.dashboard, config.sinks)
    if choice.output is None:
        log.info("dashboard history from the zone model's memory: %s", choice.why)
        return None
    path = config.data_dir / choice.output.path
    log.info("dashboard history from sqlite[%s] (%s), %s", choice.output.id, path, choice.why)
    # a state holds until the next one; the zone model publishes each at least every heartbeat
    return StoreHistory(path, output_id=choice.output.id, carry_s=2.5 * config.zones.heartbeat_s)
