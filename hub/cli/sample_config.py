"""``hub sample-config``: the kinds there are, one commented table, or a whole config.

* no argument: the tables and plugin kinds that have samples;
* ``site``, ``hub``, ``plugins``, ``views``: the core tables, generated from their models;
* ``zones``: the crowd picture's table (``hub/zones/sample.toml``);
* ``dashboard``: whether and where the hub serves the dashboard (generated);
* ``KIND`` or ``sources.KIND`` / ``sinks.KIND`` / ``transports.KIND``: a plugin's sample
  (a bare ``mqtt`` is the output; ``transports.mqtt`` the broker connection);
* ``--all``: a whole commented config that passes ``hub check-config`` as printed: a
  simulated source on the console, every other kind commented out, ready to uncomment.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from typing import Any

from pydantic import BaseModel

import hub
from hub.core.config import HubSettings, PluginSettings
from hub.core.plugins import Registry, load_plugins
from hub.core.samples import generated_sample, model_lines, sample_for, sample_values
from hub.dashboard.settings import DashboardSettings
from hub.site import Line, Site, Zone
from hub.views import View

EXIT_OK, EXIT_UNKNOWN = 0, 2
TABLES = ("hub", "plugins", "site", "zones", "views", "dashboard")
_TABLE_KINDS = ("sources", "sinks", "transports")

# example values for the required fields of the site tables
_ZONE = {"id": "boulevard", "name": "Boulevard", "area_m2": 1200.0}
_LINE = {"id": "gate-a", "zone": "boulevard", "width_m": 4.0}
_VIEW = {
    "id": "organiser",
    "name": "Organiser",
    "token": "${ORGANISER_TOKEN}",
    "zones": ["boulevard"],
    "measurements": ["crossing", "occupancy", "zone_state", "alert"],
    "time_resolution": "15min",
    "suppress_below": 5,
    "noise": True,
}


def _table(title: str, header: str, model: type[BaseModel], **kw: Any) -> list[str]:
    return [f"# {title}", header, *model_lines(model, **kw)]


def site_sample() -> str:
    lines = _table(
        "[site]: the monitored place; sources attach their readings to its zones and lines",
        "[site]",
        Site,
        values={"id": "my-site", "name": "My site"},
        skip=("zones", "lines"),
    )
    zones = "one [[site.zones]] table per area people are in"
    lines += ["", *_table(zones, "[[site.zones]]", Zone, values=_ZONE)]
    counting = "one [[site.lines]] table per counting line (gate, entrance)"
    lines += ["", *_table(counting, "[[site.lines]]", Line, values=_LINE)]
    return "\n".join(lines) + "\n"


def views_sample() -> str:
    lines = [
        "# [[views]]: one party's window on the data (see docs/privacy.md for templates).",
        '# Outputs name it (view = "organiser"); an output that leaves the machine must',
        '# name one (view = "internal" is full detail). The token comes from the environment.',
        "[[views]]",
        *model_lines(View, values=_VIEW),
    ]
    return "\n".join(lines) + "\n"


def core_table(name: str) -> str | None:
    if name == "site":
        return site_sample()
    if name == "views":
        return views_sample()
    if name == "hub":
        return "\n".join(_table("[hub]: the hub itself", "[hub]", HubSettings)) + "\n"
    if name == "plugins":
        title = "[plugins]: which installed third-party plugins load"
        return "\n".join(_table(title, "[plugins]", PluginSettings)) + "\n"
    if name == "dashboard":
        title = "[dashboard]: the live picture in a browser, at / on the hub's HTTP server"
        return "\n".join(_table(title, "[dashboard]", DashboardSettings)) + "\n"
    if name == "zones":
        return resources.files("hub.zones").joinpath("sample.toml").read_text(encoding="utf-8")
    return None


def _entries(registry: Registry, table: str) -> dict[str, Any]:
    entries: dict[str, Any] = getattr(registry, table)
    return entries


def sample_text(registry: Registry, name: str) -> str | None:
    """The sample for a core table, a kind, or a ``table.kind``; None when unknown."""
    table_text = core_table(name)
    if table_text is not None:
        return table_text
    table, _, kind = name.partition(".")
    if kind and table in _TABLE_KINDS:
        entries = _entries(registry, table)
        if kind not in entries:
            return None
        if table == "sources":
            return sample_for(registry, kind)
        cls = entries[kind][0]
        return generated_sample(table, kind, cls.config_model, sample_values(table, kind, cls))
    return sample_for(registry, name)


def listing(registry: Registry) -> str:
    lines = [
        "hub sample-config NAME prints a commented sample; --all a whole config.",
        f"  tables:     {', '.join(TABLES)}",
    ]
    labels = (("sources", "sources"), ("sinks", "outputs"), ("transports", "transports"))
    for table, label in labels:
        kinds = sorted(_entries(registry, table))
        lines.append(f"  {label + ':':<11} {', '.join(kinds) or '(none)'}")
    lines.append("A kind in two tables (mqtt) is the output; write transports.mqtt for the other.")
    return "\n".join(lines) + "\n"


def _commented(text: str) -> str:
    return "\n".join(f"# {ln}" if ln and not ln.startswith("#") else ln for ln in text.splitlines())


def whole_config(registry: Registry) -> str:
    """Every table: the core ones active, one simulated source on the console, the rest
    commented out. Valid as printed."""
    parts = [
        f"# crowdhub {hub.__version__} configuration, from `hub sample-config --all`.",
        "# Check it with `hub check-config FILE`, run it with `hub run FILE`. Secrets come",
        '# from the environment: password = "${MQTT_PASSWORD}". As printed, a simulated',
        "# source counts crossings on gate-a and the console prints them: uncomment and",
        "# adapt the tables of your devices and outputs, then remove the simulated source.",
        "",
        core_table("hub") or "",
        core_table("plugins") or "",
        site_sample(),
        core_table("zones") or "",
        "# ---- views: who sees what (uncomment, export the token, name it on outputs) ----",
        _commented(views_sample()),
        "",
        core_table("dashboard") or "",
        "# ---- transports: connections and servers that sources and outputs share ----",
    ]
    for kind in sorted(registry.transports):
        parts += [_commented(sample_text(registry, f"transports.{kind}") or ""), ""]
    parts.append("# ---- sources: one table per device or feed ----")
    for kind in sorted(registry.sources):
        if kind == "simulated":
            simulated = registry.sources[kind][0].config_model
            parts += [
                "# a simulated gate counter, so that this file runs as it is",
                "[[sources.simulated]]",
                *model_lines(simulated, {"id": "sim-gate", "line": "gate-a"}),
                "",
            ]
            continue
        model = registry.sources[kind][0].config_model
        parts += [_commented(generated_sample("sources", kind, model)), ""]
    parts.append("# ---- outputs (sinks): where events go ----")
    for kind in sorted(registry.sinks):
        cls = registry.sinks[kind][0]
        text = generated_sample("sinks", kind, cls.config_model, sample_values("sinks", kind, cls))
        parts += [text if kind == "console" else _commented(text), ""]
    return "\n".join(parts).rstrip("\n") + "\n"


def cmd_sample_config(args: argparse.Namespace) -> int:
    registry = load_plugins()
    if args.all:
        text: str | None = whole_config(registry)
    elif args.name is None:
        text = listing(registry)
    else:
        text = sample_text(registry, args.name)
    if text is None:
        names = [*TABLES, *sorted({*registry.sources, *registry.sinks, *registry.transports})]
        print(
            f"hub: no table or plugin kind {args.name!r}; known: {', '.join(names)} "
            "(`hub sample-config` lists them by table)",
            file=sys.stderr,
        )
        return EXIT_UNKNOWN
    print(text, end="" if text.endswith("\n") else "\n")
    return EXIT_OK


def add_sample_config_parser(sub: Any) -> None:
    s = sub.add_parser(
        "sample-config",
        help="print a commented sample: a table, a plugin kind, or --all for a whole config",
    )
    s.add_argument(
        "name", nargs="?", help="site, hub, plugins, a kind, or TABLE.KIND (transports.mqtt)"
    )
    s.add_argument("--all", action="store_true", help="a whole commented config")
    s.set_defaults(func=cmd_sample_config)
