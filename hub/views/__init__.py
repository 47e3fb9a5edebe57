"""Stakeholder views: one privacy policy per party, applied to every output and API answer.

* :mod:`hub.views.config` — the ``[[views]]`` tables and the checks ``check-config`` runs.
* :mod:`hub.views.measurements` — the table of what a view does to each measurement type.
* :mod:`hub.views.coarsen` — deterministic noise, suppression, rounding of one count.
* :mod:`hub.views.policy` — :class:`ViewPolicy`, the sans-io stage of one view.
* :mod:`hub.views.audit` — the tamper-evident log of what went where.
* :mod:`hub.views.report` — the privacy report (Markdown) generated from a configuration.
* :mod:`hub.views.retention` — data minimisation helpers (dead-letter retention).
"""

from hub.views.coarsen import coarsen_count, interval_label, load_or_create_key, noise_offset
from hub.views.config import (
    INTERNAL,
    Action,
    View,
    leaves_machine,
    parse_views,
    policy_version,
    sink_view_problem,
    site_problems,
    token_literal_problems,
    view_for_token,
)
from hub.views.policy import FullDetail, ViewPolicy, ViewStage, ViewStats

__all__ = [
    "INTERNAL",
    "Action",
    "FullDetail",
    "View",
    "ViewPolicy",
    "ViewStage",
    "ViewStats",
    "coarsen_count",
    "interval_label",
    "leaves_machine",
    "load_or_create_key",
    "noise_offset",
    "parse_views",
    "policy_version",
    "sink_view_problem",
    "site_problems",
    "token_literal_problems",
    "view_for_token",
]
