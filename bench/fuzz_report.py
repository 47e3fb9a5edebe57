"""Counts, findings and reproducers of bench/fuzz.py (shared by the parser and live runs)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Finding:
    """One kind of failure: how often, and the smallest input seen to cause it."""

    category: str  # crash | impossible
    signature: str
    count: int = 0
    reproducer: bytes = b""
    detail: str = ""
    file: str = ""


@dataclass
class TargetStats:
    name: str
    inputs: int = 0
    accepted: int = 0
    refused: int = 0
    crashed: int = 0
    impossible: int = 0
    slowest_ms: float = 0.0
    error_logs: int = 0
    """ERROR lines the hub logged during a live path (rate-limited logging keeps this low)."""
    refusals: Counter[str] = field(default_factory=Counter)
    findings: dict[str, Finding] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {
            "target": self.name,
            "inputs": self.inputs,
            "accepted": self.accepted,
            "refused": self.refused,
            "crash": self.crashed,
            "impossible": self.impossible,
            "slowest_ms": round(self.slowest_ms, 2),
            "error_logs": self.error_logs,
            "findings": [
                {
                    "category": f.category,
                    "signature": f.signature,
                    "count": f.count,
                    "detail": f.detail,
                    "reproducer": f.file,
                }
                for f in self.findings.values()
            ],
        }


def record(
    stats: TargetStats, outcome: str, sig: str, detail: str, data: bytes, out: Path | None
) -> Finding:
    key = f"{outcome}:{sig}"
    finding = stats.findings.get(key)
    if finding is None:
        finding = stats.findings[key] = Finding(outcome, sig, detail=detail, reproducer=data)
    finding.count += 1
    if len(data) < len(finding.reproducer):
        finding.reproducer = data
    return finding


def save(stats: TargetStats, out: Path | None) -> None:
    if out is None:
        return
    for i, f in enumerate(stats.findings.values()):
        folder = out / re.sub(r"[^\w.-]+", "_", stats.name).strip("_")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{f.category}-{i + 1}.bin"
        path.write_bytes(f.reproducer)
        path.with_suffix(".txt").write_text(
            f"{f.category}: {f.signature}\n{f.detail}\ncount: {f.count}\n"
        )
        f.file = str(path)


def table(rows: list[TargetStats]) -> str:
    head = f"{'target':<52} {'inputs':>9} {'accepted':>9} {'refused':>9} {'crash':>6} {'impos.':>6}"
    lines = [head, "-" * len(head)]
    for s in rows:
        lines.append(
            f"{s.name:<52} {s.inputs:>9} {s.accepted:>9} {s.refused:>9} "
            f"{s.crashed:>6} {s.impossible:>6}"
        )
        if s.error_logs:
            lines.append(f"    {s.error_logs} ERROR log line(s) during the run")
        for f in s.findings.values():
            where = f" -> {f.file}" if f.file else ""
            lines.append(f"    {f.category}: {f.signature} x{f.count}{where}")
            if f.detail:
                lines.append(f"      {f.detail[:150]}")
    total = sum(s.inputs for s in rows)
    lines.append(f"total inputs: {total}")
    return "\n".join(lines)
