"""The audit log: what went where, per view, tamper-evident.

One JSON object per line in ``data_dir/audit.jsonl``, append-only. Every record
carries ``seq`` (1, 2, 3, ...), ``prev`` (the hash of the record before it; 64
zeros for the first) and ``hash``: SHA-256 over the record's canonical form
(keys sorted, no spaces, UTF-8) without ``hash``. Changing, deleting or
reordering any record breaks the chain from that record on; :func:`verify`
names the first broken one. ``audit.head`` beside the log holds the last
``seq`` and ``hash``, so cutting records off the end is detected too (unless
both files are rewritten: keep a copy of the head elsewhere for that).

Record kinds (``kind`` field):

``sent``
    Per view and sink per interval: ``view``, ``sink``, ``from``, ``to``,
    ``zones``, ``lines``, ``measurements``, ``events`` (count) and ``policy`` (the
    view's :func:`~hub.views.config.policy_version`).
``access``
    An API request of a view: ``view``, ``endpoint``, ``status``.
``action``
    An action of a view: ``view``, ``endpoint``, ``action`` (acknowledge,
    log_measure, silence), ``target`` (alert or zone id), ``allowed``.

No record holds a token, a person or an identifier; notes typed by users stay
in the measures log.
"""

from __future__ import annotations

__all__ = [
    "GENESIS",
    "AuditLog",
    "SentTally",
    "Verdict",
    "canonical",
    "read",
    "record_hash",
    "verify",
]

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

GENESIS = "0" * 64


def canonical(record: Mapping[str, Any]) -> bytes:
    """The bytes a record's hash is taken over: sorted keys, no spaces, UTF-8, no ``hash``."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(record: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()


class AuditLog:
    """Append records to ``path`` with the hash chain; each append is flushed and fsynced
    when ``sync`` is true."""

    def __init__(self, path: Path, *, sync: bool = False) -> None:
        self.path = path
        self.head_path = path.with_name(path.name + ".head")
        self.sync = sync
        self._seq, self._prev = self._tail()

    def _tail(self) -> tuple[int, str]:
        seq, prev = 0, GENESIS
        try:
            with self.path.open("rb") as f:
                last = b""
                for line in f:
                    if line.strip():
                        last = line
            if last:
                rec = json.loads(last)
                seq, prev = int(rec["seq"]), str(rec["hash"])
        except FileNotFoundError:
            pass
        return seq, prev

    def append(self, kind: str, time: datetime, **fields: Any) -> dict[str, Any]:
        """Write one record; returns it with ``seq``, ``prev`` and ``hash`` filled in."""
        record: dict[str, Any] = {
            "seq": self._seq + 1,
            "time": time.isoformat(),
            "kind": kind,
            **fields,
            "prev": self._prev,
        }
        record["hash"] = record_hash(record)
        line = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            if self.sync:
                os.fsync(f.fileno())
        self._write_head(record["seq"], record["hash"])
        self._seq, self._prev = record["seq"], record["hash"]
        return record

    def _write_head(self, seq: int, digest: str) -> None:
        tmp = self.head_path.with_name(self.head_path.name + ".tmp")
        tmp.write_text(json.dumps({"seq": seq, "hash": digest}) + "\n", encoding="utf-8")
        os.replace(tmp, self.head_path)

    def sent(self, time: datetime, **fields: Any) -> dict[str, Any]:
        return self.append("sent", time, **fields)

    def access(self, time: datetime, *, view: str, endpoint: str, status: int) -> dict[str, Any]:
        return self.append("access", time, view=view, endpoint=endpoint, status=status)

    def action(
        self,
        time: datetime,
        *,
        view: str,
        endpoint: str,
        action: str,
        target: str | None = None,
        allowed: bool = True,
    ) -> dict[str, Any]:
        return self.append(
            "action",
            time,
            view=view,
            endpoint=endpoint,
            action=action,
            target=target,
            allowed=allowed,
        )


def read(
    path: Path,
    *,
    kind: str | None = None,
    view: str | None = None,
    sink: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[dict[str, Any]]:
    """The records that match every filter given (times compare as ISO strings in UTC)."""
    try:
        f = path.open(encoding="utf-8")
    except FileNotFoundError:
        return
    with f:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            if kind is not None and rec.get("kind") != kind:
                continue
            if view is not None and rec.get("view") != view:
                continue
            if sink is not None and rec.get("sink") != sink:
                continue
            t = datetime.fromisoformat(rec["time"])
            if since is not None and t < since:
                continue
            if until is not None and t >= until:
                continue
            yield rec


@dataclass(frozen=True)
class Verdict:
    """The result of :func:`verify`: ``ok``, how many records, and the first broken one."""

    ok: bool
    records: int
    line: int | None = None
    """1-based line number of the first broken record (None when ok)."""
    reason: str = ""

    def __str__(self) -> str:
        if self.ok:
            return f"audit log intact: {self.records} records, chain verified"
        return f"audit log broken at line {self.line}: {self.reason}"


def verify(path: Path) -> Verdict:
    """Check every record's hash, its link to the one before, the ``seq`` order and the head."""
    prev, seq, n = GENESIS, 0, 0
    try:
        lines: Iterable[str] = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return Verdict(True, 0)
    for no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            stored = rec["hash"]
        except (ValueError, KeyError, TypeError):
            return Verdict(False, n, no, "not a record (unreadable JSON or no hash)")
        if record_hash(rec) != stored:
            return Verdict(False, n, no, f"record seq {rec.get('seq')} was modified")
        if rec.get("prev") != prev:
            return Verdict(
                False,
                n,
                no,
                f"record seq {rec.get('seq')} does not follow seq {seq}: a record before it "
                "was deleted, inserted or moved",
            )
        if rec.get("seq") != seq + 1:
            return Verdict(False, n, no, f"seq {rec.get('seq')} where {seq + 1} was expected")
        prev, seq, n = stored, rec["seq"], n + 1
    head_path = path.with_name(path.name + ".head")
    try:
        head = json.loads(head_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Verdict(True, n)
    except ValueError:
        return Verdict(False, n, n + 1, f"{head_path.name} is unreadable")
    if head.get("seq") != seq or head.get("hash") != prev:
        return Verdict(
            False,
            n,
            n + 1,
            f"the log ends at seq {seq} but {head_path.name} names seq {head.get('seq')}: "
            "records were cut off the end",
        )
    return Verdict(True, n)


@dataclass
class _Tally:
    start: datetime
    events: int = 0
    zones: set[str] = field(default_factory=set)
    lines: set[str] = field(default_factory=set)
    measurements: set[str] = field(default_factory=set)


class SentTally:
    """Counts what one view sent to one sink; one ``sent`` record per interval.

    Call :meth:`add` with each delivered batch, :meth:`flush_due` often (an interval
    that has ended is written even when nothing more is sent) and :meth:`flush` on
    stop; a flush writes a record only when something was sent.
    """

    def __init__(
        self, log: AuditLog, *, view: str, sink: str, policy: str, interval_s: float = 900
    ) -> None:
        self.log = log
        self.view, self.sink, self.policy = view, sink, policy
        self.interval_s = interval_s
        self._tally: _Tally | None = None

    def add(self, now: datetime, batch: Iterable[Any]) -> None:
        t = self._tally
        if t is None:
            t = self._tally = _Tally(now)
        for e in batch:
            t.events += 1
            if e.zone is not None:
                t.zones.add(e.zone)
            if e.line is not None:
                t.lines.add(e.line)
            t.measurements.add(e.measurement.type)
        if (now - t.start).total_seconds() >= self.interval_s:
            self.flush(now)

    def flush_due(self, now: datetime) -> dict[str, Any] | None:
        """Write the record of an interval that has ended (call about once a second)."""
        t = self._tally
        if t is None or (now - t.start).total_seconds() < self.interval_s:
            return None
        return self.flush(now)

    def flush(self, now: datetime) -> dict[str, Any] | None:
        t, self._tally = self._tally, None
        if t is None or t.events == 0:
            return None
        return self.log.sent(
            now,
            view=self.view,
            sink=self.sink,
            policy=self.policy,
            **{"from": t.start.isoformat(), "to": now.isoformat()},
            zones=sorted(t.zones),
            lines=sorted(t.lines),
            measurements=sorted(t.measurements),
            events=t.events,
        )
