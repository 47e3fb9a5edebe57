"""Cross-checks between the site and the ``[zones]`` table (one precise line per problem)."""

from __future__ import annotations

__all__ = ["check_site", "zones_problems"]

from hub.errors import ConfigError, ConfigProblem
from hub.site import Site
from hub.zones.config import ZonesConfig


def check_site(site: Site, config: ZonesConfig) -> None:
    """Raise :class:`~hub.errors.ConfigError` listing every problem, or return."""
    problems = zones_problems(site, config)
    if problems:
        raise ConfigError(problems)


def zones_problems(site: Site, config: ZonesConfig) -> list[ConfigProblem]:
    """One :class:`~hub.errors.ConfigProblem` per mismatch between the site and ``[zones]``."""
    problems: list[ConfigProblem] = []
    sets = config.all_level_sets()
    known = ", ".join(sorted(sets))

    def sets_of(name: str) -> list[str]:
        swaps = [p.level_sets[name] for p in config.profiles if name in p.level_sets]
        return [name, *swaps]

    for z in site.zones:
        where = f"site.zones[{z.id}].levels"
        for name in sets_of(z.levels or z.type):
            ls = sets.get(name)
            if ls is None:
                problems.append(ConfigProblem(where, f"unknown level set {name!r}; known: {known}"))
            elif ls.metric == "flow_per_m":
                problems.append(
                    ConfigProblem(
                        where, f"level set {name!r} is on flow per metre, which is for lines"
                    )
                )
            elif ls.metric == "capacity_use" and z.capacity is None:
                problems.append(
                    ConfigProblem(
                        where, f"level set {name!r} is on capacity use: give the zone a capacity"
                    )
                )
    for ln in site.lines:
        where = f"site.lines[{ln.id}].levels"
        for name in sets_of(ln.levels or "flow"):
            ls = sets.get(name)
            if ls is None:
                problems.append(ConfigProblem(where, f"unknown level set {name!r}; known: {known}"))
            elif ls.metric != "flow_per_m":
                problems.append(
                    ConfigProblem(
                        where, f"level set {name!r} is not on flow per metre (flow_per_m)"
                    )
                )
    subjects = {z.id for z in site.zones} | {ln.id for ln in site.lines}
    for r in config.rules:
        unknown = [s for s in r.subjects if s not in subjects]
        if unknown:
            problems.append(
                ConfigProblem(
                    f"zones.rules[{r.id}].subjects",
                    f"unknown zone or line {', '.join(unknown)}; add it under [site] or remove it",
                )
            )
        if r.level is not None and not any(ls.index(r.level) is not None for ls in sets.values()):
            problems.append(
                ConfigProblem(
                    f"zones.rules[{r.id}].level",
                    f"no level set has a level {r.level!r}; use a level name such as 'orange'",
                )
            )
    return problems
