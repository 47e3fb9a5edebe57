"""The tamper-evident audit log, on real files."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from hub.views.audit import GENESIS, AuditLog, SentTally, read, record_hash, verify
from tests.views.helpers import T0, crossing, occupancy


def filled(tmp_path: Path, n: int = 5) -> Path:
    log = AuditLog(tmp_path / "audit.jsonl")
    for i in range(n):
        if i % 2:
            log.access(
                T0 + timedelta(minutes=i), view="police", endpoint="/api/v1/zones", status=200
            )
        else:
            log.sent(
                T0 + timedelta(minutes=i),
                view="public",
                sink="mqtt-public",
                policy="abc",
                zones=["beach"],
                measurements=["level"],
                events=i,
            )
    return log.path


def rewrite(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def test_records_chain_by_hash_and_survive_reopening(tmp_path: Path) -> None:
    path = filled(tmp_path, 3)
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["seq"] for r in recs] == [1, 2, 3]
    assert recs[0]["prev"] == GENESIS
    assert recs[1]["prev"] == recs[0]["hash"] == record_hash(recs[0])
    again = AuditLog(path)  # a restart continues the chain
    rec = again.action(T0, view="police", endpoint="/api/v1/alerts/a1/ack", action="acknowledge")
    assert rec["seq"] == 4 and rec["prev"] == recs[2]["hash"]
    verdict = verify(path)
    assert verdict.ok and verdict.records == 4
    assert str(verdict) == "audit log intact: 4 records, chain verified"


def test_a_modified_record_is_named(tmp_path: Path) -> None:
    path = filled(tmp_path)
    lines = path.read_text().splitlines()
    rec = json.loads(lines[2])
    rec["events"] = 999  # someone hides how much was sent
    lines[2] = json.dumps(rec)
    rewrite(path, lines)
    verdict = verify(path)
    assert not verdict.ok and verdict.line == 3
    assert str(verdict) == "audit log broken at line 3: record seq 3 was modified"


def test_a_modified_record_with_a_recomputed_hash_breaks_the_next_link(tmp_path: Path) -> None:
    path = filled(tmp_path)
    lines = path.read_text().splitlines()
    rec = json.loads(lines[1])
    rec["view"] = "organiser"
    rec["hash"] = record_hash(rec)
    lines[1] = json.dumps(rec)
    rewrite(path, lines)
    verdict = verify(path)
    assert (verdict.ok, verdict.line) == (False, 3)
    assert "does not follow seq 2" in verdict.reason


def test_a_deleted_record_is_detected(tmp_path: Path) -> None:
    path = filled(tmp_path)
    lines = path.read_text().splitlines()
    rewrite(path, lines[:1] + lines[2:])
    verdict = verify(path)
    assert (verdict.ok, verdict.line) == (False, 2)
    assert verdict.reason.startswith("record seq 3 does not follow seq 1")


def test_reordered_records_are_detected(tmp_path: Path) -> None:
    path = filled(tmp_path)
    lines = path.read_text().splitlines()
    lines[1], lines[2] = lines[2], lines[1]
    rewrite(path, lines)
    verdict = verify(path)
    assert (verdict.ok, verdict.line) == (False, 2)


def test_records_cut_off_the_end_are_detected_by_the_head(tmp_path: Path) -> None:
    path = filled(tmp_path)
    rewrite(path, path.read_text().splitlines()[:3])
    verdict = verify(path)
    assert not verdict.ok and verdict.line == 4
    assert "records were cut off the end" in verdict.reason


def test_garbage_is_detected(tmp_path: Path) -> None:
    path = filled(tmp_path)
    with path.open("a") as f:
        f.write("{not json\n")
    assert verify(path).line == 6


def test_read_filters_by_kind_view_sink_and_time(tmp_path: Path) -> None:
    path = filled(tmp_path)
    assert [r["seq"] for r in read(path, kind="access")] == [2, 4]
    assert [r["seq"] for r in read(path, view="public", sink="mqtt-public")] == [1, 3, 5]
    since, until = T0 + timedelta(minutes=1), T0 + timedelta(minutes=3)
    assert [r["seq"] for r in read(path, since=since, until=until)] == [2, 3]
    assert list(read(tmp_path / "missing.jsonl")) == []


def test_sent_tally_writes_one_record_per_interval(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    tally = SentTally(log, view="organiser", sink="mqtt-org", policy="p1", interval_s=900)
    tally.add(T0, [crossing("gate-a", T0, 3), occupancy("beach", T0, 10)])
    tally.add(T0 + timedelta(minutes=5), [occupancy("boulevard", T0, 4)])
    assert list(read(log.path)) == []
    tally.add(T0 + timedelta(minutes=15), [])
    [rec] = list(read(log.path))
    assert rec["kind"] == "sent" and rec["events"] == 3 and rec["policy"] == "p1"
    assert rec["zones"] == ["beach", "boulevard"] and rec["lines"] == ["gate-a"]
    assert rec["measurements"] == ["crossing", "occupancy"]
    assert rec["from"] == T0.isoformat()
    assert tally.flush(T0 + timedelta(minutes=20)) is None  # nothing sent since
    assert verify(log.path).ok
