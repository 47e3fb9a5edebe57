"""Do the durable queues' bounds fit on the disk they live on?

Each durable queue may grow to its ``queue_max_bytes`` while its output is down,
and then drops its oldest events, counted, as configured. If the file system
under ``data_dir`` fills up first, the queues can no longer write at all: new
events are refused (HTTP ``503``, MQTT left unacknowledged) instead of the
oldest being dropped. :func:`disk_room_warning` says so before it happens:
``hub check-config`` prints it and ``hub run`` logs it at start. A warning, not
an error: the space may be freed, and an outage may never last that long.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from hub.core.bus.durable_settings import queue_path
from hub.plugin import SinkConfig

__all__ = ["disk_room_warning"]

_MIB = 2**20


def disk_room_warning(sinks: Mapping[str, Sequence[SinkConfig]], data_dir: Path) -> str | None:
    """One line when the enabled durable queues' ``queue_max_bytes`` together exceed what
    is free under ``data_dir`` (counting what their files already take); else None."""
    queues = [
        (kind, cfg)
        for kind, items in sinks.items()
        for cfg in items
        if cfg.enabled and cfg.queue == "durable"
    ]
    if not queues:
        return None
    existing = data_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        st = os.statvfs(existing)
    except OSError:
        return None  # an unusable data_dir is its own config problem
    free = st.f_bavail * st.f_frsize
    taken = sum(_size(queue_path(data_dir, kind, cfg.id)) for kind, cfg in queues)
    bound = sum(cfg.queue_max_bytes for _, cfg in queues)
    if bound <= free + taken:
        return None
    return (
        f"hub.data_dir {data_dir}: the durable queues of {len(queues)} output(s) may grow to "
        f"{bound / _MIB:,.0f} MiB together (queue_max_bytes) but {(free + taken) / _MIB:,.0f} "
        "MiB are free there: a long output outage would fill the disk, and then new events "
        "are refused (HTTP 503, MQTT unacknowledged) instead of the oldest being dropped; "
        "lower queue_max_bytes or give data_dir more room"
    )


def _size(path: Path) -> int:
    total = 0
    for p in (path, path.with_name(path.name + "-wal")):
        with contextlib.suppress(OSError):  # not there yet
            total += p.stat().st_size
    return total
