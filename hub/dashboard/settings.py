"""The ``[dashboard]`` table: whether and where the running hub serves the dashboard."""

from __future__ import annotations

__all__ = [
    "MEMORY",
    "DashboardSettings",
    "HistoryChoice",
    "dashboard_problems",
    "history_output",
    "live_views",
    "missing_for_dashboard",
    "served_views",
]

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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
    history: str | None = Field(
        default=None,
        description='id of the [[sinks.sqlite]] output history is read from; "memory": the '
        "zone model's memory (the last 24 h per minute, then quarter hours); unset: the only "
        "sqlite output with full detail, else memory",
    )


MEMORY = "memory"


@dataclass(frozen=True)
class HistoryChoice:
    """Where ``/api/v1/history`` reads occupancy: an sqlite output's config, or memory."""

    output: Any | None
    """The chosen ``[[sinks.sqlite]]`` config (its ``id`` and ``path``), or None: memory."""
    why: str
    """One line: why this one (for the log)."""
    problem: ConfigProblem | None = None
    """``[dashboard] history`` names no usable sqlite output."""


def _full_detail(cfg: Any) -> bool:
    """The output gets every event in full detail, zone states included."""
    measurements = getattr(cfg, "measurements", None)
    return getattr(cfg, "view", None) in (None, "internal") and (
        measurements is None or "zone_state" in measurements
    )


def history_output(
    settings: DashboardSettings, sinks: Mapping[str, Sequence[Any]]
) -> HistoryChoice:
    """The ``[[sinks.sqlite]]`` output history reads, by ``[dashboard] history``."""
    outputs = list(sinks.get("sqlite", ()))
    wanted = settings.history
    if wanted == MEMORY:
        return HistoryChoice(None, '[dashboard] history = "memory"')
    if wanted is not None:
        found = next((c for c in outputs if c.id == wanted), None)
        have = ", ".join(sorted(c.id for c in outputs)) or "none"
        if found is None:
            return HistoryChoice(
                None,
                "",
                ConfigProblem(
                    "dashboard.history",
                    f"no [[sinks.sqlite]] output with id = {wanted!r} (have: {have}); name one "
                    'of them, or "memory" for the zone model\'s memory',
                ),
            )
        if not _full_detail(found):
            return HistoryChoice(
                None,
                "",
                ConfigProblem(
                    "dashboard.history",
                    f"sqlite[{wanted}] does not keep every zone_state in full detail (it has "
                    "a view other than internal, or measurements without zone_state); name "
                    'an sqlite output without them, or "memory"',
                ),
            )
        return HistoryChoice(found, f"[dashboard] history = {wanted!r}")
    full = [c for c in outputs if _full_detail(c)]
    if len(full) == 1:
        return HistoryChoice(full[0], f"the only sqlite output with full detail, {full[0].id!r}")
    if not full:
        return HistoryChoice(None, "no [[sinks.sqlite]] output keeps the zone states")
    ids = ", ".join(sorted(c.id for c in full))
    return HistoryChoice(
        None, f"{len(full)} sqlite outputs ({ids}); set [dashboard] history to the id of one"
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
    settings: DashboardSettings,
    *,
    zones: bool,
    http_ids: Iterable[str],
    live_views: int | None,
    sinks: Mapping[str, Sequence[Any]] | None = None,
) -> list[ConfigProblem]:
    """One line per problem: ``enabled = true`` and something the dashboard needs is
    missing; ``history`` names no usable sqlite output (among ``sinks``)."""
    problems: list[ConfigProblem] = []
    if settings.enabled is True:
        missing = missing_for_dashboard(
            settings, zones=zones, http_ids=http_ids, live_views=live_views
        )
        if missing is not None:
            problems.append(ConfigProblem("dashboard.enabled", f"true, but {missing}"))
    if sinks is not None and settings.enabled is not False:
        problem = history_output(settings, sinks).problem
        if problem is not None:
            problems.append(problem)
    return problems
