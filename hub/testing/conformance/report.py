"""Conformance results and their three renderings: terminal, Markdown, JSON."""

from __future__ import annotations

__all__ = ["CheckResult", "Report"]

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class CheckResult:
    """One check: passed or not, with a one-line reason and optional detail lines."""

    id: str
    title: str
    passed: bool
    reason: str
    details: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "pass" if self.passed else "fail"


@dataclass
class Report:
    """Everything one conformance run found. ``passed`` is True when every check passed."""

    target: str
    kind: str
    cases_dir: str | None
    checks: list[CheckResult]
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]

    def check(self, check_id: str) -> CheckResult:
        """The result of one check (KeyError if it was not planned)."""
        for c in self.checks:
            if c.id == check_id:
                return c
        raise KeyError(check_id)

    def summary(self) -> str:
        n, bad = len(self.checks), len(self.failures)
        return f"PASS ({n} checks)" if not bad else f"FAIL ({bad} of {n} checks failed)"

    def _metrics_line(self) -> str:
        m = self.metrics
        parts = []
        if "slowest_step_ms" in m:
            parts.append(f"slowest step {m['slowest_step_ms']:.1f} ms ({m.get('slowest_in', '?')})")
        if m.get("events_per_s") is not None:
            parts.append(
                f"throughput {m['events_per_s']:.0f} events/s "
                f"({m.get('events', 0)} events from {m.get('inputs', 0)} inputs)"
            )
        return "; ".join(parts)

    def to_text(self, *, details: bool = True) -> str:
        """The terminal report."""
        where = f", cases {self.cases_dir}" if self.cases_dir else ""
        lines = [f"crowdhub conformance: {self.kind} ({self.target}){where}"]
        width = max((len(c.id) for c in self.checks), default=10)
        for c in self.checks:
            lines.append(f"  {'PASS' if c.passed else 'FAIL'}  {c.id:<{width}}  {c.reason}")
            if details and not c.passed:
                lines.extend(f"        {d}" for d in c.details[:20])
        metrics = self._metrics_line()
        if metrics:
            lines.append(metrics)
        lines.append(f"RESULT: {self.summary()}")
        return "\n".join(lines) + "\n"

    def to_markdown(self) -> str:
        """The Markdown report (a table of checks, then the details of each failure)."""

        def cell(text: str) -> str:
            return text.replace("|", "\\|").replace("\n", " ")

        out = [
            f"# Conformance report: `{self.kind}`",
            "",
            f"- target: `{self.target}`",
            f"- cases: `{self.cases_dir or '-'}`",
            f"- result: **{self.summary()}**",
        ]
        metrics = self._metrics_line()
        if metrics:
            out.append(f"- {metrics}")
        out += ["", "| check | result | reason |", "| --- | --- | --- |"]
        for c in self.checks:
            mark = "pass" if c.passed else "**FAIL**"
            out.append(f"| `{c.id}` | {mark} | {cell(c.reason)} |")
        failures = self.failures
        if failures:
            out += ["", "## Failures"]
            for c in failures:
                out += ["", f"### `{c.id}`: {c.title}", "", c.reason]
                if c.details:
                    out.append("")
                    out.extend(f"- {cell(d)}" for d in c.details)
        return "\n".join(out) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "kind": self.kind,
            "cases_dir": self.cases_dir,
            "passed": self.passed,
            "summary": self.summary(),
            "metrics": self.metrics,
            "checks": [{**asdict(c), "status": c.status} for c in self.checks],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """Read back what :meth:`to_dict` / :meth:`to_json` wrote."""
        checks = [
            CheckResult(c["id"], c["title"], c["passed"], c["reason"], list(c["details"]))
            for c in data["checks"]
        ]
        return cls(data["target"], data["kind"], data["cases_dir"], checks, data["metrics"])

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"
