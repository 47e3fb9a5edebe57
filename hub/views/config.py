"""The ``[[views]]`` tables: who sees what, how coarse, and what they may do.

::

    [[views]]
    id = "public"
    name = "Public feed"
    token = "${PUBLIC_TOKEN}"       # a secret from the environment, never in the file
    zones = ["beach-north", "boulevard"]
    measurements = ["zone_state"]
    levels_only = true
    time_resolution = "15min"
    delay_s = 900

``view = "internal"`` on a sink is the explicit full-detail choice; it needs no
table. Checks that need the rest of the configuration (zone and line ids of the
site, sinks naming views) are functions here, so ``check-config`` can report
them one precise line each: :func:`parse_views`, :func:`site_problems`,
:func:`sink_view_problem`, :func:`token_literal_problems`.
"""

from __future__ import annotations

__all__ = [
    "INTERNAL",
    "NETWORK_SINK_KINDS",
    "RESOLUTIONS",
    "Action",
    "View",
    "leaves_machine",
    "parse_views",
    "policy_version",
    "sink_view_problem",
    "site_problems",
    "token_literal_problems",
    "view_for_token",
]

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from hub.errors import ConfigProblem
from hub.site import ID_PATTERN, Site
from hub.views.measurements import RULES, rule_for

INTERNAL = "internal"
"""The built-in full-detail view: everything, unchanged. For local stores and operators."""

RESOLUTIONS: dict[str, int] = {"raw": 0, "1min": 60, "5min": 300, "15min": 900, "1h": 3600}
"""``time_resolution`` values and their bucket length in seconds (0: no aggregation)."""

NETWORK_SINK_KINDS = frozenset({"mqtt", "http"})
"""Bundled sink kinds that send events off the machine."""

_ENV_REF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$")


class Action(StrEnum):
    """What a view may do besides looking (the dashboard checks these)."""

    ACKNOWLEDGE = "acknowledge"
    LOG_MEASURE = "log_measure"
    SILENCE = "silence"


_All = Literal["all"]


class View(BaseModel):
    """One ``[[views]]`` table: one party's window on the data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_PATTERN, description='view id, named by sinks: view = "<id>"')
    name: str = Field(default="", max_length=100, description="display name (e.g. 'Police')")
    token: SecretStr | None = Field(
        default=None,
        description='API/dashboard secret, from the environment: token = "${POLICE_TOKEN}" '
        "(no token: the view serves outputs only, nobody can log in with it)",
    )
    zones: tuple[str, ...] | _All = Field(
        default="all", description='zone ids this view sees, or "all"'
    )
    lines: tuple[str, ...] | _All = Field(
        default="all",
        description='line ids this view sees, or "all" (every line of the zones it sees)',
    )
    measurements: tuple[str, ...] | _All = Field(
        default="all",
        description='measurement types this view sees, or "all" (device status only with '
        "sensor_health)",
    )
    sensor_health: bool = Field(
        default=False,
        description="device status and data-quality problems naming sensors are visible",
    )
    levels_only: bool = Field(
        default=False,
        description="colour levels only: no number anywhere (counts, densities, flows removed)",
    )
    suppress_below: int = Field(
        default=0,
        ge=0,
        description="counts below this per interval are reported as 0 (Amsterdam: 15 per hour)",
    )
    suppress_as: Literal["zero", "below"] = Field(
        default="zero",
        description="'zero': a suppressed count reads 0; 'below': 0 and marked, shown as '<k'",
    )
    noise: bool = Field(
        default=False,
        description="add ±1 to counts (0 gets +0/+1), fixed per zone/line x interval x view, "
        "so repeated queries cannot average it away",
    )
    round_to: int = Field(
        default=1, ge=1, description="round counts to a multiple of this (1: no rounding)"
    )
    time_resolution: Literal["raw", "1min", "5min", "15min", "1h"] = Field(
        default="raw", description="aggregate to this interval before anything is sent"
    )
    grace_s: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="wait this long after an interval ends for late readings before sending it",
    )
    delay_s: float = Field(
        default=0.0, ge=0, le=7 * 86400, description="send data this many seconds late"
    )
    history_days: float = Field(
        default=30.0, ge=0, description="how far back this view may query history (days)"
    )
    actions: tuple[Action, ...] = Field(
        default=(), description="allowed actions: acknowledge, log_measure, silence"
    )
    vendor_extras: bool = Field(
        default=False,
        description="pass vendor extras (raw device fields); only for views that coarsen nothing",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.id == INTERNAL:
            raise ValueError(
                f"view id {INTERNAL!r} is built in (full detail) and cannot be redefined; "
                "choose another id"
            )
        if self.token is not None and not self.token.get_secret_value():
            raise ValueError(
                'token is empty; set it from the environment, e.g. token = "${VIEW_TOKEN}", '
                "or leave it out for a view that serves outputs only"
            )
        types = () if self.measurements == "all" else self.measurements
        unknown = [t for t in types if rule_for(t) is None]
        if unknown:
            raise ValueError(
                f"unknown measurement type(s) {', '.join(map(repr, unknown))} in measurements; "
                f"known: {', '.join(RULES)}"
            )
        if "status" in types and not self.sensor_health:
            raise ValueError(
                "measurements lists 'status' (device health) but sensor_health is false; "
                "set sensor_health = true or remove 'status'"
            )
        if self.levels_only:
            numeric = [t for t in types if not _has_level(t)]
            if numeric:
                raise ValueError(
                    f"levels_only shows colour levels only, and {', '.join(numeric)} "
                    "has no level; remove it from measurements or set levels_only = false"
                )
        if (self.noise or self.suppress_below) and self.time_resolution == "raw":
            raise ValueError(
                "noise and suppress_below act on interval counts: set time_resolution "
                '(e.g. "15min" or "1h"); on raw readings repeated samples average the '
                "noise away"
            )
        if self.vendor_extras and self.coarsens:
            raise ValueError(
                "vendor_extras passes raw device fields, which would bypass levels_only, "
                "suppression, noise and rounding; set vendor_extras = false"
            )
        return self

    @property
    def resolution_s(self) -> int:
        return RESOLUTIONS[self.time_resolution]

    @property
    def coarsens_counts(self) -> bool:
        """True when counts are changed, so exact rates derived from them must go too."""
        return self.noise or self.suppress_below > 0 or self.round_to > 1

    @property
    def coarsens(self) -> bool:
        return self.coarsens_counts or self.levels_only or self.resolution_s > 0

    def may(self, action: Action | str) -> bool:
        """Whether this view may perform ``action``."""
        return action in self.actions

    def token_matches(self, presented: str) -> bool:
        """Constant-time check of a presented token (never true for a view without one)."""
        if self.token is None or not presented:
            return False
        return hmac.compare_digest(self.token.get_secret_value().encode(), presented.encode())

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        """The time range this view may see at ``now``: ``history_days`` back, ``delay_s`` late."""
        return now - timedelta(days=self.history_days), now - timedelta(seconds=self.delay_s)


def view_for_token(views: Iterable[View], presented: str) -> View | None:
    """The view a request's token opens, or None (answer 401 and nothing else)."""
    found = None
    for view in views:  # no early exit: the time does not tell which view matched
        if view.token_matches(presented):
            found = view
    return found


def _has_level(measurement_type: str) -> bool:
    rule = rule_for(measurement_type)
    return rule is not None and (rule.level is not None or rule.levels_only_as_is)


def policy_version(view: View) -> str:
    """A short hash of everything that decides what the view sees (the token excluded).

    Recorded with every audit record of what was sent, so a changed policy is visible.
    """
    data = view.model_dump(mode="json", exclude={"token"})
    canon = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()[:16]


# -- checks for check-config ---------------------------------------------------------------


def _label(i: int, entry: Any) -> str:
    ident = entry.get("id") if isinstance(entry, dict) else None
    return f"views[{ident if isinstance(ident, str) else f'#{i + 1}'}]"


def _where(loc: tuple[int | str, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)


def parse_views(raw: Any) -> tuple[list[View], list[ConfigProblem]]:
    """Validate the ``views`` array of the config (after ``${ENV}`` substitution).

    Returns the views that validated and one problem per error, located as
    ``views[<id>].<field>``.
    """
    problems: list[ConfigProblem] = []
    views: list[View] = []
    if raw is None:
        return views, problems
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        return views, [ConfigProblem("views", "write views as [[views]] tables")]
    seen: set[str] = set()
    tokens: dict[str, str] = {}
    for i, entry in enumerate(raw):
        label = _label(i, entry)
        if not isinstance(entry, dict):
            problems.append(ConfigProblem(label, "must be a table"))
            continue
        try:
            view = View.model_validate(entry)
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(p for p in err["loc"] if p != "function-after")
                msg = str(err["msg"]).removeprefix("Value error, ")
                if err["type"] == "extra_forbidden":
                    msg = f"unknown field (allowed: {', '.join(sorted(View.model_fields))})"
                elif err["type"] == "missing":
                    msg = "field required"
                problems.append(ConfigProblem(f"{label}{_where(loc)}", msg))
            continue
        if view.id in seen:
            problems.append(ConfigProblem(f"{label}.id", f"duplicate view id {view.id!r}"))
            continue
        seen.add(view.id)
        if view.token is not None:
            secret = view.token.get_secret_value()
            if secret in tokens:
                problems.append(
                    ConfigProblem(
                        f"{label}.token",
                        f"the same token as views[{tokens[secret]}]; each view needs its own "
                        "token (a token decides which view a request sees)",
                    )
                )
                continue
            tokens[secret] = view.id
        views.append(view)
    return views, problems


def site_problems(views: Iterable[View], site: Site) -> list[ConfigProblem]:
    """Zone and line ids a view names that the site does not have."""
    zone_ids = [z.id for z in site.zones]
    line_ids = [ln.id for ln in site.lines]
    problems: list[ConfigProblem] = []
    for view in views:
        for field, known, what in (("zones", zone_ids, "zone"), ("lines", line_ids, "line")):
            wanted = getattr(view, field)
            if wanted == "all":
                continue
            for ident in wanted:
                if ident not in known:
                    problems.append(
                        ConfigProblem(
                            f"views[{view.id}].{field}",
                            f"unknown {what} {ident!r}; known {what}s: "
                            f"{', '.join(known) or '(none)'} (from [[site.{field}]])",
                        )
                    )
    return problems


def token_literal_problems(raw: Any) -> list[ConfigProblem]:
    """Tokens written into the file instead of ``${ENV}`` (check the raw, unsubstituted table)."""
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        return []
    out = []
    for i, entry in enumerate(raw):
        token = entry.get("token") if isinstance(entry, dict) else None
        if isinstance(token, str) and not _ENV_REF.match(token):
            out.append(
                ConfigProblem(
                    f"{_label(i, entry)}.token",
                    "write the token as an environment reference, e.g. "
                    'token = "${VIEW_TOKEN}"; a secret in the file leaks with the file',
                )
            )
    return out


def leaves_machine(kind: str, sink_class: type | None = None) -> bool:
    """Whether a sink sends events off this machine (MQTT, HTTP, or it says so)."""
    return kind in NETWORK_SINK_KINDS or bool(getattr(sink_class, "leaves_machine", False))


def sink_view_problem(
    kind: str,
    instance: str,
    view: str | None,
    view_ids: Sequence[str] | Mapping[str, Any],
    sink_class: type | None = None,
) -> ConfigProblem | None:
    """The one problem with a sink's ``view``, or None.

    A sink that leaves the machine must name a view; a named view must exist
    (``internal`` always does).
    """
    label = f"sinks.{kind}[{instance}]"
    if view is None:
        if leaves_machine(kind, sink_class):
            return ConfigProblem(
                label,
                "this output leaves the machine but names no view; add view = "
                '"internal" for full detail or a restricted view id',
            )
        return None
    known = [INTERNAL, *view_ids]
    if view not in known:
        return ConfigProblem(
            f"{label}.view",
            f"unknown view {view!r}; known views: {', '.join(known)} "
            "(define it as a [[views]] table)",
        )
    return None
