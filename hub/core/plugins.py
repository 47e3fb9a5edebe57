"""The plugin manager factory and the registry of source/sink/transport kinds.

There is no module-global manager: :func:`load_plugins` builds a fresh
``pluggy.PluginManager`` each time. Built-in plugins are imported and
registered by the same function that registers third-party ones found under
the ``crowdhub`` entry-point group.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

import pluggy

import hub
from hub import hookspecs
from hub.errors import PluginError
from hub.plugin import Sink, Source, Transport

ENTRY_POINT_GROUP = "crowdhub"
ENV_LOAD = "HUB_LOAD_PLUGINS"
ENV_BLOCK = "HUB_BLOCK_PLUGINS"

BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    ("transport_serial", "hub.core.transports.serial"),
    ("transport_mqtt", "hub.core.transports.mqtt.client"),
    ("transport_mqtt_broker", "hub.core.transports.mqtt.broker"),
    ("transport_http", "hub.core.transports.http_server"),
    ("transport_http_client", "hub.core.transports.http_client"),
    ("output_console", "hub.outputs.console"),
    ("output_jsonl", "hub.outputs.jsonl"),
    ("output_sqlite", "hub.outputs.sqlite"),
    ("output_mqtt", "hub.outputs.mqtt"),
    ("output_http", "hub.outputs.http"),
    ("simulated", "hub.plugins.simulated"),
    ("wifi_counter", "hub.plugins.wifi_counter"),
    ("lidar", "hub.plugins.lidar"),
    ("camera_aggregate", "hub.plugins.camera_aggregate"),
    ("generic_json", "hub.plugins.generic_json"),
)
"""(plugin name, module) of every bundled plugin, registered like third-party ones."""


@dataclass
class PluginInfo:
    name: str
    version: str
    distribution: str
    module: str
    builtin: bool
    sources: list[str] = field(default_factory=list)
    sinks: list[str] = field(default_factory=list)
    transports: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "distribution": self.distribution,
            "module": self.module,
            "builtin": self.builtin,
            "sources": sorted(self.sources),
            "sinks": sorted(self.sinks),
            "transports": sorted(self.transports),
        }


@dataclass
class Registry:
    """What the loaded plugins registered, and who registered it."""

    pm: pluggy.PluginManager
    plugins: list[PluginInfo]
    sources: dict[str, tuple[type[Source[Any]], PluginInfo]] = field(default_factory=dict)
    sinks: dict[str, tuple[type[Sink[Any]], PluginInfo]] = field(default_factory=dict)
    transports: dict[str, tuple[type[Transport[Any]], PluginInfo]] = field(default_factory=dict)


def _split_env(name: str) -> list[str] | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    return [p.strip() for p in raw.split(",") if p.strip()]


def make_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def load_plugins(
    *,
    load: Iterable[str] | None = None,
    block: Iterable[str] = (),
    entrypoints: bool = True,
    extra: Iterable[tuple[str, object]] = (),
) -> Registry:
    """Build a plugin manager, register built-ins and installed plugins, collect kinds.

    ``load`` restricts third-party plugins to these names (``HUB_LOAD_PLUGINS``
    does the same; an empty value loads none); ``block`` (and
    ``HUB_BLOCK_PLUGINS``) skips plugins by name, built-ins included. ``extra``
    registers in-process plugin objects (tests). Raises PluginError listing every
    plugin that failed, one line each.
    """
    env_load = _split_env(ENV_LOAD)
    allow = set(env_load) if env_load is not None else None
    if load is not None:
        allow = set(load) if allow is None else allow & set(load)
    blocked = set(block) | set(_split_env(ENV_BLOCK) or [])

    pm = make_plugin_manager()
    infos: list[PluginInfo] = []
    errors: list[str] = []
    version = hub.__version__

    def add(name: str, obj: object, info: PluginInfo) -> None:
        if pm.has_plugin(name):
            errors.append(
                f"plugin {name!r} ({info.distribution}) is installed twice; uninstall one of them"
            )
            return
        try:
            pm.register(obj, name=name)
        except pluggy.PluginValidationError as err:
            errors.append(f"plugin {name!r} ({info.distribution}): {err}")
            return
        infos.append(info)

    for name, module in BUILTIN_PLUGINS:
        if name in blocked:
            continue
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name == module:  # bundled module not present in this build
                continue
            errors.append(f"built-in plugin {name!r} ({module}) failed to import: {err}")
            continue
        except Exception as err:  # a broken built-in is still a clear one-line error
            errors.append(f"built-in plugin {name!r} ({module}) failed to import: {err!r}")
            continue
        add(name, mod, PluginInfo(name, version, "crowdhub", module, True))

    if entrypoints:
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist else "unknown distribution"
            dist_version = ep.dist.version if ep.dist else "?"
            if ep.name in blocked or (allow is not None and ep.name not in allow):
                continue
            try:
                obj = ep.load()
            except Exception as err:
                errors.append(
                    f"plugin {ep.name!r} from distribution {dist} {dist_version} failed to "
                    f"import: {type(err).__name__}: {err}. Fix or uninstall it "
                    f"(pip uninstall {dist}), or block it with {ENV_BLOCK}={ep.name}"
                )
                continue
            module_name = obj.__name__ if isinstance(obj, ModuleType) else ep.value
            add(ep.name, obj, PluginInfo(ep.name, dist_version, dist, module_name, False))

    for name, obj in extra:
        add(name, obj, PluginInfo(name, "0", "in-process", repr(obj), False))

    try:
        pm.check_pending()
    except pluggy.PluginValidationError as err:
        plugin_name = pm.get_name(err.plugin) if err.plugin is not None else "?"
        errors.append(
            f"plugin {plugin_name!r} implements a hook that does not exist: {err}. "
            "Check the spelling against hub.hookspecs"
        )

    registry = Registry(pm=pm, plugins=infos)
    if not errors:
        _collect(registry, errors)
    if errors:
        raise PluginError("\n".join(errors))
    return registry


def _collect(registry: Registry, errors: list[str]) -> None:
    pm = registry.pm
    tables: list[tuple[str, str, type[Any], dict[str, Any]]] = [
        ("register_transports", "transports", Transport, registry.transports),
        ("register_sources", "sources", Source, registry.sources),
        ("register_sinks", "sinks", Sink, registry.sinks),
    ]
    for hook_name, attr, base, table in tables:
        for info in registry.plugins:
            plugin = pm.get_plugin(info.name)
            others = [p for p in pm.get_plugins() if p is not plugin]
            caller = pm.subset_hook_caller(hook_name, remove_plugins=others)

            def register(
                cls: type[Any],
                info: PluginInfo = info,
                attr: str = attr,
                base: type[Any] = base,
                table: dict[str, Any] = table,
            ) -> None:
                if not (isinstance(cls, type) and issubclass(cls, base)):
                    errors.append(
                        f"plugin {info.name!r} registered {cls!r} as one of its {attr}, "
                        f"but it is not a subclass of hub.{base.__name__}"
                    )
                    return
                kind = getattr(cls, "kind", None)
                if not isinstance(kind, str) or not kind.isidentifier() or kind != kind.lower():
                    errors.append(
                        f"plugin {info.name!r}: {cls.__name__}.kind must be a snake_case name, "
                        f"got {kind!r}"
                    )
                    return
                if not hasattr(cls, "config_model"):
                    errors.append(f"plugin {info.name!r}: {cls.__name__} has no config_model")
                    return
                if kind in table:
                    errors.append(
                        f"{attr[:-1]} kind {kind!r} is registered by both plugin "
                        f"{table[kind][1].name!r} and plugin {info.name!r}; block one of them"
                    )
                    return
                table[kind] = (cls, info)
                getattr(info, attr).append(kind)

            caller(register=register)
