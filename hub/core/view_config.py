"""The ``[[views]]`` part of loading a configuration: tokens, views, and the views sinks name.

Two passes, because a token must be checked as written *and* as substituted:

* :func:`token_problems` on the raw tables (before ``${ENV}`` substitution): a token
  written into the file, or one whose environment variable is not set. It returns the
  raw paths it covered, so the generic "variable is not set" line of the substitution
  is not reported a second time.
* :func:`views_and_problems` on the substituted tables: each view validated
  (:func:`hub.views.parse_views`), its zones and lines known to the site, and every
  sink's ``view`` checked (:func:`hub.views.sink_view_problem`): a sink that leaves
  the machine must name one, and a named one must exist.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from hub.errors import ConfigProblem
from hub.site import Site
from hub.views import View, parse_views, sink_view_problem, site_problems, token_literal_problems

__all__ = ["forget_unset_tokens", "token_problems", "views_and_problems"]

_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}$")


def _entries(raw: Any) -> list[Any]:
    if isinstance(raw, dict):
        return [raw]
    return raw if isinstance(raw, list) else []


def token_problems(raw: Any) -> tuple[list[ConfigProblem], set[str]]:
    """Problems with the ``token`` of each raw ``[[views]]`` table, and the raw paths
    (``views[0].token``) they cover."""
    problems = token_literal_problems(raw)
    covered: set[str] = set()
    for i, entry in enumerate(_entries(raw)):
        if not isinstance(entry, dict):
            continue
        token = entry.get("token")
        m = _ENV_REF.match(token) if isinstance(token, str) else None
        if m is None:
            continue
        name, default = m.group(1), m.group(2)
        if name in os.environ or default is not None:
            continue
        ident = entry.get("id")
        label = f"views[{ident if isinstance(ident, str) else f'#{i + 1}'}]"
        problems.append(
            ConfigProblem(
                f"{label}.token",
                f"environment variable {name} is not set; export {name} with this view's "
                "secret token before starting the hub, or remove token for a view that "
                "serves outputs only",
            )
        )
        covered.add(f"views[{i}].token" if isinstance(raw, list) else "views.token")
    return problems, covered


def forget_unset_tokens(raw: dict[str, Any], covered: set[str]) -> None:
    """Remove the substituted (empty) tokens :func:`token_problems` reported, so the
    view is not reported a second time as having an empty token."""
    for i, entry in enumerate(_entries(raw.get("views"))):
        path = f"views[{i}].token" if isinstance(raw.get("views"), list) else "views.token"
        if path in covered and isinstance(entry, dict):
            entry.pop("token", None)


def views_and_problems(
    raw: Any,
    site: Site | None,
    sinks: Mapping[str, list[Any]],
    sink_classes: Mapping[str, Any],
) -> tuple[list[View], list[ConfigProblem]]:
    """The validated views, and one problem per mistake in them or in a sink's ``view``.

    ``sink_classes`` maps a sink kind to its registry entry (class first), so a
    third-party sink that declares ``leaves_machine = True`` is held to the rule too.
    """
    views, problems = parse_views(raw)
    if site is not None:
        problems.extend(site_problems(views, site))
    # a view that failed validation is still a known id: its own line says what is wrong
    known = [v.id for v in views]
    known += [
        e["id"] for e in _entries(raw) if isinstance(e, dict) and isinstance(e.get("id"), str)
    ]
    ids = list(dict.fromkeys(known))
    for kind, items in sinks.items():
        entry = sink_classes.get(kind)
        cls = entry[0] if entry else None
        for cfg in items:
            problem = sink_view_problem(kind, cfg.id, cfg.view, ids, cls)
            if problem is not None:
                problems.append(problem)
    return views, problems
