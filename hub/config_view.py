"""A read-only view of the validated configuration, handed to the ``configure`` hook.

Plugins inspect it for rules a single config model cannot express (two sources
that must not share a port, a zone every counter must name, ...) and raise
:class:`~hub.errors.ConfigError` to refuse it::

    @hub.hookimpl
    def configure(config: hub.ConfigView) -> None:
        ports = [s.serial.port for s in config.sources.get("my_counter", ())]
        ...

Nothing in it can be changed: the mappings are read-only, the instance configs
are frozen pydantic models held in tuples, the ``[hub]`` settings are plain data.
"""

from __future__ import annotations

__all__ = ["ConfigView"]

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from hub.plugin import InstanceConfig, SinkConfig, SourceConfig, TransportConfig
from hub.site import Site

_C = TypeVar("_C", bound=InstanceConfig)


def _freeze(section: Mapping[str, Any]) -> Mapping[str, tuple[Any, ...]]:
    return MappingProxyType({kind: tuple(items) for kind, items in section.items()})


@dataclass(frozen=True, eq=False)
class ConfigView:
    """The validated configuration, read-only.

    * ``site``: the site model (zones, lines);
    * ``hub``: the ``[hub]`` settings as a read-only mapping (``data_dir``,
      ``log_level``, ...), ``data_dir`` also resolved as a path;
    * ``transports`` / ``sources`` / ``sinks``: kind -> tuple of instance configs
      (each an instance of the kind's ``config_model``), in file order;
    * ``path``: the configuration file, when it came from one.
    """

    site: Site
    hub: Mapping[str, Any]
    data_dir: Path
    transports: Mapping[str, tuple[TransportConfig, ...]]
    sources: Mapping[str, tuple[SourceConfig, ...]]
    sinks: Mapping[str, tuple[SinkConfig, ...]]
    path: Path | None = None

    @classmethod
    def of(
        cls,
        *,
        site: Site,
        hub: Mapping[str, Any],
        data_dir: Path,
        transports: Mapping[str, Any],
        sources: Mapping[str, Any],
        sinks: Mapping[str, Any],
        path: Path | None = None,
    ) -> ConfigView:
        """Build a view, copying the sections into read-only mappings of tuples."""
        return cls(
            site=site,
            hub=MappingProxyType(dict(hub)),
            data_dir=data_dir,
            transports=_freeze(transports),
            sources=_freeze(sources),
            sinks=_freeze(sinks),
            path=path,
        )

    def instances(self, section: str) -> Iterator[tuple[str, InstanceConfig]]:
        """``(kind, config)`` of every instance in ``section`` ('sources', 'sinks' or
        'transports'), enabled or not."""
        table: Mapping[str, tuple[InstanceConfig, ...]]
        if section == "sources":
            table = self.sources
        elif section == "sinks":
            table = self.sinks
        elif section == "transports":
            table = self.transports
        else:
            raise ValueError(f"unknown section {section!r}: use sources, sinks or transports")
        for kind, items in table.items():
            for item in items:
                yield kind, item

    def of_kind(self, section: str, kind: str, model: type[_C]) -> tuple[_C, ...]:
        """The instances of ``kind`` in ``section``, typed as ``model`` (checked)::

        counters = config.of_kind("sources", "my_counter", MyCounterConfig)
        """
        found: list[_C] = []
        for k, c in self.instances(section):
            if k != kind:
                continue
            if not isinstance(c, model):
                raise TypeError(
                    f"{section}.{kind}[{c.id}] is a {type(c).__name__}, not a {model.__name__}"
                )
            found.append(c)
        return tuple(found)
