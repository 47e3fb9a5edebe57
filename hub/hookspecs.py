"""Every hook a crowdhub plugin can implement. This module *is* the plugin contract.

Hooks run once, synchronously, at startup, in the order below. They
*register* classes or inspect configuration; the registered objects do the
async work. No hook is called on the per-event path. Only ``startup`` and
``shutdown`` may return an awaitable, which the core awaits.

A plugin is a module (or object) with functions decorated by
:data:`hub.hookimpl`, published under the ``crowdhub`` entry-point group::

    [project.entry-points.crowdhub]
    my_counter = "my_counter_plugin"

Phases:

1. registration: :func:`register_transports`, :func:`register_sources`,
   :func:`register_sinks`; :func:`register_simulators` (only for ``hub simulate``
   and ``hub demo``)
2. configuration: :func:`configure`
3. lifecycle: :func:`startup`, :func:`shutdown`
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from hub.config_view import ConfigView
    from hub.plugin import HubHandle, Sink, Source, Transport
    from hub.simulate.base import Simulator

PROJECT = "crowdhub"
hookspec = pluggy.HookspecMarker(PROJECT)


# -- phase 1: registration -------------------------------------------------------------


@hookspec
def register_transports(register: Callable[[type[Transport[Any]]], None]) -> None:
    """Register transport classes (serial, MQTT, HTTP...).

    Call ``register(TransportClass)`` once per class. The class's ``kind`` is
    the config table name ``[[transports.<kind>]]`` and the name sources pass to
    ``ctx.transport(kind, id)`` (the built-in kinds have typed accessors:
    ``ctx.mqtt(id)``, ``ctx.serial()``, ``ctx.http_server(id)``,
    ``ctx.http_client(id)``). Return nothing.
    """


@hookspec
def register_sources(register: Callable[[type[Source[Any]]], None]) -> None:
    """Register source (device adapter) classes.

    Call ``register(SourceClass)`` once per class. ``SourceClass.kind`` is the
    config table name (``[[sources.<kind>]]``) and must be unique across all
    plugins; a duplicate is a startup error naming both plugins. Return nothing.
    """


@hookspec
def register_sinks(register: Callable[[type[Sink[Any]]], None]) -> None:
    """Register sink (output) classes.

    Call ``register(SinkClass)`` once per class; ``SinkClass.kind`` is the
    config table name (``[[sinks.<kind>]]``). Return nothing.
    """


@hookspec
def register_simulators(register: Callable[[type[Simulator]], None]) -> None:
    """Register simulated devices for ``hub simulate`` (and the demo).

    Call ``register(SimulatorClass)`` once per device; the class subclasses
    :class:`hub.simulate.Simulator`. ``SimulatorClass.device`` is the name after
    ``hub simulate`` and, with its ``aliases``, must be unique across all plugins;
    a duplicate is an error naming both plugins. Called only by ``hub simulate``
    and ``hub demo``, never by ``hub run``: import the simulator module inside
    the hook. Return nothing.
    """


# -- phase 2: configuration ------------------------------------------------------------


@hookspec
def configure(config: ConfigView) -> None:
    """Inspect the validated configuration (a read-only view) before anything starts.

    Raise :class:`hub.errors.ConfigError` to refuse it (for cross-instance
    rules a single model cannot express). Do not start I/O here. Return nothing.
    """


# -- phase 3: lifecycle ----------------------------------------------------------------


@hookspec
def startup(hub: HubHandle) -> Awaitable[None] | None:
    """Called once after outputs and transports are running, before sources start.

    May return an awaitable (e.g. an ``async def``'s coroutine); the core awaits
    it. Keep it short: long-running work belongs in a registered Source or Sink.
    """


@hookspec
def shutdown(hub: HubHandle) -> Awaitable[None] | None:
    """Called once when the hub stops, after sources stopped and sinks were flushed.

    May return an awaitable, which the core awaits (with a timeout).
    """
