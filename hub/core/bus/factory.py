"""The queue factory: which queue class a sink gets, chosen by its ``queue`` setting.

A queue class is registered under the name users write in ``queue = "<name>"``
with one line, a callable that builds it from a :class:`QueueSpec`::

    QUEUES["durable"] = lambda spec: DurableQueue(spec.data_dir, spec.label, ...)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

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

QUEUES: dict[str, QueueFactory] = {
    "memory": lambda spec: MemoryQueue(spec.maxsize, spec.overflow, spec.label),
}
"""Queue classes by the name used in ``queue = "..."``; register a new one here."""


def queue_problems(sinks: Mapping[str, list[SinkConfig]]) -> list[ConfigProblem]:
    """One problem per sink whose ``queue`` names no registered queue class."""
    known = ", ".join(sorted(QUEUES))
    return [
        ConfigProblem(
            f"sinks.{kind}[{cfg.id}].queue",
            f"unknown queue {cfg.queue!r}; use one of: {known}",
        )
        for kind, items in sinks.items()
        for cfg in items
        if cfg.queue not in QUEUES
    ]


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
