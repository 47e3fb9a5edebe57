"""Loading and validating the one TOML configuration file.

Every problem is collected before anything starts and reported one per line,
naming the table, the instance id and the field::

    sources.tfluna[gate-a].serial.baudrate: Input should be a valid integer

``"${NAME}"`` (or ``"${NAME:-default}"``) in any string is replaced by the
environment variable, so secrets never have to be written in the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.config_view import ConfigView
from hub.core.bus import queue_problems
from hub.core.config_checks import (
    data_dir_problem,
    duplicate_ids,
    empty_secrets,
    identifier_shaped_ids,
    site_references,
)
from hub.core.config_file import read_toml as read_toml
from hub.core.config_file import substitute_env as substitute_env
from hub.core.config_hints import did_you_mean, model_at, unknown_key_message
from hub.core.plugins import Registry
from hub.core.view_config import forget_unset_tokens, token_problems, views_and_problems
from hub.dashboard.settings import DashboardSettings, dashboard_problems, served_views
from hub.errors import ConfigError, ConfigProblem
from hub.plugin import SinkConfig, SourceConfig, TransportConfig
from hub.site import Site
from hub.views import View
from hub.zones import ZonesConfig
from hub.zones.validate import zones_problems

TOP_LEVEL = (
    "hub",
    "plugins",
    "site",
    "zones",
    "views",
    "dashboard",
    "transports",
    "sources",
    "sinks",
)


class HubSettings(BaseModel):
    """The ``[hub]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    data_dir: str = Field(
        default="data", description="state folder: dead letters, status (relative to the file)"
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="log verbosity"
    )
    status_interval_s: float = Field(
        default=2.0, gt=0, description="how often data_dir/status.json is refreshed"
    )
    shutdown_timeout_s: float = Field(
        default=10.0, gt=0, description="time allowed to flush outputs on stop"
    )
    max_clock_skew_s: float = Field(
        default=300.0,
        gt=0,
        description="an event time further ahead of the hub clock is flagged clock_skew "
        "(suspect); more than a day (or 10x this) ahead, it is refused",
    )


class PluginSettings(BaseModel):
    """The ``[plugins]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    load: list[str] | None = Field(
        default=None, description="load only these installed third-party plugins"
    )
    block: list[str] = Field(default_factory=list, description="never load these plugins")


@dataclass
class HubConfig:
    """A validated configuration: settings, site, and one config object per instance."""

    hub: HubSettings
    plugins: PluginSettings
    site: Site
    transports: dict[str, list[TransportConfig]] = field(default_factory=dict)
    sources: dict[str, list[SourceConfig]] = field(default_factory=dict)
    sinks: dict[str, list[SinkConfig]] = field(default_factory=dict)
    path: Path | None = None
    zones: ZonesConfig = field(default_factory=ZonesConfig)
    views: tuple[View, ...] = ()
    dashboard: DashboardSettings = field(default_factory=DashboardSettings)

    @property
    def data_dir(self) -> Path:
        base = self.path.parent if self.path else Path.cwd()
        return (base / self.hub.data_dir).resolve()

    def view(self) -> ConfigView:
        """The read-only, public view of this configuration (for the ``configure`` hook)."""
        return ConfigView.of(
            site=self.site,
            hub=self.hub.model_dump(),
            data_dir=self.data_dir,
            transports=self.transports,
            sources=self.sources,
            sinks=self.sinks,
            path=self.path,
        )


def preliminary_plugin_settings(raw: dict[str, Any]) -> PluginSettings:
    """The ``[plugins]`` table, needed before plugins load (errors are reported later)."""
    try:
        return PluginSettings.model_validate(raw.get("plugins", {}))
    except ValidationError:
        return PluginSettings()


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _message(err: Any, model: type[BaseModel] | None) -> str:
    """pydantic's message, or a clearer one; ``model`` is the validated (outer) model."""
    msg: str = err["msg"]
    loc = err["loc"]
    if err["type"] == "extra_forbidden" and loc:
        return unknown_key_message(str(loc[-1]), model_at(model, loc) if model else None)
    if err["type"] == "missing":
        return "field required"
    return msg


def validation_problems(
    prefix: str, exc: ValidationError, model: type[BaseModel] | None = None
) -> list[ConfigProblem]:
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if p not in ("function-after",))
        problems.append(ConfigProblem(f"{prefix}{_loc(loc)}", _message({**err, "loc": loc}, model)))
    return problems


def _instances(
    table: str,
    raw: Any,
    kinds: dict[str, Any],
    problems: list[ConfigProblem],
    seen_entries: list[tuple[str, dict[str, Any]]] | None = None,
    env_refs: dict[str, str] | None = None,
) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    if raw is None:
        return out
    if not isinstance(raw, dict):
        problems.append(ConfigProblem(table, f"must be tables like [[{table}.<kind>]]"))
        return out
    for kind, entries in raw.items():
        if kind not in kinds:
            hints = _retired_kind_hints(table, kind, entries, kinds)
            if hints:
                problems.extend(hints)
                continue
            known = ", ".join(sorted(kinds)) or "(none)"
            hint = did_you_mean(kind, kinds)
            problems.append(
                ConfigProblem(
                    f"{table}.{kind}",
                    f"unknown {table[:-1]} kind {kind!r}{hint + ' ' if hint else '; '}"
                    f"installed kinds: {known}. "
                    "Check the spelling, or install the plugin that provides it "
                    "(`hub plugins` lists them)",
                )
            )
            continue
        if isinstance(entries, dict):
            entries = [entries]
        if not isinstance(entries, list):
            problems.append(
                ConfigProblem(f"{table}.{kind}", f"write instances as [[{table}.{kind}]] tables")
            )
            continue
        model: type[BaseModel] = kinds[kind][0].config_model
        seen: set[str] = set()
        for i, entry in enumerate(entries):
            ident = entry.get("id") if isinstance(entry, dict) else None
            if table == "transports" and ident is None:
                ident = "default"
            label = f"{table}.{kind}[{ident if isinstance(ident, str) else f'#{i + 1}'}]"
            if not isinstance(entry, dict):
                problems.append(ConfigProblem(label, "must be a table"))
                continue
            if seen_entries is not None:
                seen_entries.append((label, entry))
            if isinstance(ident, str):
                if ident in seen:
                    problems.append(
                        ConfigProblem(f"{label}.id", f"duplicate id {ident!r} in {table}.{kind}")
                    )
                seen.add(ident)
            try:
                cfg = model.model_validate(entry)
            except ValidationError as exc:
                problems.extend(validation_problems(label, exc, model))
                continue
            raw_path = f"{table}.{kind}[{i}]" if isinstance(raw[kind], list) else f"{table}.{kind}"
            problems.extend(empty_secrets(cfg, label, raw_path, env_refs or {}))
            out.setdefault(kind, []).append(cfg)
    return out


def _retired_kind_hints(
    table: str, kind: str, entries: Any, kinds: dict[str, Any]
) -> list[ConfigProblem]:
    """A kind a plugin no longer registers (renamed, split): the plugin's line per instance."""
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list):
        return []
    out: list[ConfigProblem] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        ident = entry.get("id")
        label = f"{table}.{kind}[{ident if isinstance(ident, str) else f'#{i + 1}'}]"
        for name in sorted(kinds):
            ask = getattr(kinds[name][0], "retired_kind_hint", None)
            try:
                hint = ask(kind, entry) if callable(ask) else None
            except Exception:  # a faulty hint must not hide the config problem
                hint = None
            if isinstance(hint, str) and hint:
                out.append(ConfigProblem(label, hint))
                break
    return out


def load_config(path: str | Path, registry: Registry) -> HubConfig:
    """Read, substitute, validate. Raises ConfigError with every problem found."""
    path = Path(path)
    raw = read_toml(path)
    refs: dict[str, str] = {}
    problems, tokens_checked = token_problems(raw.get("views"))
    raw = substitute_env(raw, "", problems, refs)
    problems = [p for p in problems if p.location not in tokens_checked]
    forget_unset_tokens(raw, tokens_checked)
    cfg = validate_config(raw, registry, problems, env_refs=refs)
    if cfg is not None:
        cfg.path = path.resolve()
        bad_dir = data_dir_problem(cfg.data_dir)
        if bad_dir is not None:
            problems.append(bad_dir)
    if problems or cfg is None:
        raise ConfigError(problems, str(path))
    run_configure_hooks(cfg, registry, str(path))
    return cfg


def run_configure_hooks(cfg: HubConfig, registry: Registry, file: str | None = None) -> None:
    """Call every plugin's ``configure(config)`` with a read-only view; collect the
    problems they raise."""
    problems: list[ConfigProblem] = []
    view = cfg.view()
    for impl in reversed(registry.pm.hook.configure.get_hookimpls()):
        try:
            impl.function(config=view)
        except ConfigError as err:
            problems.extend(err.problems)
        except Exception as err:  # a plugin bug is still reported as one clear line
            problems.append(
                ConfigProblem(
                    f"plugin {impl.plugin_name}",
                    f"configure hook failed: {type(err).__name__}: {err}",
                )
            )
    if problems:
        raise ConfigError(problems, file)


def validate_config(
    raw: dict[str, Any],
    registry: Registry,
    problems: list[ConfigProblem],
    *,
    env_refs: dict[str, str] | None = None,
) -> HubConfig | None:
    """Validate the substituted tables; ``env_refs`` (from :func:`substitute_env`) names
    the variables behind empty secrets."""
    for key in raw:
        if key not in TOP_LEVEL:
            problems.append(
                ConfigProblem(
                    key,
                    f"unknown top-level table{did_you_mean(key, TOP_LEVEL)} "
                    f"(allowed: {', '.join(TOP_LEVEL)})",
                )
            )

    def section(model: type[BaseModel], name: str) -> Any:
        try:
            return model.model_validate(raw.get(name, {}))
        except ValidationError as exc:
            problems.extend(validation_problems(name, exc, model))
            return None

    settings = section(HubSettings, "hub")
    plugin_settings = section(PluginSettings, "plugins")
    dashboard = section(DashboardSettings, "dashboard")
    site = _site(raw.get("site", {}), problems)
    zones = _zones(raw.get("zones", {}), site, problems)

    refs = env_refs or {}
    transports = _instances(
        "transports", raw.get("transports"), registry.transports, problems, env_refs=refs
    )
    raw_sources: list[tuple[str, dict[str, Any]]] = []
    sources = _instances(
        "sources", raw.get("sources"), registry.sources, problems, raw_sources, refs
    )
    sinks = _instances("sinks", raw.get("sinks"), registry.sinks, problems, env_refs=refs)

    if site is not None:
        problems.extend(site_references(site, sources, raw_sources))
        problems.extend(identifier_shaped_ids(site, sources))
    problems.extend(duplicate_ids("sources", sources))
    problems.extend(duplicate_ids("sinks", sinks))
    problems.extend(queue_problems(sinks))
    _check_transports(registry, transports, sources, sinks, problems)
    views, view_problems = views_and_problems(raw.get("views"), site, sinks, registry.sinks)
    problems.extend(view_problems)
    if dashboard is not None and site is not None and zones is not None:
        problems.extend(
            dashboard_problems(
                dashboard,
                zones=zones.enabled and bool(site.zones),
                http_ids=[t.id for t in transports.get("http", [])],
                live_views=len(served_views(views)),
                sinks=sinks,
            )
        )
    if settings is None or plugin_settings is None or site is None or zones is None:
        return None
    config = HubConfig(settings, plugin_settings, site, transports, sources, sinks, zones=zones)
    config.views = tuple(views)
    config.dashboard = dashboard or config.dashboard
    return config


def _zones(raw: Any, site: Site | None, problems: list[ConfigProblem]) -> ZonesConfig | None:
    """The ``[zones]`` table, checked against the site (rules and level sets by id)."""
    if not isinstance(raw, dict):
        problems.append(ConfigProblem("zones", "must be a table"))
        return None
    try:
        zones = ZonesConfig.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            where = "zones" + _loc(loc)
            # name rules and profiles by their id rather than their position
            if len(loc) >= 2 and loc[0] in ("rules", "profiles") and isinstance(loc[1], int):
                items = raw.get(str(loc[0]), [])
                item = items[loc[1]] if isinstance(items, list) and loc[1] < len(items) else None
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    where = f"zones.{loc[0]}[{item['id']}]{_loc(loc[2:])}"
            message = _message(err, ZonesConfig)
            problems.append(ConfigProblem(where, message.removeprefix("Value error, ")))
        return None
    if site is not None:
        problems.extend(zones_problems(site, zones))
    return zones


def _site(raw: Any, problems: list[ConfigProblem]) -> Site | None:
    if not isinstance(raw, dict):
        problems.append(ConfigProblem("site", "must be a table"))
        return None
    try:
        return Site.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            loc = list(err["loc"])
            # name zones/lines by their id rather than their position
            if len(loc) >= 2 and loc[0] in ("zones", "lines") and isinstance(loc[1], int):
                items = raw.get(loc[0], [])
                item = items[loc[1]] if loc[1] < len(items) else None
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    loc[1] = item["id"]
                    where = f"site.{loc[0]}[{loc[1]}]" + _loc(tuple(loc[2:]))
                else:
                    where = "site" + _loc(tuple(loc))
            else:
                where = "site" + _loc(tuple(loc))
            problems.append(ConfigProblem(where, _message(err, Site).removeprefix("Value error, ")))
        return None


def _check_transports(
    registry: Registry,
    transports: dict[str, list[TransportConfig]],
    sources: dict[str, list[SourceConfig]],
    sinks: dict[str, list[SinkConfig]],
    problems: list[ConfigProblem],
) -> None:
    """Every transport a source/sink asks for exists; add defaults that need no config."""
    users: list[tuple[str, Any, Any]] = []
    for kind, items in sources.items():
        cls = registry.sources[kind][0]
        users += [(f"sources.{kind}[{c.id}]", cls, c) for c in items if c.enabled]
    for kind, sitems in sinks.items():
        scls = registry.sinks[kind][0]
        users += [(f"sinks.{kind}[{c.id}]", scls, c) for c in sitems if c.enabled]
    for label, cls, cfg in users:
        for t_kind, t_id in cls.required_transports(cfg):
            ident = t_id or "default"
            if t_kind not in registry.transports:
                problems.append(
                    ConfigProblem(
                        label, f"needs transport {t_kind!r}, which no installed plugin provides"
                    )
                )
                continue
            have = {t.id for t in transports.get(t_kind, [])}
            if ident in have:
                continue
            model = registry.transports[t_kind][0].config_model
            if ident == "default":
                try:
                    transports.setdefault(t_kind, []).append(model.model_validate({}))
                    continue
                except ValidationError:
                    pass
            problems.append(
                ConfigProblem(
                    label,
                    f"uses {t_kind} transport {ident!r}, but there is no "
                    f"[[transports.{t_kind}]] table with id = {ident!r} "
                    f"(configured: {', '.join(sorted(have)) or 'none'})",
                )
            )
