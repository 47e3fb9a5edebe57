"""The append-only alert and measures log a control room keeps.

Every alert transition, acknowledgement, silence and measure taken becomes one
record (a plain dict with a rising ``seq``). The model keeps the recent records in
memory; the driver appends new ones to a file with :func:`to_jsonl` (one JSON
object per line) and reads a file back with :func:`read_jsonl`. :func:`query`
filters records; :func:`to_csv` exports them.

Records hold who acknowledged and what they wrote: the log stays inside the hub
(operators' words and names are not crowd data, but they are not published either).
"""

from __future__ import annotations

__all__ = ["LOG_FIELDS", "AlertLog", "query", "read_jsonl", "to_csv", "to_jsonl"]

import csv
import io
import json
from collections import deque
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, Protocol


class LoggedAlert(Protocol):
    """What a log record takes from an alert (:class:`hub.zones.alerts.AlertRecord`)."""

    @property
    def alert_id(self) -> str: ...
    @property
    def rule(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def value(self) -> float | None: ...


LOG_FIELDS = (
    "seq",
    "at",
    "event",
    "alert_id",
    "rule",
    "subject",
    "severity",
    "value",
    "by",
    "note",
    "silence_id",
    "until",
)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


class AlertLog:
    """Records in order; ``seq`` keeps rising across restarts (the snapshot keeps it)."""

    def __init__(self, keep: int = 10_000) -> None:
        self.records: deque[dict[str, Any]] = deque(maxlen=keep)
        self.seq = 0

    def append(
        self,
        at: float,
        event: str,
        *,
        alert: LoggedAlert | None = None,
        by: str | None = None,
        note: str = "",
        **extra: Any,
    ) -> dict[str, Any]:
        self.seq += 1
        rec: dict[str, Any] = {"seq": self.seq, "at": _iso(at), "event": event}
        if alert is not None:
            rec.update(
                alert_id=alert.alert_id,
                rule=alert.rule,
                subject=alert.subject,
                severity=alert.severity,
                value=alert.value,
            )
        if by is not None:
            rec["by"] = by
        if note:
            rec["note"] = note
        for k, v in extra.items():
            if v is not None:
                rec[k] = _iso(v) if k == "until" else v
        self.records.append(rec)
        return rec

    def since(self, seq: int) -> list[dict[str, Any]]:
        """Records with a ``seq`` above ``seq`` (what the driver has not written yet)."""
        return [r for r in self.records if r["seq"] > seq]


def query(
    records: Iterable[dict[str, Any]],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    subject: str | None = None,
    events: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """Records in a time range, for one zone/line, of some kinds."""
    wanted = None if events is None else set(events)
    out = []
    for r in records:
        at = datetime.fromisoformat(r["at"])
        if since is not None and at < since:
            continue
        if until is not None and at >= until:
            continue
        if subject is not None and r.get("subject") != subject:
            continue
        if wanted is not None and r["event"] not in wanted:
            continue
        out.append(r)
    return out


def to_jsonl(records: Iterable[dict[str, Any]]) -> str:
    """One JSON object per line (append this to the log file)."""
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)


def read_jsonl(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Parse a log file; a truncated last line (a crash mid-write) is skipped."""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            yield rec


def to_csv(records: Iterable[dict[str, Any]]) -> str:
    """The records as CSV with a header (for a spreadsheet or an evaluation report)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=LOG_FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in records:
        w.writerow(r)
    return buf.getvalue()
