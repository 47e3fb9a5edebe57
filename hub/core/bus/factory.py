"""The queue factory: which queue class a sink gets, chosen by its ``queue`` setting.

A queue class is registered under the name users write in ``queue = "<name>"``
with one line, a callable that builds it from a :class:`QueueSpec`::

    QUEUES["memory"] = lambda spec: MemoryQueue(spec.maxsize, spec.overflow, spec.label)

``durable`` (the default: one SQLite file per output under ``data_dir/queues``,
see :mod:`hub.core.bus.durable`) and ``memory`` (lost at a stop; for demos) are
built in. Building a durable queue opens its file and may raise
:class:`~hub.errors.QueueUnavailable`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from hub.core.bus.durable import DurableQueue
from hub.core.bus.durable_settings import DurableQueueSettings, queue_path
from hub.core.bus.queue import MemoryQueue, Overflow, SinkQueue
from hub.errors import ConfigError, ConfigProblem
from hub.plugin import SinkConfig

__all__ = ["QUEUES", "QueueSpec", "make_queue", "queue_problems"]


@dataclass(frozen=True)
class QueueSpec:
    """Everything a queue class may need to build the queue of one sink instance."""

    kind: str  # the sink kind, e.g. "sqlite"
    instance: str  # the sink id
    label: str  # "sinks.<kind>[<id>]", for log lines
    maxsize: int  # config.queue_size
    overflow: Overflow  # config.overflow
    data_dir: Path  # [hub] data_dir, for queues that keep state on disk
    config: SinkConfig  # the whole sink config, for class-specific settings


QueueFactory = Callable[[QueueSpec], SinkQueue]


def durable_settings(config: SinkConfig) -> DurableQueueSettings:
    """The durable queue settings of one sink, from its ``queue_*`` and ``overflow`` fields."""
    return DurableQueueSettings(
        max_bytes=config.queue_max_bytes,
        max_age_s=config.queue_max_age_s,
        overflow=config.overflow,
        synchronous=config.queue_synchronous,
        commit_interval_s=config.queue_commit_interval_s,
    )


def _durable(spec: QueueSpec) -> SinkQueue:
    return DurableQueue(
        queue_path(spec.data_dir, spec.kind, spec.instance),
        output=f"{spec.kind}[{spec.instance}]",
        settings=durable_settings(spec.config),
    )


QUEUES: dict[str, QueueFactory] = {
    "durable": _durable,
    "memory": lambda spec: MemoryQueue(spec.maxsize, spec.overflow, spec.label),
}
"""Queue classes by the name used in ``queue = "..."``; register a new one here."""

_DURABLE_ONLY = (
    "queue_max_bytes",
    "queue_max_age_s",
    "queue_synchronous",
    "queue_commit_interval_s",
)
_MEMORY_ONLY = ("queue_size",)


def queue_problems(sinks: Mapping[str, list[SinkConfig]]) -> list[ConfigProblem]:
    """Problems with the queue settings of each sink: an unknown ``queue`` class, or a
    setting the chosen class ignores set to a non-default value (it would not apply)."""
    known = ", ".join(sorted(QUEUES))
    problems: list[ConfigProblem] = []
    for kind, items in sinks.items():
        for cfg in items:
            where = f"sinks.{kind}[{cfg.id}]"
            if cfg.queue not in QUEUES:
                problems.append(
                    ConfigProblem(
                        f"{where}.queue", f"unknown queue {cfg.queue!r}; use one of: {known}"
                    )
                )
                continue
            ignored = {"durable": _MEMORY_ONLY, "memory": _DURABLE_ONLY}.get(cfg.queue, ())
            fields = SinkConfig.model_fields
            changed = [n for n in ignored if getattr(cfg, n) != fields[n].default]
            for name in sorted(changed):
                other = "memory" if cfg.queue == "durable" else "durable"
                problems.append(
                    ConfigProblem(
                        f"{where}.{name}",
                        f'applies only to queue = "{other}", but this output uses '
                        f'queue = "{cfg.queue}"; remove it or set queue = "{other}"',
                    )
                )
    return problems


def make_queue(kind: str, config: SinkConfig, data_dir: Path) -> SinkQueue:
    """The queue for sink ``kind[config.id]``, of the class its ``queue`` setting names."""
    factory = QUEUES.get(config.queue)
    if factory is None:
        raise ConfigError(queue_problems({kind: [config]}))
    spec = QueueSpec(
        kind=kind,
        instance=config.id,
        label=f"sinks.{kind}[{config.id}]",
        maxsize=config.queue_size,
        overflow=config.overflow,
        data_dir=data_dir,
        config=config,
    )
    return factory(spec)
