"""Retention of the hub's own JSON-lines files (dead letters) by record time.

The embedded store has its own purge (:mod:`hub.outputs.sqlite_retention`);
dead letters follow the same ``keep_raw_days``. :func:`prune_jsonl` rewrites the
file *in place* (same inode), so a writer holding it open in append mode keeps
appending to the pruned file. Call it from the thread that writes the file (the
event loop for ``deadletter.jsonl``): at start and then about daily.
"""

from __future__ import annotations

__all__ = ["prune_jsonl"]

import json
from datetime import datetime
from pathlib import Path


def _time(line: str, field: str) -> datetime | None:
    try:
        value = json.loads(line)[field]
        t = datetime.fromisoformat(value)
    except (ValueError, KeyError, TypeError):
        return None
    return t if t.tzinfo is not None else None


def prune_jsonl(path: Path, cutoff: datetime, *, time_field: str = "time") -> int:
    """Drop the records whose ``time_field`` is before ``cutoff``; return how many.

    Lines without a readable, timezone-aware time are kept (never lose what cannot be
    dated); a missing file prunes nothing.
    """
    try:
        f = path.open("r+", encoding="utf-8")
    except FileNotFoundError:
        return 0
    with f:
        lines = f.readlines()
        keep = []
        for line in lines:
            t = _time(line, time_field)
            if t is None or t >= cutoff:
                keep.append(line)
        removed = len(lines) - len(keep)
        if removed:
            f.seek(0)
            f.writelines(keep)
            f.truncate()
    return removed
