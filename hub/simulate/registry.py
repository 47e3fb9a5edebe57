"""The simulated devices the loaded plugins contribute (``register_simulators`` hook).

:func:`collect_simulators` calls the hook on each plugin of a
:class:`~hub.core.plugins.Registry` (built-ins and installed third-party
plugins alike) and checks every registration; a bad one is a
:class:`~hub.errors.PluginError` with one line per problem, naming the plugin.
"""

from __future__ import annotations

__all__ = ["SimulatorEntry", "collect_simulators"]

import inspect
import re
from dataclasses import dataclass

from hub.core.plugins import Registry
from hub.errors import PluginError
from hub.simulate.base import Simulator

_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


@dataclass(frozen=True)
class SimulatorEntry:
    """One simulated device and the plugin that registered it."""

    cls: type[Simulator]
    plugin: str
    builtin: bool


def collect_simulators(registry: Registry) -> dict[str, SimulatorEntry]:
    """Every registered device by name, in plugin order (built-ins first)."""
    pm = registry.pm
    found: dict[str, SimulatorEntry] = {}
    names: dict[str, str] = {}  # device name or alias -> plugin
    errors: list[str] = []
    for info in registry.plugins:
        plugin = pm.get_plugin(info.name)
        others = [p for p in pm.get_plugins() if p is not plugin]
        caller = pm.subset_hook_caller("register_simulators", remove_plugins=others)

        def register(
            cls: type[Simulator], plugin: str = info.name, builtin: bool = info.builtin
        ) -> None:
            problem = _check(cls)
            if problem:
                errors.append(f"plugin {plugin!r}: {problem}")
                return
            for name in (cls.device, *cls.aliases):
                if name in names:
                    errors.append(
                        f"simulated device {name!r} is registered by both plugin "
                        f"{names[name]!r} and plugin {plugin!r}; block one of them"
                    )
                    return
            for name in (cls.device, *cls.aliases):
                names[name] = plugin
            found[cls.device] = SimulatorEntry(cls, plugin, builtin)

        try:
            caller(register=register)
        except Exception as err:  # a plugin's hook failing is its own one-line error
            errors.append(f"plugin {info.name!r}: register_simulators failed: {err!r}")
    if errors:
        raise PluginError("\n".join(errors))
    return found


def _check(cls: object) -> str | None:
    if not (isinstance(cls, type) and issubclass(cls, Simulator)):
        return f"registered {cls!r} as a simulator, but it is not a subclass of Simulator"
    name = cls.__name__
    device = getattr(cls, "device", None)
    if not isinstance(device, str) or not _NAME.match(device):
        return f"{name}.device must be a lower-case name (a-z, 0-9, _ or -), got {device!r}"
    bad = [a for a in cls.aliases if not isinstance(a, str) or not _NAME.match(a)]
    if bad:
        return f"{name}.aliases must be lower-case names, got {bad!r}"
    if not isinstance(getattr(cls, "summary", None), str):
        return f"{name}.summary must be a one-line description for 'hub simulate --help'"
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
        return f"{name} does not implement {missing}"
    return None
